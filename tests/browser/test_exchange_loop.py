"""The whole nbgrader loop through the exchange, as on a course server: the instructor releases
with the nbgrader command line; the student fetches, validates and submits from JupyterLab's
Assignments tab, after the due date; the instructor collects, grades and releases feedback; the
student fetches the feedback from the tab and reads the lateness and penalty; the instructor
grants an extension, regrades that student alone and releases feedback again; the tab shows
the new feedback, which states the extension and the regrade.

The instructor works in a copy of the course folder (its default, course-local exchange); the
student in a JupyterLab of their own that serves a separate home folder, whose
~/.jupyter/nbgrader_config.py names the same exchange and course id (lab_server.py)."""

import datetime
import os
import re
import subprocess
import sys
import time

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from course.assignment import ASSIGNMENT, NOTEBOOK, RELEASE
from course.layout import nbgrader
from course.unet_segmentation.examples import solved

from course_helpers import GRADE_LIMITS

from .lab_server import COURSE_ID, STUDENT, TOKEN, start_kernel  # the fixtures come from conftest.py

pytestmark = pytest.mark.browser

# Two busy cores: a kernel start with TensorFlow's import, or a validation, can take minutes.
SLOW = 300_000
UNWRITABLE = ("Unwritable directory", "exchange directory does not exist")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
RELEASED = "#released_assignments_list > .list_item"
FETCHED = "#fetched_assignments_list > .list_item"
SUBMITTED = "#submitted_assignments_list > .list_item"
# The id nbgrader's tab gives the list of an assignment's notebooks ("nbgrader-<course>-<assignment>").
NOTEBOOKS = "#" + re.sub(r"[^A-Za-z0-9\-_]", "", f"nbgrader-{COURSE_ID}-{ASSIGNMENT}".replace(" ", "_"))


# The course's own exchange (nbgrader_config.py's default), whatever the caller's UNET_EXCHANGE.
INSTRUCTOR_ENV = {"UNET_EXCHANGE": ""}


def instructor(course, *args, timeout=900):
    """An nbgrader command in the instructor's course folder; returns its output."""
    result = nbgrader(*args, root=course, capture=True, timeout=timeout, extra_env=INSTRUCTOR_ENV)
    return result.stdout + result.stderr


def open_assignments_tab(page):
    """The Nbgrader menu's Assignment List: opens the Assignments tab, or shows it again."""
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Nbgrader").click(timeout=SLOW)
    page.locator('#jp-mainmenu-nbgrader li[data-command="nbgrader:open-assignment-list"]').click(timeout=SLOW)
    page.locator("#released_assignments_list").wait_for(timeout=SLOW)


def row(page, selector, name):
    """The row of the assignment `name` in one of the tab's lists, once it is there."""
    found = page.locator(selector).filter(has=page.locator(".item_name", has_text=name)).first
    found.wait_for(timeout=SLOW)
    return found


def expand_notebooks(page):
    """Click the fetched assignment's name: its notebooks show, each with a Validate button.
    The tab reloads its lists when it is shown again, collapsing them: click until they show."""
    notebooks = page.locator(f"{NOTEBOOKS}.in")
    link = page.locator("#fetched_assignments_list a.assignment-notebooks-link", has_text=ASSIGNMENT)
    deadline = time.monotonic() + SLOW / 1000
    while not notebooks.is_visible():
        link.click(timeout=SLOW)
        try:
            notebooks.wait_for(timeout=10_000)
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
    return notebooks


def close_dialog(page):
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    page.wait_for_selector(".jp-Dialog", state="detached", timeout=SLOW)


def solution_line(notebook):
    """A line of the reference solution that the release does not have."""
    release = nbformat.read(RELEASE / NOTEBOOK, as_version=4)
    released = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    return next(line.strip() for cell in notebook.cells for line in cell.source.splitlines()
                if len(line.strip()) > 20 and line.strip() not in released)


def test_exchange_defaults_to_the_course_folder_and_follows_UNET_EXCHANGE(course, tmp_path):
    """nbgrader_config.py: exchange/ in the course folder unless UNET_EXCHANGE names one;
    created when missing, writable by everyone (students fetch and submit into it)."""
    script = ("from traitlets.config.loader import PyFileConfigLoader as L;"
              "print(L('nbgrader_config.py', path='.').load_config().Exchange.root)")
    env = {name: value for name, value in os.environ.items() if name != "UNET_EXCHANGE"}
    default = subprocess.run([sys.executable, "-c", script], cwd=course, capture_output=True, text=True, check=True,
                             env=env)
    assert default.stdout.strip() == str(course / "exchange")
    shared = tmp_path / "srv" / "nbgrader" / "exchange"
    chosen = subprocess.run([sys.executable, "-c", script], cwd=course, capture_output=True, text=True, check=True,
                            env=dict(env, UNET_EXCHANGE=str(shared)))
    assert chosen.stdout.strip() == str(shared)
    assert shared.is_dir() and shared.stat().st_mode & 0o7777 == 0o1777


