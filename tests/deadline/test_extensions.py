"""Extensions: granted by name with a reason, refused in the instructor's terms when they make
no sense, kept in nbgrader's own extension column, listed by `course extensions`."""

import datetime

import pytest
from nbgrader.api import Gradebook
from traitlets.config import Application

from term_gradebook import submit, term
from course.__main__ import main
from course.assignment import ASSIGNMENT
from course.deadline import hook as due_module
from course.deadline.due import DeadlineError, parse_when, sync
from course.deadline.hook import DeadlineRefused
from course.deadline.extensions import apply, grant, granted

DUE = parse_when("2026-12-14 23:59 Europe/London")
BEFORE_DUE = DUE - datetime.timedelta(days=2)


@pytest.fixture
def course(db_url, tmp_path):
    config = term()
    sync(db_url, config)
    return db_url, config, tmp_path


def extension_of(db_url, student):
    with Gradebook(db_url) as gradebook:
        return gradebook.find_submission(ASSIGNMENT, student).extension


@pytest.mark.parametrize("student, options, says", [
    ("zed", {"days": 2}, "'zed' is not a student of this course"),
    ("ada", {"days": 0}, "at least one day"),
    ("ada", {"until": "2026-12-14 20:00"}, "is not after the due date"),
    ("ada", {"until": "2026-12-18 12:00 Mars/Base"}, "not a time zone"),
    ("ada", {}, "either --until DATE or --days N"),
])
def test_extensions_that_make_no_sense_are_refused_saying_why(course, student, options, says):
    db_url, config, root = course
    with pytest.raises(DeadlineError, match=says):
        grant(db_url, config, root, student, now=BEFORE_DUE, **options)
    assert granted(db_url) == []


def test_a_past_date_is_refused_for_a_student_yet_to_submit_and_excuses_one_who_did(course):
    db_url, config, root = course
    later = DUE + datetime.timedelta(days=10)
    with pytest.raises(DeadlineError, match="already past, and bob has not submitted"):
        grant(db_url, config, root, "bob", days=1, now=later)
    submit(db_url, "bob", DUE + datetime.timedelta(days=3))
    grant(db_url, config, root, "bob", days=1, now=later)
    assert extension_of(db_url, "bob") == datetime.timedelta(days=1)


def test_without_a_due_date_there_is_nothing_to_extend(db_url, tmp_path):
    with pytest.raises(DeadlineError, match="no due date is set"):
        grant(db_url, term(None), tmp_path, "ada", days=2, now=BEFORE_DUE)


def test_an_extension_waits_for_the_submission_then_lands_in_nbgraders_column(course):
    db_url, config, root = course
    until = grant(db_url, config, root, "ada", until="2026-12-16 12:00", reason="doctor's note", now=BEFORE_DUE)
    assert until == parse_when("2026-12-16 12:00 Europe/London")
    [(student, recorded, reason, when)] = granted(db_url)
    assert (student, recorded, reason, when) == ("ada", until, "doctor's note", BEFORE_DUE)
    with Gradebook(db_url) as gradebook:
        assert [s.student.id for s in gradebook.find_assignment(ASSIGNMENT).submissions] == []
    (root / "submitted" / "ada" / ASSIGNMENT).mkdir(parents=True)  # collected: about to be graded
    apply(db_url, config, root)
    assert extension_of(db_url, "ada") == until - DUE


def test_a_student_known_only_by_a_waiting_submission_can_be_extended(course):
    db_url, config, root = course
    (root / "submitted" / "newcomer" / ASSIGNMENT).mkdir(parents=True)
    grant(db_url, config, root, "newcomer", days=3, now=BEFORE_DUE)
    assert extension_of(db_url, "newcomer") == datetime.timedelta(days=3)


def test_plain_nbgraders_hook_writes_the_due_date_and_extensions(course, monkeypatch):
    db_url, config, root = course
    grant(db_url, config, root, "ada", days=2, now=BEFORE_DUE)
    with Gradebook(db_url) as gradebook:  # as if the gradebook had no due date yet
        gradebook.find_assignment(ASSIGNMENT).duedate = None
        gradebook.db.commit()

    class Course:
        def __init__(self):
            self.db_url, self.root = db_url, str(root)

    app = Application(config=config)
    app.coursedir = Course()
    monkeypatch.setattr(Application, "_instance", app, raising=False)
    (root / "submitted" / "ada" / ASSIGNMENT).mkdir(parents=True)
    due_module.hook(assignment=ASSIGNMENT, student="*", notebooks=[])
    with Gradebook(db_url) as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT).duedate == datetime.datetime(2026, 12, 14, 23, 59)
    assert extension_of(db_url, "ada") == datetime.timedelta(days=2)
    app.config = term("2026-12-14 23:59")  # no zone: grading must stop, not go on without a due date
    with pytest.raises(DeadlineRefused):
        due_module.hook(assignment=ASSIGNMENT, student="*", notebooks=[])


def test_the_commands_say_what_is_wrong_and_list_what_was_granted(db_url, capsys):
    assert main(["extend", "ada", "--days", "2", "--db", db_url]) == 2
    assert "no due date is set (c.Deadline.due in nbgrader_config.py)" in capsys.readouterr().err
    assert main(["extensions", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "due date: none set" in out and "no extensions" in out


def test_extend_and_extensions_through_the_command_line(db_url, tmp_path, monkeypatch, capsys):
    from course import __main__ as commands
    from course.grading import gradebook as course_gradebook

    monkeypatch.setattr(course_gradebook, "course_config", lambda _: term())
    monkeypatch.setattr(commands, "ROOT", tmp_path)
    sync(db_url, term())
    assert main(["extend", "ada", "--until", "2099-01-05 12:00", "--reason", "exchange term", "--db", db_url]) == 0
    assert "ada: due Mon 05 Jan 2099, 12:00 Europe/London" in capsys.readouterr().out
    assert main(["extensions", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "due date: Mon 14 Dec 2026, 23:59 Europe/London" in out
    assert "ada: until Mon 05 Jan 2099, 12:00 Europe/London" in out and "exchange term" in out
