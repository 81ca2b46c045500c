"""`python -m course grade`: grade every submission, each in its own process, N at a time.

Each submission is checked and repaired first (see preflight.py), copied into a private
staging course folder, and graded there by nbgrader's own `autograde` in a separate
process, with a sandboxed kernel (sandbox.py), a time limit for the whole submission and a
memory limit. Grades go to the one gradebook given by `db_url` (SQLite by default,
PostgreSQL for many graders), so the results are what a serial `nbgrader autograde` would
record. A submission that is broken, hostile or too slow gets a status and a reason; it
never stops the others.
"""

import hashlib
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from tqdm import tqdm

from .layout import ASSIGNMENT, NOTEBOOK, ROOT, nbgrader
from .preflight import check_submission, source_metadata
from .report import NOTEBOOK_ID
from .sandbox import KERNEL_NAME, bwrap_available, write_kernelspec

GRADED_STATES = ("graded", "graded (repaired)", "cell timed out", "out of memory in a cell", "flagged")


@dataclass
class Outcome:
    student: str
    status: str = "graded"
    reason: str = ""
    seconds: float = 0.0
    notes: list = field(default_factory=list)

    @property
    def graded(self):
        return self.status in GRADED_STATES


@dataclass
class Settings:
    root: Path = ROOT
    db_url: str = ""
    workers: int = 2
    timeout: int = 900  # seconds for a whole submission
    cell_timeout: int = 300  # seconds for one cell
    memory_mb: int = 8192  # address space of a kernel
    sandbox: bool = True

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.db_url = self.db_url or f"sqlite:///{self.root / 'gradebook.db'}"


