"""Time to write the class report for a class of 1,000 submissions (goal, issue 11: under a
minute on 2 cores).

    .venv/bin/python bench/report_speed.py [--size 1000]

The class is generated without grading (tests/class_builder.py): the judge's real verdicts
on 20 entries of the catalogue of student code, each given to a share of the class, and
five groups of three renamed copies of code of their own. The set-up is not timed.
Then the comparison of similar submissions alone on a class of 1,000 written like a real one
(tests/realistic_class.py: independent solutions and planted copies): its time, the planted
copies found, and the share of independent pairs listed (goal under 2%).
"""

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

import catalogue  # noqa: E402
from class_builder import make_class  # noqa: E402

from course.report.class_report import write_report  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    entries = catalogue.WRONG[:12] + catalogue.ENTRIES[-8:]
    loops = next(e for e in catalogue.ENTRIES if e.name == "eq_unet_with_loops").cells["unet_model"]
    students = {}
    for group in range(5):
        code = loops.replace("skips", f"kept{group}").replace("level", f"depth{group}")
        code = code.replace("inputs = Input(input_size)", f"inputs = Input(input_size)\n    extra{group} = {group}")
        for copy in range(3):
            students[f"copy{group}_{copy}"] = {"unet_model": re.sub(r"\bx\b", f"t{copy}", code)}
    for index in range(args.size - len(students)):
        entry = entries[index % len(entries)]
        students[f"s{index:04d}_{entry.name}"] = entry.cells
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        root, db_url = make_class(Path(tmp) / "course", students)
        print(f"class of {len(students)} generated in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        path = write_report(root, db_url)
        took = time.perf_counter() - started
        size = path.stat().st_size
        pairs = (path.parent / "similar_pairs.csv").read_text().splitlines()[1:]
        copies = [line for line in pairs if line.startswith("copy") and line.split(",")[1].startswith("copy")]
        mistakes = len((path.parent / "mistakes.csv").read_text().splitlines()) - 1
    print(f"report of {len(students)} submissions: {took:.1f} s ({size / 1e6:.1f} MB of HTML); "
          f"goal under 60 s: {'met' if took < 60 else 'MISSED'}")
    print(f"{mistakes} kinds of mistakes; {len(pairs)} similar pairs: {len(copies)} of the 105 among the 15 "
          f"planted copies (their renamed names are normalised away, so all 15 are alike), the others between "
          f"students who handed in the same catalogue entry")
    realistic(args.size)


def realistic(size):
    import random

    from course.report.class_report import base_code
    from course.report.similarity import clusters, compare
    from realistic_class import independent_class, planted_copies

    students = independent_class(size - 5, seed=0)
    copies, planted = planted_copies(students, random.Random(1))
    started = time.perf_counter()
    comparison = compare(dict(students, **copies), base_code())
    took = time.perf_counter() - started
    found = {frozenset((p.a, p.b)) for p in comparison.pairs}
    wanted = {frozenset((a, b)) for a, b, _ in planted}
    total = comparison.students * (comparison.students - 1) // 2
    print(f"realistic class of {comparison.students}: compared in {took:.1f} s; planted copies found: "
          f"{len(found & wanted)} of {len(wanted)}; independent pairs listed: {len(found - wanted)} "
          f"({len(found - wanted) / total:.3%} of {total:,}; goal under 2%); {comparison.compared:,} pairs compared; "
          f"largest group {max(map(len, clusters(comparison.pairs)), default=0)}")


if __name__ == "__main__":
    main()
