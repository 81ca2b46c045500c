"""Helpers the test modules import (a conftest.py is not importable by name: each test folder
has its own, and `from conftest import ...` would find whichever was loaded last)."""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source" / "unet_segmentation"
SMALL_COUNT = 6  # frames of the small generated data set (conftest.small_data)

# The limits every test that grades a class uses: one set, so the grading self-test (whose
# pass is remembered per set of limits) runs once per test session. A solved notebook takes
# about 10 CPU-seconds, its slowest cell under 5; with four kernels on two cores (classes
# graded side by side, conftest.graded_side_by_side) and a notebook whose own processes spin
# for 20 s (trusted_side.spinner), under 50 s: both limits leave room, and the notebooks that
# loop or sleep forever are stopped soon.
BUDGET = 90  # seconds a whole notebook may take
CELL_TIMEOUT = 30  # seconds one cell may take
GRADE_LIMITS = ["--timeout", str(BUDGET), "--cell-timeout", str(CELL_TIMEOUT)]  # for `course grade`
NBGRADER_LIMITS = [f"--Execute.timeout={CELL_TIMEOUT}", f"--SandboxedExecute.notebook_timeout={BUDGET}",
                   f"--SandboxedKernelManager.cpu_seconds={BUDGET}"]  # the same for plain nbgrader


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


def graded_messages(root, student):
    """{grade_id: the judge's message} of each graded cell of the student's autograded notebook."""
    import nbformat

    from course.assignment import ASSIGNMENT, NOTEBOOK

    notebook = nbformat.read(Path(root) / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: "".join(o.get("text", "") for o in cell.outputs)
            for cell in notebook.cells if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")}


def assert_no_redirection_scored(root):
    """hostile.redirects_the_recorder: its cells of its own try five ways of making the recorder
    use correct functions kept under other names; it goes to a person for them, and beneath
    that, the judge's verdict on the evidence of every graded cell is failed."""
    messages = graded_messages(root, "h_redirects_the_recorder")
    assert len(messages) == 6, messages
    for grade_id, message in messages.items():
        assert "The judge's verdict on its evidence was: failed" in message, (grade_id, message)
        # the stubs, or nothing recorded beside the thread one of the routes leaves running
        assert "is not implemented yet" in message or "thread(s) running" in message, (grade_id, message)


# --- a class graded by plain nbgrader or by `course grade`, in a process of its own, watched -----

BOUNDED = "unet-bounded"  # the name of children forked under limits (course/bounded.py NAME)
ITSELF = "the watched process itself"  # e.g. `course grade`, apart from its workers


class PeakMemory:
    """The peak resident memory of each grader-side process of this one (not the kernels,
    whose memory their cgroups limit, nor the zygotes they are forked from, which import
    modules and nothing else), sampled ten times a second; children forked under limits of
    their own (course/bounded.py) count apart, as BOUNDED."""

    KERNEL_SIDE = ("ipykernel", "bwrap", "course.sandbox.launcher", "course/sandbox/zygote.py")

    def __init__(self, root_pid=None):
        self.root_pid, self.peak, self._stop = root_pid or os.getpid(), {}, threading.Event()

    def _sample(self):
        try:
            top = psutil.Process(self.root_pid)
            family = [top, *top.children(recursive=True)]
        except psutil.Error:
            return
        for process in family:
            try:
                command = " ".join(process.cmdline())
                if any(mark in command for mark in self.KERNEL_SIDE):
                    continue
                if process.name() == BOUNDED:  # forked to read or judge a student's bytes, under limits
                    self.peak[BOUNDED] = max(self.peak.get(BOUNDED, 0), process.memory_info().rss)
                    continue
                kind = next((k for k in ("course.grading.nbgrader_steps", "course.grading.batch_job", "course.grading.selftest", "nbgrader",
                                         "distributed") if k in command), "the grading process")
                rss = process.memory_info().rss
                self.peak[kind] = max(self.peak.get(kind, 0), rss)
                if process.pid == self.root_pid:
                    self.peak[ITSELF] = max(self.peak.get(ITSELF, 0), rss)
            except psutil.Error:
                pass

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.1)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def worst_mb(self):
        """The peak of the worst grader-side process, children under limits of their own aside."""
        return max(rss for kind, rss in self.peak.items() if kind != BOUNDED) / 2**20

    def bounded_mb(self):
        """The peak of the children forked under limits (course/bounded.py), 0 if none ran."""
        return self.peak.get(BOUNDED, 0) / 2**20


def plain_nbgrader(root, limits):
    """`nbgrader autograde` (with the settings `limits`) and then `generate_feedback` of the
    whole class in the course folder `root`, as an instructor types them: [(exit code, log,
    PeakMemory)] of each."""
    from course.assignment import ASSIGNMENT

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    runs = []
    for command in (["autograde", ASSIGNMENT, *limits], ["generate_feedback", ASSIGNMENT]):
        process = subprocess.Popen([sys.executable, "-m", "nbgrader", *command], cwd=root, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with PeakMemory(process.pid) as memory:
            log = process.communicate(timeout=1800)[0].decode("utf-8", "replace")
        runs.append((process.returncode, log, memory))
    return runs


# grade_all in a process of its own, as `course grade` runs it: the peak memory measured is
# that process's, not pytest's (which holds whatever the tests before it left).
GRADE = f"""
import dataclasses, json, sys
from pathlib import Path
from course.grading.grader import Settings, grade_all
settings = Settings(root=Path(sys.argv[1]), workers=2, cell_timeout={CELL_TIMEOUT}, timeout={BUDGET}, batch_size=4)
outcomes = grade_all(settings, progress=False)
(settings.root / sys.argv[2]).write_text(json.dumps({{s: dataclasses.asdict(o) for s, o in outcomes.items()}}))
"""
OUTCOMES = "outcomes.json"  # what GRADE writes into the course folder: {student: Outcome as a dict}


def watched_course_grade(root):
    """`course grade` of the class in `root`, in batches of 4 on two local workers, with the
    shared limits: (exit code, PeakMemory); the outcomes are in root/OUTCOMES."""
    process = subprocess.Popen([sys.executable, "-c", GRADE, root, OUTCOMES], cwd=root)
    with PeakMemory(process.pid) as memory:
        code = process.wait(timeout=1800)
    return code, memory
