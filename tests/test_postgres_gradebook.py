"""`course grade` with a PostgreSQL gradebook, as a large course with several graders would
run it: a real server from Debian's packages, started for this test on localhost."""

import time

from course.examples import write_examples
from course.grader import Settings, grade_all
from course.layout import ASSIGNMENT, nbgrader
from course.report import exercise_points

from course_helpers import copy_course


def test_parallel_grading_into_postgresql(postgres_server, tmp_path):
    postgres = postgres_server("gradebook")
    root = copy_course(tmp_path)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", f"--CourseDirectory.db_url={postgres}", root=root,
             capture=True)
    write_examples(root / "submitted", {"reference": (1, 2, 3), "untouched_release": (), "only_exercise_2": (2,)})
    started = time.perf_counter()
    outcomes = grade_all(Settings(root=root, db_url=postgres, workers=2), progress=False)
    assert all(o.graded for o in outcomes.values()), outcomes
    assert not (root / "gradebook.db").exists()  # everything went to PostgreSQL
    table = exercise_points(postgres)
    assert {s: tuple(p[0] for p in row.values()) for s, row in table.items()} == {
        "reference": (10, 10, 10), "untouched_release": (0, 0, 0), "only_exercise_2": (0, 10, 0)}
    print(f"\nthree submissions graded into PostgreSQL in {time.perf_counter() - started:.0f} s")
