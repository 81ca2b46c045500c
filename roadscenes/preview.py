"""A preview picture: frames beside their coloured masks, with a legend of the classes shown."""

from pathlib import Path

import numpy as np
from PIL import Image

from .classes import CLASS_NAMES, PALETTE, colorize
from .dataset import FRAMES, MASKS


def load_pair(folder, name):
    """(rgb, mask) arrays of one frame: RGB uint8 (alpha dropped) and class ids from red."""
    rgb = np.asarray(Image.open(Path(folder) / FRAMES / name).convert("RGB"))
    mask = np.asarray(Image.open(Path(folder) / MASKS / name).convert("RGB"))[..., 0]
    return rgb, mask


def write_preview(folder, out, rows=4):
    """Save a grid of `rows` frames and their masks to `out`; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    names = sorted(p.name for p in (Path(folder) / FRAMES).glob("*.png"))
    if not names:
        raise FileNotFoundError(f"{Path(folder) / FRAMES}: no frames to preview")
    picks = [names[i * len(names) // rows] for i in range(min(rows, len(names)))]
    fig, axes = plt.subplots(len(picks), 2, figsize=(10, 3.1 * len(picks)), squeeze=False)
    seen = set()
    for (ax_rgb, ax_mask), name in zip(axes, picks):
        rgb, mask = load_pair(folder, name)
        seen.update(np.unique(mask).tolist())
        ax_rgb.imshow(rgb)
        ax_mask.imshow(colorize(mask))
        ax_rgb.set_title(f"{FRAMES}/{name}", fontsize=9)
        ax_mask.set_title(f"{MASKS}/{name} (coloured by class)", fontsize=9)
        for ax in (ax_rgb, ax_mask):
            ax.axis("off")
    handles = [Patch(color=PALETTE[c] / 255, label=f"{c} {CLASS_NAMES[c]}") for c in sorted(seen)]
    fig.legend(handles=handles, loc="center right", fontsize=9, frameon=False, title="class")
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return Path(out)
