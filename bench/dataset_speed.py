"""Print how fast the default data set is generated on this machine and its size on disk.

    .venv/bin/python bench/dataset_speed.py [--count 1060] [--workers N]

Targets: the 1,060 default frames in at most 60 s on 2 cores (issue 2; at least 15 frames/s,
issue 21). Size: issue 2 asked for at most 200 MB; since roadscenes 2 draws photographic
textures (issue 21), the folder is larger, and the figure printed beside it is the real CARLA
set's size (1,060 frames of about 430 KB and masks of about 12 KB: about 470 MB).
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

from roadscenes.dataset import DEFAULT_COUNT, generate  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    workers = args.workers or os.cpu_count()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate(Path(tmp) / "data", count=args.count, workers=workers, progress=False)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    megabytes = size / 1e6
    print(f"frames            {args.count} (640x480) on {workers} worker(s), {os.cpu_count()} core(s)")
    print(f"wall time         {seconds:.1f} s   ({args.count / seconds:.1f} frames/s)")
    print(f"size on disk      {megabytes:.1f} MB ({size / args.count / 1e3:.0f} KB per frame and mask)")
    if args.count == DEFAULT_COUNT:
        print(f"targets           time <= 60 s: {'met' if seconds <= 60 else 'MISSED'}; "
              f"size <= 200 MB (issue 2): {'met' if megabytes <= 200 else 'MISSED'}; "
              f"size <= the real CARLA set (about 470 MB): {'met' if megabytes <= 470 else 'MISSED'}")


if __name__ == "__main__":
    main()
