"""A grading worker's batch server: one process that has imported nbgrader and the course's
grading code, from which each grading job (batch_job.py) is forked, and each job's nbgrader
forked again, instead of being started afresh (about 2 CPU-seconds of imports per batch).

    python -m course.grading.batch_server SOCKET OWNER-PID

remote.py starts one per worker and grading files (in the files unpacked there) and asks it
for each job; it lives until the process OWNER-PID (the worker) ends. It never runs student
code and reads nothing but requests from its socket, in a folder only its user can enter.
Each job is a fresh fork of a process that has only imported modules, so nothing of one batch
reaches another; where the server cannot start, or cannot fork safely (a thread started by an
import), jobs start afresh as before.

A request is one JSON line, {"argv", "cwd", "env"}, and one file descriptor, the job's log
(its stdout and stderr). The server forks the job, which answers {"pid"} at once and
{"code"} when it is done; it runs in a session of its own, so that the client can stop it
and what it started.
"""

import ctypes
import gc
import json
import os
import runpy
import select
import shutil
import signal
import socket
import sys
import tempfile
import threading
import traceback

from course.sandbox.zygote import fork_for

PRELOADED = ("course.grading.batch_job", "course.grading.nbgrader_steps", "course.grading.selftest",
             "nbgrader.apps.autogradeapp", "nbgrader.apps.generatefeedbackapp", "nbgrader.converters",
             "nbconvert.exporters.html", "course.judge.preprocessors", "course.judge.manual_grading",
             "course.sandbox.execute", "psutil")
PR_SET_NAME = 15
_forking = False  # True in a job forked from a server: its nbgrader is forked too (layout.nbgrader)


def main():
    path, owner = sys.argv[1], os.pidfd_open(int(sys.argv[2]))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)  # at once: a job's request waits while the modules load
    server.listen(16)
    try:
        for module in PRELOADED:
            __import__(module)
        if threading.active_count() != 1:  # a fork would copy locks that a thread may hold
            raise SystemExit(f"batch server: an import started a thread ({threading.enumerate()}): not forking jobs")
        gc.freeze()  # the imports' objects outlive every job: its collections need not walk them
        print("listening", flush=True)
        os.dup2(2, 1)  # nothing more for the worker to read
        serve_forever(server, owner)
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # the folder its client made for it


def serve_forever(server, owner):
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # jobs are reaped by the system
    while True:
        readable, _, _ = select.select([server, owner], [], [])
        if owner in readable:
            return  # the worker is gone
        connection, _ = server.accept()
        try:
            serve(connection, server)
        except Exception:  # noqa: BLE001 - one bad request never stops the others
            traceback.print_exc()
        finally:
            connection.close()


def serve(connection, server):
    """Read one request and the job's log, and fork the job."""
    fork_for(connection, server, 1, lambda request, fds: job(connection, fds[0], request))


def job(connection, log, request):
    """`python -m course.grading.batch_job ARGV` in this fork; its exit code."""
    global _forking
    _forking = True
    become(request["cwd"], request["env"], log)
    # Named for `ps` and `top` (the command line stays the server's): unet-grade, unet-selftest.
    name = "unet-" + str(request["argv"][0]).lstrip("-")
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    connection.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    code = run_module("course.grading.batch_job", request["argv"])
    connection.sendall(json.dumps({"code": code}).encode() + b"\n")
    return code


def become(cwd, env, log):
    """This process as a new one started in `cwd` with environment `env` and its output in
    `log` would be: a session of its own, default signal handlers."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for number in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # looked up again in this environment


def run_module(module, argv):
    """Run `module` as `python -m MODULE ARGV...` would, in this process; its exit code."""
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BaseException:  # noqa: BLE001 - as an uncaught exception ends a process
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def forking():
    """Whether this process is a job forked from a server, whose nbgrader can be forked too."""
    return _forking


def run_forked(module, args, cwd, env, capture, timeout):
    """(exit code, output) of `python -m MODULE ARGS` forked from this job (which has imported
    it) in a session of its own; on timeout the session and its kernels are killed and
    TimeoutExpired raised, as layout.nbgrader does for a process it started."""
    import subprocess

    from course.layout import kill_session

    output = tempfile.TemporaryFile() if capture else None
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            become(cwd, env, output.fileno() if output else os.dup(1))
            code = run_module(module, list(map(str, args)))
        finally:
            os._exit(code)
    handle = os.pidfd_open(pid)
    try:
        if not select.select([handle], [], [], timeout)[0]:
            kill_session(pid)
            os.waitpid(pid, 0)
            raise subprocess.TimeoutExpired([module, *map(str, args)], timeout)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(handle)
    text = ""
    if output:
        output.seek(0)
        text = output.read().decode(errors="replace")
        output.close()
    return os.waitstatus_to_exitcode(status), text


if __name__ == "__main__":
    from course.grading import batch_server  # the module's own name: layout.nbgrader asks it

    batch_server.main()
