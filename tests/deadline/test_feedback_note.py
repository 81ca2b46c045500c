"""What students read about the term: the released notebook's due date cell, and the first cell
of their feedback (due date, extension, submission time, lateness, penalty, regrade), which
`course grade` keeps true to the gradebook after an extension or a regrade."""

import datetime

import nbformat
import pytest
from nbgrader.api import Gradebook

from term_gradebook import NOTEBOOK_NAME, submit, term
from course.assignment import ASSIGNMENT
from course.deadline.due import parse_when
from course.deadline.extensions import grant
from course.deadline.release_cell import MARK as DUE_MARK, DueDateCell
from course.grading import gradebook as course_gradebook
from course.grading.feedback_note import MARK, TermNote, refresh, stale

DUE = parse_when("2026-12-14 23:59 Europe/London")
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def root(tmp_path, db_url, monkeypatch):
    """A course folder with the term configured and a feedback folder for ada and bob; ada on
    time, bob 25 hours late (two started days: 20% of 25 points)."""
    config = term()
    monkeypatch.setattr(course_gradebook, "course_config", lambda _: config)
    course_gradebook.term_dates(db_url, tmp_path)
    submit(db_url, "ada", DUE - HOUR, points=30)
    submit(db_url, "bob", DUE + 25 * HOUR, points=25)
    course_gradebook.recompute_penalties(db_url, tmp_path)
    for student in ("ada", "bob"):
        (tmp_path / "feedback" / student / ASSIGNMENT).mkdir(parents=True)
    return tmp_path


def feedback_cell(db_url, student, config):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# The assignment")])
    resources = {"nbgrader": {"db_url": db_url, "assignment": ASSIGNMENT, "notebook": NOTEBOOK_NAME,
                              "student": student}}
    nb, _ = TermNote(config=config).preprocess(nb, resources)
    notes = [cell.source for cell in nb.cells if MARK in cell.metadata]
    assert len(notes) <= 1 and (not notes or MARK in nb.cells[0].metadata)
    return notes[0] if notes else None


def test_an_on_time_submission_says_when_it_was_due_and_submitted(root, db_url):
    text = feedback_cell(db_url, "ada", term())
    assert "**Due:** Mon 14 Dec 2026, 23:59 Europe/London" in text
    assert "**Submitted:** Mon 14 Dec 2026, 22:59 Europe/London" in text
    assert "**On time**" in text and "Penalty" not in text


def test_a_late_submission_states_lateness_policy_and_penalty_in_points(root, db_url):
    text = feedback_cell(db_url, "bob", term())
    assert "**Late:** 1 day 1 h late (2 started days)" in text
    assert "10% of the points per started day late, no points more than 5 days late" in text
    assert "**Penalty:** 5 points taken from the 25 points your notebook earned: 20 points count" in text


def test_an_extension_is_stated_and_counted(root, db_url):
    grant(db_url, term(), root, "bob", days=2, reason="a doctor's note")
    course_gradebook.recompute_penalties(db_url, root)
    text = feedback_cell(db_url, "bob", term())
    assert "**Your extension:** until Wed 16 Dec 2026, 23:59 Europe/London" in text
    assert "**On time**" in text and "Penalty" not in text
    assert "doctor" not in text  # the reason stays with the instructor


def test_no_due_date_and_no_regrade_add_no_cell(db_url, tmp_path, monkeypatch):
    submit(db_url, "ada", DUE + 25 * HOUR)
    assert feedback_cell(db_url, "ada", term(due=None)) is None


def test_feedback_graded_by_a_worker_is_stale_only_when_the_gradebook_says_more(root, db_url):
    # A worker knows the due date, not extensions: its note holds for ada and bob as they are.
    assert stale(db_url, root, term(), graded_now={"ada", "bob"}) == {}
    grant(db_url, term(), root, "bob", days=2)
    course_gradebook.recompute_penalties(db_url, root)
    assert set(stale(db_url, root, term(), graded_now=set())) == {"bob"}  # an extension since
    assert set(stale(db_url, root, term(), graded_now={"bob"})) == {"bob"}  # a worker would not know it


