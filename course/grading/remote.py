"""The Dask task: grade a few submissions on whichever worker runs it.

A worker needs the course's Python environment (TensorFlow, nbgrader, Dask) and nothing of
the course folder: `course grade` ships this module by value and, once per worker, the
grading files (the source notebook with its hidden tests, nbgrader_config.py, the `course`
package and a snapshot of the gradebook's assignment; see bundle.py). The task unpacks them
into the worker's own folder, writes the submissions it was given next to them, and runs
batch_job.py there in a process of its own (forked from the worker's batch server, which
has imported nbgrader once for all the worker's jobs: batch_server.py), which grades them
with nbgrader in sandboxes and writes what it found. The task returns that: graded
notebooks, feedback and scores.
Before a worker grades anyone, it passes the self-test (selftest.py, `selftest_remotely`).
Nothing here writes the gradebook; only `course grade` does (gradebook.py).

Only the standard library may be imported at module level: this module is unpickled on
workers that cannot import `course`.
"""


def grade_remotely(bundle, batch, options):
    """Grade `batch` {student: {"notebook": JSON bytes, "files": {relative path: bytes}}} with the
    grading files of `bundle`; returns {"results": {student: result}} (see batch_job.py), or
    {"selftest": {"host", "reason"}} when this machine failed its self-test and graded nobody."""
    results, refused = _job(bundle, batch, options, "--grade")
    return {"selftest": dict(refused, worker=_worker_address())} if refused else {"results": results}


def selftest_remotely(bundle, options):
    """This machine's self-test with the grading files of `bundle` and the limits of `options`:
    {"host", "worker", "passed", "reason"}."""
    return dict(_job(bundle, {}, options, "--selftest"), worker=_worker_address())


def _job(bundle, batch, options, mode):
    """What `python -m course.grading.batch_job MODE` wrote, run in the unpacked grading files."""
    import os
    import pickle
    import re
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    base = Path(_local_directory()) / "unet-course"
    course = _unpacked(bundle, base)
    task = Path(tempfile.mkdtemp(prefix="task-", dir=base))
    try:
        (task / "batch.pickle").write_bytes(pickle.dumps((batch, dict(options, threads=_threads(options)))))
        env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        # The job has its own time limits (per submission, per cell, the self-test); this one
        # only stops a job that hangs outside nbgrader.
        limit = options["timeout"] * (2 * len(batch) + 3) + 1500
        argv = [mode, str(task)]
        ran = _from_batch_server(course, argv, env, limit, task / "job.log")
        if ran is None:  # no server on this worker: the job starts afresh
            job = subprocess.run([sys.executable, "-m", "course.grading.batch_job", *argv], cwd=course, env=env,
                                 capture_output=True, text=True, timeout=limit)
            ran = job.returncode, job.stdout + job.stderr
        code, output = ran
        result = task / "result.pickle"
        if code != 0 or not result.is_file():
            tail = "\n".join(output.splitlines()[-20:]).replace(str(base), "")
            tail = re.sub(r"(?:/[^\s/'\"]+)+/", "", tail)  # a worker's folders mean nothing to the instructor
            raise RuntimeError(f"the grading job failed on {_worker_address()} (exit {code}):\n{tail}")
        return pickle.loads(result.read_bytes())
    finally:
        shutil.rmtree(task, ignore_errors=True)


def _from_batch_server(course, argv, env, limit, log_path):
    """(exit code, output) of `python -m course.grading.batch_job ARGV` forked by this worker's
    batch server (batch_server.py) for the grading files in `course`; None where there is no
    server. A job over `limit` seconds is stopped (SIGTERM: it stops its nbgrader and
    kernels), then killed."""
    import array
    import json
    import os
    import signal
    import socket

    path = _batch_server(course, env)
    if path is None:
        return None
    with open(log_path, "w+b") as log, socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        try:
            connection.settimeout(60)
            connection.connect(path)
            request = json.dumps({"argv": argv, "cwd": str(course), "env": env}).encode()
            connection.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [log.fileno()]))])
            answers = connection.makefile("rb")
            pid = json.loads(answers.readline() or b"{}").get("pid")
        except (OSError, ValueError):
            pid = None
        if pid is None:
            return None  # the server is gone or could not fork: the job starts afresh
        connection.settimeout(limit)
        try:
            line = answers.readline()
        except TimeoutError:
            line = b""
            _stop_job(pid, connection)
        code = json.loads(line)["code"] if line else -signal.SIGKILL  # killed before it could answer
        log.seek(0)
        return code, log.read().decode(errors="replace")


def _stop_job(pid, connection):
    """Stop the job `pid` (a session of its own): SIGTERM, which it answers by stopping what it
    started; SIGKILL to its session if it has not ended within 30 s."""
    import os
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
        connection.settimeout(30)
        while connection.recv(4096):  # the job's end closes its side of the connection
            pass
    except OSError:  # a timeout too
        pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _batch_server(course, env):
    """The socket of this worker's batch server for the grading files in `course`, started on
    first use; None where it cannot start (the job is then started afresh)."""
    import fcntl
    import hashlib
    import os
    import socket
    import stat
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    key = hashlib.sha256(f"{course}\0{os.getpid()}".encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"unet-jobs-{key}"  # short: socket paths are limited
    socket_path = folder / "socket"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        found = os.lstat(folder)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o077:
            return None  # not this user's alone: nobody else may serve its jobs
        with open(folder / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one start, whichever task asks first
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as knock:
                try:
                    knock.connect(str(socket_path))
                    return str(socket_path)
                except OSError:
                    pass
            socket_path.unlink(missing_ok=True)
            with open(folder / "server.log", "ab") as log:
                server = subprocess.Popen([sys.executable, "-m", "course.grading.batch_server", str(socket_path),
                                           str(os.getpid())], cwd=course, env=env, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=log, start_new_session=True)
            if server.stdout.readline() != b"listening\n":
                server.kill()
                server.wait()
                return None
            server.stdout.close()
            return str(socket_path)
    except OSError:
        return None


def _worker_address():
    import socket

    try:
        from distributed import get_worker

        return f"{get_worker().address} ({socket.gethostname()})"
    except (ImportError, ValueError):
        return socket.gethostname()


def _local_directory():
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError):  # called outside a worker (tests, serial runs)
        import tempfile

        return tempfile.gettempdir()


def _threads(options):
    """Threads for each kernel: this machine's cores shared among its worker processes, and
    no more than its CPU quota."""
    import os

    try:
        from distributed import get_worker

        host = get_worker().address.rsplit(":", 1)[0]
    except (ImportError, ValueError):
        host = None
    sharing = max(1, options.get("workers_per_host", {}).get(host, 1))
    threads = max(1, (os.cpu_count() or 1) // sharing)
    quota = options.get("cpus", 0)  # more threads than the kernel's CPU quota only wait for it
    return min(threads, max(1, int(-(-quota // 1)))) if quota > 0 else threads


def _unpacked(bundle, base):
    """The bundle's files in `base/<digest>`, unpacked once per machine (atomically: workers
    on one machine may race)."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    target = Path(base) / bundle["digest"][:16]
    if (target / ".complete").is_file():
        return target
    Path(base).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="unpack-", dir=base))
    for relative, data in bundle["files"].items():
        path = scratch / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (scratch / ".complete").write_text(bundle["digest"])
    try:
        os.rename(scratch, target)
    except OSError:  # another worker was first
        shutil.rmtree(scratch, ignore_errors=True)
    return target
