"""Ctrl-C in the middle of `course grade` (SIGINT to the terminal's whole process group, as a
terminal sends it): the run stops, every submission is either recorded whole or not at all,
no process is left behind, and the next run grades only the rest, to the same grades as a
serial `nbgrader autograde` (the session's `graded_course`)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from nbgrader.api import Gradebook

from course.assignment import ASSIGNMENT, NOTEBOOK
from course.grading.gradebook import LEDGER
from course.layout import nbgrader
from course.unet_segmentation.examples import write_examples

from course_helpers import GRADE_LIMITS, copy_course, gradebook_rows

# Three submissions, graded one at a time: one recorded before Ctrl-C, one interrupted, one not begun.
EXAMPLES = {"reference": (1, 2, 3), "untouched_release": (), "only_exercise_1": (1,)}
STUDENTS = sorted(EXAMPLES)


def _grade(root, log):
    # A terminal's Ctrl-C reaches the foreground process group: here its own session.
    return subprocess.Popen([sys.executable, "-m", "course", "grade", ASSIGNMENT, "--workers", "1",
                             "--batch-size", "1", *GRADE_LIMITS], cwd=root, stdout=log, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:"
                                                                              f"{os.environ['PATH']}"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _recorded(db_url):
    with Gradebook(db_url) as gradebook:
        LEDGER.create(gradebook.engine, checkfirst=True)
        return sorted(row.student for row in gradebook.db.execute(LEDGER.select()).all())


def test_ctrl_c_leaves_a_consistent_gradebook_and_the_next_run_finishes(graded_course, tmp_path):
    root = copy_course(tmp_path / "course")
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    write_examples(root / "submitted", EXAMPLES)
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    log_path = tmp_path / "first.log"
    with open(log_path, "w") as log:
        grading = _grade(root, log)
        deadline = time.time() + 300
        while not _recorded(db_url) and time.time() < deadline and grading.poll() is None:
            time.sleep(0.5)
        time.sleep(3)  # into the grading of the next submission
        family = psutil.Process(grading.pid).children(recursive=True)
        os.killpg(grading.pid, signal.SIGINT)
        grading.wait(timeout=120)
    output = log_path.read_text()
    assert grading.returncode == 130, output
    assert "interrupted:" in output and "Traceback" not in output, output
    time.sleep(2)
    assert not [p.cmdline()[:4] for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    recorded = _recorded(db_url)
    assert 1 <= len(recorded) < len(STUDENTS), output
    serial = gradebook_rows(f"sqlite:///{graded_course / 'gradebook.db'}", STUDENTS)
    now = gradebook_rows(db_url, STUDENTS)
    for student in STUDENTS:  # whole or nothing
        if student in recorded:
            assert now[student] == serial[student]
            assert (root / "autograded" / student / ASSIGNMENT / NOTEBOOK).is_file()
        else:
            assert now[student] is None or all(g[0] is None for n in now[student]["notebooks"].values()
                                               for g in n["grades"].values())

    again = subprocess.run([sys.executable, "-m", "course", "grade", ASSIGNMENT, "--workers", "1", *GRADE_LIMITS],
                           cwd=root,
                           capture_output=True, text=True, timeout=900,
                           env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"({len(recorded)} unchanged since the last run" in again.stdout, again.stdout
    assert gradebook_rows(db_url, STUDENTS) == serial
    assert _recorded(db_url) == STUDENTS
