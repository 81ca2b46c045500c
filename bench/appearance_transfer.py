"""Does what the network learns on generated frames carry over to frames that look different?

A proxy for the transfer to real CARLA frames that needs no real frame: the source notebook
trains at its default settings (nbclient, as a student runs it) on one family of generated
scenes, then the trained network is scored on frames rendered with appearance settings the
training family never uses (`roadscenes generate --appearance heldout`: other light presets,
and exposure, white balance, saturation, contrast, blur, noise, vignetting and texture strength
outside the training family's ranges). Prints pixel
accuracy, mean IoU and per-class IoU on the notebook's own validation split and on the
held-out family, side by side with an earlier result when one is given.

    .venv/bin/python bench/appearance_transfer.py [--train DIR] [--result OUT.json]
                                                  [--before EARLIER.json]

--train DIR trains on an existing data folder (for instance one written by an earlier version
of roadscenes, from a `git worktree` of it) instead of generating the training family; the
held-out family is always rendered by this version. --model keeps the trained network, and a
second run with the same --model only scores it again. --real DIR also scores it on real CARLA
frames with their masks (`CameraRGB/`, `CameraMask/`; for example `../shared/carla-dev/pairs`),
which never ship with the course, and prints each class's real IoU as a share of its
validation IoU and, for a class that keeps less than 0.65 of it, what its real pixels were
taken for.
"""

import argparse
import json
import os
import sys
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

import nbformat  # noqa: E402
import numpy as np  # noqa: E402

from course.assignment import NOTEBOOK, SOURCE  # noqa: E402
from roadscenes import CLASS_NAMES, N_CLASSES  # noqa: E402
from roadscenes.dataset import FRAMES, MASKS, generate  # noqa: E402
from training_quality import execute_source_notebook  # noqa: E402

sys.path.insert(0, str(SOURCE))
import segmentation_utils as su  # noqa: E402  (the notebook's own confusion matrix and IoU)

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "transfer"
SAVE = """
import json
unet.save({model!r})
json.dump({{"confusion": su.confusion_matrix(unet, val_dataset).tolist(), "history": history,
           "train": {train!r}}}, open({sidecar!r}, "w"))
"""
# The classes the issue follows, in its order: what students look at, then the thin ones.
SHOWN = ("Road", "Sky", "Vegetation", "Building", "Terrain", "Vehicles", "RoadLine", "Sidewalk",
         "GuardRail", "Wall", "Pole", "Fence")


def train(data_dir, model_path):
    """Run the source notebook at its defaults on `data_dir`; save the network and its
    validation confusion matrix next to it."""
    notebook = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    sidecar = str(model_path) + ".json"
    notebook.cells.append(nbformat.v4.new_code_cell(SAVE.format(model=str(model_path), sidecar=sidecar,
                                                                train=str(data_dir))))
    minutes = execute_source_notebook(notebook, data_dir, timeout=7200) / 60
    print(f"notebook trained on {data_dir} in {minutes:.1f} min")


def score_folder(model_path, folder):
    """Confusion matrix of the saved network on every frame of `folder`, preprocessed as the
    notebook does (bilinear frames, nearest-neighbour masks, 96x128)."""
    import tensorflow as tf

    model = tf.keras.models.load_model(model_path, compile=False)
    height, width = model.input_shape[1:3]
    names = sorted(p.name for p in (Path(folder) / FRAMES).glob("*.png"))

    def load(name):
        image = tf.image.decode_png(tf.io.read_file(str(Path(folder) / FRAMES / name)), channels=3)
        mask = tf.image.decode_png(tf.io.read_file(str(Path(folder) / MASKS / name)), channels=3)[..., :1]
        image = tf.image.resize(tf.image.convert_image_dtype(image, tf.float32), (height, width), "bilinear")
        return image, tf.cast(tf.image.resize(mask, (height, width), "nearest"), tf.int32)

    frames = tf.data.Dataset.from_tensor_slices(names).map(lambda n: tf.py_function(
        lambda s: load(s.numpy().decode()), [n], (tf.float32, tf.int32)))
    return su.confusion_matrix(model, frames.batch(32))


def summary(confusion):
    """Pixel accuracy, mean IoU over the classes present, and IoU and share per class, with the
    notebook's own functions."""
    confusion = np.asarray(confusion, dtype=np.int64)
    iou, share = su.per_class_iou(confusion), su.truth_shares(confusion)
    return {"pixel_accuracy": float(np.trace(confusion) / confusion.sum()),
            "mean_iou": float(np.nanmean(iou)),
            "iou": {CLASS_NAMES[c]: (None if np.isnan(iou[c]) else float(iou[c])) for c in range(N_CLASSES)},
            "share": {CLASS_NAMES[c]: float(share[c]) for c in range(N_CLASSES)}}


