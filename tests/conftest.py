"""Shared fixtures, made once per test session: small generated data folders, the class
graded by plain nbgrader, a PostgreSQL server."""

import pytest

from course_helpers import SMALL_COUNT, copy_course, postgres_server as _postgres_server
from roadscenes.dataset import generate


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A 6-frame data folder written by one worker process."""
    out = tmp_path_factory.mktemp("roadscenes") / "data"
    generate(out, count=SMALL_COUNT, seed=11, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """Example submissions autograded once, with feedback: shared by the grading tests."""
    from course.assignment import ASSIGNMENT, NOTEBOOK
    from course.layout import nbgrader
    from course.unet_segmentation.examples import write_examples

    root = copy_course(tmp_path_factory.mktemp("course"))
    # Registers the assignment and its hidden tests in a new gradebook, as an instructor would.
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    write_examples(root / "submitted", {
        "reference": (1, 2, 3), "untouched_release": (), "only_exercise_1": (1,),
        "only_exercise_2": (2,), "only_exercise_3": (3,),
    })
    import hostile  # the in-kernel tricks, to compare plain nbgrader with `course grade`

    for student in hostile.IN_KERNEL:
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        hostile.EXPECTED[student][0](folder)
    import nbformat

    import catalogue  # entries whose verdicts both commands must agree on

    for entry in catalogue.ENTRIES:
        if entry.name in catalogue.BOTH_COMMANDS:
            folder = root / "submitted" / entry.name / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(catalogue.notebook(entry), folder / NOTEBOOK)
    nbgrader("autograde", ASSIGNMENT, root=root, capture=True)
    nbgrader("generate_feedback", ASSIGNMENT, root=root, capture=True)
    return root


@pytest.fixture(scope="session")
def postgres_server():
    """new_database(name) -> URL, on one PostgreSQL server for the session."""
    with _postgres_server() as new_database:
        yield new_database
