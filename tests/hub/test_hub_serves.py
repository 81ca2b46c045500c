"""The class's JupyterHub running: each user logs in through the hub's own login page (PAM,
their Unix password) and gets JupyterLab run as their own Unix user; formgrader, a hub service,
opens for the staff and is refused to students; stopping the hub leaves no server running."""

import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import requests

from course.layout import COURSE_ID

from .hub_class import GRADER, INSTRUCTOR, PASSWORD, STUDENTS


def free_ports(count=4):
    """A port with `count` free ones from it (the hub uses four)."""
    for base in range(18000, 19000, 10):
        try:
            for offset in range(count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    pytest.fail("no four free ports between 18000 and 19000")


def hub_processes(state):
    """The hub, its proxy and the servers it started: processes that name its folder or run
    as one of the class's users."""
    users = {INSTRUCTOR, GRADER, *STUDENTS}
    found = []
    for process in psutil.process_iter(["username", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if process.info["username"] in users or str(state) in command:
            found.append(process)
    return found


class Hub:
    def __init__(self, process, base, state):
        self.process, self.base, self.state = process, base, state

    def stop(self):
        """Ctrl-C, as an instructor stops it; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=180)


@pytest.fixture(scope="module")
def hub(hub_class):
    """`python -m course hub` running (it sets the class up again, reusing it, then serves)."""
    course, exchange, state, classlist, _ = hub_class
    port = free_ports()
    log = open(state.parent / "hub.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "course", "hub", "--class-list", str(classlist), "--course-dir",
                                str(course), "--exchange", str(exchange), "--state", str(state), "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if requests.get(f"{base}/hub/login", timeout=10).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, (state.parent / "hub.log").read_text()[-3000:]
        time.sleep(1)
    running = Hub(process, base, state)
    yield running
    running.stop()
    log.close()


def login(base, user, password=PASSWORD):
    session = requests.Session()
    session.get(f"{base}/hub/login", timeout=60)
    answer = session.post(f"{base}/hub/login?next=", timeout=180, data={
        "username": user, "password": password, "_xsrf": session.cookies.get("_xsrf")})
    return session, answer


def wait_for_lab(session, base, user):
    deadline = time.monotonic() + 180
    while True:
        page = session.get(f"{base}/user/{user}/lab", timeout=60)
        if page.status_code == 200 and f"/user/{user}/lab" in page.url:
            return page
        assert time.monotonic() < deadline, (page.status_code, page.url)
        time.sleep(2)


def test_a_student_logs_in_and_gets_jupyterlab_run_as_their_own_user(hub):
    session, answer = login(hub.base, STUDENTS[0])
    assert answer.status_code == 200, answer.text[:500]
    page = wait_for_lab(session, hub.base, STUDENTS[0])
    assert "@jupyter/nbgrader" in page.text  # the Assignments tab and Validate come with the lab
    servers = [p for p in hub_processes(hub.state) if "jupyterhub.singleuser" in " ".join(p.cmdline())
               and p.username() == STUDENTS[0]]
    assert len(servers) == 1


def test_a_wrong_password_is_refused_on_the_login_page(hub):
    _, answer = login(hub.base, STUDENTS[1], password="not-the-password")
    assert answer.status_code == 403 and "Invalid username or password" in answer.text


def test_formgrader_opens_for_the_staff_and_is_refused_to_students(hub):
    student, _ = login(hub.base, STUDENTS[0])
    refused = student.get(f"{hub.base}/services/{COURSE_ID}/formgrader", timeout=120)
    assert refused.status_code == 403
    for user in (INSTRUCTOR, GRADER):
        staff, _ = login(hub.base, user)
        page = staff.get(f"{hub.base}/services/{COURSE_ID}/formgrader", timeout=120)
        assert page.status_code == 200 and "Manage Assignments" in page.text, (user, page.url)


def test_stopping_the_hub_leaves_no_server_running(hub):
    assert any(p.username() == STUDENTS[0] for p in hub_processes(hub.state))  # running until now
    assert hub.stop() == 0
    deadline = time.monotonic() + 30
    while hub_processes(hub.state) and time.monotonic() < deadline:
        time.sleep(1)
    assert not [" ".join(p.cmdline())[:120] for p in hub_processes(hub.state)]
