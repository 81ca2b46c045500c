"""Shared fixtures, made once per test session: small generated data folders, the classes
graded by plain nbgrader, a PostgreSQL server."""

from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from course_helpers import (NBGRADER_LIMITS, SMALL_COUNT, copy_course, plain_nbgrader,
                            postgres_server as _postgres_server, watched_course_grade)
from roadscenes.dataset import generate


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A 6-frame data folder written by one worker process."""
    out = tmp_path_factory.mktemp("roadscenes") / "data"
    generate(out, count=SMALL_COUNT, seed=11, workers=1, progress=False)
    return out


def _example_class(root):
    """The examples, the in-kernel tricks and the catalogue entries whose verdicts plain
    nbgrader and `course grade` must agree on, in a new course folder `root`."""
    from course.assignment import ASSIGNMENT, NOTEBOOK
    from course.layout import nbgrader
    from course.unet_segmentation.examples import write_examples

    import catalogue
    import hostile

    copy_course(root)
    # Registers the assignment and its hidden tests in a new gradebook, as an instructor would.
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    write_examples(root / "submitted", {
        "reference": (1, 2, 3), "untouched_release": (), "only_exercise_1": (1,),
        "only_exercise_2": (2,), "only_exercise_3": (3,),
    })
    for student in hostile.IN_KERNEL:
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        hostile.EXPECTED[student][0](folder)
    for name in catalogue.BOTH_COMMANDS:
        folder = root / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(catalogue.notebook(catalogue.BY_NAME[name]), folder / NOTEBOOK)
    return root


@pytest.fixture(scope="session")
def graded_side_by_side(tmp_path_factory):
    """Three classes graded at once, each (course folder, ...) of what grading it returned:
    - "course": the example class (_example_class) through plain nbgrader (plain_nbgrader's runs);
    - "trusted (plain nbgrader)": the attacks on the trusted side (tests/trusted_side.py), the same way;
    - "trusted (course grade)": those attacks through `course grade` (watched_course_grade's
      exit code and PeakMemory).
    Side by side, because none of them keeps both cores busy: plain nbgrader grades one
    notebook at a time, and the attacks sleep through their time budget."""
    import trusted_side

    classes = {"course": _example_class(tmp_path_factory.mktemp("course")),
               "trusted (plain nbgrader)": copy_course(tmp_path_factory.mktemp("trusted-nbgrader")),
               "trusted (course grade)": copy_course(tmp_path_factory.mktemp("trusted"))}
    for name in ("trusted (plain nbgrader)", "trusted (course grade)"):
        trusted_side.write_class(classes[name])

    def grade(name):
        if name == "trusted (course grade)":
            return (classes[name], *watched_course_grade(classes[name]))
        return classes[name], plain_nbgrader(classes[name], NBGRADER_LIMITS)

    with ThreadPoolExecutor(len(classes)) as pool:
        return dict(zip(classes, pool.map(grade, classes)))


@pytest.fixture(scope="session")
def graded_course(graded_side_by_side):
    """Example submissions autograded once, with feedback: shared by the grading tests."""
    root, runs = graded_side_by_side["course"]
    for code, log, _ in runs:
        assert code == 0, log[-3000:]
    return root


@pytest.fixture(scope="session")
def postgres_server():
    """new_database(name) -> URL, on one PostgreSQL server for the session."""
    with _postgres_server() as new_database:
        yield new_database
