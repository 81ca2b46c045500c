"""The folders a hub's users share, with the permissions that keep them apart.

- The exchange: nbgrader's own permissions (the root folder 1777; nbgrader makes the course's
  inbound folder writable but not listable by students, so nobody finds another's submission).
- The checkout (the code, its environment, the data): its instructor-only parts (source with the
  solutions and hidden tests, the judge and reference in course/, tests, git history: everything
  but the environment and the data) belong to the staff group and nobody else; the checkout can
  be passed through, not listed, so that every user's server runs from its environment.
- The course folder, a copy of the course made from the checkout, where the staff work (the
  gradebook, submissions, autograded notebooks, feedback): the staff group's, closed to everyone
  else, so what is created there later is out of students' reach whatever its mode.
- Each user's ~/.jupyter: the course id and exchange for nbgrader; for students, formgrader,
  the course list and the create-assignment toolbar are off.
"""

import json
import os
import pwd
import shutil
import stat
from pathlib import Path

PUBLIC = (".venv", "data", "roadscenes")  # what students' servers need from the checkout, read-only
STUDENT_LAB_OFF = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                   "@jupyter/nbgrader:create-assignment")
STUDENT_SERVER_OFF = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")


def share_exchange(exchange, course_id, instructor):
    """The exchange root (1777) and the course's folders in it, made now as nbgrader's release
    would and owned by the instructor, so that no student claims them first (a student's
    outbound/ would hand classmates their notebook); refused when someone else owns them."""
    exchange = Path(exchange)
    exchange.mkdir(parents=True, exist_ok=True)
    os.chown(exchange, 0, 0)
    exchange.chmod(0o1777)  # nbgrader's exchange: everyone creates their own files, deletes only those
    owner = pwd.getpwnam(instructor)
    for relative, mode in (("", 0o755), ("outbound", 0o755), ("inbound", 0o733), ("feedback", 0o711)):
        path = exchange / course_id / relative
        if not path.exists():
            path.mkdir()
            os.chown(path, owner.pw_uid, owner.pw_gid)
            path.chmod(mode)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (0, owner.pw_uid):
            raise OSError(f"{path} is not a folder of the instructor's (owner uid {info.st_uid}): remove it and run "
                          "again")


def lock_checkout(checkout, gid):
    """The checkout's instructor-only parts (everything but the environment and the data) to the
    staff group `gid`, away from others; the checkout itself can be passed through, not listed,
    so that every user's server runs from its environment. Nothing is created in it later: the
    class's work happens in the course folder."""
    checkout = Path(checkout)
    os.chown(checkout, -1, gid)
    checkout.chmod(0o2771)
    for entry in checkout.iterdir():
        if entry.name in PUBLIC:
            _open_to_all(entry)
        else:
            _to_staff(entry, gid)


COURSE_PARTS = ("source", "release", "course", "nbgrader_config.py")
STAFF_MARK = ".staff-course"  # course/__main__.py reads it


