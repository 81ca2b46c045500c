"""Validate a data folder in the CARLA layout and report every problem by file name.

Accepts what the real CARLA files look like (RGBA PNGs, non-consecutive names) as well as
what `roadscenes generate` writes (RGB PNGs).
"""

from pathlib import Path

import numpy as np
from PIL import Image

from .classes import N_CLASSES
from .dataset import DEFAULT_SIZE, FRAMES, MASKS

COLOUR_MODES = ("RGB", "RGBA")


def _open(path):
    """Load a PNG fully (so truncation shows now), or return the reason it cannot be read."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG":
                return None, f"not a PNG file (found {image.format})"
            image.load()
            return image.copy(), None
    except Exception as error:  # PIL raises many types for broken files
        return None, f"unreadable or truncated PNG ({error})"


def _open_sized(path, size):
    """(image or None, problems): a readable PNG of the expected size has no problems."""
    image, error = _open(path)
    if error:
        return None, [error]
    if image.size != size:
        return image, [f"wrong size {image.size[0]}x{image.size[1]}, expected {size[0]}x{size[1]}"]
    return image, []


def _check_frame(path, size):
    image, problems = _open_sized(path, size)
    if image is not None and image.mode not in COLOUR_MODES:
        problems.append(f"mode {image.mode}, expected RGB or RGBA")
    return problems


def _check_mask(path, size):
    image, problems = _open_sized(path, size)
    if image is None:
        return problems
    if image.mode not in COLOUR_MODES:
        return problems + [f"mode {image.mode}, expected RGB or RGBA with the class id in the red channel"]
    pixels = np.asarray(image)
    top = int(pixels[..., 0].max())
    if top >= N_CLASSES:
        problems.append(f"class id {top} in the red channel, expected 0..{N_CLASSES - 1}")
    for channel, name in ((1, "green"), (2, "blue")):
        if pixels[..., channel].any():
            problems.append(f"{name} channel is not zero (up to {int(pixels[..., channel].max())})")
    return problems


def check(folder, size=DEFAULT_SIZE):
    """Return a list of problems, each naming a file; an empty list means the folder is valid."""
    folder = Path(folder)
    problems = []
    for sub in (FRAMES, MASKS):
        if not (folder / sub).is_dir():
            problems.append(f"{folder / sub}: folder missing")
    if problems:
        return problems
    frames = {p.name for p in (folder / FRAMES).glob("*.png")}
    masks = {p.name for p in (folder / MASKS).glob("*.png")}
    if not frames and not masks:
        return [f"{folder}: no PNG files in {FRAMES}/ or {MASKS}/"]
    problems += [f"{folder / FRAMES / n}: frame has no mask {MASKS}/{n}" for n in sorted(frames - masks)]
    problems += [f"{folder / MASKS / n}: mask has no frame {FRAMES}/{n}" for n in sorted(masks - frames)]
    for name in sorted(frames):
        problems += [f"{folder / FRAMES / name}: {p}" for p in _check_frame(folder / FRAMES / name, size)]
    for name in sorted(masks):
        problems += [f"{folder / MASKS / name}: {p}" for p in _check_mask(folder / MASKS / name, size)]
    return problems