def test_a_regrade_keeps_manual_scores_unless_forced_and_is_recorded(root, db_url):
    with Gradebook(db_url) as book:
        grade = book.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT, "ada").grades[0]
        grade.manual_score = 7.0
        book.db.commit()
    scores = {"timestamp": None, "notebooks": {NOTEBOOK_NAME: {
        "grades": {"one": 10.0, "two": 10.0, "three": 0.0}, "comments": {}}}}
    penalties = course_gradebook.LatePenalties(root)
    with Gradebook(db_url) as book:
        course_gradebook.ledger(db_url)
        kept = course_gradebook.record(book, "ada", scores, "d1", "graded", "", penalties, regrade=True)
    assert kept == [("one", 7.0, 10.0, 10.0)]
    with Gradebook(db_url) as book:
        notebook = book.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT, "ada")
        assert notebook.score == 17.0  # 7 by hand + 10 + 0
        assert course_gradebook.last_regrade(book.db.connection(), "ada") is not None
        replaced = course_gradebook.record(book, "ada", scores, "d2", "graded", "", penalties, regrade=True,
                                           force_manual=True)
    assert replaced == [("one", 7.0, 10.0, 10.0)]
    with Gradebook(db_url) as book:
        assert book.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT, "ada").score == 20.0
    text = feedback_cell(db_url, "ada", term())
    assert "**Regraded:**" in text and "replaces the earlier one" in text


def test_the_release_states_the_configured_due_date_once():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title"),
                                         nbformat.v4.new_markdown_cell("Intro")])
    nb, _ = DueDateCell(config=term()).preprocess(nb, {})
    nb, _ = DueDateCell(config=term("2026-12-21 12:00 Europe/London")).preprocess(nb, {})  # released again
    cells = [cell for cell in nb.cells if DUE_MARK in cell.metadata]
    assert len(cells) == 1 and nb.cells[1] is cells[0] and "nbgrader" not in cells[0].metadata
    assert "**Due: Mon 21 Dec 2026, 12:00 Europe/London.**" in cells[0].source
    assert "10% of the points per started day late" in cells[0].source
    nb, _ = DueDateCell(config=term(None)).preprocess(nb, {})
    assert [cell.source for cell in nb.cells] == ["# Title", "Intro"]


def test_refresh_generates_stale_feedback_in_one_process_and_retries_what_failed(root, db_url):
    assert refresh(db_url, root, term(), {"ada", "bob"}, None) == ([], [])  # as their workers wrote it
    grant(db_url, term(), root, "bob", days=2)
    course_gradebook.recompute_penalties(db_url, root)
    calls = []

    def failing(steps):
        calls.append(steps)
        return [1]  # generate_feedback failed for bob

    assert refresh(db_url, root, term(), set(), failing) == ([], ["bob"])
    assert calls[0][:5] == ["generate_feedback", ASSIGNMENT, "--force", "--student", "bob"]
    assert refresh(db_url, root, term(), set(), lambda steps: [0]) == (["bob"], [])  # tried again, and done
    assert refresh(db_url, root, term(), set(), failing) == ([], [])  # now up to date: nothing to do
    assert len(calls) == 1


def test_both_preprocessors_run_when_nbgrader_registers_them():
    """nbconvert runs a registered preprocessor only when it is enabled, and its own base class
    is disabled by default: a preprocessor that nbgrader_config.py names must be enabled."""
    from nbconvert.exporters import NotebookExporter

    for preprocessor in (DueDateCell, TermNote):
        exporter = NotebookExporter()
        exporter.register_preprocessor(f"{preprocessor.__module__}.{preprocessor.__name__}")
        assert exporter._preprocessors[-1].enabled, preprocessor


def test_a_regrade_with_an_extension_but_no_due_date_still_has_its_note(db_url, tmp_path):
    """An extension granted while a due date was set, the due date then removed in the gradebook."""
    submit(db_url, "ada", DUE - HOUR)
    course_gradebook.ledger(db_url)  # the course's tables
    with Gradebook(db_url) as book:
        book.find_submission(ASSIGNMENT, "ada").extension = datetime.timedelta(days=2)
        book.db.execute(course_gradebook.REGRADES.insert().values(
            assignment=ASSIGNMENT, student="ada", regraded=datetime.datetime(2026, 12, 20, 9), manual=""))
        book.db.commit()
    text = feedback_cell(db_url, "ada", term(due=None))
    assert "**Regraded:** Sun 20 Dec 2026, 09:00 UTC" in text and "Due:" not in text
