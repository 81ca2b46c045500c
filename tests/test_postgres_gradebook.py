"""`course grade` with a PostgreSQL gradebook, as a large course with several graders would
run it: a real server from Debian's packages, started for this test on localhost."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from course.examples import write_examples
from course.grader import Settings, grade_all
from course.layout import ASSIGNMENT, nbgrader
from course.report import exercise_points

from course_helpers import copy_course


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*command):
    return subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def postgres():
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert binaries, "PostgreSQL is not installed: run `make test` (it installs Debian's postgresql)"
    assert os.geteuid() == 0, "starting a throwaway PostgreSQL server needs root (to run it as user postgres)"
    bin_dir = os.path.dirname(binaries[-1])
    # Not under pytest's tmp folder: that is private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="unet-postgres-"))
    base.chmod(0o755)
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(sockets, "postgres")
    port = _free_port()
    _as_postgres(f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    _as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                 f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start")
    try:
        _as_postgres(f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(port), "gradebook")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"
    finally:
        _as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_parallel_grading_into_postgresql(postgres, tmp_path):
    root = copy_course(tmp_path)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", f"--CourseDirectory.db_url={postgres}", root=root,
             capture=True)
    write_examples(root / "submitted", {"reference": (1, 2, 3), "untouched_release": (), "only_exercise_2": (2,)})
    started = time.perf_counter()
    outcomes = grade_all(Settings(root=root, db_url=postgres, workers=2), progress=False)
    assert all(o.graded for o in outcomes.values()), outcomes
    assert not (root / "gradebook.db").exists()  # everything went to PostgreSQL
    table = exercise_points(postgres)
    assert {s: tuple(p[0] for p in row.values()) for s, row in table.items()} == {
        "reference": (10, 10, 10), "untouched_release": (0, 0, 0), "only_exercise_2": (0, 10, 0)}
    print(f"\nthree submissions graded into PostgreSQL in {time.perf_counter() - started:.0f} s")
