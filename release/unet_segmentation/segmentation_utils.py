"""Helpers of the U-Net notebook: finding the data, the figures and the interactive views.

The parts of the assignment that teach (the input pipeline, the network, training) live in
the notebook itself; this module holds what would only distract there.
"""

import os
import tempfile
import time
from pathlib import Path

# Before TensorFlow is first imported (by the notebook, right after this module): its C++
# start-up logs would otherwise fill the first cell's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

try:  # the course's dataset library: class names, palette, and data generation
    from roadscenes import CLASS_NAMES, N_CLASSES, PALETTE
    from roadscenes.dataset import generate
except ImportError as error:  # pragma: no cover - only without the course's environment
    raise ImportError(
        "This notebook needs the course's Python environment: the packages of the course's "
        "requirements.txt and its `roadscenes` package (`pip install -r requirements.txt` and "
        "`pip install <course folder>`, or ask your instructor for the course's environment). "
        "Install them, then restart the kernel.") from error

FRAMES, MASKS = "CameraRGB", "CameraMask"
# nbgrader sets NBGRADER_EXECUTION while it validates or grades a notebook: then a handful of
# frames is enough, nothing is trained and no figure is drawn (nobody looks at them, and
# drawing is a good part of the time grading takes). UNET_SMOKE=1 is the course's own quick
# test run.
GRADING = "NBGRADER_EXECUTION" in os.environ
SMOKE = os.environ.get("UNET_SMOKE") == "1"
DRAW = not GRADING
FRAME_LIMIT = 8 if GRADING else (16 if SMOKE else None)
GRADING_FRAME_SIZE = (128, 96)  # width, height of the frames generated while grading


def epochs_to_train(epochs):
    """The number of epochs to train now: none while grading, one in the course's quick test."""
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"EPOCHS must be a whole number of epochs, 0 or more; it is {epochs!r}")
    return 0 if GRADING else (min(epochs, 1) if SMOKE else epochs)


# Where each name the later cells use is defined, so that a NameError can say what to run.
DEFINED_IN = {
    "su": "section 2 (Packages)", "tf": "section 2 (Packages)", "np": "section 2 (Packages)",
    "plt": "section 2 (Packages)", "unet_checks": "section 2 (Packages)",
    "EPOCHS": "the settings cell of section 2", "SEED": "the settings cell of section 2",
    "PRECISION": "the settings cell of section 2", "precision": "section 9",
    "N_EXAMPLES": "the settings cell of section 2", "IMAGE_SIZE": "section 2 (Packages)",
    "N_CLASSES": "section 2 (Packages)", "BATCH_SIZE": "section 2 (Packages)",
    "DATA_DIR": "section 3", "image_list": "section 3", "mask_list": "section 3",
    "process_path": "section 4", "preprocess": "section 4", "augment": "section 4",
    "load": "section 4", "train_frames": "section 4", "val_frames": "section 4",
    "add_pixel_weights": "section 4", "train_dataset": "section 4", "val_dataset": "section 4",
    "class_weights": "section 4", "val_idx": "section 4", "train_idx": "section 4",
    "conv_block": "exercise 1 (section 6)", "upsampling_block": "exercise 2 (section 7)",
    "unet_model": "exercise 3 (section 8)", "unet": "section 9", "history": "section 9",
    "create_mask": "section 11", "frames": "section 11", "truths": "section 11", "predicted": "section 11",
    "confusion": "section 11", "CLASS_TO_STUDY": "section 12",
}


def _explain_name_error(shell, etype, value, tb, tb_offset=None):
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
    name = getattr(value, "name", None)
    if name in DEFINED_IN:
        print(f"`{name}` is defined in {DEFINED_IN[name]}: run that cell (and the cells before it) first.")


