"""Print how long `nbgrader collect` takes with the course's SafeCollect and with nbgrader's own
collect, side by side, on the same inbound folder of N submissions.

    .venv/bin/python bench/collect_speed.py [--students 200] [--runs 3]

Each submission is what `nbgrader submit` leaves in the exchange: the released notebook and a
timestamp.txt, written by this user (so the owner check passes, as where instructor and students
are one user). Each run collects the class afresh into an empty submitted/. The difference is
the cost of trusting nothing: opening every entry relative to its folder, checking it twice,
copying whole or not at all.
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

from course.assignment import ASSIGNMENT, NOTEBOOK  # noqa: E402
from course.layout import COURSE_ID, nbgrader  # noqa: E402

from course_helpers import copy_course  # noqa: E402

STOCK = "--ExchangeFactory.collect=nbgrader.exchange.default.collect.ExchangeCollect"


def _class(root, students):
    exchange = root / "exchange"
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True,
             extra_env={"UNET_EXCHANGE": str(exchange)})
    inbound = exchange / COURSE_ID / "inbound"
    inbound.mkdir(parents=True, exist_ok=True)
    notebook = (root / "release" / ASSIGNMENT / NOTEBOOK).read_bytes()
    stamp = "2026-12-01 09:00:00.000000 UTC"
    for number in range(students):
        folder = inbound / f"s{number:04d}+{ASSIGNMENT}+{stamp}+{os.urandom(4).hex()}"
        folder.mkdir()
        (folder / NOTEBOOK).write_bytes(notebook)
        (folder / "timestamp.txt").write_text(stamp)
    return exchange


def _collect(root, exchange, *extra):
    shutil.rmtree(root / "submitted", ignore_errors=True)
    start = time.perf_counter()
    nbgrader("collect", ASSIGNMENT, *extra, root=root, capture=True, extra_env={"UNET_EXCHANGE": str(exchange)})
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_course(Path(tmp) / "course")
        exchange = _class(root, args.students)
        empty = _collect(root, exchange, "--student=nobody")
        times = {"SafeCollect": [], "nbgrader's collect": []}
        for _ in range(args.runs):  # alternated, so that both see the same load
            times["SafeCollect"].append(_collect(root, exchange))
            times["nbgrader's collect"].append(_collect(root, exchange, STOCK))
        collected = len(list((root / "submitted").iterdir()))
    print(f"submissions         {args.students} (the released notebook and a timestamp.txt each), "
          f"{args.runs} run(s) of each collect, {os.cpu_count()} core(s)")
    print(f"start-up            {empty:.2f} s (a run that collects nobody)")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:<20}{median:.2f} s median ({min(seconds):.2f}-{max(seconds):.2f}), "
              f"{(median - empty) / args.students * 1000:.1f} ms per submission beyond start-up")
    assert collected == args.students, f"collected {collected} of {args.students}"


if __name__ == "__main__":
    main()
