"""Is the generated data learnable, and does it need more than colour? Prints figures.

Trains the assignment's U-Net (96x128 input, 32 base filters, 23 classes, 4 down and 4 up
blocks, dropout 0.3 in the two deepest blocks) and a per-pixel colour classifier (1x1
convolutions only, so it sees one pixel's colour and nothing around it) on the same
generated training split, then prints pixel accuracy and per-class IoU on a held-out split.

    .venv/bin/python bench/learnability.py [--train 480] [--val 120] [--epochs 6]
"""

import argparse
import tempfile
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from roadscenes import CLASS_NAMES, N_CLASSES  # noqa: E402
from roadscenes.dataset import FRAMES, MASKS, generate  # noqa: E402

HEIGHT, WIDTH = 96, 128
layers = tf.keras.layers


def load(folder, names):
    """Frames resized bilinearly (scaled to 0..1) and masks resized by nearest neighbour."""
    images, masks = [], []
    for name in names:
        rgb = Image.open(folder / FRAMES / name).convert("RGB").resize((WIDTH, HEIGHT), Image.BILINEAR)
        mask = Image.open(folder / MASKS / name).convert("RGB").getchannel("R").resize((WIDTH, HEIGHT),
                                                                                        Image.NEAREST)
        images.append(np.asarray(rgb, dtype=np.float32) / 255)
        masks.append(np.asarray(mask, dtype=np.int32))
    return np.stack(images), np.stack(masks)[..., None]


def conv_block(x, filters, dropout=0.0, pool=True):
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    skip = x
    return (layers.MaxPooling2D(2)(x) if pool else x), skip


def up_block(x, skip, filters):
    x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same")(x)
    x = layers.Concatenate()([x, skip])
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    return x


def unet(filters=32):
    inputs = tf.keras.Input((HEIGHT, WIDTH, 3))
    x, s1 = conv_block(inputs, filters)
    x, s2 = conv_block(x, filters * 2)
    x, s3 = conv_block(x, filters * 4)
    x, s4 = conv_block(x, filters * 8, dropout=0.3)
    x, _ = conv_block(x, filters * 16, dropout=0.3, pool=False)
    for skip, k in ((s4, 8), (s3, 4), (s2, 2), (s1, 1)):
        x = up_block(x, skip, filters * k)
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="he_normal")(x)
    return tf.keras.Model(inputs, layers.Conv2D(N_CLASSES, 1)(x), name="unet")


def colour_classifier():
    inputs = tf.keras.Input((HEIGHT, WIDTH, 3))
    x = layers.Conv2D(64, 1, activation="relu")(inputs)
    x = layers.Conv2D(64, 1, activation="relu")(x)
    return tf.keras.Model(inputs, layers.Conv2D(N_CLASSES, 1)(x), name="colour_classifier")


def evaluate(model, images, masks):
    predicted = np.concatenate([np.argmax(model(images[i:i + 32], training=False), axis=-1)
                                for i in range(0, len(images), 32)])
    truth = masks[..., 0]
    iou = {}
    for cls in range(N_CLASSES):
        union = np.logical_or(predicted == cls, truth == cls).sum()
        if (truth == cls).any():
            iou[cls] = np.logical_and(predicted == cls, truth == cls).sum() / union
    return float((predicted == truth).mean()), iou


def train(model, data, epochs, learning_rate):
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(*data, batch_size=32, epochs=epochs, shuffle=True, verbose=2)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=480)
    parser.add_argument("--val", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    tf.keras.utils.set_random_seed(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(folder, count=args.train + args.val, seed=args.seed, progress=False)
        names = sorted(p.name for p in (folder / FRAMES).glob("*.png"))
        train_data = load(folder, names[:args.train])
        val_images, val_masks = load(folder, names[args.train:])

    results = {}
    for model, rate in ((colour_classifier(), 1e-2), (unet(), 1e-3)):
        seconds = train(model, train_data, args.epochs, rate)
        results[model.name] = evaluate(model, val_images, val_masks) + (seconds,)

    print(f"\n{args.train} training and {args.val} held-out frames at {WIDTH}x{HEIGHT}, {args.epochs} epochs, "
          f"batch 32, Adam")
    print(f"{'':22s}" + "".join(f"{name:>20s}" for name in results))
    print(f"{'pixel accuracy':22s}" + "".join(f"{r[0]:20.3f}" for r in results.values()))
    present = sorted(set().union(*(r[1] for r in results.values())))
    means = [np.mean([r[1].get(c, 0.0) for c in present]) for r in results.values()]
    print(f"{'mean IoU (present)':22s}" + "".join(f"{m:20.3f}" for m in means))
    print(f"{'training seconds':22s}" + "".join(f"{r[2]:20.0f}" for r in results.values()))
    print("per-class IoU on the held-out frames:")
    for cls in present:
        print(f"  {cls:2d} {CLASS_NAMES[cls]:17s}" + "".join(f"{r[1].get(cls, 0.0):20.3f}" for r in results.values()))


if __name__ == "__main__":
    main()
