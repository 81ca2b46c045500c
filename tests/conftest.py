"""Shared fixtures (small generated data folders, the class graded by plain nbgrader, a
PostgreSQL server), and how `make test` spreads the suite over two processes.

`make test` runs pytest with two xdist workers (`-n 2`): the class of
test_grading_holds.py keeps both cores busy for most of the run, and the other worker takes the
rest, test files in turn, heaviest first, so that its serial work (plain nbgrader, a kernel at a
time, browser tests waiting on the page) fills the time the first leaves. A test file is never
split between the workers (its module fixtures are built once), the browser tests share one
JupyterLab, and `graded_course` is graded once for both workers.
"""

import fcntl
import os
import shutil

import pytest

from course_helpers import SMALL_COUNT, copy_course, postgres_server as _postgres_server
from roadscenes.dataset import generate


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A 6-frame data folder written by one worker process."""
    out = tmp_path_factory.mktemp("roadscenes") / "data"
    generate(out, count=SMALL_COUNT, seed=11, workers=1, progress=False)
    return out


#: Test files in the order the workers take them, before all others: the longest first.
HEAVIEST_FIRST = ("grading/test_grading_holds.py", "grading/test_dask_cluster.py", "grading/test_trusted_side.py",
                  "grading/test_grade_interrupted.py", "grading/test_autograde.py", "browser/",
                  "grading/test_selftest.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        path = item.nodeid.removeprefix("tests/")
        return next((i for i, prefix in enumerate(HEAVIEST_FIRST) if path.startswith(prefix)), len(HEAVIEST_FIRST))

    items.sort(key=rank)  # stable: within a file, the file's own order


def work_unit(nodeid):
    """What one xdist worker runs as a whole: a test file (its module fixtures are built once),
    or every browser test (they share one JupyterLab and one Chromium)."""
    path = nodeid.split("::", 1)[0]
    return "tests/browser" if path.startswith("tests/browser/") else path


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """Test files whole, in the order above. (xdist's own `--dist loadgroup` marks groups by
    rewriting node ids, which pytest 9 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return work_unit(nodeid)

    return ByWorkUnit(config, log)


def _shared_folder(tmp_path_factory, name):
    """A folder both xdist workers see (the session's own when pytest runs alone)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """Example submissions autograded once, with feedback: shared by the grading tests, and
    by both xdist workers (the first to need it grades it; the other waits for it)."""
    root = _shared_folder(tmp_path_factory, "graded_course")
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".graded").is_file():
            shutil.rmtree(root, ignore_errors=True)
            _grade_course(root)
            (root / ".graded").touch()
    return root


def _grade_course(root):
    from course.unet_segmentation.examples import write_examples
    from course.assignment import ASSIGNMENT, NOTEBOOK
    from course.layout import nbgrader

    copy_course(root)
    # Registers the assignment and its hidden tests in a new gradebook, as an instructor would.
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    write_examples(root / "submitted", {
        "reference": (1, 2, 3), "untouched_release": (), "only_exercise_1": (1,),
        "only_exercise_2": (2,), "only_exercise_3": (3,),
    })
    import hostile  # the in-kernel tricks, to compare plain nbgrader with `course grade`

    for student in hostile.IN_KERNEL:
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        hostile.EXPECTED[student][0](folder)
    import nbformat

    import catalogue  # entries whose verdicts both commands must agree on

    for entry in catalogue.ENTRIES:
        if entry.name in catalogue.BOTH_COMMANDS:
            folder = root / "submitted" / entry.name / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(catalogue.notebook(entry), folder / NOTEBOOK)
    nbgrader("autograde", ASSIGNMENT, root=root, capture=True)
    nbgrader("generate_feedback", ASSIGNMENT, root=root, capture=True)


@pytest.fixture(scope="session")
def postgres_server():
    """new_database(name) -> URL, on one PostgreSQL server for the session."""
    with _postgres_server() as new_database:
        yield new_database
