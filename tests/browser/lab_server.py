"""A JupyterLab server on localhost with a copy of the release, and headless Chromium.

Playwright drives Debian's Chromium (/usr/bin/chromium): Playwright cannot download its
own browser on these machines. The data is a small generated set and UNET_SMOKE=1 keeps
training to one short epoch, as in the other notebook tests.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course.layout import ASSIGNMENT, RELEASE
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


@pytest.fixture(scope="session")
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SCREENSHOTS}")
    return SCREENSHOTS


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """(base url, workspace folder) of a running JupyterLab."""
    base = tmp_path_factory.mktemp("lab")
    work = base / "work"
    shutil.copytree(RELEASE, work / ASSIGNMENT)
    generate(work / "data", count=12, seed=5, workers=1, progress=False)
    settings = base / "settings"
    for name, value in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    port = _free_port()
    env = dict(os.environ, UNET_SMOKE="1", UNET_DATA_DIR=str(work / "data"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}", "--allow-root",
               f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={base / 'workspaces'}"]
    log = open(base / "jupyter.log", "w")
    server = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f"JupyterLab did not start: see {base / 'jupyter.log'}")
            time.sleep(0.5)
    yield url, work
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="session")
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