def explain_missing_names():
    """Make a NameError in this notebook say which cell defines the missing name."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is not None and not GRADING:
        shell.set_custom_exc((NameError,), _explain_name_error)


def _has_data(folder):
    return (folder / FRAMES).is_dir() and (folder / MASKS).is_dir() and any((folder / FRAMES).glob("*.png"))


def find_data_dir(grading=GRADING):
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
        # At the network's input size: grading runs the pipeline but never trains or draws,
        # and a frame rendered small costs a tenth of one rendered at the camera's size.
        generate(folder, count=8, size=GRADING_FRAME_SIZE, progress=False, workers=1)
        return folder
    print("No data found: generating the course's driving scenes into ./data ...")
    generate(here / "data")
    return here / "data"


def list_pairs(data_dir, limit=FRAME_LIMIT):
    """Paths (frames, masks) of the frames that have a mask, sorted by name."""
    data_dir = Path(data_dir)
    names = sorted(p.name for p in (data_dir / FRAMES).glob("*.png") if (data_dir / MASKS / p.name).exists())
    if not names:
        raise FileNotFoundError(f"{data_dir}: no frame in {FRAMES}/ has a mask in {MASKS}/")
    names = names[:limit]
    return [str(data_dir / FRAMES / n) for n in names], [str(data_dir / MASKS / n) for n in names]


def read_pair(image_path, mask_path):
    """A frame as floats in [0, 1] (H, W, 3) and its mask of class ids (H, W)."""
    return plt.imread(image_path)[..., :3], read_mask(mask_path)  # [..., :3]: drop any alpha channel


def read_mask(mask_path):
    """A mask of class ids (H, W)."""
    return (plt.imread(mask_path)[..., 0] * 255).round().astype(np.uint8)


def pixel_shares(masks):
    """The share of pixels of each class over some masks (arrays of class ids)."""
    counts = np.zeros(N_CLASSES)
    for mask in masks:
        counts += np.bincount(np.asarray(mask).ravel(), minlength=N_CLASSES)[:N_CLASSES]
    return counts / max(counts.sum(), 1)


def _check_first(first, count):
    if not isinstance(first, int) or not 0 <= first < count:
        raise ValueError(f"FIRST must be a frame number from 0 to {count - 1} (there are {count} frames); "
                         f"it is {first!r}")


def colorize(mask):
    """Display colours (H, W, 3) of a mask of class ids (H, W) or (H, W, 1)."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    return PALETTE[np.clip(mask, 0, N_CLASSES - 1)]


def class_legend(fig, class_ids, greyed=False, **kwargs):
    """A legend of the given classes, coloured as in the masks; `greyed`: with an entry for the
    classes a highlighted mask greys out."""
    handles = [Patch(color=PALETTE[c] / 255, label=f"{c:2d} {CLASS_NAMES[c]}") for c in sorted(set(class_ids))]
    if greyed:
        handles.append(Patch(facecolor=(0.86, 0.86, 0.86), edgecolor="0.5", label="every other class (grey)"))
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
    masks = list(masks)
    shares = pixel_shares(masks)
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
    for images, masks, *_ in dataset:  # *_: pixel weights, where the dataset has them
        predicted = np.argmax(model.predict(images, verbose=0), axis=-1).ravel()
        truth = np.asarray(masks).ravel()
        counts += np.bincount(truth * N_CLASSES + predicted, minlength=N_CLASSES**2).reshape(N_CLASSES, N_CLASSES)
    return counts


def truth_shares(counts):
    """The share of pixels of each true class, from a confusion matrix."""
    return counts.sum(axis=1) / max(counts.sum(), 1)


def per_class_iou(counts):
    """IoU per class from a confusion matrix; NaN for classes absent from truth and prediction."""
    hits = np.diag(counts).astype(float)
    union = counts.sum(axis=0) + counts.sum(axis=1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / union, np.nan)


def plot_class_iou(iou, shares=None):
    """Horizontal bars of per-class IoU, the classes sorted by IoU."""
    present = [c for c in range(N_CLASSES) if not np.isnan(iou[c])]
    present.sort(key=lambda c: iou[c])
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(present) + 1.2))
    ax.barh(range(len(present)), [iou[c] for c in present], color=[PALETTE[c] / 255 for c in present],
            edgecolor="0.3")
    labels = [CLASS_NAMES[c] + (f" ({100 * shares[c]:.2g}% px)" if shares is not None else "")
              for c in present]
    ax.set_yticks(range(len(present)), labels)
    ax.set_xlim(0, 1)
    ax.set_xlabel("IoU on the validation frames")
    ax.set_title(f"Per-class IoU (mean over {len(present)} classes: {np.nanmean(iou):.3f})")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------
