"""Grades a few submissions on a worker, in the course folder unpacked there (remote.py).

    python -m course.grading.batch_job TASK-FOLDER
    python -m course.grading.batch_job --selftest TASK-FOLDER

TASK-FOLDER/batch.pickle holds the submissions and the grading options; this writes
TASK-FOLDER/result.pickle: for each student what happened, the graded notebook folder (only
the files that differ from the source), the feedback and the scores nbgrader recorded; or,
when this machine failed its self-test (selftest.py), the report and no grade at all.
With --selftest it runs only the self-test, with the same limits.

The submissions go through one nbgrader process (its start-up costs seconds; forked when
this job was forked from a batch server, batch_server.py) that runs `autograde` and then
`generate_feedback` (nbgrader_steps.py) with the course's
nbgrader_config.py: each kernel in a sandbox of its own, every score decided by the judge.
Grades go to a private SQLite gradebook made from the snapshot of the course's gradebook;
`course grade` copies them into the real one. Whatever did not come out graded is graded
again alone, which isolates it and names what went wrong.
"""

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..assignment import ASSIGNMENT, NOTEBOOK
from ..layout import ROOT, nbgrader, walk
from ..sandbox.launcher import SHARED_ZYGOTES
from ..sandbox.teardown import remove_sandbox
from .selftest import REPORT_ENV

SELFTEST_SECONDS = 600  # the self-test grades two notebooks; once per machine and grading files
# Seconds the judge's tamper reader may take on one notebook's code (Judge.reading_seconds),
# set here so that the batch's clock leaves each notebook that time of its own.
READING_SECONDS = 20
SNAPSHOT = "gradebook-snapshot.sqlite"
ACTIVE_SANDBOXES = []  # folders of the kernels' sandboxes now in use, to sweep if the job is stopped


def stage(folder, batch):
    """A course folder `folder` for nbgrader: the source (linked), the submissions, and a
    private gradebook copied from the snapshot."""
    (folder / "source").mkdir(parents=True)
    (folder / "source" / ASSIGNMENT).symlink_to(ROOT / "source" / ASSIGNMENT)
    shutil.copyfile(ROOT / SNAPSHOT, folder / "gradebook.db")
    for student, submission in batch.items():
        target = folder / "submitted" / student / ASSIGNMENT
        for relative, data in submission["files"].items():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_bytes(data)
        target.mkdir(parents=True, exist_ok=True)
        notebook = submission["notebook"]  # the repaired notebook's JSON, as bytes (or text)
        (target / NOTEBOOK).write_bytes(notebook if isinstance(notebook, bytes) else notebook.encode("utf-8"))
    return f"sqlite:///{folder / 'gradebook.db'}"


def grading_args(options):
    """nbgrader settings of the limits: the same for every submission and for the self-test."""
    args = [f"--Execute.timeout={options['cell_timeout']}",
            f"--SandboxedKernelManager.memory_mb={options['memory_mb']}",
            f"--SandboxedKernelManager.cpu_seconds={options['timeout']}",
            f"--SandboxedKernelManager.cpus={options.get('cpus', 1.0)}",
            f"--SandboxedExecute.notebook_timeout={options['timeout']}",
            f"--Judge.reading_seconds={READING_SECONDS}"]
    if not options["sandbox"]:
        args += ["--SandboxedExecute.allow_unsandboxed=True", "--SandboxedKernelManager.sandbox=False"]
    return args


