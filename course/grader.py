"""`python -m course grade`: grade every submission, each in its own process, N at a time.

Each submission is checked and repaired first (see preflight.py); its regular files are
copied into a private staging course folder (links, pipes, devices and sockets are refused
by name, never followed), and graded there by nbgrader's own `autograde` in a separate
process with the course's nbgrader_config.py: each kernel in a sandbox of its own
(sandbox.py), every score decided by the judge (judge.py), and a time limit per
submission. Submissions go through nbgrader a few at a time (its start-up costs seconds);
any that does not come out graded is graded again alone, which isolates it and names what
went wrong. Grades go to the one gradebook given by `db_url` (SQLite by default, PostgreSQL
for many graders), so the results are what a serial `nbgrader autograde` would record. A
submission that is broken, hostile or too slow gets a status and a reason; it never stops
the others.
"""

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from .layout import ASSIGNMENT, NOTEBOOK, ROOT, nbgrader, walk
from .preflight import check_submission, refused_entries, source_metadata
from .sandbox import copy_regular_files, remove_sandbox, sandbox_problem

GRADED_STATES = ("graded", "graded (repaired)", "cell timed out", "out of memory in a cell")


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
    memory_mb: int = 4096  # memory of all the processes of one kernel
    sandbox: bool = True

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.db_url = self.db_url or f"sqlite:///{self.root / 'gradebook.db'}"


