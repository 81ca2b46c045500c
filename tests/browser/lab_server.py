"""A JupyterLab server on localhost with a copy of the release, and headless Chromium.

Playwright drives Debian's Chromium (/usr/bin/chromium): Playwright cannot download its
own browser on these machines. The data is a small generated set and UNET_SMOKE=1 keeps
training to one short epoch, as in the other notebook tests.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from course.assignment import ASSIGNMENT, RELEASE
from course.layout import COURSE_ID
from roadscenes.dataset import generate

CHROMIUM = "/usr/bin/chromium"
TOKEN = "unet-course-browser-tests"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

LAB_SETTINGS = {
    # Render every cell (not only those on screen), so that the tests can see all outputs.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # No news or update checks: the machine has no internet.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="package")
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@contextlib.contextmanager
def running_lab(base, root, env=None):
    """A JupyterLab on localhost serving `root`, with its settings, runtime files and log
    (jupyter.log) in `base`; yields its base url."""
    settings = base / "settings"
    for name, value in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    port = _free_port()
    env = dict(os.environ if env is None else env, JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}", "--allow-root",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={base / 'workspaces'}"]
    log = open(base / "jupyter.log", "w")
    server = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    # Two busy cores: importing the server and its extensions can take a minute.
    deadline = time.time() + 180
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"JupyterLab did not start: see {base / 'jupyter.log'}")
                time.sleep(0.5)
        yield url
    finally:
        # Kernels run in sessions of their own: a server killed after the timeout below would
        # leave them running, so they are found now and ended after it.
        try:
            children = psutil.Process(server.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        log.close()


def start_kernel(url, path, timeout=300):
    """Start the kernel of the notebook at `path` (relative to the server's root) through the
    server's REST API, before the notebook opens.

    JupyterLab picks a new notebook's kernel from the kernel specs it fetches when the page
    loads; on busy cores the notebook can open before they arrive (or its own request to start
    a session fails), and JupyterLab then asks "Select Kernel" in a dialog that covers the
    notebook. A notebook whose session is already running is connected to it instead: there is
    no choice to make. (The server reports the kernel idle only once a client has talked to it,
    so the page waits for that: open_notebook.)"""
    body = json.dumps({"path": path, "type": "notebook", "name": Path(path).name,
                       "kernel": {"name": "python3"}}).encode()
    request = urllib.request.Request(f"{url}/api/sessions?token={TOKEN}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)["kernel"]["id"]


@pytest.fixture(scope="package")
def lab(tmp_path_factory):
    """(base url, workspace folder) of a running JupyterLab."""
    base = tmp_path_factory.mktemp("lab")
    work = base / "work"
    shutil.copytree(RELEASE, work / ASSIGNMENT)
    generate(work / "data", count=12, seed=5, workers=1, progress=False)
    env = dict(os.environ, UNET_SMOKE="1", UNET_DATA_DIR=str(work / "data"))
    with running_lab(base, work, env) as url:
        yield url, work


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: run `make test` (it installs Debian's chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


# --- the exchange: an instructor's course folder and a student's own JupyterLab -------------

STUDENT = "student1"
STUDENT_CONFIG = """\
# A student's ~/.jupyter/nbgrader_config.py: the course's exchange and course id.
c = get_config()
c.Exchange.root = {exchange!r}
c.CourseDirectory.course_id = {course_id!r}
# nbgrader names a submission after the login name (on JupyterHub, the hub user); these
# tests run as one user for instructor and student, so the student's id is set here.
c.CourseDirectory.student_id = {student!r}
"""


@pytest.fixture(scope="package")
def course(tmp_path_factory):
    """An instructor's copy of the course folder, the assignment generated into its own
    gradebook; its exchange is the default, course-local `exchange/`."""
    from course.layout import nbgrader
    from course_helpers import copy_course

    root = copy_course(tmp_path_factory.mktemp("instructor") / "course")
    # UNET_EXCHANGE="": the course's own exchange/, whatever the caller's environment says.
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True, timeout=600,
             extra_env={"UNET_EXCHANGE": ""})
    return root


@pytest.fixture(scope="package")
def student_lab(tmp_path_factory, course):
    """(base url, home folder, server log) of a student's JupyterLab: it serves the student's
    home folder, whose ~/.jupyter/nbgrader_config.py points at the course's exchange."""
    base = tmp_path_factory.mktemp("student_lab")
    home = base / STUDENT
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "nbgrader_config.py").write_text(STUDENT_CONFIG.format(
        exchange=str(course / "exchange"), course_id=COURSE_ID, student=STUDENT))
    # The notebook finds data/ above its folder, as in a student's home on the course server.
    generate(home / "data", count=12, seed=5, workers=1, progress=False)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("JUPYTER") and name not in ("UNET_DATA_DIR", "UNET_EXCHANGE")}
    env.update(HOME=str(home), UNET_SMOKE="1")
    with running_lab(base, home, env) as url:
        yield url, home, base / "jupyter.log"
