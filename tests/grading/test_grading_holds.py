"""`course grade` on a class of 61 submissions: hostile and broken notebooks, the examples, and
the entries of the catalogue of student code whose kernel could make a difference
(catalogue.END_TO_END; tests/judge/test_catalogue.py judges every entry). Every verdict is
asserted; nothing may leak between students, and the submitted files and the gradebook
survive."""

import hashlib
import re

import nbformat
import psutil
import pytest
from nbgrader.api import Gradebook

from course.assignment import ASSIGNMENT, EXERCISES, NOTEBOOK
from course.grading.grader import Settings, grade_all
from course.layout import nbgrader
from course.report.points import NOTEBOOK_ID, exercise_points
from course.unet_segmentation.examples import write_examples

import catalogue
import hostile
from course_helpers import (BUDGET, CELL_TIMEOUT, assert_no_redirection_scored, copy_course, feedback_page, hidden_secrets,
                            sent_to_manual_grading)

EXAMPLES = {"reference": (1, 2, 3), "untouched_release": (), "only_exercise_1": (1,), "only_exercise_2": (2,),
            "only_exercise_3": (3,)}


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("class"))
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    write_examples(root / "submitted", EXAMPLES)
    for entry in map(catalogue.BY_NAME.get, catalogue.END_TO_END):
        folder = root / "submitted" / entry.name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(catalogue.notebook(entry), folder / NOTEBOOK)
    for student, (build, _, _) in hostile.EXPECTED.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        build(folder)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
              if p.is_file() and ("submitted" in p.parts or "source" in p.parts)}
    settings = Settings(root=root, workers=2, cell_timeout=CELL_TIMEOUT, timeout=BUDGET)
    outcomes = grade_all(settings, progress=False)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in before if p.is_file()}
    table = exercise_points(settings.db_url, students=list(outcomes))
    return root, settings, outcomes, table, before, after


def _points(table, student):
    return tuple(int(table.get(student, {}).get(n, (0, 0))[0]) for n in EXERCISES)


def test_catalogue_entries_graded_end_to_end_lose_points_where_they_should(graded_class):
    """Graded through `course grade`, each loses points in the exercises it gets wrong and
    only there, as the judge found in tests/judge/test_catalogue.py."""
    _, _, outcomes, table, _, _ = graded_class
    problems = []
    for entry in map(catalogue.BY_NAME.get, catalogue.END_TO_END):
        got = _points(table, entry.name)
        if not outcomes[entry.name].graded or any((got[n - 1] < 10) != (n in entry.loses) for n in EXERCISES):
            problems.append((entry.name, entry.loses, got, outcomes[entry.name].status))
    assert not problems


@pytest.mark.parametrize("student", sorted(hostile.EXPECTED))
def test_hostile_submission_gets_its_outcome(graded_class, student):
    _, _, outcomes, table, _, _ = graded_class
    _, status, points = hostile.EXPECTED[student]
    outcome = outcomes[student]
    assert outcome.status == status, (outcome.status, outcome.reason)
    assert outcome.reason or status == "graded"
    if points is not None:
        assert _points(table, student) == points


def test_submitted_files_and_source_are_never_modified(graded_class):
    _, _, _, _, before, after = graded_class
    assert after == before


def _printed(root, student):
    notebook = nbformat.read(root / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


def test_the_vandal_was_refused_everywhere(graded_class):
    attempts, refused = map(int, re.search(r"attempts=(\d+) refused=(\d+)", _printed(graded_class[0], "h_vandal")).groups())
    assert attempts == 8 and refused == attempts


def test_a_cell_that_prints_the_kernels_history_shows_no_hidden_call(graded_class):
    root = graded_class[0]
    page = feedback_page(root, "h_prints_history")
    # the first cell's source, as In, _ih and the history manager printed it (linecache and
    # %history hold it too in some kernels)
    assert page.count("import segmentation_utils as su") >= 3
    for secret in hidden_secrets(root, "h_prints_history"):
        assert secret not in page, secret


def test_no_way_of_redirecting_the_recorder_makes_the_stubs_score(graded_class):
    assert_no_redirection_scored(graded_class[0])


def test_the_kernel_sees_nothing_of_the_machine(graded_class):
    """No course file, other submission, gradebook, secret, grader process or network."""
    printed = _printed(graded_class[0], "h_snoop")
    assert "snoop: readable=0 grader_processes=0 network=refused uid=65534" in printed, printed[-2000:]


def test_no_student_process_outlives_grading(graded_class):
    """The detached daemon (and every fork of the bombs) ended with its kernel."""
    left = [p.info for p in psutil.process_iter(["pid", "uids", "cmdline"])
            if p.info["uids"] and p.info["uids"].real == 65534]
    assert not left, left


def test_links_and_pipes_are_refused_by_name_and_never_copied(graded_class):
    root, _, outcomes, _, _, _ = graded_class
    assert "friend.ipynb (a symbolic link)" in " ".join(outcomes["h_links"].notes)
    assert "shadow.txt (a symbolic link)" in " ".join(outcomes["h_links"].notes)
    assert "pipe (not a regular file)" in " ".join(outcomes["h_fifo"].notes)
    graded = root / "autograded" / "h_links" / ASSIGNMENT
    assert not any((graded / name).exists() for name in ("friend.ipynb", "shadow.txt", "data"))
    assert not (root / "autograded" / "h_fifo" / ASSIGNMENT / "pipe").exists()


def test_bombs_were_contained(graded_class):
    root = graded_class[0]
    assert "fork refused after" in _printed(root, "h_fork_bomb")
    disk = _printed(root, "h_disk_bomb")
    assert disk.count("full after") == 2 and all(int(mb) <= 256 for mb in re.findall(r"full after (\d+) MB", disk))


def test_gradebook_survives_and_counts_every_graded_student(graded_class):
    _, settings, outcomes, _, _, _ = graded_class
    with Gradebook(settings.db_url) as gradebook:
        graded = {s.student.id for s in gradebook.find_assignment(ASSIGNMENT).submissions}
    assert {s for s, o in outcomes.items() if o.graded} <= graded


def test_parallel_grades_equal_serial_nbgrader_autograde(graded_class, graded_course):
    """The examples and the in-kernel tricks, graded serially by plain `nbgrader autograde`
    (graded_course), get the same score in every graded cell."""
    def cell_scores(db_url, student):
        with Gradebook(db_url) as gradebook:
            notebook = gradebook.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student)
            return {g.name: g.score for g in notebook.grades}
    _, settings, _, _, _, _ = graded_class
    serial = f"sqlite:///{graded_course / 'gradebook.db'}"
    for student in list(EXAMPLES) + hostile.IN_KERNEL + catalogue.BOTH_COMMANDS:
        assert cell_scores(settings.db_url, student) == cell_scores(serial, student), student
        assert sent_to_manual_grading(settings.db_url, student) == sent_to_manual_grading(serial, student), student


def test_only_notebooks_that_reach_into_the_grader_go_to_manual_grading(graded_class):
    """No catalogue entry, wrong or right, is flagged: real students' code is not mistaken
    for tampering; every hostile notebook that reaches into the grader is."""
    _, settings, outcomes, _, _, _ = graded_class
    for student, outcome in outcomes.items():
        if outcome.graded:
            flagged = bool(sent_to_manual_grading(settings.db_url, student)[0])
            assert flagged == (student in hostile.MANUAL), student
