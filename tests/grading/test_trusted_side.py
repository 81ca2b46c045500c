"""Attacks on the trusted side of grading, through `course grade` and plain `nbgrader
autograde`: a notebook that sleeps past its budget beside correct batch-mates, output bombs,
a graph that would blow up the judge, names no staging folder can take, processes that spin
on every core, and a student id that is not text. The outcome of each is asserted, and so are
the peak memory of the grader's own processes and the disk that graded notebooks and
feedback take."""

import json
import os
import shutil

import nbformat
import pytest
from nbgrader.api import Gradebook

from course.assignment import ASSIGNMENT, EXERCISES, NOTEBOOK
from course.grading import batch_job
from course.grading.grader import Outcome, Settings
from course.report.points import exercise_points

from course_helpers import BUDGET, ITSELF, OUTCOMES, sent_to_manual_grading
from trusted_side import EXPECTED

GRADER_MB = 1500  # peak resident memory of any one grader-side process, whatever a submission does
DISK_MB = 12  # an autograded notebook folder, or a feedback folder, of one submission
COURSE_GRADE_MB = 800  # peak resident memory of the `course grade` process itself


def _folder_mb(folder):
    total = 0
    for top, _, files, fd in os.fwalk(folder):
        total += sum(os.stat(name, dir_fd=fd, follow_symlinks=False).st_size for name in files)
    return total / 2**20


def _points(table, student):
    return tuple(int(table.get(student, {}).get(n, (0, 0))[0]) for n in EXERCISES)


@pytest.fixture(scope="module")
def course_graded(graded_side_by_side):
    """The class through `course grade` (conftest.py): (root, outcomes, points, PeakMemory)."""
    root, code, memory = graded_side_by_side["trusted (course grade)"]
    assert code == 0
    outcomes = {s: Outcome(**o) for s, o in json.loads((root / OUTCOMES).read_text()).items()}
    return root, outcomes, exercise_points(Settings(root=root).db_url, students=list(outcomes)), memory


@pytest.fixture(scope="module")
def nbgrader_graded(graded_side_by_side):
    """The same class through plain `nbgrader autograde` and `generate_feedback` (conftest.py)."""
    root, runs = graded_side_by_side["trusted (plain nbgrader)"]
    return root, runs, exercise_points(f"sqlite:///{root / 'gradebook.db'}", students=list(EXPECTED))


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_course_grade_gives_each_its_outcome(course_graded, student):
    _, outcomes, table, _ = course_graded
    _, status, points = EXPECTED[student]
    outcome = outcomes[student]
    assert outcome.status == status, (outcome.status, outcome.reason)
    if points is not None:
        assert _points(table, student) == points, outcome.reason
    else:
        assert student not in table or not any(_points(table, student)), "an unfinished submission got points"


def test_the_sleeper_is_stopped_by_its_own_budget_and_says_so(course_graded):
    root, outcomes, _, _ = course_graded
    assert f"ran over its time budget of {BUDGET} s" in outcomes["t_sleeper"].reason
    assert outcomes["t_sleeper"].seconds < BUDGET + 60
    assert not (root / "autograded" / "t_sleeper").exists()  # never recorded as graded
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        assert "t_sleeper" not in {s.student.id for s in gradebook.find_assignment(ASSIGNMENT).submissions}
    for mate in ("t_odd_names", "t_output_bomb", "t_spinner"):  # its batch-mates keep their feedback
        assert any((root / "feedback" / mate / ASSIGNMENT).glob("*.html")), mate


def test_odd_names_are_named_and_never_abort_anything(course_graded):
    root, outcomes, _, _ = course_graded
    notes = " ".join(outcomes["t_odd_names"].notes)
    for shown in (r"notes\udcff.txt (name not valid UTF-8)", r"new\nline.txt (control characters in the name)",
                  r"tab\there.txt (control characters", "(path longer than 1024 bytes, with all it holds)",
                  "d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d (more than 32 folders deep"):
        assert shown in notes, (shown, notes)
    assert "/tmp" not in outcomes["t_odd_names"].reason and "dask" not in notes
    assert (root / "autograded" / "t_odd_names" / ASSIGNMENT / "plain.txt").is_file()
    odd = [o for s, o in outcomes.items() if s.startswith(r"t_\udcff")]
    assert len(odd) == 1 and odd[0].status == "invalid submission" and "not UTF-8" in odd[0].reason


