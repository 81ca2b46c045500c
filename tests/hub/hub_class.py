"""A class on this machine's JupyterHub, as `python -m course hub --setup-only` makes it: Unix
users of a prefix of their own (removed afterwards), a copy of the course in a folder every
user can pass through, the shared exchange, the assignment released into it."""

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from course.assignment import ASSIGNMENT
from course.layout import ROOT

PREFIX = "uhub"  # every user these tests make begins with it
INSTRUCTOR, GRADER = f"{PREFIX}_ins", f"{PREFIX}_grader"
STUDENTS = (f"{PREFIX}_s1", f"{PREFIX}_s2", f"{PREFIX}_s3")
PASSWORD = "unet-hub-tests-password"


def as_user(user, *command, env=None, check=False, timeout=120, cwd="/"):
    """`command` as the Unix user `user`, with their groups and home, as their server runs."""
    entry = pwd.getpwnam(user)
    environment = {"HOME": entry.pw_dir, "USER": user, "PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run(["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
                           *command], env=environment, capture_output=True, text=True, check=check, timeout=timeout,
                          cwd=cwd)


def passable_parents(path):
    """Give o+x to the folders above `path` that lack it (a checkout in a private folder);
    returns what to restore."""
    changed = []
    for parent in Path(path).resolve().parents:
        mode = stat.S_IMODE(os.stat(parent).st_mode)
        if not mode & 0o001:
            changed.append((parent, mode))
            parent.chmod(mode | 0o001)
    return changed


def remove_users():
    for user in (INSTRUCTOR, GRADER, *STUDENTS):
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        subprocess.run(["userdel", "--remove", user], capture_output=True)


@pytest.fixture(scope="package")
def hub_class():
    """(course folder, exchange, state folder, class list, the setup's output)."""
    if os.geteuid() != 0:
        pytest.fail("the hub tests create Unix users and run servers as them: run the suite as root")
    remove_users()  # what an interrupted earlier run left
    restore = passable_parents(ROOT / ".venv")
    base = Path(tempfile.mkdtemp(prefix="unet-hub-", dir="/tmp"))
    base.chmod(0o755)
    course = base / "course"  # made by the setup, from the checkout
    classlist = base / "class.csv"
    classlist.write_text("id,role\n" + f"{INSTRUCTOR},instructor\n{GRADER},grader\n"
                         + "".join(f"{s},student\n" for s in STUDENTS))
    setup = setup_hub(course, base, classlist)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    env = dict(jupyter_env(), UNET_EXCHANGE=str(base / "exchange"))
    generated = as_user(INSTRUCTOR, str(users_python()), "-m", "nbgrader", "generate_assignment", ASSIGNMENT,
                        "--force", cwd=str(course), env=env, timeout=600)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    for user in (INSTRUCTOR, GRADER, *STUDENTS):
        subprocess.run(["chpasswd"], input=f"{user}:{PASSWORD}\n", text=True, check=True)
    # The instructor releases, as on a hub: from a terminal in their own server, as their user.
    released = as_user(INSTRUCTOR, str(users_python()), "-m", "nbgrader", "release_assignment", ASSIGNMENT,
                       "--force", cwd=str(course), env=env)
    assert released.returncode == 0, released.stdout + released.stderr
    yield course, base / "exchange", base / "state", classlist, setup
    remove_users()
    shutil.rmtree(base, ignore_errors=True)
    for folder, mode in restore:
        folder.chmod(mode)


def setup_hub(course, base, classlist, *more):
    return subprocess.run([sys.executable, "-m", "course", "hub", "--class-list", str(classlist), "--course-dir",
                           str(course), "--exchange", str(base / "exchange"), "--state", str(base / "state"),
                           "--setup-only", *more], capture_output=True, text=True, timeout=600, cwd=ROOT)


def users_python():
    from course.hub.serve import python_for_users

    return python_for_users()


def jupyter_env():
    """What a user's server on the hub has: the course environment's Jupyter paths."""
    return {"JUPYTER_CONFIG_PATH": str(Path(sys.prefix) / "etc" / "jupyter"),
            "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
            "PATH": f"{users_python().parent}:/usr/bin:/bin"}
