"""`course hub` refuses, saying why and what to do: not root, a port taken, a user this machine
will not create."""

import os
import socket
import subprocess
import sys

import pytest

from course.hub.serve import HubRefused, check_machine
from course.layout import ROOT

from .hub_class import PREFIX
from .test_hub_serves import free_ports


def test_not_root_is_refused(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(HubRefused, match="must run as root"):
        check_machine("127.0.0.1", free_ports())


def test_a_port_taken_is_refused_naming_it():
    port = free_ports()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port + 1))
        taken.listen()
        with pytest.raises(HubRefused, match=rf"port {port + 1} \(the proxy's API\) is taken"):
            check_machine("127.0.0.1", port)


def test_a_user_that_cannot_be_created_is_refused_by_name(tmp_path):
    clash = f"{PREFIX}_clash"
    subprocess.run(["groupadd", clash], capture_output=True)  # useradd will not make a user of a group's name
    try:
        classlist = tmp_path / "class.csv"
        classlist.write_text(f"id,role\n{clash},instructor\n")
        done = subprocess.run([sys.executable, "-m", "course", "hub", "--class-list", str(classlist), "--course-dir",
                               str(tmp_path / "course"), "--exchange", str(tmp_path / "exchange"), "--state",
                               str(tmp_path / "state"), "--setup-only", "--port", str(free_ports())],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 2
        assert f"error: class list: cannot create the user {clash}: `useradd" in done.stderr, done.stderr
    finally:
        subprocess.run(["groupdel", clash], capture_output=True)


def test_a_course_folder_inside_the_checkout_is_refused(tmp_path):
    classlist = tmp_path / "class.csv"
    classlist.write_text(f"id,role\n{PREFIX}_ins,instructor\n")
    done = subprocess.run([sys.executable, "-m", "course", "hub", "--class-list", str(classlist), "--course-dir",
                           str(ROOT / "build" / "hub-course"), "--state", str(tmp_path / "state"), "--setup-only",
                           "--port", str(free_ports())], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and "is in the checkout" in done.stderr, done.stderr
