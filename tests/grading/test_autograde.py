"""Autograding the example submissions gives each exactly the points of what it solved."""

import pytest

from course.assignment import ASSIGNMENT, EXERCISES
from course.report.points import exercise_points

import hostile
from course_helpers import assert_no_redirection_scored, feedback_page, hidden_secrets, sent_to_manual_grading

FULL = {number: (10.0, 10.0) for number in EXERCISES}


def points(course):
    return exercise_points(f"sqlite:///{course / 'gradebook.db'}")


def test_reference_solution_gets_full_marks(graded_course):
    assert points(graded_course)["reference"] == FULL


def test_untouched_release_gets_no_exercise_points(graded_course):
    assert points(graded_course)["untouched_release"] == {n: (0.0, 10.0) for n in EXERCISES}


@pytest.mark.parametrize("solved", [1, 2, 3])
def test_one_exercise_right_gets_exactly_its_points(graded_course, solved):
    """Exercise 3 is graded with reference blocks, so it scores without exercises 1 and 2."""
    got = points(graded_course)[f"only_exercise_{solved}"]
    assert got == {n: ((10.0 if n == solved else 0.0), 10.0) for n in EXERCISES}


def test_every_submission_was_autograded(graded_course):
    for student in ("reference", "untouched_release", "only_exercise_1", "only_exercise_2", "only_exercise_3"):
        assert (graded_course / "autograded" / student / ASSIGNMENT / "Image_segmentation_Unet.ipynb").is_file()


def test_feedback_never_shows_hidden_test_source(graded_course):
    """The hidden call, the arguments drawn and the nonce never reach a student. (Only the
    examples' pages: hostile students' own cells may name unet_evidence themselves.)"""
    examples = ("reference", "untouched_release", "only_exercise_1", "only_exercise_2", "only_exercise_3")
    pages = [graded_course / "feedback" / student / ASSIGNMENT / "Image_segmentation_Unet.html" for student in examples]
    for page in pages:
        html = page.read_text()
        for secret in ("HIDDEN TESTS", "unet_evidence", "record(", "nonce", "reference.py"):
            assert secret not in html, (page, secret)
        assert "Exercise 1, graded" in html  # the visible part of the graded cells is there
        assert "arguments drawn at grading time" in html or "no valid evidence" in html or "not implemented" in html


def test_a_cell_that_prints_the_kernels_history_shows_no_hidden_call(graded_course):
    """h_prints_history prints In, _ih, the history manager, linecache and %history after the
    last graded cell: its feedback shows its own cells and none of the hidden calls."""
    page = feedback_page(graded_course, "h_prints_history")
    # the first cell's source, as In, _ih and the history manager printed it (linecache and
    # %history hold it too in some kernels)
    assert page.count("import segmentation_utils as su") >= 3
    for secret in hidden_secrets(graded_course, "h_prints_history"):
        assert secret not in page, secret
    assert points(graded_course)["h_prints_history"] == {n: (0.0, 10.0) for n in EXERCISES}  # it used get_ipython


def test_a_notebook_that_reaches_into_the_grader_goes_to_manual_grading(graded_course):
    """Plain nbgrader: every graded cell of such a notebook is flagged in the gradebook, with
    the judge's findings on each exercise's solution cell and in the cells' feedback; no
    example is flagged."""
    db_url = f"sqlite:///{graded_course / 'gradebook.db'}"
    graded = {cell for _, cells in EXERCISES.values() for cell in cells}
    for student in hostile.MANUAL:
        flagged, comments = sent_to_manual_grading(db_url, student)
        assert flagged == graded, student
        assert set(comments) == {function for function, _ in EXERCISES.values()}, student
        assert all("sent to manual grading" in note and "cell " in note for note in comments.values())
        assert "sent to manual grading (0 points until an instructor grades it)" in feedback_page(graded_course, student)
    forger = sent_to_manual_grading(db_url, "h_forges_recorder")[1]["conv_block"]
    assert "imports unet_evidence" in forger and "changes unet_evidence.record" in forger, forger
    for student in ("reference", "untouched_release", "only_exercise_1"):
        assert sent_to_manual_grading(db_url, student) == (set(), {}), student


def test_no_way_of_redirecting_the_recorder_makes_the_stubs_score(graded_course):
    assert_no_redirection_scored(graded_course)


def test_catalogue_entries_get_their_verdicts_from_plain_nbgrader(graded_course):
    """Right names with a wrong computation lose their exercise through plain nbgrader as
    through `course grade` (test_grading_holds compares the two cell by cell)."""
    import catalogue

    table = points(graded_course)
    for entry in catalogue.ENTRIES:
        if entry.name in catalogue.BOTH_COMMANDS:
            got = {n: table[entry.name][n][0] for n in EXERCISES}
            assert all((got[n] < 10.0) == (n in entry.loses) for n in EXERCISES), (entry.name, got)
