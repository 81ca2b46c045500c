"""Instructor commands of the U-Net course.

    python -m course run        the whole loop: data, release, example submissions,
                                autograde, feedback, grades.csv, a table of points
    python -m course release    regenerate release/ from source/ (nbgrader generate_assignment)
    python -m course examples   write the example submissions into submitted/
    python -m course report     print the per-student, per-exercise table
"""

import argparse
import sys

from .layout import ASSIGNMENT, ROOT, nbgrader

DB_URL = f"sqlite:///{ROOT / 'gradebook.db'}"


def release():
    nbgrader("generate_assignment", ASSIGNMENT, "--force", capture=True)
    print(f"released {ASSIGNMENT} into {ROOT / 'release' / ASSIGNMENT}")


def examples():
    from .examples import write_examples

    students = write_examples()
    print(f"example submissions in {ROOT / 'submitted'}: {', '.join(students)}")


def report():
    from .report import exercise_points, format_table, write_csv

    table = exercise_points(DB_URL)
    write_csv(table, ROOT / "grades_by_exercise.csv")
    print(format_table(table))


def run():
    from roadscenes.dataset import DEFAULT_DIR, generate
    from roadscenes.preview import write_preview

    print("1/6 data set")
    generate(DEFAULT_DIR)
    print(f"    preview: {write_preview(DEFAULT_DIR, DEFAULT_DIR / 'preview.png')}")
    print("2/6 release")
    release()
    print("3/6 example submissions")
    examples()
    print("4/6 autograde")
    nbgrader("autograde", ASSIGNMENT, "--force", capture=True)
    print("5/6 feedback")
    nbgrader("generate_feedback", ASSIGNMENT, "--force", capture=True)
    print("6/6 grades")
    nbgrader("export", "--to", ROOT / "grades.csv", capture=True)
    print(f"    {ROOT / 'grades.csv'}\n")
    report()


COMMANDS = {"run": run, "release": release, "examples": examples, "report": report}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=COMMANDS)
    args = parser.parse_args(argv)
    COMMANDS[args.command]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
