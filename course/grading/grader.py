"""`python -m course grade`: grade every submission of a class on Dask, one machine or many.

Here, on the instructor's machine, each submission is checked and repaired first
(preflight.py, in a child process under limits of its own) and its regular files read
(links, pipes, devices and sockets are refused by name, never followed). Submissions go to Dask workers a few at a time (remote.py): a
worker grades them with nbgrader's own `autograde` in a process of its own, each kernel in
a sandbox of its own (course/sandbox/), every score decided by the judge (course/judge/),
and sends back the graded notebooks, the feedback and the scores. Only this process writes the
course folder and the gradebook (gradebook.py): one transaction per submission, so a
worker that dies, a machine that disappears or a Ctrl-C loses nothing and counts nothing
twice; the results are what a serial `nbgrader autograde` records. A submission whose
content and grading files are unchanged since it was last graded is not graded again
(unless `force`). A submission that is broken, hostile or too slow gets a status and a
reason; it never stops the others.
"""

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from tqdm import tqdm

from ..assignment import ASSIGNMENT, NOTEBOOK
from ..layout import COURSE_ID, ROOT, environment_bin_on_path, printable, timestamp_problem
from ..sandbox.execute import sandbox_problem
from ..sandbox.submission_files import regular_files
from . import bundle, gradebook, remote
from .cluster import worker_addresses
from .preflight import read_submission, refused_entries, source_metadata

GRADED_STATES = ("graded", "graded (repaired)", "cell timed out", "out of memory in a cell")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during grading, after what was recorded has been said."""


@dataclass
class Outcome:
    student: str
    status: str = "graded"
    reason: str = ""
    seconds: float = 0.0
    notes: list = field(default_factory=list)
    unchanged: bool = False  # graded before, from the same content: not graded again
    regraded: bool = False  # graded before and graded again on purpose (--force): recorded as a regrade
    manual: list = field(default_factory=list)  # scores a person gave: [(cell, manual, automatic, points)]

    @property
    def graded(self):
        return self.status in GRADED_STATES


@dataclass
class Settings:
    root: Path = ROOT
    db_url: str = ""
    workers: int = 2  # worker processes of the local cluster
    scheduler: str = ""  # address of a running Dask scheduler instead of a local cluster
    timeout: int = 900  # seconds for a whole submission
    cell_timeout: int = 300  # seconds for one cell
    memory_mb: int = 4096  # memory of all the processes of one kernel
    cpus: float = 1.0  # CPU cores each kernel may use (a cgroup quota); 0: no quota
    sandbox: bool = True
    force: bool = False  # grade again what was graded before from the same content
    force_manual: bool = False  # a regrade replaces the scores a person gave in formgrader too
    batch_size: int = 0  # submissions per task; 0: chosen from the class and the workers
    prestart: bool = True  # start each next kernel of a task while the one before runs

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.db_url = self.db_url or f"sqlite:///{self.root / 'gradebook.db'}"

    def options(self):
        """What a worker needs to know to grade; part of every submission's digest."""
        return {"timeout": self.timeout, "cell_timeout": self.cell_timeout, "memory_mb": self.memory_mb,
                "cpus": self.cpus, "sandbox": self.sandbox}


def digest_tree(folder):
    """sha256 of every regular file under `folder`, by path. Files are opened relative to
    their folder, so paths longer than the system allows are read too."""
    found = {}
    for top, _, files, top_fd in os.fwalk(folder):
        for name in files:
            try:
                if not stat.S_ISREG(os.stat(name, dir_fd=top_fd, follow_symlinks=False).st_mode):
                    continue
                handle = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=top_fd)
                with os.fdopen(handle, "rb") as opened:
                    found[os.path.join(top, name)] = hashlib.file_digest(opened, "sha256").hexdigest()
            except OSError as error:
                found[os.path.join(top, name)] = f"unreadable ({error.errno})"
    return found


MAX_STUDENT_ID = 100  # characters: nbgrader and the feedback exchange put ids into paths


def students(root):
    """The student ids of submitted/ that can be graded (see odd_students for the others)."""
    return [name for name in _submission_folders(root) if not _id_problem(name)]


def odd_students(root):
    """{printable id: why its folder cannot be graded} for ids nbgrader and the gradebook
    cannot hold (bytes that are not UTF-8, control characters, too long)."""
    return {printable(name): _id_problem(name) for name in _submission_folders(root) if _id_problem(name)}


def _submission_folders(root):
    folder = Path(root) / "submitted"
    return sorted(p.name for p in folder.iterdir() if not p.is_symlink() and (p / ASSIGNMENT).is_dir()
                  and not (p / ASSIGNMENT).is_symlink()) if folder.is_dir() else []


