"""A small gradebook of the assignment, without grading anything: one notebook of three
graded cells worth 10 points each, and students whose scores and timestamps a test sets.
The fixtures of tests/deadline and tests/lms (their conftest.py imports them)."""

import datetime
import shutil
import warnings

import pytest
from nbgrader.api import Gradebook
from traitlets.config import Config

from course.assignment import ASSIGNMENT, NOTEBOOK
from course.layout import environment_bin_on_path

NOTEBOOK_NAME = NOTEBOOK[:-len(".ipynb")]
CELLS = ("one", "two", "three")
STUDENTS = ("ada", "bob", "cy")


@pytest.fixture(scope="session")
def template_gradebook(tmp_path_factory):
    environment_bin_on_path()  # nbgrader makes a new gradebook with alembic
    path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
    with Gradebook(f"sqlite:///{path}") as gradebook:
        gradebook.add_assignment(ASSIGNMENT)
        gradebook.add_notebook(NOTEBOOK_NAME, ASSIGNMENT)
        for cell in CELLS:
            gradebook.add_grade_cell(cell, NOTEBOOK_NAME, ASSIGNMENT, max_score=10, cell_type="code")
        for student in STUDENTS:
            gradebook.add_student(student)
    return path


@pytest.fixture
def db_url(template_gradebook, tmp_path):
    path = tmp_path / "gradebook.db"
    shutil.copyfile(template_gradebook, path)
    return f"sqlite:///{path}"


def term(due="2026-12-14 23:59 Europe/London", per_started_day=0.10, max_days=5):
    """The course's configuration of the term, as nbgrader_config.py would hold it."""
    config = Config()
    config.Deadline.due = due
    config.AssignLatePenalties.plugin_class = "course.deadline.policy.LatePolicy"
    config.LatePolicy.per_started_day = per_started_day
    config.LatePolicy.max_days = max_days
    return config


def submit(db_url, student, when, points=30):
    """`student`'s graded submission, submitted at `when` (aware), with `points` auto-scored."""
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        utc = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        gradebook.update_or_create_submission(ASSIGNMENT, student, timestamp=utc)
        notebook = gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT, student)
        left = points
        for grade in notebook.grades:
            grade.auto_score, left = min(10, left), left - min(10, left)
            grade.needs_manual_grade = False
        gradebook.db.commit()