def prepare_course(course, checkout, gid, exchange):
    """The course folder the staff work in (gradebook, submissions, feedback): made from the
    checkout when missing, staff only, nobody else even passing through (what nbgrader and the
    staff create there later is out of others' reach whatever its mode)."""
    course = Path(course)
    if not course.exists():
        course.mkdir(parents=True)
        for part in COURSE_PARTS:
            source = Path(checkout) / part
            if source.is_dir():
                shutil.copytree(source, course / part, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
            else:
                shutil.copy2(source, course / part)
    mark = course / STAFF_MARK
    if mark.is_symlink():
        mark.unlink()
    mark.write_text("made by `python -m course hub`: course commands here keep what they create to the staff "
                    "group (umask 007)\n")
    _pin_exchange(course / "nbgrader_config.py", exchange)
    os.chown(course, -1, gid)
    course.chmod(0o2770)
    for entry in course.iterdir():
        _to_staff(entry, gid)


PIN = "# course hub: the shared exchange, whatever the environment says"


def _pin_exchange(config, exchange):
    """The course folder's nbgrader_config.py ends with the hub's exchange: an instructor's
    shell without UNET_EXCHANGE would otherwise release where no student looks."""
    text = config.read_text()
    text = text.split("\n" + PIN + "\n")[0].rstrip("\n") + "\n"
    config.write_text(text + f"\n{PIN}\nc.Exchange.root = {str(exchange)!r}\n")


def _tree(path):
    """(path, lstat) of `path` and everything under it; links are left out, never followed."""
    paths = [path]
    if path.is_dir() and not path.is_symlink():
        for top, folders, files in os.walk(path):
            paths += [Path(top, name) for name in folders + files]
    for item in paths:
        info = os.lstat(item)
        if not stat.S_ISLNK(info.st_mode):
            yield item, info


def _to_staff(path, gid):
    for item, info in _tree(path):
        os.chown(item, -1, gid, follow_symlinks=False)
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISDIR(info.st_mode):
            mode = (mode | 0o2070) & ~0o007
        else:
            mode = (mode | 0o060 | (0o010 if mode & 0o100 else 0)) & ~0o007
        os.chmod(item, mode)


def _open_to_all(path):
    """Readable (folders: passable) by everyone, all the way down: the environment, the data and
    the data set's library that every user's server imports."""
    for item, info in _tree(path):
        wanted = 0o005 if stat.S_ISDIR(info.st_mode) or info.st_mode & 0o100 else 0o004
        if info.st_mode & wanted != wanted:
            os.chmod(item, stat.S_IMODE(info.st_mode) | wanted)


def write_user_config(login, staff, course_id, exchange, root):
    """~login/.jupyter: nbgrader's settings, and which nbgrader extensions the user has."""
    user = pwd.getpwnam(login)
    jupyter = Path(user.pw_dir) / ".jupyter"
    files = {"nbgrader_config.py": _nbgrader_config(course_id, exchange, root if staff else None)}
    if not staff:
        files["labconfig/page_config.json"] = json.dumps(
            {"disabledExtensions": {name: True for name in STUDENT_LAB_OFF}}, indent=1) + "\n"
        files["jupyter_server_config.json"] = json.dumps(
            {"ServerApp": {"jpserver_extensions": {name: False for name in STUDENT_SERVER_OFF}}}, indent=1) + "\n"
    as_user(user, lambda: _write_files(jupyter, files))


def _write_files(jupyter, files):
    for relative, text in files.items():
        path = jupyter / relative
        for folder in reversed([p for p in path.parents if p == jupyter or jupyter in p.parents]):
            folder.mkdir(mode=0o700, exist_ok=True)
        path.unlink(missing_ok=True)  # a link the user put there is replaced, never followed
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "w") as out:
            out.write(text)


def as_user(user, write):
    """Run `write` in a child process that is `user` (their uid, gid and groups): a home folder
    is its owner's to arrange, links included, and root must not follow them (a ~/.jupyter
    linked to the course folder would have root chown or write it). Raises OSError when the
    child fails."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.setgroups(os.getgrouplist(user.pw_name, user.pw_gid))
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.umask(0o077)
            write()
            code = 0
        except BaseException:  # noqa: BLE001 - the parent reports it
            code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(f"could not write {user.pw_name}'s Jupyter settings in {user.pw_dir} (as that user)")


def _nbgrader_config(course_id, exchange, root):
    lines = ["# Written by `python -m course hub`: the course's id and exchange.", "c = get_config()",
             f"c.CourseDirectory.course_id = {course_id!r}", f"c.Exchange.root = {str(exchange)!r}"]
    if root is not None:  # the staff: the course folder, with its judge, sandbox and safe collect
        lines += [f"c.CourseDirectory.root = {str(root)!r}",
                  f"load_subconfig({str(Path(root) / 'nbgrader_config.py')!r})  # noqa: F821"]
    return "\n".join(lines) + "\n"
