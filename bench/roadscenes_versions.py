"""Frames of an earlier roadscenes beside this one's, for the README: the same seed and frame
numbers rendered by both versions (the scenes differ: each version draws its own).

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/roadscenes_versions.py --before /tmp/before [--out docs/roadscenes-versions.jpg]
                                                  [--frames 1 3 5 8]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from roadscenes.dataset import FRAMES, MANIFEST, frame_name, generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FRAME_NUMBERS = (1, 3, 5, 8)
TILE = (400, 300)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="a checkout of the earlier version")
    parser.add_argument("--out", default=str(ROOT / "docs" / "roadscenes-versions.jpg"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frames", type=int, nargs="+", default=list(FRAME_NUMBERS),
                        help="frame numbers to show (default: %(default)s)")
    args = parser.parse_args()
    count = max(args.frames) + 1
    with tempfile.TemporaryDirectory() as tmp:
        old, new = Path(tmp) / "old", Path(tmp) / "new"
        # The earlier version's package comes first on the path when run from its checkout.
        subprocess.run([sys.executable, "-m", "roadscenes", "generate", "--count", str(count), "--seed",
                        str(args.seed), "--out", str(old)], cwd=args.before, check=True, capture_output=True)
        generate(new, count=count, seed=args.seed, progress=False)
        rows = []
        for number in args.frames:
            pair = [np.asarray(Image.open(folder / FRAMES / frame_name(number)).convert("RGB").resize(TILE))
                    for folder in (old, new)]
            rows.append(np.concatenate([pair[0], np.full((TILE[1], 8, 3), 255, np.uint8), pair[1]], axis=1))
        versions = [version(folder) for folder in (old, new)]
    header = Image.new("RGB", (rows[0].shape[1], 28), "white")
    draw = ImageDraw.Draw(header)
    draw.text((8, 8), f"before ({versions[0]})", fill="black")
    draw.text((TILE[0] + 16, 8), f"now ({versions[1]})", fill="black")
    picture = np.concatenate([np.asarray(header)] + rows, axis=0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(args.out, quality=85)
    print(f"{args.out}: {len(args.frames)} frames of seed {args.seed}, {versions[0]} | {versions[1]}")


def version(folder):
    """"roadscenes 3" or "roadscenes 3.1", from the generator its manifest names
    ("roadscenes 3.0.0", "roadscenes 3.1.0"): trailing zero parts are dropped."""
    name, number = json.loads((folder / MANIFEST).read_text())["generator"].rsplit(" ", 1)
    parts = number.split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return f"{name} {'.'.join(parts)}"


if __name__ == "__main__":
    main()
