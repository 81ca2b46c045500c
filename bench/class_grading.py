"""Grading a class: plain serial nbgrader beside `course grade` on a local Dask cluster of 1
and of 2 workers, in one run, each on its own copy of the same class.

    .venv/bin/python bench/class_grading.py [--size 24] [--workers 1 2] [--baseline DIR]

--baseline DIR measures the course folder DIR too, a checkout of another version
(`git worktree add /tmp/before 86ae4be`), on the same class: each of its runs just before
this version's, so that both are measured side by side in one run on the same machine.
`course grade`'s grading runs in each course folder with its own version of the grader.

The last runs are the largest cluster again with kernels started only when their notebook
comes (--no-prestart), to show what starting them ahead saves, and on a class of one
submission, to part what a run costs once (the cluster, and per worker its zygote, batch
server and Dask process) from what each submission adds.

Prints, for each: wall seconds, seconds per submission, and CPU-seconds per submission (the
whole machine's busy time during the run, divided by the class size), then the speed-up over
serial nbgrader and what the CPU cost implies for 1,000 submissions on 16 cores: 16 workers'
fixed costs plus 1,000 times the cost a submission adds, on 16 busy cores.
Serial nbgrader is `nbgrader autograde` and then `nbgrader generate_feedback`, which is what
`course grade` produces (it also writes grades.csv; that is not timed here). Goal (issue 10):
2 workers at least 1.8x serial on 2 cores.

The class mixes correct, wrong and broken notebooks that a plain nbgrader run survives
(invalid JSON, a deleted graded cell, floods of output): nbgrader alone aborts the whole run
on a duplicated grade_id, so such cases would make the comparison meaningless.
"""

import argparse
import subprocess
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
from course.layout import nbgrader  # noqa: E402
from course.unet_segmentation.examples import write_examples  # noqa: E402
from course_helpers import ROOT, copy_course  # noqa: E402


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


def serial_nbgrader(root):
    """Plain nbgrader on the class in `root`, with the grading files of `root`: (autograde's
    wall and CPU, autograde and feedback's wall and CPU)."""
    wall, cpu, _ = measured(lambda: nbgrader("autograde", ASSIGNMENT, root=root, capture=True, check=False))
    wall2, cpu2, _ = measured(lambda: nbgrader("generate_feedback", ASSIGNMENT, root=root, capture=True, check=False))
    return (wall, cpu), (wall + wall2, cpu + cpu2)


GRADE = """import sys
from pathlib import Path
from course.grading.grader import Settings, grade_all
grade_all(Settings(root=Path.cwd(), workers=int(sys.argv[1]), prestart=sys.argv[2] == "ahead"), progress=False,
          say=lambda _: None)"""


def course_grade(root, workers, ahead):
    """`course grade`'s grading (grade_all, without the CLI's reports) of the course folder
    `root` with its own version of the grader: wall and CPU, and how many submissions came
    out graded."""
    command = [sys.executable, "-c", GRADE, str(workers), "ahead" if ahead else "not ahead"]
    wall, cpu, _ = measured(lambda: subprocess.run(command, cwd=root, capture_output=True, check=True))
    return wall, cpu, sum(1 for folder in (root / "autograded").glob(f"*/{ASSIGNMENT}") if folder.is_dir())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=24)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--baseline", type=Path, help="a course folder of another version (a git worktree), "
                        "measured on the same class, each of its runs just before this version's")
    args = parser.parse_args()
    versions = {"": ROOT, **({"baseline ": args.baseline.resolve()} if args.baseline else {})}
    rows = {version: [] for version in versions}
    runs = [(n, True) for n in args.workers] + [(max(args.workers), False)]
    graded = {}
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for version, origin in versions.items():
            for name in ["serial"] + [f"w{n}{a}" for n, a in runs] + ["one"]:
                root = roots[version, name] = copy_course(Path(tmp) / f"{version.strip() or 'this'}-{name}", origin)
                nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
                if name == "one":
                    write_examples(root / "submitted", {"reference": (1, 2, 3)})
                else:
                    build_class(root, args.size)
        order = sorted(versions, reverse=True)  # the baseline first, then this version
        for version in order:
            autograde, with_feedback = serial_nbgrader(roots[version, "serial"])
            rows[version] += [("serial nbgrader autograde", *autograde),
                              ("serial autograde + generate_feedback", *with_feedback)]
        for workers, ahead in runs:
            for version in order:
                wall, cpu, graded[version, workers] = course_grade(roots[version, f"w{workers}{ahead}"], workers, ahead)
                rows[version].append((f"course grade, {workers} worker(s)" + ("" if ahead else ", no prestart"),
                                      wall, cpu))
        for version in order:  # after the others: the self-test is remembered, as for any later run
            wall, cpu, _ = course_grade(roots[version, "one"], max(args.workers), True)
            rows[version].append((f"course grade, {max(args.workers)} worker(s), a class of 1", wall, cpu))
    cores = psutil.cpu_count()
    for version in order:
        report(version, rows[version], args, cores, {n: graded[version, n] for n in args.workers})


def report(version, rows, args, cores, graded):
    title = "the version in --baseline: " if version else "this version: "
    print(f"\n{title}class of {args.size} submissions on {cores} cores "
          f"({', '.join(f'{n} worker(s): {g} graded' for n, g in graded.items())}; the rest are reported broken)")
    print(f"{'':40s} {'wall s':>8s} {'s/subm.':>8s} {'CPU-s/subm.':>12s}")
    *rows, (one_name, one_wall, one_cpu) = rows
    for name, wall, cpu in rows:
        print(f"{name:40s} {wall:8.1f} {wall / args.size:8.2f} {cpu / args.size:12.2f}")
    print(f"{one_name:40s} {one_wall:8.1f} {one_wall:8.2f} {one_cpu:12.2f}")
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
    workers = max(args.workers)
    added = (best[2] - one_cpu) / (args.size - 1)
    per_worker = max(0.0, one_cpu - added) / workers
    projected = (16 * per_worker + 1000 * added) / 16
    print(f"a run's fixed cost: {per_worker:.1f} CPU-s per worker; each submission adds {added:.2f} CPU-s")
    print(f"projection: 16 workers and 1,000 submissions on 16 such cores, all busy: {projected / 60:.1f} min "
          f"(goal: at most 6 min; at the class's {best[2] / args.size:.2f} CPU-s per submission, "
          f"{1000 * best[2] / args.size / 16 / 60:.1f} min)")


if __name__ == "__main__":
    main()
