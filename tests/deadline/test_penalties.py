"""The penalty nbgrader's own AssignLatePenalties charges with the course's plugin is the one
`course grade` records (recompute_penalties), and it reaches grades.csv: on time, one day
late, past the limit, with an extension, with no due date."""

import csv
import datetime

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.plugins.export import CsvExportPlugin
from nbgrader.preprocessors import AssignLatePenalties

from term_gradebook import NOTEBOOK_NAME, submit, term
from course.assignment import ASSIGNMENT
from course.deadline.due import parse_when, sync
from course.deadline.extensions import grant
from course.grading import gradebook as course_gradebook

DUE = parse_when("2026-12-14 23:59 Europe/London")
HOUR = datetime.timedelta(hours=1)


def nbgrader_penalty(db_url, config, student):
    """What plain `nbgrader autograde` records: its AssignLatePenalties on the notebook."""
    resources = {"nbgrader": {"db_url": db_url, "assignment": ASSIGNMENT, "notebook": NOTEBOOK_NAME,
                              "student": student}}
    AssignLatePenalties(config=config).preprocess(nbformat.v4.new_notebook(), resources)
    with Gradebook(db_url) as gradebook:
        return gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT, student).late_submission_penalty


def course_penalty(db_url, config, root, student, monkeypatch):
    """What `course grade` records: its pass over every submission, with the same configuration."""
    monkeypatch.setattr(course_gradebook, "course_config", lambda _: config)
    course_gradebook.recompute_penalties(db_url, root)
    with Gradebook(db_url) as gradebook:
        return gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT, student).late_submission_penalty


@pytest.mark.parametrize("case, due, submitted, penalty", [
    ("on time", "2026-12-14 23:59 Europe/London", DUE - HOUR, None),
    ("one hour late: a started day", "2026-12-14 23:59 Europe/London", DUE + HOUR, 3.0),
    ("one day and an hour late", "2026-12-14 23:59 Europe/London", DUE + 25 * HOUR, 6.0),
    ("past the five-day limit", "2026-12-14 23:59 Europe/London", DUE + 5 * 24 * HOUR + HOUR, 30.0),
    ("no due date set", None, DUE + 25 * HOUR, None),
])
def test_nbgrader_and_course_grade_charge_the_same(db_url, tmp_path, monkeypatch, case, due, submitted, penalty):
    config = term(due)
    sync(db_url, config)
    submit(db_url, "ada", submitted, points=30)
    assert nbgrader_penalty(db_url, config, "ada") == penalty, case
    assert course_penalty(db_url, config, tmp_path, "ada", monkeypatch) == penalty, case


def test_an_extension_moves_the_due_date_for_that_student_alone(db_url, tmp_path, monkeypatch):
    config = term()
    sync(db_url, config)
    for student in ("ada", "bob"):
        submit(db_url, student, DUE + 30 * HOUR, points=20)  # two started days late
    now = DUE + 40 * HOUR
    grant(db_url, config, tmp_path, "ada", days=1, reason="ill", now=now)  # now 6 h late: one started day
    assert nbgrader_penalty(db_url, config, "ada") == pytest.approx(2.0)
    assert nbgrader_penalty(db_url, config, "bob") == pytest.approx(4.0)
    assert course_penalty(db_url, config, tmp_path, "ada", monkeypatch) == pytest.approx(2.0)
    grant(db_url, config, tmp_path, "ada", until="2026-12-17 12:00", now=now)  # a second grant replaces it
    assert course_penalty(db_url, config, tmp_path, "ada", monkeypatch) is None


def test_the_penalty_reaches_grades_csv(db_url, tmp_path, monkeypatch):
    config = term()
    sync(db_url, config)
    submit(db_url, "ada", DUE + 25 * HOUR, points=30)
    submit(db_url, "bob", DUE - HOUR, points=25)
    course_penalty(db_url, config, tmp_path, "ada", monkeypatch)
    out = tmp_path / "grades.csv"
    with Gradebook(db_url) as gradebook:
        CsvExportPlugin(to=str(out)).export(gradebook)
    rows = {row["student_id"]: row for row in csv.DictReader(out.open())}
    assert (float(rows["ada"]["raw_score"]), float(rows["ada"]["late_submission_penalty"]),
            float(rows["ada"]["score"])) == (30.0, 6.0, 24.0)
    assert float(rows["bob"]["late_submission_penalty"]) == 0.0 and float(rows["bob"]["score"]) == 25.0


def test_course_grade_lists_the_late_submissions(db_url, tmp_path, monkeypatch):
    config = term()
    sync(db_url, config)
    submit(db_url, "ada", DUE + 25 * HOUR, points=30)
    submit(db_url, "bob", DUE - HOUR, points=25)
    monkeypatch.setattr(course_gradebook, "course_config", lambda _: config)
    late = course_gradebook.recompute_penalties(db_url, tmp_path)
    assert [(student, penalty, score) for student, _, penalty, score in late] == [("ada", 6.0, 30.0)]


def test_a_submission_with_points_but_no_time_is_named_not_passed_over(db_url, tmp_path, monkeypatch):
    """A submission whose timestamp.txt was missing or unreadable cannot be late in nbgrader's
    eyes; `course grade` names it instead of letting it through unnoticed."""
    config = term()
    sync(db_url, config)
    submit(db_url, "ada", DUE + 25 * HOUR, points=30)
    submit(db_url, "bob", DUE - HOUR, points=25)
    with Gradebook(db_url) as gradebook:
        gradebook.find_submission(ASSIGNMENT, "bob").timestamp = None
        gradebook.db.commit()
    monkeypatch.setattr(course_gradebook, "course_config", lambda _: config)
    late = course_gradebook.recompute_penalties(db_url, tmp_path)
    assert [(student, seconds) for student, seconds, _, _ in late] == [("ada", 25 * 3600), ("bob", None)]


def test_course_grade_says_how_late_and_what_it_cost(capsys):
    from course.__main__ import late_note, print_late

    late = [("ada", 25 * 3600 + 300, 6.0, 30.0), ("bob", None, 0.0, 25.0)]
    print_late(late)
    out, err = capsys.readouterr()
    assert "ada: 1 day 1 h 5 min late (2 started day(s)), penalty 6 of 30 points" in out
    assert "no time of submission recorded" in err and "bob" in err
    assert late_note(late, "ada") == "1 day 1 h 5 min late, -6 points" and late_note(late, "cy") == ""
