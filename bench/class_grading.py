"""Grading a class: plain serial nbgrader beside `course grade` on a local Dask cluster of 1
and of 2 workers, in one run, each on its own copy of the same class.

    .venv/bin/python bench/class_grading.py [--size 24] [--workers 1 2]

The last run is the largest cluster again with kernels started only when their notebook
comes (--no-prestart), to show what starting them ahead saves.

Prints, for each: wall seconds, seconds per submission, and CPU-seconds per submission (the
whole machine's busy time during the run, divided by the class size), then the speed-up over
serial nbgrader and what the CPU cost implies for 1,000 submissions on 16 cores.
Serial nbgrader is `nbgrader autograde` and then `nbgrader generate_feedback`, which is what
`course grade` produces (it also writes grades.csv; that is not timed here). Goal (issue 10):
2 workers at least 1.8x serial on 2 cores.

The class mixes correct, wrong and broken notebooks that a plain nbgrader run survives
(invalid JSON, a deleted graded cell, floods of output): nbgrader alone aborts the whole run
on a duplicated grade_id, so such cases would make the comparison meaningless.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

import nbformat  # noqa: E402
import psutil  # noqa: E402

import catalogue  # noqa: E402
import hostile  # noqa: E402
from course.assignment import ASSIGNMENT, NOTEBOOK  # noqa: E402
from course.grading.grader import Settings, grade_all  # noqa: E402
from course.layout import nbgrader  # noqa: E402
from course.unet_segmentation.examples import write_examples  # noqa: E402
from course_helpers import copy_course  # noqa: E402


def build_class(root, size):
    write_examples(root / "submitted", {"reference": (1, 2, 3), "blank": (), "only_1": (1,), "only_3": (3,)})
    survivable = [hostile.invalid_json, hostile.deleted_graded_cell, hostile.output_floods, hostile.reordered_cells]
    for index, build in enumerate(survivable):
        folder = root / "submitted" / f"broken_{index}" / ASSIGNMENT
        folder.mkdir(parents=True)
        build(folder)
    entries = catalogue.ENTRIES
    for index in range(size - 8):
        entry = entries[index % len(entries)]
        folder = root / "submitted" / f"s{index:02d}_{entry.name}" / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(catalogue.notebook(entry), folder / NOTEBOOK)


def busy_seconds():
    """CPU-seconds the whole machine has spent busy since boot (not counting time the
    hypervisor took: steal)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq


def measured(work):
    start_wall, start_cpu = time.perf_counter(), busy_seconds()
    result = work()
    return time.perf_counter() - start_wall, busy_seconds() - start_cpu, result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(n, True) for n in args.workers] + [(max(args.workers), False)]
        roots = {name: copy_course(Path(tmp) / name) for name in ["serial"] + [f"w{n}{a}" for n, a in runs]}
        for root in roots.values():
            nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
            build_class(root, args.size)
        wall, cpu, _ = measured(lambda: nbgrader("autograde", ASSIGNMENT, root=roots["serial"], capture=True,
                                                 check=False))
        rows.append(("serial nbgrader autograde", wall, cpu))
        wall2, cpu2, _ = measured(lambda: nbgrader("generate_feedback", ASSIGNMENT, root=roots["serial"],
                                                   capture=True, check=False))
        rows.append(("serial autograde + generate_feedback", wall + wall2, cpu + cpu2))
        graded = {}
        for workers, ahead in runs:
            settings = Settings(root=roots[f"w{workers}{ahead}"], workers=workers, prestart=ahead)
            wall, cpu, outcomes = measured(lambda: grade_all(settings, progress=False, say=lambda _: None))
            graded[workers] = sum(o.graded for o in outcomes.values())
            rows.append((f"course grade, {workers} worker(s)" + ("" if ahead else ", no prestart"), wall, cpu))
    cores = psutil.cpu_count()
    print(f"class of {args.size} submissions on {cores} cores "
          f"({', '.join(f'{n} worker(s): {g} graded' for n, g in graded.items())}; the rest are reported broken)")
    print(f"{'':40s} {'wall s':>8s} {'s/subm.':>8s} {'CPU-s/subm.':>12s}")
    for name, wall, cpu in rows:
        print(f"{name:40s} {wall:8.1f} {wall / args.size:8.2f} {cpu / args.size:12.2f}")
    serial = rows[1][1]
    for name, wall, _ in rows[2:]:
        print(f"speed-up of {name} over serial nbgrader (with feedback): {serial / wall:.2f}x")
    best = next(row for row in rows if row[0].endswith(f"{max(args.workers)} worker(s)"))
    if 2 in args.workers:
        two = best[1]
        print(f"goal (2 workers >= 1.8x serial): {'met' if serial / two >= 1.8 else 'MISSED'} ({serial / two:.2f}x)")
    without = rows[-1]
    print(f"kernels started ahead: {without[1] / best[1]:.2f}x the speed without, "
          f"{without[2] / args.size:.2f} -> {best[2] / args.size:.2f} CPU-s per submission")
    per_submission = best[2] / args.size
    projected = 1000 * per_submission / 16
    print(f"projection: 1,000 submissions at {per_submission:.1f} CPU-s each on 16 such cores, all busy: "
          f"{projected / 60:.1f} min (goal: at most 10 min)")


if __name__ == "__main__":
    main()