def test_the_judge_and_the_output_cannot_exhaust_the_grader(course_graded):
    root, outcomes, _, memory = course_graded
    print("\npeak memory of grader-side processes (MB): "
          + ", ".join(f"{kind} {rss / 2**20:.0f}" for kind, rss in sorted(memory.peak.items())))
    print(f"peak of the `course grade` process: {memory.peak[ITSELF] / 2**20:.0f} MB; of the "
          f"children that read and judge student bytes under limits: {memory.bounded_mb():.0f} MB")
    assert memory.worst_mb() < GRADER_MB, memory.peak
    assert memory.peak[ITSELF] < COURSE_GRADE_MB * 2**20, memory.peak
    for student in ("t_output_bomb", "t_bystander_1"):
        for folder in ("autograded", "feedback"):
            assert _folder_mb(root / folder / student) < DISK_MB, (student, folder)
    graded = nbformat.read(root / "autograded" / "t_output_bomb" / ASSIGNMENT / NOTEBOOK, as_version=4)
    assert "output cut by the grader" in nbformat.writes(graded)


def test_plain_nbgrader_holds_too(nbgrader_graded):
    root, ((autograde_code, log, memory), (_, _, feedback_memory)), table = nbgrader_graded
    print(f"\npeak memory of nbgrader autograde: {memory.worst_mb():.0f} MB, "
          f"generate_feedback: {feedback_memory.worst_mb():.0f} MB")
    assert memory.worst_mb() < GRADER_MB and feedback_memory.worst_mb() < GRADER_MB
    assert autograde_code != 0  # the sleeper failed, loudly
    assert f"ran over its time budget of {BUDGET} s" in log
    # nbgrader itself copies every submitted file by its whole path: the 4,000-byte path makes
    # it fail that student alone, loudly (`course grade` stages it under a safe name instead)
    assert "File name too long" in log and "error processing assignment 'unet_segmentation' for student " \
        "'t_odd_names'" in log
    for student, (_, status, points) in EXPECTED.items():
        if points is not None and student != "t_odd_names":
            assert _points(table, student) == points, student
    assert not (root / "autograded" / "t_sleeper" / ASSIGNMENT).exists()  # nbgrader removed it
    assert _folder_mb(root / "autograded" / "t_output_bomb") < DISK_MB
    assert _folder_mb(root / "feedback" / "t_output_bomb") < DISK_MB


def test_a_run_stopped_half_way_is_not_read_as_zeros(graded_course, tmp_path):
    """nbgrader records a submission before it runs it: grades without scores (a process
    killed mid-notebook) must make the batch job grade it again, never report 0."""
    staging = tmp_path / "staging"
    for folder in ("autograded", "feedback"):
        shutil.copytree(graded_course / folder / "reference", staging / folder / "reference")
    shutil.copy(graded_course / "gradebook.db", staging / "gradebook.db")
    db_url = f"sqlite:///{staging / 'gradebook.db'}"
    assert batch_job.collect(staging, db_url, "reference")["state"] == "graded"
    with Gradebook(db_url) as gradebook:
        grade = gradebook.find_submission_notebook("Image_segmentation_Unet", ASSIGNMENT, "reference").grades[0]
        grade.auto_score = None
        gradebook.db.commit()
    assert batch_job.collect(staging, db_url, "reference") is None
    with Gradebook(db_url) as gradebook:
        for grade in gradebook.find_submission_notebook("Image_segmentation_Unet", ASSIGNMENT, "reference").grades:
            grade.auto_score = 1
        gradebook.db.commit()
    shutil.rmtree(staging / "feedback")  # graded, but stopped before its feedback
    assert batch_job.collect(staging, db_url, "reference") is None


def test_code_the_reader_cannot_read_in_time_goes_to_a_person_and_costs_no_batch_mate(course_graded, nbgrader_graded):
    """The tamper reader stops at its own limit (Judge.reading_seconds, 20 s) and says which
    cell it could not read, through both commands; the batch-mates keep their grades (each
    is held to its points by test_course_grade_gives_each_its_outcome)."""
    for root in (course_graded[0], nbgrader_graded[0]):
        flagged, comments = sent_to_manual_grading(f"sqlite:///{root / 'gradebook.db'}", "t_reader_bomb")
        assert flagged == {grade_id for _, cells in EXERCISES.values() for grade_id in cells}, flagged
        note = comments["conv_block"]
        assert "the grader could not read all of the notebook's code" in note, note
        assert "could not be read by the grader within its limit of 20 s (the cell has 55 kB in 3,000 lines)" in note
    outcomes = course_graded[1]
    assert outcomes["t_reader_bomb"].seconds < BUDGET + 60
    for mate in ("t_odd_names", "t_output_bomb"):  # graded in its batch, not again alone
        assert outcomes[mate].status in ("graded", "graded (repaired)"), outcomes[mate]