SPLITS = ("validation", "held-out", "real")


def table(results, labels):
    """Markdown table: one column per (result, split)."""
    columns = [(label, split) for label in labels for split in SPLITS if split in results[label]]
    head = "| | " + " | ".join(f"{label}: {split}" for label, split in columns) + " |"
    lines = [head, "|---" * (len(columns) + 1) + "|"]

    def cell(result, split, key, cls=None):
        if cls is None:
            return f"{result[split][key]:.3f}"
        value = result[split][key][cls]
        return "–" if value is None else f"{value:.2f}"  # None: the class is in neither truth nor prediction

    for key, name in (("pixel_accuracy", "pixel accuracy"), ("mean_iou", "mean IoU (classes present)")):
        lines.append(f"| {name} | " + " | ".join(cell(results[lb], sp, key) for lb, sp in columns) + " |")
    for cls in SHOWN:
        lines.append(f"| IoU {cls} | " + " | ".join(cell(results[lb], sp, "iou", cls) for lb, sp in columns) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", help="train on this data folder instead of generating the training family")
    parser.add_argument("--heldout", default=str(WORK / "heldout"), help="held-out family's folder")
    parser.add_argument("--heldout-count", type=int, default=200)
    parser.add_argument("--model", default=str(WORK / "unet.keras"), help="where the network is kept")
    parser.add_argument("--result", default=str(WORK / "result.json"), help="write the figures here")
    parser.add_argument("--before", help="an earlier --result file, shown beside this one")
    parser.add_argument("--label", default="now")
    parser.add_argument("--real", help="also score on these real frames with their masks")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}")

    if args.train:
        train_dir = Path(args.train).resolve()  # the notebook's kernel runs in another folder
        if not any((train_dir / FRAMES).glob("*.png")):
            parser.error(f"--train {train_dir}: no frames in {FRAMES}/")
    else:
        train_dir = WORK / "train"
        generate(train_dir, count=1060, seed=0, progress=False)
    generate(args.heldout, count=args.heldout_count, seed=1, appearance="heldout", progress=False)

    model = Path(args.model).resolve()
    if not model.exists():
        train(train_dir, model)
    validation = json.loads(Path(str(model) + ".json").read_text())
    if validation.get("train") != str(train_dir):
        parser.error(f"--model {model} was trained on {validation.get('train')}, not on {train_dir}: "
                     "give another --model, or delete it to train again")
    result = {"label": args.label, "train": str(train_dir),
              "validation": summary(validation["confusion"]),
              "held-out": summary(score_folder(model, args.heldout))}
    if args.real:
        real = score_folder(model, Path(args.real))
        result["real"] = summary(real)
        result["real"]["confusion"] = np.asarray(real).tolist()
    Path(args.result).write_text(json.dumps(result, indent=1) + "\n")

    results, labels = {args.label: result}, [args.label]
    if args.before:
        before = json.loads(Path(args.before).read_text())
        results[before["label"]] = before
        labels.insert(0, before["label"])
    print(table(results, labels))
    if "real" in result:
        print(transfer(result))


def transfer(result):
    """The real score as a share of the validation score: overall and per class with at least
    1% of the real pixels (issue 33's bars: 0.8 overall, no such class below 0.5)."""
    validation, real = result["validation"], result["real"]
    lines = [f"transfer (real mean IoU / validation mean IoU): {real['mean_iou'] / validation['mean_iou']:.2f}"]
    for name, share in sorted(real["share"].items(), key=lambda item: -item[1]):
        if share >= 0.01 and validation["iou"][name]:
            ratio = (real["iou"][name] or 0) / validation["iou"][name]
            lines.append(f"  {name:<11} {share:6.1%} of real pixels: IoU {real['iou'][name] or 0:.2f} real, "
                         f"{validation['iou'][name]:.2f} validation ({ratio:.2f}x){'  below half' if ratio < 0.5 else ''}")
            if ratio < 0.65 and "confusion" in real:
                lines.append("      its real pixels predicted as: " + taken_for(real["confusion"], name))
    return "\n".join(lines)


def taken_for(confusion, name):
    """'Building 55%, Vegetation 31%, ...': where a class's true pixels went (the four largest)."""
    row = np.asarray(confusion, dtype=np.int64)[CLASS_NAMES.index(name)]
    return ", ".join(f"{CLASS_NAMES[k]} {row[k] / row.sum():.0%}" for k in np.argsort(-row)[:4] if row[k])


if __name__ == "__main__":
    main()