def kernel_threads_env(options):
    """Kernels graded side by side share the cores: TensorFlow's thread pools, sized for the
    whole machine by default, would fight each other."""
    threads = str(options["threads"])
    return {name: threads for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")}


def autograde(staging, db_url, options, students):
    """nbgrader autograde of `students` in `staging`, then generate_feedback, in one process;
    (autograde's exit code, or None when it ran out of time and was killed; the log)."""
    which = ["--student", students[0]] if len(students) == 1 else []
    common = [ASSIGNMENT, "--force", f"--CourseDirectory.root={staging}", f"--CourseDirectory.db_url={db_url}"]
    args = ["autograde", *common, *which, *grading_args(options)]
    if options.get("prestart", True):  # each later notebook's kernel started during the one before
        args.append(f"--SandboxedExecute.prestart={len(students) - 1}")
    args += ["--then", "generate_feedback", *common, *which]
    env = kernel_threads_env(options)
    env[REPORT_ENV] = str(staging / "selftest.json")  # written only when the self-test fails
    # The kernels' private folders go into a folder of this run (short: socket paths are
    # limited), so that the sandboxes of an nbgrader killed on timeout are found and removed.
    sandboxes = Path(tempfile.mkdtemp(prefix="unet-batch-"))
    env["UNET_SANDBOX_DIR"] = str(sandboxes)
    ACTIVE_SANDBOXES.append(sandboxes)
    codes = staging / "codes.json"
    try:
        # Each notebook has its own time budget (SandboxedExecute.notebook_timeout); this one
        # only stops an nbgrader that hangs outside the notebooks.
        result = nbgrader(codes, *args, check=False, capture=True, extra_env=env, module="course.grading.nbgrader_steps",
                          timeout=options["timeout"] * len(students) + SELFTEST_SECONDS + 60
                          + (10 + READING_SECONDS) * len(students)
                          # each notebook's evidence kernel, beside it, may take twice its budget
                          + options["timeout"] * len(students))
        log = (result.stdout or "") + (result.stderr or "")
    except subprocess.TimeoutExpired:
        log = ""
    finally:
        sweep(sandboxes)
        ACTIVE_SANDBOXES.remove(sandboxes)
    ran = json.loads(codes.read_text()) if codes.is_file() else []
    return (ran[0] if ran else None), log


def selftest_failure(staging):
    """{"host", "reason"} when the self-test of the nbgrader process in `staging` failed."""
    report = staging / "selftest.json"
    return json.loads(report.read_text()) if report.is_file() else None


def sweep(sandboxes):
    for private in sandboxes.glob("unet-kernel-*"):
        remove_sandbox(private)
    shutil.rmtree(sandboxes, ignore_errors=True)


def public(text, *folders):
    """`text` without this machine's paths: what a worker's folders are is nobody's business
    (and means nothing to the instructor)."""
    for folder in folders:
        text = text.replace(f"{folder}/", "").replace(str(folder), "")
    return re.sub(r"(?:/[^\s/'\"]+)+/", "", text)


def out_of_time(log):
    """{student: 'ran over its time budget of N s'} from the log of an nbgrader process
    (SandboxedExecute names each notebook it stopped)."""
    return {match.group(1): match.group(2)
            for match in re.finditer(r"\S+ of (\S+) (ran over its time budget of \d+ s)", log)}


def failure(code, log, timeout, staging):
    """(status, reason) of a submission that did not come out graded when graded alone."""
    if code is None:
        return "timed out", f"grading took over {timeout} s and was stopped"
    budget = re.search(r"ran over its time budget of \d+ s", log)
    if budget:
        return "timed out", f"the notebook {budget.group(0)}"
    died = re.search(r"Kernel died[^\n]*", log)
    errors = [line for line in log.splitlines() if "ERROR" in line or "Error" in line]
    reason = died.group(0) if died else (errors[-1] if errors else f"nbgrader exited with {code}")
    return ("kernel died" if died else "failed"), public(reason, staging)[:200]


def scores(db_url, student):
    """What nbgrader recorded for `student` in the private gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        submission = gradebook.find_submission(ASSIGNMENT, student)
        if any(g.auto_score is None for n in submission.notebooks for g in n.grades if g.cell.cell_type == "code"):
            # nbgrader records the submission before it runs it: a run stopped half-way
            # leaves grades without scores, which must not be read as zeros.
            raise ValueError(f"{student} was not graded to the end")
        return {"timestamp": submission.timestamp,
                "notebooks": {notebook.name: {"grades": {g.name: g.auto_score for g in notebook.grades},
                                              "manual": [g.name for g in notebook.grades if g.needs_manual_grade],
                                              "comments": {c.name: c.auto_comment for c in notebook.comments}}
                              for notebook in submission.notebooks}}


def files_of(folder, source=None):
    """({relative path: bytes}, [relative path]) of the regular files under `folder`: the
    second part names those equal to the file at the same place under `source` (`course
    grade` has the source, so their bytes need not travel)."""
    found, same = {}, []
    for path in walk(folder):
        if path.is_file() and not path.is_symlink():
            relative = str(path.relative_to(folder))
            twin = Path(source) / relative if source else None
            data = path.read_bytes()
            if twin is not None and twin.is_file() and twin.read_bytes() == data:
                same.append(relative)
            else:
                found[relative] = data
    return found, same


def collect(staging, db_url, student):
    graded = staging / "autograded" / student / ASSIGNMENT
    if not (graded / NOTEBOOK).is_file():
        return None
    try:
        recorded = scores(db_url, student)
    except Exception:  # noqa: BLE001 - no submission in the gradebook: not graded
        return None
    feedback = staging / "feedback" / student / ASSIGNMENT
    if not any(feedback.glob("*.html")):  # stopped before its feedback: not finished
        return None
    source = ROOT / "source" / ASSIGNMENT
    files, same = files_of(graded, source)
    return {"state": "graded", "reason": "", "scores": recorded, "autograded": files, "from_source": same,
            "feedback": files_of(feedback, source)}


def grade(batch, options, workspace):
    """({student: result} for the submissions of `batch`, None), or (None, report) when this
    machine failed the self-test and graded nobody."""
    results, started = {}, time.perf_counter()
    staging = workspace / "together"
    db_url = stage(staging, batch)
    _, log = autograde(staging, db_url, options, list(batch))
    refused = selftest_failure(staging)
    if refused:
        return None, refused
    share = (time.perf_counter() - started) / len(batch)
    over_budget = out_of_time(log)
    for student in batch:
        results[student] = collect(staging, db_url, student)
        if results[student] is not None:
            results[student]["seconds"] = share
        elif student in over_budget:  # its own doing: alone it would take as long again
            results[student] = {"state": "timed out", "reason": f"the notebook {over_budget[student]}",
                                "seconds": share}
    for number, student in enumerate(s for s in batch if results[s] is None):
        started = time.perf_counter()
        folder = workspace / f"alone-{number}"  # student ids may be long: never in a path twice
        db = stage(folder, {student: batch[student]})
        code, log = autograde(folder, db, options, [student])
        refused = selftest_failure(folder)
        if refused:
            return None, refused
        result = collect(folder, db, student)
        if result is None:
            status, reason = failure(code, log, options["timeout"], folder)
            result = {"state": status, "reason": reason}
        result["seconds"] = time.perf_counter() - started
        results[student] = result
    return results, None


def selftest(options, workspace):
    """The self-test of this machine with the limits of `options`: {"host", "passed", "reason"}."""
    out = workspace / "selftest-result.json"
    env = kernel_threads_env(options)
    try:
        nbgrader("--json", out, *grading_args(options), module="course.grading.selftest", check=False, capture=True,
                 extra_env=env, timeout=SELFTEST_SECONDS + 2 * options["timeout"])
    except subprocess.TimeoutExpired:
        pass
    if out.is_file():
        return json.loads(out.read_text())
    import socket

    return {"host": socket.gethostname(), "passed": False, "reason": "the self-test did not finish"}


def _end_family(*_):
    import psutil

    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass
    for sandboxes in list(ACTIVE_SANDBOXES):
        sweep(sandboxes)
    os._exit(1)


def die_with_parent():
    """A worker killed (its machine gone), a Ctrl-C or a SIGTERM takes this job and its
    nbgrader and kernels with it (nbgrader runs in a session of its own)."""
    import signal
    import threading

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        _end_family()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, _end_family)
    threading.Thread(target=watch, daemon=True).start()


def main(argv):
    die_with_parent()
    task = Path(argv[-1])
    # Kernels are forked from a zygote that has imported TensorFlow; one zygote serves every
    # batch of this worker (the parent), so that its imports are paid once per worker.
    os.environ[SHARED_ZYGOTES] = f"{task.parent / 'zygotes'}:{os.getppid()}"
    batch, options = pickle.loads((task / "batch.pickle").read_bytes())
    workspace = Path(tempfile.mkdtemp(prefix="work-", dir=task))
    if argv[0] == "--selftest":
        outcome = selftest(options, workspace)
    else:
        outcome = grade(batch, options, workspace)
    (task / "result.pickle.part").write_bytes(pickle.dumps(outcome))
    os.replace(task / "result.pickle.part", task / "result.pickle")


if __name__ == "__main__":
    main(sys.argv[1:])