# Interactive views: ipywidgets in JupyterLab; the same views as static figures while
# grading, in the course's tests, or where ipywidgets is missing.
# ---------------------------------------------------------------------------------------

def _widgets():
    """The ipywidgets module when views can be interactive here, else None."""
    if not DRAW or os.environ.get("UNET_STATIC_VIEWS") == "1":
        return None
    try:
        import ipywidgets
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return ipywidgets if shell is not None and hasattr(shell, "kernel") else None


def highlighted(mask, class_id=None):
    """Display colours of a mask; with a class id, every other class is greyed out."""
    colours = colorize(mask)
    if class_id is None:
        return colours
    mask = np.asarray(mask)
    mask = mask[..., 0] if mask.ndim == 3 else mask
    grey = (0.35 * colours.mean(axis=-1, keepdims=True) + 0.65 * 235).astype(colours.dtype)
    return np.where((mask == class_id)[..., None], colours, grey)


def frame_iou(truth, predicted):
    """Mean IoU over the classes present in the truth or the prediction of one frame."""
    truth, predicted = np.asarray(truth).ravel(), np.asarray(predicted).ravel()
    scores = []
    for c in np.union1d(np.unique(truth), np.unique(predicted)):
        t, p = truth == c, predicted == c
        scores.append((t & p).sum() / (t | p).sum())
    return float(np.mean(scores))


def _frame_figure(frame, masks, titles, class_id=None, shares=True):
    """One frame, its masks, and (optionally) the class shares of the first mask."""
    columns = 1 + len(masks) + int(shares)
    widths = [1] * (1 + len(masks)) + ([0.8] if shares else [])
    fig, axes = plt.subplots(1, columns, figsize=(3.6 * (1 + len(masks)) + 3.2 * shares, 2.9),
                             gridspec_kw={"width_ratios": widths})
    axes[0].imshow(np.asarray(frame))
    for ax, mask in zip(axes[1:], masks):
        ax.imshow(highlighted(mask, class_id), interpolation="nearest")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    if shares:
        share = pixel_shares([masks[0]])
        top = [c for c in np.argsort(share)[::-1][:8] if share[c] > 0]
        ax = axes[-1]
        ax.barh(range(len(top)), [100 * share[c] for c in top], color=[PALETTE[c] / 255 for c in top],
                edgecolor="0.3")
        ax.set_yticks(range(len(top)), [CLASS_NAMES[c] for c in top], fontsize=9)
        ax.invert_yaxis()
        ax.set_xlabel("% of this frame's pixels", fontsize=9)
        ax.set_title("class shares", fontsize=10)
    fig.tight_layout()
    if not shares and class_id is not None:  # one class in colour: the legend names it alone
        class_legend(fig, [class_id], greyed=True, fontsize=8)
    elif not shares:
        class_legend(fig, np.unique(np.concatenate([np.unique(m) for m in masks])).tolist(), fontsize=8)
    return fig


def _browser(widgets, count, first, label, draw):
    """A frame slider and a class menu driving ``draw(index, class_id)`` in an output area."""
    from IPython.display import display
    slider = widgets.IntSlider(value=first, min=0, max=count - 1, description=label, continuous_update=False,
                               layout=widgets.Layout(width="420px"))
    menu = widgets.Dropdown(options=[("every class", -1)] + [(f"{c:2d} {n}", c) for c, n in enumerate(CLASS_NAMES)],
                            value=-1, description="highlight", layout=widgets.Layout(width="260px"))
    out = widgets.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            draw(slider.value, None if menu.value < 0 else menu.value)
            plt.show()

    slider.observe(redraw, "value")
    menu.observe(redraw, "value")
    display(widgets.VBox([widgets.HBox([slider, menu]), out]))
    redraw()