def _id_problem(name):
    if printable(name, limit=10**6) != name:
        return "the student id (its folder's name) has bytes that are not UTF-8 text or control characters"
    if len(name) > MAX_STUDENT_ID:
        return f"the student id (its folder's name) is over {MAX_STUDENT_ID} characters"
    return ""


# ---------------------------------------------------------------------------------------
# Here: preflight, and what a worker gets
# ---------------------------------------------------------------------------------------

def _preflight(settings, student, known):
    folder = settings.root / "submitted" / student / ASSIGNMENT
    path = folder / NOTEBOOK
    if not path.is_symlink() and not path.exists():
        return None, Outcome(student, "invalid notebook", f"no {NOTEBOOK} in the submission")
    checked = read_submission(path, known)
    if checked.problem:
        return None, Outcome(student, "invalid notebook", checked.problem)
    checked.repairs += [f"refused, not copied: {entry}" for entry in refused_entries(folder)]
    return checked, None


def _payload(settings, student, checked):
    """What a worker gets of one submission: the repaired notebook and the other files."""
    folder = settings.root / "submitted" / student / ASSIGNMENT
    chosen, left_out = regular_files(folder)
    # Links and other special files are already named by the preflight.
    checked.repairs += [f"not copied: {entry}" for entry in left_out
                        if not entry.endswith(("(not a regular file)", "(a symbolic link)"))]
    files = {str(relative): path.read_bytes() for relative, path in chosen
             if path.is_file() and str(relative) != NOTEBOOK}
    problem = timestamp_problem(files["timestamp.txt"]) if "timestamp.txt" in files else ""
    if problem:  # nbgrader would hand all of it to dateutil: minutes for a large one
        del files["timestamp.txt"]
        checked.repairs.append(f"timestamp.txt left out ({problem}): no submission time, so no late penalty")
    return {"notebook": checked.text, "files": files}


def _digest(grading, options, payload):
    """What a grade depends on: the grading files, the limits, the submission's content."""
    hasher = hashlib.sha256(grading.encode())
    hasher.update(json.dumps(options, sort_keys=True).encode())
    hasher.update(payload["notebook"])
    for relative in sorted(payload["files"]):
        hasher.update(relative.encode() + b"\0" + hashlib.sha256(payload["files"][relative]).digest())
    return hasher.hexdigest()


def _batch_size(settings, count, workers):
    """Several submissions share an nbgrader start-up (seconds) and each next kernel starts
    while the one before runs; a worker killed loses no more than a batch of work, and
    enough tasks remain for the workers to finish together."""
    if settings.batch_size:
        return settings.batch_size
    return max(1, min(8, math.ceil(count / (2 * max(1, workers)))))


# ---------------------------------------------------------------------------------------
# Here again: what a worker sent back
# ---------------------------------------------------------------------------------------

def _replace_folder(final, files, from_source, source):
    """`final` becomes a folder of `files` {relative: bytes} plus the files `from_source`
    copied from `source`: written beside it, then swapped in."""
    incoming = final.parent / f".{final.name}.incoming"
    shutil.rmtree(incoming, ignore_errors=True)
    for relative in from_source:
        (incoming / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, incoming / relative)
    for relative, data in files.items():
        (incoming / relative).parent.mkdir(parents=True, exist_ok=True)
        (incoming / relative).write_bytes(data)
    incoming.mkdir(parents=True, exist_ok=True)
    old = final.parent / f".{final.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    incoming.rename(final)
    shutil.rmtree(old, ignore_errors=True)


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


def _accept(settings, book, student, result, checked, digest, penalties, regrade=False):
    """Write one result into the course folder and the open gradebook `book`; returns its
    Outcome."""
    outcome = Outcome(student, seconds=result.get("seconds", 0.0))
    if result["state"] != "graded":
        outcome.status, outcome.reason = result["state"], result["reason"]
        gradebook.forget(book, student)
        return outcome
    source = settings.root / "source" / ASSIGNMENT
    _replace_folder(settings.root / "autograded" / student / ASSIGNMENT, result["autograded"],
                    result["from_source"], source)
    if result.get("feedback"):
        _replace_folder(settings.root / "feedback" / student / ASSIGNMENT, *result["feedback"], source)
    _conclude(settings, outcome, checked)
    outcome.manual = gradebook.record(book, student, result["scores"], digest, outcome.status, outcome.reason,
                                      penalties, regrade=regrade, force_manual=settings.force_manual)
    outcome.regraded = regrade
    return outcome