def digest_tree(folder):
    """sha256 of every file under `folder`, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in walk(folder) if stat.S_ISREG(p.lstat().st_mode)}


def students(root):
    folder = Path(root) / "submitted"
    return sorted(p.name for p in folder.iterdir() if not p.is_symlink() and (p / ASSIGNMENT).is_dir()
                  and not (p / ASSIGNMENT).is_symlink()) if folder.is_dir() else []


def _stage(settings, name, submissions):
    """A private course folder `.grading/<name>`: the source (linked), the (repaired) copies of
    the given submissions {student: notebook}, and the sandboxed kernel specification."""
    staging = settings.root / ".grading" / name
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "source").mkdir(parents=True)
    (staging / "source" / ASSIGNMENT).symlink_to(settings.root / "source" / ASSIGNMENT)
    for student, notebook in submissions.items():
        target = staging / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        copy_regular_files(settings.root / "submitted" / student / ASSIGNMENT, target)
        nbformat.write(notebook, target / NOTEBOOK)
    return staging


def _autograde(settings, staging, count, student=None):
    """Run nbgrader autograde on the staging folder (one student, or all of it); returns
    (exit code, or None when it ran out of time and was killed, log)."""
    args = ["autograde", ASSIGNMENT, "--force", f"--CourseDirectory.root={staging}",
            f"--CourseDirectory.db_url={settings.db_url}", f"--Execute.timeout={settings.cell_timeout}",
            f"--SandboxedKernelManager.memory_mb={settings.memory_mb}",
            f"--SandboxedKernelManager.cpu_seconds={settings.timeout}"] + (["--student", student] if student else [])
    if not settings.sandbox:
        args += ["--SandboxedExecute.allow_unsandboxed=True", "--SandboxedKernelManager.sandbox=False"]
    # Kernels graded side by side share the cores: TensorFlow's thread pools, sized for the
    # whole machine by default, would fight each other.
    threads = str(max(1, (os.cpu_count() or 1) // max(1, settings.workers)))
    env = {name: threads for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}
    # The kernels' private folders go into a folder of this batch (short: socket paths are
    # limited), so that the sandboxes of an nbgrader killed on timeout are found and removed.
    sandboxes = Path(tempfile.mkdtemp(prefix="unet-batch-"))
    env["UNET_SANDBOX_DIR"] = str(sandboxes)
    try:
        result = nbgrader(*args, root=settings.root, check=False, capture=True, timeout=settings.timeout * count,
                          extra_env=env)
    except subprocess.TimeoutExpired:
        return None, ""
    finally:
        for private in sandboxes.glob("unet-kernel-*"):
            remove_sandbox(private)
        shutil.rmtree(sandboxes, ignore_errors=True)
    return result.returncode, (result.stdout or "") + (result.stderr or "")


def _collect(settings, staging, student):
    """Move a graded notebook folder into autograded/; returns whether there was one."""
    graded = staging / "autograded" / student
    if not (graded / ASSIGNMENT / NOTEBOOK).is_file():
        return False
    final = settings.root / "autograded" / student
    shutil.rmtree(final, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(graded), final)
    return True


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


def _conclude(settings, outcome, checked):
    """Status of a graded submission from its notebook and its preflight."""
    timed_out, memory = _cell_problems(settings.root / "autograded" / outcome.student / ASSIGNMENT / NOTEBOOK)
    if checked.repairs:
        outcome.status, outcome.reason = "graded (repaired)", checked.repairs[0]
        outcome.notes += checked.repairs
    if memory:
        outcome.status, outcome.reason = "out of memory in a cell", f"MemoryError in {', '.join(memory[:3])}"
    if timed_out:
        outcome.status, outcome.reason = "cell timed out", f"over {settings.cell_timeout} s in {', '.join(timed_out[:3])}"
    # The judge decides every score from evidence, so code that patches the kernel cannot
    # earn points; what the scan finds is only a note for the instructor.
    outcome.notes += [f"advisory: {reason}" for reason in checked.advisories]
    return outcome


def grade_alone(settings, student, checked):
    """Grade one submission in an nbgrader process of its own, and say what happened."""
    started = time.perf_counter()
    outcome = Outcome(student)
    staging = _stage(settings, student, {student: checked.notebook})
    code, log = _autograde(settings, staging, 1, student)
    outcome.seconds = time.perf_counter() - started
    graded = _collect(settings, staging, student)
    shutil.rmtree(staging, ignore_errors=True)
    if code is None:
        outcome.status, outcome.reason = "timed out", f"grading took over {settings.timeout} s and was stopped"
    elif code != 0 or not graded:
        died = re.search(r"Kernel died[^\n]*", log)
        errors = [line for line in log.splitlines() if "ERROR" in line or "Error" in line]
        outcome.status = "kernel died" if died else "failed"
        outcome.reason = (died.group(0) if died else (errors[-1] if errors else f"nbgrader exited with {code}"))[:200]
    else:
        _conclude(settings, outcome, checked)
    return outcome


def grade_batch(settings, name, batch):
    """Grade several submissions {student: preflight} with one nbgrader process (its start-up
    costs seconds); each kernel is still sandboxed on its own. Whatever did not come out
    graded is graded again alone, which isolates it and says why."""
    started = time.perf_counter()
    staging = _stage(settings, name, {student: checked.notebook for student, checked in batch.items()})
    _autograde(settings, staging, len(batch))
    graded = {student for student in batch if _collect(settings, staging, student)}
    shutil.rmtree(staging, ignore_errors=True)
    share = (time.perf_counter() - started) / len(batch)
    outcomes = {}
    for student, checked in batch.items():
        if student in graded:
            outcomes[student] = _conclude(settings, Outcome(student, seconds=share), checked)
        else:
            outcomes[student] = grade_alone(settings, student, checked)
    return outcomes


def _preflight(settings, student, known):
    folder = settings.root / "submitted" / student / ASSIGNMENT
    path = folder / NOTEBOOK
    if not path.is_symlink() and not path.exists():
        return None, Outcome(student, "invalid notebook", f"no {NOTEBOOK} in the submission")
    checked = check_submission(path, known)
    if checked.notebook is None:
        return None, Outcome(student, "invalid notebook", checked.problem)
    checked.repairs += [f"refused, not copied: {entry}" for entry in refused_entries(folder)]
    return checked, None


def grade_all(settings, only=None, progress=True, batch_size=4):
    """Grade every submission (or those in `only`); returns {student: Outcome}."""
    ids = [s for s in students(settings.root) if not only or s in only]
    before = digest_tree(settings.root / "submitted")
    known = source_metadata()
    outcomes, ready = {}, {}
    for student in ids:
        checked, refused = _preflight(settings, student, known)
        if refused:
            outcomes[student] = refused
        else:
            ready[student] = checked
    names = list(ready)
    batches = [{s: ready[s] for s in names[i:i + batch_size]} for i in range(0, len(names), batch_size)]
    bar = tqdm(total=len(ids), initial=len(outcomes), desc="grading", unit="submission", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        futures = {pool.submit(grade_batch, settings, f"batch{i:03d}", batch): batch for i, batch in enumerate(batches)}
        for future in as_completed(futures):
            try:
                outcomes.update(future.result())
            except Exception as error:  # a bug here must not stop the class
                outcomes.update({s: Outcome(s, "failed", f"{type(error).__name__}: {error}") for s in futures[future]})
            bar.update(len(futures[future]))
    bar.close()
    shutil.rmtree(settings.root / ".grading", ignore_errors=True)
    if digest_tree(settings.root / "submitted") != before:
        raise RuntimeError("submitted files changed during grading: this must never happen")
    return dict(sorted(outcomes.items()))


def sandbox_note(settings):
    if not settings.sandbox:
        return "SANDBOX OFF (--no-sandbox): student code runs with the grader's rights"
    return "sandbox: bubblewrap"


def sandbox_refusal(settings):
    """Why grading must not start (bubblewrap missing and the sandbox not waived), or ''."""
    problem = sandbox_problem() if settings.sandbox else ""
    if problem:
        return (f"{problem}, so student code cannot be sandboxed: grading refused. Install bubblewrap "
                "(apt-get install bubblewrap) where namespaces are allowed, or pass --no-sandbox to grade "
                "without one at your own risk.")
    return ""
