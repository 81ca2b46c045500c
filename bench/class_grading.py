"""Wall time to grade a class of 40 submissions: plain serial `nbgrader autograde` beside
`course grade --workers 2`, and seconds per submission beside the floor (kernel start +
TensorFlow import).

    .venv/bin/python bench/class_grading.py [--size 40] [--workers 2]

The class mixes correct, wrong and broken notebooks that a plain nbgrader run survives
(invalid JSON, a deleted graded cell, floods of output): nbgrader alone aborts the whole run
on a duplicated grade_id, so such cases would make the comparison meaningless.
Target (issue 4): at least 1.6x faster than serial on 2 cores.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]
sys.path.insert(0, str(HERE))

import catalogue  # noqa: E402
import hostile  # noqa: E402
from course_helpers import copy_course  # noqa: E402
from grading_speed import floor_seconds  # noqa: E402
from test_grading_holds import _catalogue_notebook  # noqa: E402

from course.examples import write_examples  # noqa: E402
from course.grader import Settings, grade_all  # noqa: E402
from course.layout import ASSIGNMENT, NOTEBOOK, nbgrader  # noqa: E402


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
        nbformat.write(_catalogue_notebook(entry), folder / NOTEBOOK)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        serial_root, parallel_root = copy_course(Path(tmp) / "serial"), copy_course(Path(tmp) / "parallel")
        for root in (serial_root, parallel_root):
            nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
            build_class(root, args.size)
        start = time.perf_counter()
        nbgrader("autograde", ASSIGNMENT, root=serial_root, capture=True, check=False)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        outcomes = grade_all(Settings(root=parallel_root, workers=args.workers), progress=False)
        parallel = time.perf_counter() - start
        floor = floor_seconds()
    graded = sum(o.graded for o in outcomes.values())
    print(f"class of {args.size} submissions ({graded} graded, the rest reported as broken)")
    print(f"serial nbgrader autograde          {serial:7.1f} s   {serial / args.size:5.1f} s per submission")
    print(f"course grade --workers {args.workers}           {parallel:7.1f} s   "
          f"{parallel * args.workers / args.size:5.1f} s per submission per worker")
    print(f"floor (kernel start + TF import)   {floor:7.1f} s")
    print(f"speed-up {serial / parallel:.2f}x (target >= 1.6x: {'met' if serial / parallel >= 1.6 else 'MISSED'})")


if __name__ == "__main__":
    main()