def browse_frames(image_list, mask_list, examples=3, first=0):
    """Frames beside their masks: a slider and a class menu in JupyterLab, else ``examples``
    static rows from frame ``first``."""
    if not image_list:
        raise ValueError("there are no frames to show: run the cell of section 3 that lists the data first")
    _check_first(first, len(image_list))
    if not DRAW:
        return None
    widgets = _widgets()
    if widgets is None:
        shown = range(first, min(first + examples, len(image_list)))
        show_pairs([read_pair(image_list[i], mask_list[i]) for i in shown],
                   titles=("camera frame", "mask (coloured by class)"))
        plt.show()
        return None

    def draw(index, class_id):
        frame, mask = read_pair(image_list[index], mask_list[index])
        name = os.path.basename(image_list[index])
        _frame_figure(frame, [mask], (f"frame {index} ({name})", "mask (coloured by class)"), class_id)

    _browser(widgets, len(image_list), first, "frame", draw)


def predict_masks(model, dataset, create_mask):
    """Frames, true masks and predicted masks (class ids, from ``create_mask`` of the logits) of
    a batched (image, mask) dataset."""
    frames, truths, predictions = [], [], []
    for images, masks, *_ in dataset:  # *_: pixel weights, where the dataset has them
        frames.append(np.asarray(images))
        truths.append(np.asarray(masks)[..., 0])
        predictions.append(np.asarray(create_mask(model.predict(images, verbose=0)))[..., 0])
    return np.concatenate(frames), np.concatenate(truths), np.concatenate(predictions)


def browse_predictions(frames, truths, predictions, examples=3, first=0):
    """Validation frames, their true masks and the predicted masks, with each frame's IoU:
    a slider and a class menu in JupyterLab, else ``examples`` static rows."""
    _check_first(first, len(frames))
    if not DRAW:
        return None

    def draw(index, class_id):
        title = f"predicted (frame IoU {frame_iou(truths[index], predictions[index]):.2f})"
        _frame_figure(frames[index], [truths[index], predictions[index]],
                      (f"validation frame {index}", "true mask", title), class_id, shares=False)

    widgets = _widgets()
    if widgets is None:
        for index in range(first, min(first + examples, len(frames))):
            draw(index, None)
            plt.show()
        return None
    _browser(widgets, len(frames), first, "frame", draw)


# ---------------------------------------------------------------------------------------
# Why the network errs: what each class is taken for, where, and in which frames
# ---------------------------------------------------------------------------------------

def confusion_shares(counts):
    """A confusion matrix (counts[true, predicted]) as shares of each true class's pixels, over
    the classes that occur: (shares, true classes (rows), classes true or predicted (columns))."""
    counts = np.asarray(counts)
    rows = [c for c in range(N_CLASSES) if counts[c].sum() > 0]
    columns = [c for c in range(N_CLASSES) if counts[c].sum() > 0 or counts[:, c].sum() > 0]
    return counts[np.ix_(rows, columns)] / counts[rows].sum(axis=1, keepdims=True), rows, columns


def strongest_confusions(counts, n=3, floor=0.05):
    """Up to `n` (true class, predicted class, share of the true class's pixels), largest first,
    of the confusions over `floor`."""
    counts = np.asarray(counts)
    totals = counts.sum(axis=1)
    found = [(t, p, counts[t, p] / totals[t]) for t in range(N_CLASSES) for p in range(N_CLASSES)
             if t != p and totals[t] > 0 and counts[t, p] / totals[t] >= floor]
    return sorted(found, key=lambda item: -item[2])[:n]


def describe_confusions(counts, n=3):
    """The strongest confusions in a sentence (the confusion matrix's text alternative)."""
    found = strongest_confusions(counts, n)
    if not found:
        return "No class is taken for another on 5% or more of its pixels."
    return "Strongest confusions: " + "; ".join(
        f"{100 * share:.0f}% of the {CLASS_NAMES[t]} pixels are taken for {CLASS_NAMES[p]}" for t, p, share in found) + "."


