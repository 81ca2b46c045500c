"""Helpers of the U-Net notebook: finding the data, and the figures.

The parts of the assignment that teach (the input pipeline, the network, training) live in
the notebook itself; this module holds what would only distract there.
"""

import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

try:  # the course's dataset library: class names, palette, and data generation
    from roadscenes import CLASS_NAMES, N_CLASSES, PALETTE
    from roadscenes.dataset import generate
except ImportError as error:  # pragma: no cover - only without the course's environment
    raise ImportError("This notebook needs the course's `roadscenes` package: run `make run` (or "
                      "`pip install -e .`) in the course folder, then restart the kernel.") from error

FRAMES, MASKS = "CameraRGB", "CameraMask"
# While nbgrader validates or grades, figures are not drawn: nobody looks at them, and
# drawing is a good part of the time grading a notebook takes.
DRAW = "NBGRADER_EXECUTION" not in os.environ


def _has_data(folder):
    return (folder / FRAMES).is_dir() and (folder / MASKS).is_dir() and any((folder / FRAMES).glob("*.png"))


def find_data_dir(grading=False):
    """The folder holding CameraRGB/ and CameraMask/.

    Looks at $UNET_DATA_DIR, then ./data and the data/ folders of the parent directories.
    When there is none: while grading, 8 generated frames in a temporary folder (grading
    never needs the full data set); otherwise the full generated set in ./data (about a
    minute on two cores).
    """
    if os.environ.get("UNET_DATA_DIR"):
        folder = Path(os.environ["UNET_DATA_DIR"])
        if not _has_data(folder):
            raise FileNotFoundError(f"UNET_DATA_DIR={folder} has no {FRAMES}/ and {MASKS}/ with PNG files")
        return folder
    here = Path.cwd().resolve()
    for parent in (here, *here.parents[:3]):
        if _has_data(parent / "data"):
            return parent / "data"
    if grading:
        folder = Path(tempfile.mkdtemp(prefix="unet-data-"))
        generate(folder, count=8, progress=False, workers=1)
        return folder
    print("No data found: generating the course's driving scenes into ./data ...")
    generate(here / "data")
    return here / "data"


def list_pairs(data_dir, limit=None):
    """Paths (frames, masks) of the frames that have a mask, sorted by name."""
    data_dir = Path(data_dir)
    names = sorted(p.name for p in (data_dir / FRAMES).glob("*.png") if (data_dir / MASKS / p.name).exists())
    if not names:
        raise FileNotFoundError(f"{data_dir}: no frame in {FRAMES}/ has a mask in {MASKS}/")
    names = names[:limit]
    return [str(data_dir / FRAMES / n) for n in names], [str(data_dir / MASKS / n) for n in names]


def colorize(mask):
    """Display colours (H, W, 3) of a mask of class ids (H, W) or (H, W, 1)."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    return PALETTE[np.clip(mask, 0, N_CLASSES - 1)]


def class_legend(fig, class_ids, **kwargs):
    """A legend of the given classes, coloured as in the masks."""
    handles = [Patch(color=PALETTE[c] / 255, label=f"{c:2d} {CLASS_NAMES[c]}") for c in sorted(set(class_ids))]
    options = dict(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, frameon=False, title="class")
    options.update(kwargs)
    return fig.legend(handles=handles, **options)


def show_pairs(rows, titles=("frame", "mask")):
    """Rows of pictures side by side: each row is a tuple of an RGB frame and masks."""
    rows = list(rows)
    if not DRAW:
        return None
    columns = len(rows[0])
    fig, axes = plt.subplots(len(rows), columns, figsize=(3.6 * columns, 2.8 * len(rows)), squeeze=False)
    seen = set()
    for row_axes, row in zip(axes, rows):
        for column, (ax, picture) in enumerate(zip(row_axes, row)):
            if column == 0:
                ax.imshow(np.asarray(picture))
            else:
                mask = np.asarray(picture)
                seen.update(np.unique(mask).tolist())
                ax.imshow(colorize(mask), interpolation="nearest")
            ax.axis("off")
    for ax, title in zip(axes[0], titles):
        ax.set_title(title)
    class_legend(fig, seen, bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def plot_class_shares(masks):
    """Bar chart of the share of pixels per class over a list of masks (log scale)."""
    counts = np.zeros(N_CLASSES)
    for mask in masks:
        counts += np.bincount(np.asarray(mask).ravel(), minlength=N_CLASSES)[:N_CLASSES]
    shares = counts / counts.sum()
    if not DRAW:
        return None, shares
    order = np.argsort(shares)[::-1]
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.bar(range(N_CLASSES), np.maximum(shares[order], 1e-7) * 100, color=PALETTE[order] / 255, edgecolor="0.3")
    ax.set_xticks(range(N_CLASSES), [CLASS_NAMES[c] for c in order], rotation=60, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("% of pixels (log scale)")
    ax.set_title(f"Class pixel shares over {len(masks)} masks")
    fig.tight_layout()
    return fig, shares


def plot_history(history):
    """Loss, pixel accuracy and mean IoU per epoch, training beside validation."""
    metrics = [("loss", "loss"), ("accuracy", "pixel accuracy"), ("mean_iou", "mean IoU")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(13, 3.4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for ax, (key, title) in zip(axes, metrics):
        ax.plot(epochs, history[key], "o-", label="training")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], "s-", label="validation")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    return fig


def confusion_matrix(model, dataset):
    """Counts[true, predicted] over all pixels of a batched (image, mask) dataset."""
    counts = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    for images, masks in dataset:
        predicted = np.argmax(model.predict(images, verbose=0), axis=-1).ravel()
        truth = np.asarray(masks).ravel()
        counts += np.bincount(truth * N_CLASSES + predicted, minlength=N_CLASSES**2).reshape(N_CLASSES, N_CLASSES)
    return counts


def per_class_iou(counts):
    """IoU per class from a confusion matrix; NaN for classes absent from truth and prediction."""
    hits = np.diag(counts).astype(float)
    union = counts.sum(axis=0) + counts.sum(axis=1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / union, np.nan)


def plot_class_iou(iou, pixel_shares=None):
    """Horizontal bars of per-class IoU, the classes sorted by IoU."""
    present = [c for c in range(N_CLASSES) if not np.isnan(iou[c])]
    present.sort(key=lambda c: iou[c])
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(present) + 1.2))
    ax.barh(range(len(present)), [iou[c] for c in present], color=[PALETTE[c] / 255 for c in present],
            edgecolor="0.3")
    labels = [CLASS_NAMES[c] + (f" ({100 * pixel_shares[c]:.2g}% px)" if pixel_shares is not None else "")
              for c in present]
    ax.set_yticks(range(len(present)), labels)
    ax.set_xlim(0, 1)
    ax.set_xlabel("IoU on the validation frames")
    ax.set_title(f"Per-class IoU (mean over {len(present)} classes: {np.nanmean(iou):.3f})")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
