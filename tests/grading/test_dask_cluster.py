"""`course grade --scheduler` on a real Dask cluster: a `dask scheduler` and two `dask worker`
processes on localhost, each in a folder of its own that holds nothing of the course (as on
separate machines), grading into PostgreSQL; one worker is killed (SIGKILL) in the middle.
The gradebook must hold exactly what a serial `nbgrader autograde` recorded (the session's
`graded_course`), each submission once.

The class is the examples and the in-kernel tricks that aim at the machine a worker runs on
(forging the recorder, snooping, vandalising files); every in-kernel trick is compared between
`course grade` and serial nbgrader in test_grading_holds.py, so it is not graded again here."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from distributed import Client
from nbgrader.api import Gradebook

from course.assignment import ASSIGNMENT
from course.grading.gradebook import LEDGER
from course.layout import nbgrader
from course.report.points import exercise_points
from course.unet_segmentation.examples import write_examples

import hostile
from course_helpers import GRADE_LIMITS, copy_course, free_port, gradebook_rows

EXAMPLES = {"reference": (1, 2, 3), "untouched_release": (), "only_exercise_1": (1,), "only_exercise_2": (2,),
            "only_exercise_3": (3,)}
ON_THE_WORKER = ["h_forges_recorder", "h_snoop", "h_vandal"]  # in-kernel tricks (hostile.IN_KERNEL)
STUDENTS = sorted(list(EXAMPLES) + ON_THE_WORKER)  # graded in conftest.graded_course too
BIN = Path(sys.executable).parent


def _clean_env():
    """The environment of a machine that has the Python environment and not the course."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_CURRENT_TEST")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("cluster")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = {}
    (base / "scheduler").mkdir()
    processes["scheduler"] = subprocess.Popen(
        [BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        cwd=base / "scheduler", env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for name in ("w1", "w2"):
        (base / name).mkdir()
        processes[name] = subprocess.Popen(
            [BIN / "dask", "worker", address, "--name", name, "--nworkers", "1", "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--local-directory", str(base / name), "--memory-limit", "0"],
            cwd=base / name, env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
            found = client.run(importlib.util.find_spec, "course")
        assert found == {worker: None for worker in found}, "the workers must not be able to import the course"
        yield address, processes, base
    finally:
        for process in processes.values():
            process.kill()
            process.wait()


def _busy_job(pid):
    """The grading job a worker runs now (not its self-test), once it has been running a few
    seconds: forked from the worker's batch server, and named for it."""
    try:
        for child in psutil.Process(pid).children(recursive=True):
            if child.name() == "unet-grade" and time.time() - child.create_time() > 4:
                return child
    except psutil.Error:
        pass
    return None


def test_cluster_grades_what_serial_nbgrader_grades_with_a_worker_killed(cluster, graded_course, postgres_server,
                                                                         tmp_path):
    address, processes, base = cluster
    postgres = postgres_server("cluster_gradebook")
    root = copy_course(tmp_path / "course")
    nbgrader("generate_assignment", ASSIGNMENT, "--force", f"--CourseDirectory.db_url={postgres}", root=root,
             capture=True)
    write_examples(root / "submitted", EXAMPLES)
    for student in ON_THE_WORKER:
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        hostile.EXPECTED[student][0](folder)
    command = [sys.executable, "-m", "course", "grade", ASSIGNMENT, "--scheduler", address, "--db", postgres,
               "--batch-size", "2", *GRADE_LIMITS]
    grading = subprocess.Popen(command, cwd=root, env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Kill worker 2 while it grades: its job (and the job's nbgrader and kernels) must go too.
    victim, job, deadline = processes["w2"].pid, None, time.time() + 300
    while job is None and time.time() < deadline and grading.poll() is None:
        time.sleep(0.5)
        job = _busy_job(victim)
    assert job is not None, "worker 2 never got a submission to grade"
    family = [job] + job.children(recursive=True)
    os.kill(victim, signal.SIGKILL)
    output, _ = grading.communicate(timeout=900)
    assert grading.returncode == 0, output
    assert f"{len(STUDENTS)} of {len(STUDENTS)} submissions graded" in output, output
    time.sleep(2)
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], \
        "the killed worker's job left processes behind"
    serial = f"sqlite:///{graded_course / 'gradebook.db'}"
    assert gradebook_rows(postgres, STUDENTS) == gradebook_rows(serial, STUDENTS)
    assert not (root / "gradebook.db").exists()  # everything went to PostgreSQL
    table = exercise_points(postgres, students=list(EXAMPLES))
    assert {s: tuple(p[0] for p in row.values()) for s, row in table.items()} == {
        "reference": (10, 10, 10), "untouched_release": (0, 0, 0), "only_exercise_1": (10, 0, 0),
        "only_exercise_2": (0, 10, 0), "only_exercise_3": (0, 0, 10)}
    with Gradebook(postgres) as gradebook:
        submissions = [s.student.id for s in gradebook.find_assignment(ASSIGNMENT).submissions]
        ledger = [row.student for row in gradebook.db.execute(LEDGER.select()).all()]
    assert sorted(submissions) == sorted(ledger) == STUDENTS  # each counted once
    # Nothing of the course was left on the workers' folders but the unpacked grading files.
    leftovers = [p for p in (base / "w1" / "unet-course").glob("task-*")]
    assert not leftovers, leftovers

    # A second run grades nothing: every submission is unchanged.
    started = time.perf_counter()
    again = subprocess.run(command, cwd=root, env=dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}"),
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"({len(STUDENTS)} unchanged since the last run" in again.stdout, again.stdout
    assert gradebook_rows(postgres, STUDENTS) == gradebook_rows(serial, STUDENTS)
    print(f"\n{len(STUDENTS)} submissions on 2 workers (one killed); the unchanged rerun took "
          f"{time.perf_counter() - started:.0f} s")
