"""`python -m course hub`: check the machine, set the class up, run JupyterHub.

Everything it sets up is made only when missing, so a second run reuses the users, folders
and the hub's database; each user's Jupyter configuration and jupyterhub_config.py are
written again from the class list.
"""

import csv
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

from ..layout import COURSE_ID, ROOT
from . import accounts, folders
from .classlist import read_class_list
from .hub_config import hub_config

PORTS = ("the hub", "the proxy's API", "the hub's internal API", "formgrader")
PROXY = ROOT / ".venv" / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"


class HubRefused(RuntimeError):
    """Why the hub cannot start here, and what to do."""


def check_machine(ip, port, proxy=PROXY):
    if os.geteuid() != 0:
        raise HubRefused("the hub must run as root: it creates Unix users and runs each user's server as that user "
                         "(sudo .venv/bin/python -m course hub ...)")
    if not Path(proxy).is_file():
        raise HubRefused(f"JupyterHub's proxy is missing ({proxy}): `make hub` installs it with npm")
    for offset, what in enumerate(PORTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: a closed one's
            try:                                                             # lingering connections do not count
                probe.bind((ip if offset == 0 else "127.0.0.1", port + offset))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise HubRefused(f"port {port + offset} ({what}) is taken: stop what uses it, or give another "
                                     f"--port (the hub uses {port} and the {len(PORTS) - 1} ports after it)") from None
                raise HubRefused(f"cannot listen on {ip}:{port + offset} ({what}): {error.strerror}") from None


def everyone_can_run(path):
    """Whether any user can run `path`: every folder above it passable, the file executable."""
    path = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & 0o001 for p in [path, *path.parents])


def python_for_users():
    """A Python every user's server can run, with the course's packages. The course's own when
    others may run it; else (an interpreter under a private home, as pyenv installs it) an
    environment beside the course's, on the system's Python of the same version, that reads the
    course's packages (a .pth file): nothing is installed twice."""
    if everyone_can_run(sys.executable):
        return Path(sys.executable)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(f"python{version}", path="/usr/local/bin:/usr/bin:/bin")
    if system is None or not everyone_can_run(system):
        raise HubRefused(f"the course's Python ({os.path.realpath(sys.executable)}) is not one other users may run, "
                         f"and this machine has no python{version} in /usr/bin that they may: install one "
                         f"(apt-get install python{version}) or make the environment from it")
    users = Path(sys.prefix) / "hub-users"
    python = users / "bin" / "python"
    if not python.exists():
        subprocess.run([system, "-m", "venv", "--without-pip", str(users)], check=True, capture_output=True)
    site = users / "lib" / f"python{version}" / "site-packages"
    # addsitedir, not a bare path: the environment's own .pth files (its editable installs) count too
    (site / "course-environment.pth").write_text(
        f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    _scripts_for(users, python)
    return python


def _scripts_for(users, python):
    """The course environment's commands (jupyter, nbgrader, the alembic nbgrader runs to make
    a gradebook) on the users' Python: the same scripts, with its interpreter line."""
    course_bin = Path(sys.executable).parent
    ours = f"#!{course_bin / 'python'}".encode()
    for script in course_bin.iterdir():
        if not script.is_file() or script.is_symlink():
            continue
        with script.open("rb") as handle:
            first = handle.readline().rstrip()
            if first not in (ours, f"#!{sys.executable}".encode()):
                continue
            rest = handle.read()
        target = users / "bin" / script.name
        target.write_bytes(f"#!{python}\n".encode() + rest)
        target.chmod(0o755)


def set_up(classlist, root, exchange, state, port, ip, proxy=PROXY, say=print):
    """Users, group, folders and configuration; returns the path of jupyterhub_config.py."""
    if root.resolve() == ROOT.resolve() or ROOT.resolve() in root.resolve().parents:
        raise HubRefused(f"--course-dir {root} is in the checkout: students' servers run from its environment, so "
                         "the course folder must be elsewhere (default /srv/unet-course); it is made from the checkout")
    if root.exists() and any(root.iterdir()) and not (root / folders.STAFF_MARK).is_file():
        raise HubRefused(f"--course-dir {root} exists and is not a course folder `course hub` made (no "
                         f"{folders.STAFF_MARK}): give a new or empty folder; nothing in it was changed")
    state = Path(state)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    passwords = state / "initial_passwords.csv"
    gid = accounts.ensure_group()
    created = []
    for member in classlist.members:
        try:
            entry, password = accounts.ensure_user(member.id)
        except accounts.AccountError as error:
            raise HubRefused(f"class list: cannot create the user {member.id}: {error}") from None
        if password:  # kept at once: a later failure must not lose it
            created.append(member.id)
            with os.fdopen(os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", newline="") as out:
                csv.writer(out).writerow([member.id, password])
        os.chmod(entry.pw_dir, 0o700)  # useradd's homes are 0755: every student would read the others'
        if member.staff:
            accounts.ensure_member(member.id)
    if created:
        say(f"created {len(created)} user(s): {', '.join(created)}; their first passwords are in {passwords} "
            "(root only)")
    try:
        folders.share_exchange(exchange, COURSE_ID, classlist.instructor)
    except OSError as error:
        raise HubRefused(str(error)) from None
    folders.lock_checkout(ROOT, gid)
    folders.prepare_course(root, ROOT, gid, exchange)
    for member in classlist.members:
        try:
            folders.write_user_config(member.id, member.staff, COURSE_ID, exchange, root)
        except OSError as error:  # one user's home must not stop the class's hub
            print(f"warning: {error}; their server keeps the settings it had", file=sys.stderr)
    data = ROOT / "data"
    config = state / "jupyterhub_config.py"
    config.write_text(hub_config(classlist, COURSE_ID, root, exchange, state, port, proxy, python_for_users(),
                                 data=data if any(data.glob("CameraRGB/*.png")) else None, ip=ip))
    config.chmod(0o600)
    return config


def run_hub(config):
    """JupyterHub in the foreground; Ctrl-C (or SIGTERM) stops it and every user's server."""
    hub = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)], cwd=config.parent)
    try:
        return hub.wait()
    except KeyboardInterrupt:
        hub.send_signal(signal.SIGINT)
        return hub.wait()


def main(args, say=print):
    try:
        classlist = read_class_list(args.class_list)
        check_machine(args.ip, args.port)
        root = Path(args.course_dir).resolve()
        config = set_up(classlist, root, Path(args.exchange), Path(args.state), args.port, args.ip, say=say)
    except (HubRefused, ValueError) as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    say(f"{len(classlist.students)} student(s), staff: {', '.join(classlist.staff)}; exchange {args.exchange}; "
        f"the hub's files in {args.state}")
    if args.setup_only:
        say(f"set up; start the hub with {shutil.which('jupyterhub') or 'jupyterhub'} -f {config}")
        return 0
    say(f"JupyterHub at http://{args.ip}:{args.port}/ (Ctrl-C stops it and every user's server)")
    return run_hub(config)