@contextlib.contextmanager
def _interrupt_deferred():
    """A Ctrl-C during the block takes effect at its end: a result is recorded whole."""
    caught = []
    previous = signal.signal(signal.SIGINT, lambda *_: caught.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------

def grade_all(settings, only=None, progress=True, say=print, health=None):
    """Grade every submission (or those in `only`); returns {student: Outcome}. Workers that
    failed the self-test are appended to `health` (their reports); SelfTestRefused when none
    passed it."""
    health = [] if health is None else health
    environment_bin_on_path()  # the gradebook is created here (alembic), also by benches and tests
    gradebook.term_dates(settings.db_url, settings.root)
    ids = [s for s in students(settings.root) if not only or s in only]
    outcomes = {name: Outcome(name, "invalid submission", f"{problem}: rename the folder submitted/{name}")
                for name, problem in odd_students(settings.root).items() if not only or name in only}
    before = digest_tree(settings.root / "submitted")
    known = source_metadata()
    grading = bundle.grading_bundle(settings.root, settings.db_url, COURSE_ID)
    options = settings.options()
    recorded = gradebook.ledger(settings.db_url)
    todo = {}
    for student in ids:
        checked, refused = _preflight(settings, student, known)
        if refused:
            outcomes[student] = refused
            continue
        payload = _payload(settings, student, checked)
        digest = _digest(grading["digest"], options, payload)
        previous = recorded.get(student)
        graded_before = (settings.root / "autograded" / student / ASSIGNMENT / NOTEBOOK).is_file()
        if previous and previous[0] == digest and previous[1] in GRADED_STATES and graded_before and not settings.force:
            outcomes[student] = Outcome(student, previous[1], previous[2], unchanged=True,
                                        notes=["unchanged since it was last graded: not graded again"])
        else:
            # Graded before and asked for again: a regrade, which the feedback states.
            todo[student] = (checked, payload, digest, bool(previous) and settings.force and graded_before)
    if todo:
        outcomes.update(_grade_on_dask(settings, todo, grading, options, len(outcomes) + len(todo), len(outcomes),
                                       progress, say, health))
    if digest_tree(settings.root / "submitted") != before:
        raise RuntimeError("submitted files changed during grading: this must never happen")
    return dict(sorted(outcomes.items()))


class _ByValue:
    """A function that travels as its code: the scheduler and the workers need not be able to
    import the course package (Dask pickles a whole task graph, functions by name)."""

    def __init__(self, function):
        import cloudpickle

        self.function, self.code = function, cloudpickle.dumps(function)

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def __reduce__(self):
        import cloudpickle

        return cloudpickle.loads, (self.code,)


class SelfTestRefused(RuntimeError):
    """No worker passed the self-test: nobody was graded."""


class NoWorkerLeft(RuntimeError):
    """Every worker that passed the self-test left during the run."""


def _as_they_finish(client, pending, allowed, on_lost):
    """The futures of `pending` (a Dask as_completed) as they finish. Dask keeps a task whose
    allowed workers have all left waiting forever, so this looks at who is still there:
    `on_lost(gone)` is called with the set of allowed workers that left, once each."""
    gone, checked = set(), 0.0
    while not pending.is_empty():
        if pending.has_ready():
            yield from pending.next_batch(block=False)
            continue
        if time.monotonic() - checked > 2:
            checked = time.monotonic()
            lost = set(allowed()) - worker_addresses(client) - gone
            if lost:
                gone |= lost
                on_lost(lost)
        time.sleep(0.2)


def _selftests(client, shipped, options, say):
    """Every worker's self-test, side by side: (healthy worker addresses, [report of each
    broken one]). A worker that leaves during its self-test grades nothing."""
    from distributed import as_completed

    addresses = list(worker_addresses(client))
    futures = {client.submit(_ByValue(remote.selftest_remotely), shipped, options, workers=[address],
                             allow_other_workers=False, pure=False, key=f"selftest-{address}-{time.time_ns()}"):
               address for address in addresses}
    pending = as_completed(futures)
    healthy, broken = [], []

    def lost(gone):
        for future, address in futures.items():
            if address in gone and not future.done():
                say(f"worker {address} left during its self-test and grades nothing")
                future.cancel()

    for future in _as_they_finish(client, pending, lambda: addresses, lost):
        address = futures[future]
        if future.cancelled():
            continue
        try:
            report = future.result()
        except Exception as error:  # noqa: BLE001 - a worker that cannot even run it is broken too
            report = {"worker": address, "passed": False, "reason": f"{type(error).__name__}: {str(error)[:300]}"}
        if report.get("passed"):
            healthy.append(address)
        else:
            broken.append(report)
            say(f"worker {report.get('worker', address)} failed the self-test and grades nothing: {report['reason']}")
    return healthy, broken


def _grade_on_dask(settings, todo, grading, options, total, done, progress, say, health):
    import cloudpickle
    from distributed import as_completed

    from .cluster import dask_client, dashboard, workers_per_host

    cloudpickle.register_pickle_by_value(remote)
    penalties = gradebook.LatePenalties(settings.root)
    outcomes = {}
    with Gradebook(settings.db_url, COURSE_ID) as book, dask_client(settings.scheduler, settings.workers) as client:
        link = dashboard(client)
        if link:
            say(f"Dask dashboard: {link}")
        hosts = workers_per_host(client)
        options = dict(options, workers_per_host=hosts, prestart=settings.prestart)
        shipped = client.scatter(grading, broadcast=True, hash=False)
        healthy, broken = _selftests(client, shipped, options, say)
        health += broken
        if not healthy:
            reasons = {}
            for report in broken:
                reasons.setdefault(report["reason"], []).append(str(report.get("worker")))
            raise SelfTestRefused("no worker passed the self-test, so nobody was graded and nothing was recorded: "
                                  + "; ".join(f"{reason} (on {', '.join(workers)})" for reason, workers in reasons.items()))
        size = _batch_size(settings, len(todo), len(healthy))
        names = list(todo)
        futures = {}

        def submit(batch):
            payload = {student: todo[student][1] for student in batch}
            future = client.submit(_ByValue(remote.grade_remotely), shipped, payload, options, pure=False, retries=1,
                                   workers=list(healthy), allow_other_workers=False,
                                   key=f"grade-{len(futures)}-{len(batch)}-{time.time_ns()}")
            futures[future] = batch
            return future

        pending = as_completed([submit(names[i:i + size]) for i in range(0, len(names), size)])
        bar = tqdm(total=total, initial=done, desc="grading", unit="submission", disable=not progress,
                   dynamic_ncols=True)
        try:
            def lost(gone):
                say(f"worker{'s' if len(gone) > 1 else ''} {', '.join(sorted(gone))} left; "
                    "their submissions go to the others")
                healthy[:] = [a for a in healthy if a not in gone]
                if not healthy:
                    raise NoWorkerLeft(f"every worker that passed the self-test has left: {len(todo) - len(outcomes)} "
                                       "submissions not graded. What was recorded stays; start workers and run "
                                       "`course grade` again to grade the rest.")

            for future in _as_they_finish(client, pending, lambda: healthy, lost):
                batch = futures[future]
                try:
                    answer = future.result()
                except Exception as error:  # noqa: BLE001 - a worker lost too often, a job that failed
                    answer = {"results": {s: {"state": "failed", "reason": f"{type(error).__name__}: {str(error)[:180]}"}
                                          for s in batch}}
                if answer.get("selftest"):  # a worker that broke since its self-test: its batch goes elsewhere
                    report = answer["selftest"]
                    health.append(dict(report, passed=False))
                    say(f"worker {report.get('worker')} failed the self-test and grades nothing: {report['reason']}")
                    healthy[:] = [a for a in healthy if not str(report.get("worker", "")).startswith(a)]
                    if not healthy:
                        raise SelfTestRefused("no worker left that passed the self-test: "
                                              f"{len(todo) - len(outcomes)} submissions not graded")
                    pending.add(submit(batch))
                    continue
                results = answer["results"]
                with _interrupt_deferred():
                    for student in batch:
                        checked, _, digest, regrade = todo[student]
                        try:
                            outcomes[student] = _accept(settings, book, student, results[student], checked, digest,
                                                        penalties, regrade)
                        except Exception as error:  # noqa: BLE001 - one submission never stops the class
                            outcomes[student] = Outcome(student, "failed", f"{type(error).__name__}: {error}"[:200])
                bar.update(len(batch))
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            bar.close()
            say(f"\ninterrupted: {len(outcomes)} of {len(todo)} submissions graded and recorded in this run; "
                "the gradebook is consistent. Run `course grade` again to grade the rest.")
            raise Interrupted from None
        except (SelfTestRefused, NoWorkerLeft):
            for future in futures:
                future.cancel()
            bar.close()
            raise
        bar.close()
    return outcomes


def sandbox_note(settings):
    if not settings.sandbox:
        return "SANDBOX OFF (--no-sandbox): student code runs with the grader's rights"
    return "sandbox: bubblewrap"


def sandbox_refusal(settings):
    """Why grading must not start (bubblewrap missing and the sandbox not waived), or ''."""
    problem = sandbox_problem() if settings.sandbox and not settings.scheduler else ""
    if problem:
        return (f"{problem}, so student code cannot be sandboxed: grading refused. Install bubblewrap "
                "(apt-get install bubblewrap) where namespaces are allowed, or pass --no-sandbox to grade "
                "without one at your own risk.")
    return ""
