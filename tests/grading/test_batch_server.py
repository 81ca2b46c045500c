"""A worker's batch server (course/grading/batch_server.py): each grading job is a fresh fork
of one process that has imported nbgrader, in a session of its own; one server per worker,
which ends with the worker; a job over its time is stopped with everything it started; jobs
start afresh where no server can be had."""

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from course.assignment import ASSIGNMENT
from course.grading import batch_server, remote
from course.grading.bundle import grading_bundle
from course.layout import COURSE_ID, ROOT, environment_bin_on_path, nbgrader
from course.unet_segmentation.examples import write_examples

from course_helpers import copy_course

ENV = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
OPTIONS = {"timeout": 300, "cell_timeout": 120, "memory_mb": 3000, "cpus": 1.0, "sandbox": True, "threads": 1,
           "prestart": False}


def servers(socket_path):
    return [p for p in psutil.process_iter(["cmdline"]) if str(socket_path) in (p.info["cmdline"] or [])]


def gone(process, seconds=15):
    try:
        process.wait(seconds)
        return True
    except psutil.TimeoutExpired:
        return False


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory):
    """The grading files as a worker unpacks them (remote.py)."""
    environment_bin_on_path()  # the snapshot makes a gradebook (alembic)
    root = copy_course(tmp_path_factory.mktemp("course"))
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    bundle = grading_bundle(root, f"sqlite:///{root / 'gradebook.db'}", COURSE_ID)
    return remote._unpacked(bundle, tmp_path_factory.mktemp("worker"))


def test_each_job_is_a_fresh_fork_of_one_server(tmp_path, unpacked):
    """Two jobs of one worker: the same server forks both, each a process and session of its own
    whose parent is the server; the server itself runs nothing and keeps no child."""
    path = remote._batch_server(unpacked, ENV)
    assert path and remote._batch_server(unpacked, ENV) == path  # started once
    [server] = servers(path)
    for number in range(2):
        task = tmp_path / f"task-{number}"
        task.mkdir()  # no batch.pickle: the job fails at once, and says why
        code, log = remote._from_batch_server(unpacked, ["--grade", str(task)], ENV, 60, task / "job.log")
        assert code == 1 and "batch.pickle" in log and "FileNotFoundError" in log
    deadline = time.monotonic() + 10
    while server.children() and time.monotonic() < deadline:  # a job that has answered may still be ending
        time.sleep(0.1)
    assert server.is_running() and server.children() == [] and server.num_threads() == 1
    assert Path(path).parent.stat().st_mode & 0o777 == 0o700


def test_a_job_over_its_time_is_stopped_with_its_nbgrader_and_kernels(tmp_path, unpacked):
    task = tmp_path / "task"
    (task / "in").mkdir(parents=True)
    write_examples(task / "in", {"slow": ()})
    notebook = next((task / "in" / "slow").rglob("*.ipynb")).read_text()
    (task / "batch.pickle").write_bytes(pickle.dumps(({"slow": {"notebook": notebook, "files": {}}}, OPTIONS)))
    before = {p.pid for p in psutil.process_iter()}
    started = time.monotonic()
    code, log = remote._from_batch_server(unpacked, ["--grade", str(task)], ENV, 8, task / "job.log")
    assert code == -9 and time.monotonic() - started < 60
    assert not (task / "result.pickle").exists()
    time.sleep(1)
    path = remote._batch_server(unpacked, ENV)
    [server] = servers(path)
    # The worker's zygote stays (it lives as long as the server, as the worker), but no kernel
    # of the job's: they are forked by children of the zygote.
    zygotes = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[-1] == str(server.pid)]
    assert [Path(z.info["cmdline"][1]).name for z in zygotes] == ["zygote.py"] and zygotes[0].children() == []
    left = [p for p in psutil.process_iter(["cmdline"]) if p.pid not in before and p not in (server, *zygotes)
            and any("nbgrader" in part or "ipykernel" in part or "bwrap" in part for part in p.info["cmdline"] or [])]
    assert left == [], [p.info["cmdline"] for p in left]
    assert not list(Path(tempfile.gettempdir()).glob("unet-batch-*/unet-kernel-*"))


