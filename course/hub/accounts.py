"""The class's Unix users and the staff group: made when missing, never changed otherwise."""

import grp
import pwd
import secrets
import subprocess

STAFF_GROUP = "unet-staff"  # the instructor and graders: the course folder's instructor-only parts


class AccountError(RuntimeError):
    """A user or group this machine would not create, with the command's own words."""


def _run(*command):
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AccountError(f"`{' '.join(command)}` failed: {(done.stderr or done.stdout).strip()[:300]}")


def ensure_group(name=STAFF_GROUP):
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        _run("groupadd", name)
        return grp.getgrnam(name).gr_gid


def ensure_user(login):
    """The user's passwd entry; a missing user is created with a home folder and a random
    password (returned second, None when the user existed: PAM logs them in with it)."""
    try:
        return pwd.getpwnam(login), None
    except KeyError:
        pass
    _run("useradd", "--create-home", "--shell", "/bin/bash", login)
    password = secrets.token_urlsafe(12)
    set_password(login, password)
    return pwd.getpwnam(login), password


def set_password(login, password):
    done = subprocess.run(["chpasswd"], input=f"{login}:{password}\n", capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AccountError(f"cannot set the password of {login}: {done.stderr.strip()[:300]}")


def ensure_member(login, group=STAFF_GROUP):
    if login not in grp.getgrnam(group).gr_mem:
        _run("usermod", "--append", "--groups", group, login)
