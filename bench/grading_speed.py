"""Seconds to autograde one submission, beside the floor: starting a kernel and importing
TensorFlow, which every graded notebook pays.

    .venv/bin/python bench/grading_speed.py [--repeat 3]

Target (issue 3): autograding one submission within 3x the floor.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]
from course_helpers import copy_course  # noqa: E402

from course.examples import write_examples  # noqa: E402
from course.layout import ASSIGNMENT, nbgrader  # noqa: E402


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        course = copy_course(Path(tmp))
        nbgrader("generate_assignment", ASSIGNMENT, "--force", root=course, capture=True)
        write_examples(course / "submitted", {"reference": (1, 2, 3), "untouched_release": ()})
        rows = []
        for _ in range(args.repeat):  # interleaved, so that machine noise hits all alike
            rows.append((floor_seconds(), autograde_seconds(course, "reference"),
                         autograde_seconds(course, "untouched_release")))
    floor, reference, blank = (statistics.median(column) for column in zip(*rows))
    print(f"median of {args.repeat} interleaved runs")
    print(f"floor: kernel start + import tensorflow   {floor:6.1f} s")
    print(f"autograde one submission (reference)      {reference:6.1f} s   {reference / floor:.2f}x the floor")
    print(f"autograde one submission (blank release)  {blank:6.1f} s   {blank / floor:.2f}x the floor")
    print(f"target <= 3x the floor: {'met' if max(reference, blank) <= 3 * floor else 'MISSED'}")


if __name__ == "__main__":
    main()
