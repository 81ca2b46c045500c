"""Seconds per training epoch of the notebook's U-Net at its default settings (96x128 input,
32 base filters, batch 32, about 900 training frames), with TensorFlow's oneDNN CPU
optimisations on and off, measured side by side in fresh processes.

    .venv/bin/python bench/training_speed.py [--frames 256] [--repeat 2]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

TRAIN_FRAMES = 901  # 85% of the 1,060 default frames

CHILD = r"""
import json, os, sys, time
import numpy as np, runpy, tensorflow as tf
frames = int(sys.argv[1])
sys.path.insert(0, sys.argv[3])  # the Keras solution imports the recorder from the source folder
unet = runpy.run_path(sys.argv[2])["unet_model"]()
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


def measure(frames, onednn):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="1" if onednn else "0")
    solution = bench_setup.ROOT / "tests" / "keras_reference.py"  # the solution, built with Keras
    source = bench_setup.ROOT / "source" / "unet_segmentation"
    out = subprocess.run([sys.executable, "-c", CHILD, str(frames), str(solution), str(source)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["images_per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=256, help="frames timed per run")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    runs = {True: [], False: []}
    for _ in range(args.repeat):
        for onednn in (True, False):
            runs[onednn].append(measure(args.frames, onednn))
    print(f"U-Net 96x128, batch 32, {os.cpu_count()} core(s); median of {args.repeat} runs of {args.frames} frames")
    for onednn in (True, False):
        speed = statistics.median(runs[onednn])
        print(f"oneDNN {'on ' if onednn else 'off'}  {speed:5.1f} images/s  ->  "
              f"{TRAIN_FRAMES / speed:5.0f} s per epoch of {TRAIN_FRAMES} frames")
    ratio = statistics.median(runs[True]) / statistics.median(runs[False])
    print(f"oneDNN on / off speed ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