def course_command(course, *args):
    """`python -m course ARGS` in the instructor's course folder; returns its output."""
    done = subprocess.run([sys.executable, "-m", "course", *args], cwd=course, env=dict(os.environ, **INSTRUCTOR_ENV),
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def due_an_hour_ago(course):
    """The course's due date an hour ago (one started day late: 10% off), its release made
    again from it; the configuration as it was afterwards."""
    config = course / "nbgrader_config.py"
    shipped = config.read_text()
    due = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    config.write_text(shipped.replace("c.Deadline.due = None", f'c.Deadline.due = "{due} UTC"', 1))
    course_command(course, "release")
    yield due
    config.write_text(shipped)


def open_feedback(page, home, screenshots, name):
    """Fetch the feedback from the tab, open the newest file and return its text."""
    submitted = row(page, SUBMITTED, ASSIGNMENT)
    submitted.locator(".item_status button", has_text="Fetch Feedback").click()
    view = row(page, SUBMITTED, ASSIGNMENT).get_by_text("(view feedback)")
    view.wait_for(timeout=SLOW)
    feedback = list((home / ASSIGNMENT / "feedback").glob(f"*/{NOTEBOOK.replace('.ipynb', '.html')}"))
    assert len(feedback) == 1, feedback
    page.screenshot(path=str(screenshots / f"{name}_fetched.png"))
    view.click()
    page.locator(".jp-DirListing-item", has_text=feedback[0].name).dblclick(timeout=SLOW)
    shown = page.frame_locator(".jp-HTMLViewer:not(.lm-mod-hidden) iframe").locator("body")
    shown.get_by_text("Due date and submission").first.wait_for(timeout=SLOW)
    page.screenshot(path=str(screenshots / f"{name}.png"))
    return shown, feedback[0]


def test_release_fetch_validate_submit_collect_grade_feedback(course, due_an_hour_ago, student_lab, page,
                                                              screenshots):
    url, home, log = student_lab
    exchange = course / "exchange" / COURSE_ID

    # Instructor: release the (generated) assignment into the exchange; it states the due date.
    instructor(course, "release_assignment", ASSIGNMENT, "--force")
    released_text = (exchange / "outbound" / ASSIGNMENT / NOTEBOOK).read_text()
    assert "**Due: " in released_text and "UTC.**" in released_text
    assert (exchange / "outbound" / ASSIGNMENT / NOTEBOOK).is_file()

    # Student: JupyterLab (no ?reset in the address: nbgrader's tab changes the address's
    # #fragment, and JupyterLab would then reset the workspace and reload), Assignments tab, Fetch.
    page.goto(f"{url}/lab?token={TOKEN}")
    open_assignments_tab(page)
    released = row(page, RELEASED, ASSIGNMENT)
    assert COURSE_ID in released.locator(".item_course").first.inner_text()
    released.locator(".item_status button", has_text="fetch").click()
    row(page, FETCHED, ASSIGNMENT)
    assert page.locator("#released_assignments_list").locator(".item_name", has_text=ASSIGNMENT).count() == 0
    fetched_notebook = home / ASSIGNMENT / NOTEBOOK
    assert fetched_notebook.is_file()
    page.screenshot(path=str(screenshots / "exchange_fetched.png"))

    # ... opens the notebook from the tab: the release, with its exercises to do (its kernel
    # started first, so that JupyterLab has no kernel to ask for: lab_server.start_kernel).
    start_kernel(url, f"{ASSIGNMENT}/{NOTEBOOK}")
    notebooks = expand_notebooks(page)
    notebooks.locator(".item_name a", has_text=NOTEBOOK.removesuffix(".ipynb")).click()
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=SLOW)
    page.locator(PANEL).get_by_text("# YOUR CODE HERE").first.wait_for(timeout=SLOW)

    # ... works (the reference solution stands in for three functions typed in), and reloads
    # the notebook from disk (File menu; JupyterLab asks first when the notebook has changes).
    work = solved((1, 2, 3))
    nbformat.write(work, fetched_notebook)
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="File").click()
    page.locator('#jp-mainmenu-file li[data-command="docmanager:reload"]').click(timeout=SLOW)
    solution = page.locator(PANEL).get_by_text(solution_line(work)).first
    confirm = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    confirm.or_(solution).first.wait_for(timeout=SLOW)
    if confirm.is_visible():
        close_dialog(page)
    solution.wait_for(timeout=SLOW)

    # ... validates from the tab ...
    open_assignments_tab(page)
    notebooks = expand_notebooks(page)
    notebooks.locator(".item_status button", has_text="Validate").click()
    page.wait_for_selector(".jp-Dialog #validation-message", timeout=SLOW)
    report = page.locator(".jp-Dialog #validation-message")
    page.screenshot(path=str(screenshots / "exchange_validated.png"))
    assert "validation-success" in report.get_attribute("class"), report.inner_text()
    assert "Success! Your notebook passes all the tests." in report.inner_text()
    close_dialog(page)

    # ... and submits from the tab.
    open_assignments_tab(page)
    row(page, FETCHED, ASSIGNMENT).locator(".item_status button", has_text="Submit").click()
    submitted = row(page, SUBMITTED, ASSIGNMENT)
    assert page.locator(".nbgrader-ErrorDialog").count() == 0
    assert submitted.locator(".item_name").count() >= 2  # the assignment and its one submission
    inbound = list((exchange / "inbound").glob(f"{STUDENT}+{ASSIGNMENT}+*"))
    assert len(inbound) == 1, inbound
    page.screenshot(path=str(screenshots / "exchange_submitted.png"))

    # Instructor: collect, grade (autograde through the sandbox and the judge, feedback), release feedback.
    instructor(course, "collect", ASSIGNMENT)
    collected = course / "submitted" / STUDENT / ASSIGNMENT
    assert (collected / NOTEBOOK).is_file() and (collected / "timestamp.txt").is_file()
    grading = subprocess.run([sys.executable, "-m", "course", "grade", ASSIGNMENT, "--workers", "1", *GRADE_LIMITS],
                             cwd=course,
                             env=dict(os.environ, **INSTRUCTOR_ENV), capture_output=True, text=True, timeout=1200)
    assert grading.returncode == 0, grading.stdout + grading.stderr
    assert re.search(rf"^{STUDENT}\s.*30/30.*late, -3 points", grading.stdout, re.M), grading.stdout
    assert re.search(rf"{STUDENT}: 1 h( \d+ min)? late \(1 started day\(s\)\), penalty 3 of 30", grading.stdout)
    assert (course / "feedback" / STUDENT / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")).is_file()
    instructor(course, "release_feedback", ASSIGNMENT)
    assert list((exchange / "feedback").glob("*.html"))

    # Student: the tab says feedback is there; Fetch Feedback; view it: late, and what it cost.
    page.locator("#refresh_assignments_list").click()
    row(page, SUBMITTED, ASSIGNMENT).get_by_text("feedback available to fetch").wait_for(timeout=SLOW)
    shown, html_file = open_feedback(page, home, screenshots, "exchange_feedback")
    text = shown.inner_text()
    assert re.search(rf"{NOTEBOOK.removesuffix('.ipynb')} \(Score: 27(\.0)? / 30(\.0)?\)", text), text[:2000]
    assert "Due: " in text and "(1 started day)" in text, text[:2000]
    assert "Penalty: 3 points taken from the 30 points your notebook earned: 27 points count" in text, text[:2000]
    html = html_file.read_text()
    for secret in ("unet_evidence", "HIDDEN TESTS"):
        assert secret not in html

    # Instructor: an extension of two days, a regrade of this student alone, feedback released again.
    said = course_command(course, "extend", STUDENT, "--days", "2", "--reason", "a doctor's note")
    assert f"{STUDENT}: due " in said and "points" not in said, said  # on time now: no penalty left
    regrade = course_command(course, "grade", ASSIGNMENT, "--student", STUDENT, "--force", "--workers", "1",
                             *GRADE_LIMITS)
    assert f"regraded {STUDENT} (recorded" in regrade and "generated again for: " + STUDENT in regrade, regrade
    instructor(course, "release_feedback", ASSIGNMENT)

    # Student: the tab shows the new feedback; it states the extension, no penalty, the regrade.
    # (The old feedback's viewer is closed first: JupyterLab would show an open file as it was.)
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="File").click()
    page.locator('#jp-mainmenu-file li[data-command="application:close-all"]').click(timeout=SLOW)
    open_assignments_tab(page)
    page.locator("#refresh_assignments_list").click()
    row(page, SUBMITTED, ASSIGNMENT).get_by_text("feedback available to fetch").wait_for(timeout=SLOW)
    shown, html_file = open_feedback(page, home, screenshots, "exchange_feedback_regraded")
    shown.get_by_text("Your extension").first.wait_for(timeout=SLOW)
    text = shown.inner_text()
    assert re.search(rf"{NOTEBOOK.removesuffix('.ipynb')} \(Score: 30(\.0)? / 30(\.0)?\)", text), text[:2000]
    assert "On time" in text and "Regraded:" in text and "Penalty" not in text, text[:2000]
    assert "doctor" not in html_file.read_text()

    # The student's server found its exchange every time.
    logged = log.read_text()
    assert not [line for line in logged.splitlines() if any(u in line for u in UNWRITABLE)]
