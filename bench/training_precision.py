"""Training speed of the notebook's U-Net in each number format its PRECISION setting offers,
side by side in fresh processes on this machine; what PRECISION = "auto" chooses here and how
long choosing takes; and, with --quality, validation mean IoU against epochs and minutes for
each format, the whole notebook run by training_quality.py for each seed.

    .venv/bin/python bench/training_precision.py [--frames 128] [--repeat 2] [--busy]
    .venv/bin/python bench/training_precision.py --quality [--seeds 0 1 2] [--epochs N] [--formats float32 bfloat16]

--busy keeps every core busy with other work while it measures, as on a shared hub.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

from course.assignment import SOURCE  # noqa: E402

TRAIN_FRAMES = 901  # 85% of the 1,060 default frames
FORMATS = ["float32", "bfloat16", "float16"]

SPEED = r"""
import json, sys, time
import numpy as np, runpy
sys.path.insert(0, sys.argv[3])  # the notebook's folder: segmentation_utils, and the recorder the solution imports
import segmentation_utils as su
import tensorflow as tf
frames, precision = int(sys.argv[1]), sys.argv[4]
unet = su.build_in(precision, runpy.run_path(sys.argv[2])["unet_model"])
unet.compile(optimizer=tf.keras.optimizers.Adam(1e-3, clipnorm=1.0),
             loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
rng = np.random.default_rng(0)
x = rng.random((frames, 96, 128, 3), dtype=np.float32)
y = rng.integers(0, 23, (frames, 96, 128, 1)).astype(np.int32)
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).cache().prefetch(2)
unet.fit(data.take(2), epochs=1, verbose=0)  # warm-up: tracing and memory allocation
start = time.perf_counter()
unet.fit(data, epochs=1, verbose=0)
print(json.dumps({"images_per_second": frames / (time.perf_counter() - start)}))
"""

AUTO = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import segmentation_utils as su
start = time.perf_counter()
chosen = su.choose_precision("auto")
print(json.dumps({"chosen": chosen, "seconds": time.perf_counter() - start}))
"""


def _child(code, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, check=True, capture_output=True,
                         text=True).stdout
    return out.strip().splitlines()


def speed(frames, precision):
    solution = bench_setup.ROOT / "tests" / "keras_reference.py"  # the solution, built with Keras
    return json.loads(_child(SPEED, frames, solution, SOURCE, precision)[-1])["images_per_second"]


def _spin():
    while True:
        pass


def throughput(args):
    formats = [f for f in FORMATS if f != "float16" or args.float16]
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() if args.busy else 0)]
    for spinner in spinners:
        spinner.start()
    try:
        runs = {f: [] for f in formats}
        for _ in range(args.repeat):
            for name in formats:  # side by side: each round measures every format once
                runs[name].append(speed(args.frames, name))
        auto = [json.loads(_child(AUTO, SOURCE)[-1]) for _ in range(args.repeat)]
    finally:
        for spinner in spinners:
            spinner.terminate()
    print(f"U-Net 96x128, 32 base filters, batch 32, {os.cpu_count()} core(s)"
          f"{', every core also busy with other work' if args.busy else ''}; "
          f"median of {args.repeat} runs of {args.frames} frames")
    base = statistics.median(runs["float32"])
    for name in formats:
        value = statistics.median(runs[name])
        print(f"{name:9s} {value:6.1f} images/s  {value / base:5.2f}x float32  ->  "
              f"{TRAIN_FRAMES / value:6.0f} s per epoch of {TRAIN_FRAMES} frames")
    print(f'PRECISION = "auto" chose {", ".join(sorted({a["chosen"] for a in auto}))} '
          f'in {statistics.median(a["seconds"] for a in auto):.1f} s (median of {len(auto)})')


def quality(args):
    import training_quality

    for name in args.formats:
        for seed in args.seeds:
            notebook = training_quality.notebook_for(seed, args.epochs, precision=name)
            result = training_quality.run_notebook(notebook, Path(args.data).resolve())
            h = result["history"]
            print(f"\n{name}, seed {seed}: {result['wall_minutes']:.1f} min for the whole notebook")
            print(" epoch  minutes  val_mean_iou")
            elapsed = 0.0
            for e, iou in enumerate(h["val_mean_iou"]):
                elapsed += result["epoch_seconds"][e] / 60 if e < len(result["epoch_seconds"]) else float("nan")
                print(f"{e + 1:6d} {elapsed:8.1f} {iou:13.3f}")
            sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=128, help="frames timed per run")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--busy", action="store_true", help="keep every core busy with other work meanwhile")
    parser.add_argument("--float16", action="store_true", help="time float16 too (CPUs emulate it: very slow)")
    parser.add_argument("--quality", action="store_true", help="train the whole notebook in each format")
    parser.add_argument("--formats", nargs="+", default=["float32", "bfloat16"], choices=FORMATS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="override the notebook's EPOCHS")
    parser.add_argument("--data", default=str(bench_setup.ROOT / "data"))
    args = parser.parse_args()
    quality(args) if args.quality else throughput(args)


if __name__ == "__main__":
    main()
