"""Seconds to autograde one submission, beside the floor: starting a kernel and importing
TensorFlow, which every graded notebook pays.

    .venv/bin/python bench/grading_speed.py [--repeat 3] [--baseline DIR]

--baseline DIR also grades with the course folder DIR, a checkout of another version
(`git worktree add /tmp/before 2442f1b`), interleaved with this one, so that both are
measured side by side in one run on the same machine.

Target (issue 3): autograding one submission within 3x the floor.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from course_helpers import copy_course  # noqa: E402

from course.assignment import ASSIGNMENT  # noqa: E402
from course.layout import nbgrader  # noqa: E402
from course.unet_segmentation.examples import write_examples  # noqa: E402


def floor_seconds():
    """A fresh kernel that imports TensorFlow and nothing else."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import tensorflow as tf")])
    start = time.perf_counter()
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    return time.perf_counter() - start


def autograde_seconds(course, student):
    start = time.perf_counter()
    nbgrader("autograde", ASSIGNMENT, "--student", student, "--force", root=course, capture=True)
    return time.perf_counter() - start


def baseline_course(origin, destination):
    """The course folder `origin` (another version) copied, released, with its own examples
    (written by its own code: its notebook may differ from this version's)."""
    course = copy_course(destination, origin=origin)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=course, capture=True)
    subprocess.run([sys.executable, "-m", "course", "examples"], cwd=course, check=True, capture_output=True)
    return course


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="a course folder of another version, graded side by side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        course = copy_course(Path(tmp) / "this")
        nbgrader("generate_assignment", ASSIGNMENT, "--force", root=course, capture=True)
        write_examples(course / "submitted", {"reference": (1, 2, 3), "untouched_release": ()})
        courses = {"this version": course}
        if args.baseline:
            courses[f"baseline {args.baseline}"] = baseline_course(args.baseline, Path(tmp) / "baseline")
        rows = []
        for _ in range(args.repeat):  # interleaved, so that machine noise hits all alike
            row = [floor_seconds()]
            for root in courses.values():
                row += [autograde_seconds(root, "reference"), autograde_seconds(root, "untouched_release")]
            rows.append(row)
    floor, *seconds = (statistics.median(column) for column in zip(*rows))
    print(f"median of {args.repeat} interleaved runs")
    print(f"floor: kernel start + import tensorflow   {floor:6.1f} s")
    for index, name in enumerate(courses):
        reference, blank = seconds[2 * index:2 * index + 2]
        print(name)
        print(f"  autograde one submission (reference)      {reference:6.1f} s   {reference / floor:.2f}x the floor")
        print(f"  autograde one submission (blank release)  {blank:6.1f} s   {blank / floor:.2f}x the floor")
        if index == 0:
            print(f"  target <= 3x the floor: {'met' if max(reference, blank) <= 3 * floor else 'MISSED'}")


if __name__ == "__main__":
    main()
