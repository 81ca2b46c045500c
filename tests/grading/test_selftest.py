"""The self-test: a process whose graded kernels cannot run the reference solution grades
nobody and says why, instead of recording 0 for every student.

The broken environment is the course's Python environment without the course's own
`roadscenes` package: a virtual environment that sees the course's installed packages
through a .pth file, but not the editable install of `roadscenes` (as on a machine where
`pip install -r requirements.txt` ran and `pip install <course folder>` did not)."""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from course.assignment import ASSIGNMENT
from course.grading import selftest
from course.layout import nbgrader
from course.unet_segmentation.examples import write_examples

from course_helpers import GRADE_LIMITS, ROOT, copy_course, free_port

BIN = Path(sys.executable).parent
EXAMPLES = {"reference": (1, 2, 3), "untouched_release": ()}


@pytest.fixture(scope="module")
def broken_python(tmp_path_factory):
    """The interpreter of an environment with every requirement and without `roadscenes`."""
    folder = tmp_path_factory.mktemp("env") / "no-roadscenes"
    venv.EnvBuilder(with_pip=False).create(folder)
    site_packages = next((folder / "lib").glob("python*/site-packages"))
    course_site = next(Path(sys.prefix).glob("lib/python*/site-packages"))
    (site_packages / "course-requirements.pth").write_text(f"{course_site}\n")
    python = folder / "bin" / "python"
    check = subprocess.run([python, "-c", "import nbgrader, tensorflow, distributed; import roadscenes"],
                           capture_output=True, text=True, env=_env(), cwd=folder)
    assert "No module named 'roadscenes'" in check.stderr, check.stderr[-500:]
    return python


def _env(python=None):
    """A machine's environment: its interpreter's bin/ first, then the course's (alembic)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_CURRENT_TEST")}
    first = f"{Path(python).parent}{os.pathsep}" if python else ""
    env["PATH"] = f"{first}{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _course(folder):
    root = copy_course(folder)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    write_examples(root / "submitted", EXAMPLES)
    return root


def _submissions(root):
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        return {s.student.id: s.score for s in gradebook.find_assignment(ASSIGNMENT).submissions}


def test_course_grade_refuses_where_kernels_cannot_import_roadscenes(broken_python, tmp_path):
    root = _course(tmp_path / "course")
    run = subprocess.run([broken_python, "-m", "course", "grade", ASSIGNMENT, "--workers", "1"], cwd=root,
                         capture_output=True, text=True, env=_env(broken_python), timeout=900)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert "failed the self-test" in run.stdout
    assert "nobody was graded and nothing was recorded" in run.stderr
    assert "No module named 'roadscenes'" in run.stderr
    # the evidence kernel needs no roadscenes: the reference's scores are right, its notebook is not
    assert "the reference solution does not run in the students' sandbox: cell" in run.stderr
    assert _submissions(root) == {}
    assert not (root / "autograded").exists() and not (root / "feedback").exists()


def test_plain_nbgrader_stops_before_the_first_student(broken_python, tmp_path):
    root = _course(tmp_path / "course")
    run = subprocess.run([broken_python, "-m", "nbgrader", "autograde", ASSIGNMENT], cwd=root,
                         capture_output=True, text=True, env=_env(broken_python), timeout=900)
    log = run.stdout + run.stderr
    assert run.returncode != 0
    assert "self-test failed on" in log and "grades nothing and records nothing" in log
    assert "No module named 'roadscenes'" in log
    assert _submissions(root) == {}  # not even a submission without scores
    assert not any((root / "autograded").glob("*/*")) if (root / "autograded").exists() else True


def test_the_selftest_command_says_what_is_wrong(broken_python, tmp_path):
    root = copy_course(tmp_path / "course")
    broken = subprocess.run([broken_python, "-m", "course", "selftest"], cwd=root, capture_output=True, text=True,
                            env=_env(broken_python), timeout=900)
    assert broken.returncode == 1
    assert "self-test failed" in broken.stderr and "No module named 'roadscenes'" in broken.stderr
    healthy = subprocess.run([sys.executable, "-m", "course", "selftest"], cwd=root, capture_output=True, text=True,
                             env=_env(), timeout=900)
    assert healthy.returncode == 0, healthy.stderr[-2000:]
    assert "the reference solution gets full marks and the blank release zero" in healthy.stdout


def test_a_cluster_with_one_broken_worker_is_graded_by_the_healthy_one(broken_python, tmp_path):
    root = _course(tmp_path / "course")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [subprocess.Popen([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--no-dashboard"], cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)]
    for name, python in (("healthy", sys.executable), ("broken", broken_python)):
        (tmp_path / name).mkdir()
        processes.append(subprocess.Popen(
            [python, "-m", "distributed.cli.dask_worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--local-directory", str(tmp_path / name), "--memory-limit", "0"],
            cwd=tmp_path / name, env=_env(python), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        run = subprocess.run([sys.executable, "-m", "course", "grade", ASSIGNMENT, "--scheduler", address,
                              *GRADE_LIMITS], cwd=root,
                             capture_output=True, text=True, env=_env(), timeout=900)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]  # graded, but a worker is broken
    assert "2 of 2 submissions graded" in run.stdout
    assert "1 worker(s) failed the self-test" in run.stderr
    broken_line = next(line for line in run.stderr.splitlines() if "No module named 'roadscenes'" in line)
    assert address.rsplit(":", 1)[0] in broken_line  # the broken worker is named by its address
    assert _submissions(root) == {"reference": 30.0, "untouched_release": 0.0}


# --- once per grading files, limits and environment ---------------------------------------

def test_a_pass_is_remembered_and_a_failure_never(monkeypatch, tmp_path):
    monkeypatch.setattr(selftest.tempfile, "gettempdir", lambda: str(tmp_path))
    runs = []
    outcome = {"problem": "the reference solution scored 0 of 30 points"}
    monkeypatch.setattr(selftest, "run", lambda config: runs.append(1) or outcome["problem"])
    config = selftest.load_config(ROOT)
    assert selftest.ensure(config) == outcome["problem"]
    assert selftest.ensure(config) == outcome["problem"]
    assert len(runs) == 2  # a failure is tried again: the machine may have been fixed
    outcome["problem"] = ""
    assert selftest.ensure(config) == "" and selftest.ensure(config) == ""
    assert len(runs) == 3  # a pass is remembered
    assert selftest.ensure(config, fresh=True) == "" and len(runs) == 4


def test_the_key_changes_with_limits_files_and_environment(monkeypatch, tmp_path):
    base = selftest.key(selftest.load_config(ROOT))
    assert selftest.key(selftest.load_config(ROOT)) == base
    assert selftest.key(selftest.load_config(ROOT, ["--SandboxedKernelManager.memory_mb=2048"])) != base
    assert selftest.key(selftest.load_config(ROOT, ["--Execute.timeout=5"])) != base
    assert selftest.key(selftest.load_config(ROOT, ["--SandboxedKernelManager.zygote=False"])) != base  # fresh kernels
    packages = tmp_path / "site-packages"
    packages.mkdir()
    monkeypatch.setattr("site.getsitepackages", lambda: [str(packages)])
    monkeypatch.setattr("sysconfig.get_paths", lambda: {"purelib": str(packages)})
    before = selftest.environment_fingerprint()
    (packages / "roadscenes").mkdir()  # a package installed
    assert selftest.environment_fingerprint() != before