def plot_confusion(counts):
    """The confusion matrix, each row the share of a true class's pixels given to each class,
    the share written in every cell of 1% or more (the colour only repeats it)."""
    shares, rows, columns = confusion_shares(counts)
    if not DRAW:
        return None
    fig, ax = plt.subplots(figsize=(0.38 * len(columns) + 3.4, 0.34 * len(rows) + 2.2))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), share in np.ndenumerate(shares):
        if share >= 0.01:
            ax.text(column, row, f"{100 * share:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if share > 0.55 else "black")
    ax.set_xticks(range(len(columns)), [CLASS_NAMES[c] for c in columns], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), [CLASS_NAMES[c] for c in rows], fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Where each class's pixels go (% of the true class; each row sums to 100)", fontsize=10)
    fig.tight_layout()
    return fig


def frame_errors(truth, predicted, n=3):
    """(share of the frame's pixels that are wrong, up to `n` (true class, predicted class,
    share of the frame's pixels) of its largest confusions)."""
    truth, predicted = np.asarray(truth).ravel(), np.asarray(predicted).ravel()
    wrong = truth != predicted
    pairs = np.bincount(truth[wrong] * N_CLASSES + predicted[wrong], minlength=N_CLASSES ** 2)
    top = [k for k in np.argsort(pairs)[::-1][:n] if pairs[k] > 0]
    return float(wrong.mean()), [(int(k // N_CLASSES), int(k % N_CLASSES), pairs[k] / truth.size) for k in top]


def describe_frame_errors(index, truth, predicted):
    """One frame's errors in a sentence (the error map's text alternative)."""
    share, pairs = frame_errors(truth, predicted)
    worst = ", ".join(f"{CLASS_NAMES[t]} taken for {CLASS_NAMES[p]} on {100 * s:.1f}%" for t, p, s in pairs)
    return f"validation frame {index}: {100 * share:.0f}% of the pixels wrong" + (f" (mostly {worst})" if worst else "")


def errors_shown(frame, truth, predicted, class_id=None):
    """The frame in grey where the prediction is right and, where it is wrong, the colour of
    the class predicted there; with a class id, only the errors on that class's pixels."""
    frame = np.asarray(frame, dtype=float)
    frame = frame / 255 if frame.max() > 1 else frame
    wrong = np.asarray(truth) != np.asarray(predicted)
    if class_id is not None:
        wrong &= np.asarray(truth) == class_id
    grey = 0.25 + 0.5 * frame.mean(axis=-1, keepdims=True)
    return np.where(wrong[..., None], colorize(predicted) / 255, np.repeat(grey, 3, axis=-1))


def _error_figure(index, frame, truth, predicted, class_id=None):
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 2.9))
    pictures = [np.asarray(frame), highlighted(truth, class_id), errors_shown(frame, truth, predicted, class_id)]
    share, _ = frame_errors(truth, predicted)
    where = f" on {CLASS_NAMES[class_id]}" if class_id is not None else ""
    titles = [f"validation frame {index}", "true mask", f"errors{where}: the class said instead ({100 * share:.0f}% wrong)"]
    for ax, picture, title in zip(axes, pictures, titles):
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    wrong = np.asarray(truth) != np.asarray(predicted)
    class_legend(fig, np.unique(np.concatenate([np.unique(truth), np.unique(np.asarray(predicted)[wrong])])).tolist(),
                 fontsize=8)
    fig.tight_layout()
    return fig


def browse_errors(frames, truths, predictions, examples=3, first=0):
    """Where the prediction is wrong and what it said instead, with a sentence per frame: a
    slider and a class menu in JupyterLab (the menu keeps only that class's errors), else
    ``examples`` static rows."""
    _check_first(first, len(frames))
    if not DRAW:
        return None

    def draw(index, class_id):
        _error_figure(index, frames[index], truths[index], predictions[index], class_id)
        print(describe_frame_errors(index, truths[index], predictions[index]))

    widgets = _widgets()
    if widgets is None:
        for index in range(first, min(first + examples, len(frames))):
            draw(index, None)
            plt.show()
        return None
    _browser(widgets, len(frames), first, "frame", draw)


def worst_frames(truths, predictions, class_id, n=3):
    """Up to `n` (frame index, the class's IoU in that frame), lowest first, over the frames
    whose truth holds the class."""
    scores = []
    for index, (truth, predicted) in enumerate(zip(truths, predictions)):
        true, said = np.asarray(truth) == class_id, np.asarray(predicted) == class_id
        if true.any():
            scores.append((float((true & said).sum() / (true | said).sum()), index))
    return [(index, iou) for iou, index in sorted(scores)[:n]]


def _worst_figures(frames, truths, predictions, class_id, n):
    found = worst_frames(truths, predictions, class_id, n)
    if not found:
        print(f"No validation frame holds {CLASS_NAMES[class_id]}.")
    for index, iou in found:
        _frame_figure(frames[index], [truths[index], predictions[index]],
                      (f"validation frame {index}", f"true mask ({CLASS_NAMES[class_id]} in colour)",
                       f"predicted ({CLASS_NAMES[class_id]} IoU {iou:.2f})"), class_id, shares=False)
        plt.show()
        print(f"validation frame {index}: {CLASS_NAMES[class_id]} IoU {iou:.2f}; "
              + describe_frame_errors(index, truths[index], predictions[index]).split(": ", 1)[1])


def browse_worst_frames(frames, truths, predictions, class_id, examples=3):
    """The ``examples`` validation frames where a class scores worst, its pixels in colour:
    a class menu in JupyterLab (from `class_id`), else the frames for `class_id`."""
    if not 0 <= class_id < N_CLASSES:
        raise ValueError(f"class_id must be a class id from 0 to {N_CLASSES - 1}; it is {class_id!r}")
    if not DRAW:
        return None
    widgets = _widgets()
    if widgets is None:
        _worst_figures(frames, truths, predictions, class_id, examples)
        return None
    from IPython.display import display

    present = sorted(set(np.unique(truths).tolist()))
    menu = widgets.Dropdown(options=[(f"{c:2d} {CLASS_NAMES[c]}", c) for c in present],
                            value=class_id if class_id in present else present[0], description="class",
                            layout=widgets.Layout(width="260px"))
    out = widgets.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            _worst_figures(frames, truths, predictions, menu.value, examples)

    menu.observe(redraw, "value")
    display(widgets.VBox([menu, out]))
    redraw()


def show_transposed_convolution(inputs, kernel, outputs, title):
    """The input, kernel and output of a one-channel transposed convolution, values written in."""
    if not DRAW:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), gridspec_kw={"width_ratios": [3, 3, 6]})
    fig.suptitle(title, fontsize=11)
    for ax, values, name in zip(axes, (inputs, kernel, outputs),
                                ("input (3×3)", "kernel (3×3)", "output (6×6): stride 2, 'same'")):
        values = np.asarray(values)
        ax.imshow(values, cmap="Blues", vmin=0, vmax=max(values.max(), 1))
        for (row, col), value in np.ndenumerate(values):
            ax.text(col, row, f"{value:g}", ha="center", va="center", fontsize=10)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# --- Precision: the number format training computes in ----------------------------------