def digest_tree(folder):
    """sha256 of every file under `folder`, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def students(root):
    folder = Path(root) / "submitted"
    return sorted(p.name for p in folder.iterdir() if (p / ASSIGNMENT).is_dir()) if folder.is_dir() else []


def _stage(settings, student, notebook):
    """A private course folder: the source (linked), this submission (repaired copy), a kernel."""
    staging = settings.root / ".grading" / student
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "source").mkdir(parents=True)
    (staging / "source" / ASSIGNMENT).symlink_to(settings.root / "source" / ASSIGNMENT)
    submitted = settings.root / "submitted" / student / ASSIGNMENT
    target = staging / "submitted" / student / ASSIGNMENT
    shutil.copytree(submitted, target, symlinks=True)
    nbformat.write(notebook, target / NOTEBOOK)
    graded_dir = staging / "autograded" / student / ASSIGNMENT
    graded_dir.mkdir(parents=True)
    write_kernelspec(staging / "jupyter", graded_dir, staging / "scratch", settings.memory_mb * 2**20,
                     settings.sandbox)
    return staging


def _autograde(settings, student, staging):
    """Run nbgrader autograde for one student; returns (exit code or None on timeout, log)."""
    args = ["autograde", ASSIGNMENT, "--student", student, "--force",
            f"--CourseDirectory.root={staging}", f"--CourseDirectory.db_url={settings.db_url}",
            f"--Execute.timeout={settings.cell_timeout}", f"--Execute.kernel_name={KERNEL_NAME}"]
    env = {"JUPYTER_PATH": str(staging / "jupyter")}
    try:
        result = nbgrader(*args, root=settings.root, check=False, capture=True, timeout=settings.timeout,
                          extra_env=env)
    except subprocess.TimeoutExpired:
        return None, ""
    return result.returncode, (result.stdout or "") + (result.stderr or "")


def _cell_problems(notebook_path):
    """Timeouts and memory errors that happened in graded cells of an autograded notebook."""
    timed_out, memory = [], []
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "an added cell")
        for output in cell.get("outputs", []):
            text = " ".join(output.get("traceback", [])) + output.get("ename", "")
            if "CellTimeoutError" in text:
                timed_out.append(grade_id)
            elif output.get("ename") == "MemoryError":
                memory.append(grade_id)
    return timed_out, memory


def _zero_for_tampering(settings, student, reasons):
    """Autograded points of a flagged submission are set to 0 by hand, with the reason."""
    comment = "Automatic check: student code changes what the grading relies on: " + "; ".join(reasons[:5])
    with Gradebook(settings.db_url) as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student)
        for grade in notebook.grades:
            if grade.max_score:
                grade.manual_score = 0.0
        notebook.flagged = True  # shown as "flagged" in nbgrader's formgrader
        for comment_row in notebook.comments:  # one per cell students write code in
            comment_row.manual_comment = comment
        gradebook.db.commit()


def grade_one(settings, student, known):
    started = time.perf_counter()
    outcome = Outcome(student)
    path = settings.root / "submitted" / student / ASSIGNMENT / NOTEBOOK
    if not path.is_file():
        outcome.status, outcome.reason = "invalid notebook", f"no {NOTEBOOK} in the submission"
        return outcome
    checked = check_submission(path, known)
    if checked.notebook is None:
        outcome.status, outcome.reason = "invalid notebook", checked.problem
        return outcome
    staging = _stage(settings, student, checked.notebook)
    code, log = _autograde(settings, student, staging)
    outcome.seconds = time.perf_counter() - started
    graded_dir = staging / "autograded" / student / ASSIGNMENT
    final_dir = settings.root / "autograded" / student
    if (graded_dir / NOTEBOOK).is_file():
        shutil.rmtree(final_dir, ignore_errors=True)
        final_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging / "autograded" / student), final_dir)
    shutil.rmtree(staging, ignore_errors=True)
    if code is None:
        outcome.status, outcome.reason = "timed out", f"grading took over {settings.timeout} s and was stopped"
        return outcome
    if code != 0 or not (final_dir / ASSIGNMENT / NOTEBOOK).is_file():
        died = re.search(r"Kernel died[^\n]*", log)
        outcome.status = "kernel died" if died else "failed"
        last = [line for line in log.splitlines() if "ERROR" in line or "Error" in line]
        outcome.reason = (died.group(0) if died else (last[-1] if last else f"nbgrader exited with {code}"))[:200]
        return outcome
    timed_out, memory = _cell_problems(final_dir / ASSIGNMENT / NOTEBOOK)
    if checked.repairs:
        outcome.status, outcome.reason = "graded (repaired)", checked.repairs[0]
        outcome.notes += checked.repairs
    if memory:
        outcome.status, outcome.reason = "out of memory in a cell", f"MemoryError in {', '.join(memory[:3])}"
    if timed_out:
        outcome.status, outcome.reason = "cell timed out", f"over {settings.cell_timeout} s in {', '.join(timed_out[:3])}"
    if checked.tampering:
        _zero_for_tampering(settings, student, checked.tampering)
        outcome.status, outcome.reason = "flagged", checked.tampering[0]
        outcome.notes += checked.tampering
    return outcome


def _student_known(settings, student):
    with Gradebook(settings.db_url) as gradebook:
        try:
            gradebook.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student)
            return True
        except MissingEntry:
            return False


def grade_all(settings, only=None, progress=True):
    """Grade every submission (or those in `only`); returns {student: Outcome}."""
    ids = [s for s in students(settings.root) if not only or s in only]
    before = digest_tree(settings.root / "submitted")
    known = source_metadata()
    outcomes = {}
    bar = tqdm(total=len(ids), desc="grading", unit="submission", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        futures = {pool.submit(grade_one, settings, student, known): student for student in ids}
        for future in futures:
            student = futures[future]
            try:
                outcomes[student] = future.result()
            except Exception as error:  # a bug here must not stop the class
                outcomes[student] = Outcome(student, "failed", f"{type(error).__name__}: {error}")
            bar.update()
    bar.close()
    shutil.rmtree(settings.root / ".grading", ignore_errors=True)
    if digest_tree(settings.root / "submitted") != before:
        raise RuntimeError("submitted files changed during grading: this must never happen")
    return outcomes


def sandbox_note(settings):
    if not settings.sandbox:
        return "sandbox off (--no-sandbox)"
    return "sandbox: bubblewrap" if bwrap_available() else "sandbox: bubblewrap NOT installed (memory limit only)"
