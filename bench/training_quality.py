"""The notebook's own training, end to end, for several seeds: minutes per epoch, validation
pixel accuracy and mean IoU after every epoch, whether validation loss ever jumped above twice
its best so far (a collapse), and the final validation IoU of the classes a student looks at.

Runs the source notebook (solutions in place) with nbclient at its default settings, only its
`SEED` (and, with --epochs, `EPOCHS`) changed in the students' settings cell.

    .venv/bin/python bench/training_quality.py [--seeds 0 1 2] [--epochs N] [--figures DIR]
"""

import argparse
import base64
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
from course.assignment import NOTEBOOK, SOURCE  # noqa: E402

WATCHED = {"Road": 7, "Sky": 13, "Building": 1, "Vegetation": 9, "Vehicles": 10}
REPORT = """
import json
print("BENCH-RESULT " + json.dumps({"history": history,
      "iou": [None if v != v else float(v) for v in su.per_class_iou(confusion)]}))
"""
EPOCH_LINE = re.compile(r"^\d+/\d+ - (\d+)s - .*val_loss", re.M)


def notebook_for(seed, epochs, precision=None):
    notebook = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    settings = next(c for c in notebook.cells if c.cell_type == "code" and re.search(r"^SEED = ", c.source, re.M))
    settings.source = re.sub(r"^SEED = \d+", f"SEED = {seed}", settings.source, flags=re.M)
    if epochs is not None:
        settings.source = re.sub(r"^EPOCHS = \d+", f"EPOCHS = {epochs}", settings.source, flags=re.M)
    if precision is not None:
        settings.source = re.sub(r'^PRECISION = "\w+"', f'PRECISION = "{precision}"', settings.source, flags=re.M)
        assert f'PRECISION = "{precision}"' in settings.source, "the settings cell has no PRECISION"
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT))
    return notebook


def execute_source_notebook(notebook, data_dir, timeout=3600):
    """Run a copy of the source notebook with nbclient, as a student runs it, on `data_dir`
    (an absolute path: the kernel runs in a folder of its own); returns the wall seconds."""
    work = Path(tempfile.mkdtemp(prefix="unet-train-"))
    for item in SOURCE.iterdir():
        if item.suffix != ".ipynb":
            (work / item.name).symlink_to(item)
    os.environ.update(UNET_DATA_DIR=str(data_dir), UNET_STATIC_VIEWS="1", TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return time.perf_counter() - start


def run_notebook(notebook, data_dir):
    """The history, per-class IoU, seconds per epoch and wall minutes of a notebook_for()."""
    wall = execute_source_notebook(notebook, data_dir)
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    result = json.loads(text.split("BENCH-RESULT ", 1)[1].splitlines()[0])
    result["epoch_seconds"] = [int(s) for s in EPOCH_LINE.findall(text)]
    result["wall_minutes"] = wall / 60
    return result


def run(seed, epochs, data_dir, figures):
    notebook = notebook_for(seed, epochs)
    result = run_notebook(notebook, data_dir)
    if figures:
        predictions = next(c for c in notebook.cells if "browse_predictions" in c.source)
        pictures = [o.data["image/png"] for o in predictions.outputs if "image/png" in o.get("data", {})]
        for index, picture in enumerate(pictures):
            (Path(figures) / f"seed{seed}_prediction{index}.png").write_bytes(base64.b64decode(picture))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="override the notebook's EPOCHS")
    parser.add_argument("--data", default=str(ROOT / "data"))
    parser.add_argument("--figures", help="folder to save the static prediction figures in")
    args = parser.parse_args()
    if args.figures:
        Path(args.figures).mkdir(parents=True, exist_ok=True)
    print(f"cores: {os.cpu_count()}; data: {args.data}")
    for seed in args.seeds:
        r = run(seed, args.epochs, Path(args.data).resolve(), args.figures)  # the kernel runs elsewhere
        h = r["history"]
        print(f"\nseed {seed}: {r['wall_minutes']:.1f} min for the whole notebook")
        print(" epoch  minutes  val_loss  val_pixel_acc  val_mean_iou")
        for e, loss in enumerate(h["val_loss"]):
            seconds = r["epoch_seconds"][e] if e < len(r["epoch_seconds"]) else float("nan")
            print(f"{e + 1:6d} {seconds / 60:8.2f} {loss:9.3f} {h['val_accuracy'][e]:14.3f} {h['val_mean_iou'][e]:13.3f}")
        jumps = [e + 1 for e, loss in enumerate(h["val_loss"]) if loss > 2 * min(h["val_loss"][:e + 1])]
        print("collapse (validation loss above twice its best so far):", f"epochs {jumps}" if jumps else "none")
        print("final validation IoU:", ", ".join(f"{name} {r['iou'][c]:.2f}" for name, c in WATCHED.items()),
              f"| mean over classes present {sum(v for v in r['iou'] if v is not None) / sum(v is not None for v in r['iou']):.3f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
