"""The Dask task: grade a few submissions on whichever worker runs it.

A worker needs the course's Python environment (TensorFlow, nbgrader, Dask) and nothing of
the course folder: `course grade` ships this module by value and, once per worker, the
grading files (the source notebook with its hidden tests, nbgrader_config.py, the `course`
package and a snapshot of the gradebook's assignment; see bundle.py). The task unpacks them
into the worker's own folder, writes the submissions it was given next to them, and runs
batch_job.py there in a process of its own, which grades them with nbgrader in sandboxes
and writes what it found. The task returns that: graded notebooks, feedback and scores.
Before a worker grades anyone, it passes the self-test (selftest.py, `selftest_remotely`).
Nothing here writes the gradebook; only `course grade` does (gradebook.py).

Only the standard library may be imported at module level: this module is unpickled on
workers that cannot import `course`.
"""


def grade_remotely(bundle, batch, options):
    """Grade `batch` {student: {"notebook": text, "files": {relative path: bytes}}} with the
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
        job = subprocess.run([sys.executable, "-m", "course.grading.batch_job", mode, str(task)], cwd=course, env=env,
                             capture_output=True, text=True, timeout=limit)
        result = task / "result.pickle"
        if job.returncode != 0 or not result.is_file():
            tail = "\n".join((job.stdout + job.stderr).splitlines()[-20:]).replace(str(base), "")
            tail = re.sub(r"(?:/[^\s/'\"]+)+/", "", tail)  # a worker's folders mean nothing to the instructor
            raise RuntimeError(f"the grading job failed on {_worker_address()} (exit {job.returncode}):\n{tail}")
        return pickle.loads(result.read_bytes())
    finally:
        shutil.rmtree(task, ignore_errors=True)


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
