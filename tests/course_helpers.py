"""Helpers the test modules import (a conftest.py is not importable by name: each test folder
has its own, and `from conftest import ...` would find whichever was loaded last)."""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source" / "unet_segmentation"
SMALL_COUNT = 6  # frames of the small generated data set (conftest.small_data)


def copy_course(destination, origin=ROOT):
    """A course directory with the source, release, config and grader of the course folder
    `origin` (this one, or a checkout of another version), nothing else."""
    destination, origin = Path(destination), Path(origin)
    for folder in ("source", "release", "course"):
        shutil.copytree(origin / folder, destination / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    shutil.copy(origin / "nbgrader_config.py", destination)
    return destination


# --- running the source notebook with nbclient ---------------------------------------------

QUICK_SETTINGS = {"UNET_SMOKE": "1", "UNET_STATIC_VIEWS": "1"}  # one short epoch, static figures


def run_source_notebook(notebook, workdir, data_dir, resources=None):
    """Execute `notebook` in `workdir`, beside links to the source folder's other files, with
    the quick settings on the frames in `data_dir`; returns the executed notebook."""
    for item in SOURCE.iterdir():
        if item.suffix != ".ipynb":
            os.symlink(item, Path(workdir) / item.name)
    resources = dict(resources or {}, metadata={"path": str(workdir)})
    env = dict(QUICK_SETTINGS, UNET_DATA_DIR=str(data_dir))
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook


# --- gradebooks ------------------------------------------------------------------------------

def gradebook_rows(db_url, students):
    """Everything nbgrader records of the students' submissions: the timestamp, each
    notebook's penalty and flag, each grade and comment, by name."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = {}
    with Gradebook(db_url) as gradebook:
        for student in students:
            try:
                submission = gradebook.find_submission("unet_segmentation", student)
            except MissingEntry:
                rows[student] = None
                continue
            rows[student] = {"timestamp": submission.timestamp, "notebooks": {
                notebook.name: {
                    "penalty": notebook.late_submission_penalty, "flagged": notebook.flagged,
                    "grades": {g.name: (g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade)
                               for g in notebook.grades},
                    "comments": {c.name: (c.auto_comment, c.manual_comment) for c in notebook.comments}}
                for notebook in submission.notebooks}}
    return rows


# --- a PostgreSQL server for gradebook tests ------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*command):
    return subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def postgres_server():
    """A throwaway PostgreSQL server on localhost (Debian's packages, run as user postgres);
    yields new_database(name) -> SQLAlchemy URL of a new, empty database."""
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
    port = free_port()
    _as_postgres(f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    _as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                 f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1", "start")

    def new_database(name):
        _as_postgres(f"{bin_dir}/createdb", "-h", "127.0.0.1", "-p", str(port), name)
        return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{name}"

    try:
        yield new_database
    finally:
        _as_postgres(f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


# --- running like nbgrader's process -----------------------------------------------------------

def in_a_thread(work):
    """`work()` in a thread of its own: like nbgrader's process, it runs no event loop (the
    browser tests' Playwright leaves one running in pytest's)."""
    found = {}

    def run():
        try:
            found["result"] = work()
        except BaseException as error:  # noqa: BLE001 - raised again below
            found["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in found:
        raise found["error"]
    return found["result"]


# --- what a student's feedback must never show ----------------------------------------------

def hidden_secrets(root, student):
    """What the hidden calls hold that no feedback may show: their markers, the recorder's call
    and the word of the nonce drawn with their arguments (the judge keeps none of them in the
    autograded notebook either, so their values cannot be looked up here)."""
    return ["HIDDEN TESTS", "record(", "nonce"]


def feedback_page(root, student):
    from course.assignment import ASSIGNMENT, NOTEBOOK

    return (Path(root) / "feedback" / student / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")).read_text()


def sent_to_manual_grading(db_url, student):
    """{grade_id} of the student's graded cells flagged for manual grading, and the comments
    on their solution cells ({function: auto_comment}) that say why (nbgrader's own "No
    response." for an unchanged solution cell left out)."""
    from nbgrader.api import Gradebook

    from course.assignment import ASSIGNMENT, NOTEBOOK

    with Gradebook(db_url) as gradebook:
        notebook = gradebook.find_submission_notebook(Path(NOTEBOOK).stem, ASSIGNMENT, student)
        return ({g.name for g in notebook.grades if g.needs_manual_grade},
                {c.name: c.auto_comment for c in notebook.comments if c.auto_comment not in (None, "No response.")})