def test_the_server_ends_with_its_worker(unpacked):
    owner = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(unpacked)!r})
        from course.grading import remote
        print(remote._batch_server({str(unpacked)!r}, dict(__import__("os").environ)), flush=True)
        time.sleep(600)
        """)], stdout=subprocess.PIPE, text=True, env=ENV)
    path = owner.stdout.readline().strip()
    [server] = servers(path)
    assert server.ppid() == owner.pid
    owner.kill()
    owner.wait()
    assert gone(server) and not Path(path).parent.exists()


def test_without_a_server_jobs_start_afresh(tmp_path):
    """Grading files where the server cannot import what it preloads: no server, and the
    folder made for it is removed."""
    empty = tmp_path / "course"
    empty.mkdir()
    assert remote._batch_server(empty, ENV) is None
    assert remote._from_batch_server(empty, ["--grade", str(tmp_path)], ENV, 60, tmp_path / "job.log") is None


def test_a_server_folder_that_others_can_enter_is_not_used(unpacked):
    """Someone who made the server's folder first (or opened it to others) could put a socket
    of their own there: jobs then start afresh instead."""
    key = hashlib.sha256(f"{unpacked}\0{os.getpid()}".encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"unet-jobs-{key}"
    made = not folder.exists()
    folder.mkdir(exist_ok=True)
    try:
        folder.chmod(0o755)
        assert remote._batch_server(unpacked, ENV) is None
    finally:
        folder.chmod(0o700)
        if made:
            shutil.rmtree(folder, ignore_errors=True)


FORKED = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from course.grading import batch_server
    from course.layout import nbgrader
    batch_server._forking = True  # as in a job forked from a server
    folder = Path(sys.argv[1])
    result = nbgrader(folder / "codes.json", "--version", root=folder, capture=True,
                      module="course.grading.nbgrader_steps", extra_env={"UNET_PROBE": "seen"})
    (folder / "probe.py").write_text("import os, sys\\nprint(os.environ['UNET_PROBE'], os.getcwd(), sys.argv[1:])")
    (folder / "slow.py").write_text("import time\\ntime.sleep(300)")
    sys.path.insert(0, str(folder))
    code, probe = batch_server.run_forked("probe", ["an argument"], folder, {"UNET_PROBE": "seen"}, True, 60)
    started = time.monotonic()
    try:
        batch_server.run_forked("slow", [], folder, {"UNET_PROBE": "seen"}, True, 2)
        stopped = False
    except __import__("subprocess").TimeoutExpired:
        stopped = time.monotonic() - started < 10
    print(json.dumps({"code": result.returncode, "output": result.stdout, "stopped": stopped, "probe": [code, probe],
                      "codes": json.loads((folder / "codes.json").read_text())}))
    """)


def test_a_forked_job_forks_its_nbgrader_too(tmp_path):
    """In a job forked from the server, `python -m course.grading.nbgrader_steps` runs as a fork
    in the course folder with the job's environment, its output captured, and is killed on
    timeout."""
    ran = subprocess.run([sys.executable, "-c", FORKED, str(tmp_path)], capture_output=True, text=True, env=ENV,
                         cwd=ROOT, timeout=120)
    found = json.loads(ran.stdout.splitlines()[-1])
    assert found["code"] == 0 and found["codes"] == [0] and "nbgrader version" in found["output"]
    assert found["probe"] == [0, f"seen {tmp_path} ['an argument']\n"]
    assert found["stopped"]
    assert not [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(tmp_path)]


def test_what_the_server_preloads_exists():
    for module in batch_server.PRELOADED:
        __import__(module)
