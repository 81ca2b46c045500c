"""Write a data folder in the CARLA layout: CameraRGB/, CameraMask/ and a manifest.

Each frame depends only on (seed, index), so the files are the same whatever the number
of worker processes. The manifest records what was asked for and a checksum per file;
a folder whose manifest matches the request (and whose files match their checksums) is
left alone.
"""

import hashlib
import io
import json
import os
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from . import __version__
from .appearance import check_family
from .classes import CLASS_NAMES, N_CLASSES
from .render import render

DEFAULT_COUNT = 1060
DEFAULT_SEED = 0
DEFAULT_SIZE = (640, 480)
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data"
FRAMES, MASKS, MANIFEST = "CameraRGB", "CameraMask", "manifest.json"
PNG_LEVEL = 5  # zlib level: 6 (Pillow's default) is 40% slower for 3% smaller files


def frame_name(index):
    return f"{index:06d}.png"


def _png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def _write_frame(job):
    out, seed, index, width, height, appearance = job
    rgb, mask = render(seed, index, width, height, appearance)
    red_only = np.zeros((height, width, 3), dtype=np.uint8)
    red_only[..., 0] = mask
    name = frame_name(index)
    checksums = {}
    for folder, array in ((FRAMES, rgb), (MASKS, red_only)):
        data = _png_bytes(array)
        (Path(out) / folder / name).write_bytes(data)
        checksums[f"{folder}/{name}"] = hashlib.sha256(data).hexdigest()
    return checksums, np.bincount(mask.ravel(), minlength=N_CLASSES)


def _request(seed, count, width, height, appearance="standard"):
    return {"generator": f"roadscenes {__version__}", "seed": int(seed), "count": int(count),
            "width": int(width), "height": int(height), "appearance": appearance}


def read_manifest(out):
    path = Path(out) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_up_to_date(out, seed, count, width, height, appearance="standard"):
    """True when `out` holds exactly this request's files, unchanged since they were written."""
    manifest = read_manifest(out)
    request = _request(seed, count, width, height, appearance)
    if manifest is None or any(manifest.get(k) != v for k, v in request.items()):
        return False
    for relative, digest in manifest.get("files", {}).items():
        path = Path(out) / relative
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return False
    expected = {f"{folder}/{frame_name(i)}" for i in range(count) for folder in (FRAMES, MASKS)}
    return set(manifest.get("files", {})) == expected


def generate(out=DEFAULT_DIR, count=DEFAULT_COUNT, seed=DEFAULT_SEED, size=DEFAULT_SIZE, workers=None,
             force=False, progress=True, appearance="standard"):
    """Generate `count` frames into `out`; returns the manifest (a dict).

    `appearance` names a family of looks (`roadscenes.appearance.FAMILIES`): "standard" for
    the course's data, "heldout" for frames whose light and camera settings it never uses.
    Nothing is written when the folder already matches the request, unless `force`.
    """
    out = Path(out)
    width, height = size
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    check_family(appearance)  # before anything is deleted
    if not force and is_up_to_date(out, seed, count, width, height, appearance):
        return read_manifest(out)
    for folder in (FRAMES, MASKS):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for stale in (out / folder).glob("*.png"):
            stale.unlink()
    (out / MANIFEST).unlink(missing_ok=True)

    workers = max(1, min(workers or os.cpu_count() or 1, count))
    jobs = [(str(out), seed, i, width, height, appearance) for i in range(count)]
    files, pixels = {}, np.zeros(N_CLASSES, dtype=np.int64)
    bar = tqdm(total=count, desc=f"roadscenes -> {out}", unit="frame", disable=not progress)
    if workers == 1:
        results = map(_write_frame, jobs)
        pool = None
    else:
        # 'spawn' keeps workers independent of whatever the parent process imported.
        pool = get_context("spawn").Pool(workers)
        results = pool.imap(_write_frame, jobs, chunksize=4)
    try:
        for checksums, counts in results:
            files.update(checksums)
            pixels += counts
            bar.update()
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()

    manifest = _request(seed, count, width, height, appearance)
    manifest["class_pixel_share"] = {name: round(float(n) / float(pixels.sum()), 6)
                                     for name, n in zip(CLASS_NAMES, pixels)}
    manifest["files"] = dict(sorted(files.items()))
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