#: PRECISION -> Keras dtype policy. A mixed policy keeps the weights in float32 and computes
#: each layer in the shorter format, which processors with units for it run several times faster.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
SPEEDUP_NEEDED = 1.2  # a reduced format is chosen only when it is clearly faster: timings are noisy


def _probe_speed(policy, seconds=0.5, batch=4):
    """Images per second that a small convolutional network, shaped like a U-Net's middle
    blocks, trains at under the Keras dtype policy `policy` (a warm-up step, then steps for
    about `seconds`: at most a few seconds, where a format is slow)."""
    import keras

    with computing_in(policy):
        inputs = keras.Input((48, 64, 32))
        hidden = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(inputs)
        hidden = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(hidden)
        logits = keras.layers.Conv2D(N_CLASSES, 1, dtype="float32")(hidden)
        probe = keras.Model(inputs, logits)
    probe.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    images = rng.random((batch, 48, 64, 32), dtype=np.float32)
    masks = rng.integers(0, N_CLASSES, (batch, 48, 64, 1))
    probe.train_on_batch(images, masks)  # tracing and memory allocation
    steps, start = 0, time.perf_counter()
    while steps < 1 or time.perf_counter() - start < seconds:
        probe.train_on_batch(images, masks)
        steps += 1
    return batch * steps / (time.perf_counter() - start)


def model_speed(model, batch=8):
    """Images per second that `model` computes its training gradients at, timed on one batch of
    zeros after a first one (tracing); its weights are not changed."""
    import tensorflow as tf

    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def gradients(images, masks):
        with tf.GradientTape() as tape:
            value = loss(masks, model(images, training=True))
        return tape.gradient(value, model.trainable_variables)

    images = tf.zeros((batch, *model.input_shape[1:]))
    masks = tf.zeros((batch, *model.input_shape[1:-1], 1), tf.int32)
    gradients(images, masks)
    start = time.perf_counter()
    tf.nest.map_structure(lambda g: g.numpy() if g is not None else None, gradients(images, masks))
    return batch / (time.perf_counter() - start)


