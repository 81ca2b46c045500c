"""The course folder: where it is, how to run nbgrader in it, and how to show and walk the
names found there. Imports nothing of the course: every package may import it."""

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
COURSE_ID = "unet-segmentation"  # nbgrader's course id (nbgrader_config.py, the exchange)


def printable(name, limit=80):
    """`name` as the instructor can read it: names that are not UTF-8 or hold control
    characters (a newline, say) are shown escaped, long ones shortened."""
    text = str(name)
    try:
        text.encode("utf-8")
        clean = text.isprintable()
    except UnicodeEncodeError:  # bytes that are not UTF-8, kept by Python as surrogates
        clean = False
    if not clean:
        text = ascii(text)[1:-1]
    return text if len(text) <= limit else f"{text[:limit - 20]}...{text[-17:]}"


# A submission's timestamp.txt, as `nbgrader submit` writes it ("2026-12-06 20:30:00.123456 UTC").
# nbgrader reads the whole file and hands it to dateutil (a 90 MB one takes minutes and
# gigabytes), and a third word names a time zone, which dateutil.tz.gettz opens as a file
# (a pipe there blocks): only a short, plain timestamp is ever parsed.
MAX_TIMESTAMP_BYTES = 64
# What nbgrader submit writes ("2026-12-06 20:30:00.000000 UTC"). No offset: nbgrader's parse_utc
# reads "+0100" as 100 seconds, so "+9959" would move a submission nearly three hours earlier.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?( (UTC|GMT))?")


def timestamp_problem(data):
    """Why the bytes `data` of a timestamp.txt are not a timestamp nbgrader may parse, or ''."""
    if len(data) > MAX_TIMESTAMP_BYTES:
        return f"over {MAX_TIMESTAMP_BYTES} bytes"
    text = data.decode("ascii", "replace").strip()
    if not TIMESTAMP.fullmatch(text):
        return "not a timestamp such as 2026-12-06 20:30:00.000000 UTC"
    return ""


def read_timestamp_file(path):
    """The bytes of the timestamp file `path` (never followed if a link, never blocking on a
    pipe, at most MAX_TIMESTAMP_BYTES + 1 of them), or None when it is not a regular file."""
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return None
        return os.read(handle, MAX_TIMESTAMP_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(handle)


def read_csv_text(path, what, error, limit=20 * 2**20):
    """The text of an instructor's CSV file (UTF-8, a byte-order mark allowed, as Excel and
    Canvas write it), at most `limit` bytes; `error` (an exception class) says what is wrong,
    naming `what` and the file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as problem:
        raise error(f"{what} {path}: cannot be read ({problem.strerror or problem})") from None
    if len(data) > limit:
        raise error(f"{what} {path}: larger than {limit // 2**20} MB; is it the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        raise error(f"{what} {path}: not UTF-8 text (byte {problem.start}); save it as CSV UTF-8") from None


def walk(folder):
    """Every path under `folder`, sorted, without following symbolic links."""
    found = []
    for top, folders, files in os.walk(folder, followlinks=False):
        found += [Path(top) / name for name in folders + files]
    return sorted(found)


def environment_bin_on_path():
    """Put this Python environment's bin/ first on PATH (once): nbgrader runs the `alembic`
    executable whenever it creates a gradebook, also when Python was started by its full path
    from an environment that is not activated."""
    folder = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != folder:
        os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")


def nbgrader(*args, root=ROOT, check=True, capture=False, timeout=None, extra_env=None, module="nbgrader"):
    """Run `nbgrader ARGS` (or `python -m MODULE ARGS`) in the course folder `root`, with this
    environment's bin/ on PATH (nbgrader runs the `alembic` executable when it creates a
    gradebook).

    On timeout the whole process group (nbgrader and its kernel) is killed and
    subprocess.TimeoutExpired raised."""
    env = dict(os.environ, **(extra_env or {}))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    command = [sys.executable, "-m", module, *map(str, args)]
    server = sys.modules.get("course.grading.batch_server")
    if server is not None and server.forking() and module in server.PRELOADED:
        # A grading job forked from its worker's batch server: nbgrader is imported already.
        code, output = server.run_forked(module, args, root, env, capture, timeout)
        result = subprocess.CompletedProcess(command, code, output if capture else None, "" if capture else None)
        return _checked(result, args, root, check, capture)
    pipe = subprocess.PIPE if capture else None
    with subprocess.Popen(command, cwd=root, env=env, text=True, stdout=pipe, stderr=pipe,
                          start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_session(process.pid)
            process.communicate()
            raise
    return _checked(subprocess.CompletedProcess(command, process.returncode, stdout, stderr), args, root, check,
                    capture)


def kill_session(pid):
    """Kill process `pid`, the leader of a session, with its session and all its descendants
    (kernels run in sessions of their own: they are found before their parent is gone)."""
    family = psutil.Process(pid).children(recursive=True)
    os.killpg(pid, signal.SIGKILL)
    for child in family:
        with contextlib.suppress(psutil.Error):
            child.kill()


def _checked(result, args, root, check, capture):
    if check and result.returncode != 0:
        tail = "\n".join(((result.stdout or "") + (result.stderr or "")).splitlines()[-25:])
        raise RuntimeError(f"nbgrader {' '.join(map(str, args))} failed (exit {result.returncode}) in {root}"
                           + (f":\n{tail}" if capture else ""))
    return result