# Validation mean IoU at the notebook's other default settings, by EPOCHS: each from a run of its
# own, since the learning rate's schedule spans the whole run (bench/training_quality.py --seeds 0
# --epochs N, on roadscenes 3.1's 1,060 default frames; 10 epochs: bench/appearance_transfer.py).
MEASURED_MEAN_IOU = {3: 0.15, 10: 0.26}


def training_time(seconds_per_epoch, epochs, precision):
    """A sentence saying about how long training takes, said before it starts, and what a
    shorter run gives where that was measured."""
    total = epochs * seconds_per_epoch / 60
    text = (f"Training {epochs} epoch(s) in {precision} takes about {total:.0f} min here, "
            f"{seconds_per_epoch:.0f} s an epoch (estimated now; each epoch's time shows as it ends).")
    fewer = max(1, epochs // 3)
    if total > 12 and fewer < epochs:
        text += f" For a quicker look, EPOCHS = {fewer} takes about {fewer * seconds_per_epoch / 60:.0f} min"
        if fewer in MEASURED_MEAN_IOU and epochs in MEASURED_MEAN_IOU:
            text += (f", but gives rougher masks: with the other settings as given, {fewer} epochs reached a "
                     f"validation mean IoU of {MEASURED_MEAN_IOU[fewer]:.2f} and {epochs} epochs "
                     f"{MEASURED_MEAN_IOU[epochs]:.2f}")
        text += "."
    return text


def _candidates():
    """The reduced formats worth timing here: bfloat16 on any processor (fast only on CPUs with
    AMX or AVX512-BF16 units and on recent GPUs), and float16 on a GPU (CPUs emulate it)."""
    import tensorflow as tf

    return ["bfloat16", "float16"] if tf.config.list_physical_devices("GPU") else ["bfloat16"]


def choose_precision(precision="auto", measure=_probe_speed, candidates=_candidates):
    """The format training computes in (a key of POLICIES): PRECISION itself, or, for "auto",
    the fastest on this machine, measured in a few seconds; and prints which and why. The
    network's last layer and the loss stay in float32 whatever the choice (build_in)."""
    if precision not in ("auto", *POLICIES):
        raise ValueError(f'PRECISION must be "auto", "float32", "bfloat16" or "float16"; it is {precision!r}')
    if GRADING:  # nothing is trained while grading
        return "float32"
    if precision != "auto":
        print(f"Training computes in {precision}, as PRECISION asks.")
        return precision
    speeds = {"float32": measure(POLICIES["float32"])}
    for name in candidates():
        speeds[name] = measure(POLICIES[name])
    best = max(speeds, key=speeds.get)
    ratio = speeds[best] / speeds["float32"]
    if best == "float32" or ratio < SPEEDUP_NEEDED:
        others = ", ".join(f"{name} {speeds[name] / speeds['float32']:.2f}x" for name in speeds if name != "float32")
        print(f"Training computes in float32: the shorter formats are not faster on this machine ({others} "
              "float32's speed, measured now).")
        return "float32"
    print(f"Training computes in {best}: {ratio:.1f}x as fast as float32 on this machine (measured now). "
          "The weights, the last layer and the loss stay in float32.")
    return best


class computing_in:
    """Within it, new Keras layers compute in `policy` (a Keras dtype policy's name); after it,
    the policy is what it was."""

    def __init__(self, policy):
        self.policy = policy

    def __enter__(self):
        import keras

        self.previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.policy)
        return self

    def __exit__(self, *_):
        import keras

        keras.config.set_dtype_policy(self.previous)
        return False


def build_in(precision, build, *args, **kwargs):
    """The model that `build(*args, **kwargs)` returns, its layers computing in `precision` (a
    key of POLICIES), except the layer of its output: the logits, and so the loss, stay in float32."""
    with computing_in(POLICIES[precision]):
        model = build(*args, **kwargs)
    for output in model.outputs:
        output._keras_history[0].dtype_policy = "float32"
    return model
