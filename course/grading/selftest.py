"""The self-test: before a process grades anyone, it grades the reference solution and the
blank release in exactly the sandbox and environment students get.

The reference must score full marks and the blank release zero. A machine whose graded
kernels cannot import the course's `roadscenes` package, say, would otherwise record 0 for
every student, correct ones included, and nothing would say why. So:

- plain `nbgrader autograde` runs it from `Autograde.pre_convert_hook` (nbgrader_config.py)
  before the first student's submission is touched; when it fails, nbgrader stops with the
  reason and nothing is recorded (the exception is a SystemExit, which nbgrader's per-student
  error handling does not swallow);
- `course grade` runs it on every Dask worker before giving it submissions (remote.py); a
  worker that fails is named and gets none, the healthy ones grade the class;
- `python -m course selftest` runs it alone.

It runs once per grading files, limits and environment on a machine: a pass is remembered in
the temporary folder under a key of all three (a failure never is), and processes that race
for it wait for the first.

    python -m course.grading.selftest [--json OUT] [--Class.trait=value ...]

runs it in the course folder it is started in, with nbgrader_config.py and the given
settings (the ones the batch job passes to nbgrader), and exits 0 when it passes.
"""

import contextlib
import copy
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from ..assignment import ASSIGNMENT, EXERCISES, NOTEBOOK
from ..layout import ROOT

REPORT_ENV = "UNET_SELFTEST_REPORT"  # where a failed self-test writes its report (batch job)
GRADED = {cell for _, cells in EXERCISES.values() for cell in cells}
# Preprocessors of the autograde list that need a gradebook or would drop what is counted.
NOT_RUN = ("SaveAutoGrades", "ManualGrading", "AssignLatePenalties", "CheckCellMetadata", "ClearMetadataPreprocessor")


class SelfTestFailed(SystemExit):
    """This process must grade nothing: the message says which machine and why."""


# ---------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------

def _notebooks(root):
    """(name, notebook, expected per cell): the source with its solutions, and the release
    as students get it (solutions replaced by nbgrader's stubs)."""
    from nbgrader.preprocessors import ClearSolutions

    reference = nbformat.read(Path(root) / "source" / ASSIGNMENT / NOTEBOOK, as_version=4)
    blank, _ = ClearSolutions().preprocess(copy.deepcopy(reference), {})
    points = {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"].get("points", 0)
              for cell in reference.cells if cell.metadata.get("nbgrader", {}).get("grade_id") in GRADED}
    return [("the reference solution", reference, points),
            ("the blank release", blank, {grade_id: 0 for grade_id in points})]


def _preprocessors(config):
    """The course's autograde preprocessors up to the verdict, built as nbgrader builds them."""
    from nbgrader.converters import Autograde
    from traitlets.utils.importstring import import_item

    listed = Autograde(config=config).autograde_preprocessors
    built = []
    for item in listed:
        cls = import_item(item) if isinstance(item, str) else item
        if cls.__name__ not in NOT_RUN:
            built.append(cls(config=config))
    for preprocessor in built:
        if hasattr(preprocessor, "prestart"):
            preprocessor.prestart = 0  # kernels started ahead are for students' notebooks
    return built


def _first_error(notebook):
    """'cell N: Name: message' of the first cell that raised, with the module that could not
    be imported when that was the cause, or ''."""
    for number, cell in enumerate(notebook.cells, start=1):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                text = f"cell {number} raised {output.get('ename')}: {str(output.get('evalue')).splitlines()[0][:160]}"
                trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output.get("traceback", [])))
                missing = re.search(r"No module named '[^']+'", trace)
                if missing and missing.group(0) not in text:
                    text += f" (caused by {missing.group(0)})"
                return text
    return ""


def _scores(notebook):
    """{grade_id: (points, verdict)} as the judge left them."""
    found = {}
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id not in GRADED:
            continue
        points, verdict = 0.0, "no verdict"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "execute_result":
                with contextlib.suppress(KeyError, ValueError):
                    points = float(output["data"]["text/plain"])
            elif output.get("output_type") == "stream":
                verdict = output.get("text", "").strip()
        found[grade_id] = (points, verdict)
    return found


def _grade(config, name, notebook, expected, folder):
    """'' when `notebook` scores `expected`, else what went wrong, in the instructor's terms."""
    from ..sandbox.execute import _AHEAD

    work = Path(tempfile.mkdtemp(prefix="unet-selftest-", dir=folder))
    for item in (ROOT / "source" / ASSIGNMENT).iterdir():
        if item.suffix != ".ipynb" and item.name not in ("__pycache__", ".ipynb_checkpoints"):
            (shutil.copytree if item.is_dir() else shutil.copyfile)(item, work / item.name)
    nbformat.write(notebook, work / NOTEBOOK)
    resources = {"metadata": {"path": str(work)}, "nbgrader": {"notebook": NOTEBOOK[:-6]}}
    had_ahead = "left" in _AHEAD
    executed = copy.deepcopy(notebook)
    try:
        for preprocessor in _preprocessors(config):
            executed, resources = preprocessor.preprocess(executed, resources)
    except BaseException as error:  # noqa: BLE001 - whatever stops it, the test failed
        if isinstance(error, KeyboardInterrupt):
            raise
        return f"{name} could not be graded: {type(error).__name__}: {str(error)[:300]}"
    finally:
        if not had_ahead:
            _AHEAD.pop("left", None)
        shutil.rmtree(work, ignore_errors=True)
    if any(expected.values()) and "output cut by the grader" in nbformat.writes(executed):
        return (f"{name} lost output to the grader's bounds (SandboxedExecute.cell_output_bytes, "
                "notebook_output_bytes): raise them, or students' notebooks lose output too")
    scores = _scores(executed)
    wrong = [grade_id for grade_id, points in expected.items() if scores.get(grade_id, (0.0,))[0] != points]
    error = _first_error(executed)
    if not wrong and error and any(expected.values()):
        # The evidence kernel needs little of the machine; the notebook's own must run too, or
        # every student's feedback shows this error.
        return f"{name} does not run in the students' sandbox: {error}"
    if not wrong:
        return ""
    got = sum(points for points, _ in scores.values())
    possible = sum(c.metadata["nbgrader"].get("points", 0) for c in executed.cells
                   if c.metadata.get("nbgrader", {}).get("grade_id") in GRADED)
    message = f"{name} scored {got:g} of {possible:g} points, expected {sum(expected.values()):g}"
    if error and any(expected.values()):  # the blank release raises NotImplementedError by design
        message += f": {error}"
    verdict = scores.get(wrong[0], (0, "no verdict"))[1]
    return f"{message}; first wrong graded cell {wrong[0]}: {verdict[:200]}"


def run(config):
    """'' when this process may grade, else why not."""
    folder = tempfile.mkdtemp(prefix="unet-selftest-")
    try:
        with _execution_mode():
            for name, notebook, expected in _notebooks(ROOT):
                problem = _grade(config, name, notebook, expected, folder)
                if problem:
                    return problem
        return ""
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _execution_mode():
    """NBGRADER_EXECUTION=autograde, as nbgrader sets it while a notebook is graded."""
    previous = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = previous


# ---------------------------------------------------------------------------------------
# Once per grading files, limits and environment
# ---------------------------------------------------------------------------------------

def environment_fingerprint():
    """What the kernels' environment is made of: the interpreter, the installed packages
    (an install or uninstall changes site-packages), bubblewrap."""
    import site
    import sysconfig

    hasher = hashlib.sha256(f"{sys.executable}\0{sys.version}\0{shutil.which('bwrap')}".encode())
    folders = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    for folder in sorted(folders):
        with contextlib.suppress(OSError):
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                stat = entry.stat(follow_symlinks=False)
                hasher.update(f"{entry.name}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return hasher.hexdigest()


def _limits(config):
    """The settings that can change how a notebook grades."""
    from ..sandbox.execute import SandboxedExecute, SandboxedKernelManager

    manager, execute = SandboxedKernelManager(config=config), SandboxedExecute(config=config)
    names = [n for n in manager.trait_names() if manager.trait_metadata(n, "config")
             and n in ("memory_mb", "max_processes", "cpu_seconds", "disk_mb", "sandbox", "cpus", "zygote",
                       "zygote_modules")]
    values = {n: getattr(manager, n) for n in sorted(names)}
    for name in ("timeout", "startup_timeout", "allow_unsandboxed", "notebook_timeout", "kernel_name"):
        if execute.has_trait(name):
            values[f"execute.{name}"] = getattr(execute, name)
    return values


def key(config):
    """sha256 of the grading files, the limits and the environment."""
    from ..deadline.due import without_term

    root = ROOT  # the grading files are those of this course package, wherever nbgrader's root is
    hasher = hashlib.sha256(json.dumps(_limits(config), sort_keys=True, default=str).encode())
    hasher.update(environment_fingerprint().encode())
    paths = [root / "nbgrader_config.py", *sorted((root / "course").rglob("*.py")),
             *sorted(p for p in (root / "source" / ASSIGNMENT).rglob("*") if p.is_file())]
    for path in paths:
        if "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts:
            content = path.read_bytes()
            if path.name == "nbgrader_config.py":
                content = without_term(content)  # the term's dates change no grade
            hasher.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(content).digest())
    return hasher.hexdigest()


def _cache():
    folder = Path(tempfile.gettempdir()) / "unet-selftest-passed"
    folder.mkdir(exist_ok=True)
    return folder


def ensure(config, fresh=False):
    """'' when this machine passed the self-test for `config` (now, or before: remembered),
    else the reason it failed. `fresh` runs it even when a pass is remembered."""
    name = key(config)
    passed = _cache() / name
    with open(_cache() / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other processes of this machine wait for the first
        if passed.is_file() and not fresh:
            return ""
        started = time.perf_counter()
        problem = run(config)
        if not problem:
            passed.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
        return problem


# ---------------------------------------------------------------------------------------
# Where it runs
# ---------------------------------------------------------------------------------------

_CHECKED = {}  # key -> reason: once per process


def hook(**_):
    """nbgrader's Autograde.pre_convert_hook: refuse to grade unless the self-test passes."""
    from traitlets.config import Application

    app = Application.instance()
    config = app.subapp.config if getattr(app, "subapp", None) is not None else app.config
    name = key(config)
    if name not in _CHECKED:
        app.log.info("self-test: grading the reference solution and the blank release first")
        _CHECKED[name] = ensure(config)
    problem = _CHECKED[name]
    if problem:
        message = (f"self-test failed on {socket.gethostname()}, so this process grades nothing and records "
                   f"nothing: {problem}. "
                   "Fix the grading environment (the course's Python environment with its `roadscenes` "
                   "package, bubblewrap) and grade again; `python -m course selftest` checks it alone.")
        app.log.error(message)
        report = os.environ.get(REPORT_ENV)
        if report:
            Path(report).write_text(json.dumps({"host": socket.gethostname(), "reason": problem}))
        raise SelfTestFailed(1)  # the message is in nbgrader's log


def before_autograde(**kwargs):
    """nbgrader's Autograde.pre_convert_hook (nbgrader_config.py): the self-test, then the
    term's due date and extensions into the gradebook (course/deadline/). nbgrader swallows an
    ordinary exception from this hook and grades on, so each part stops grading with a
    SystemExit of its own instead."""
    from ..deadline.hook import hook as term_dates

    hook(**kwargs)
    term_dates(**kwargs)


def load_config(root, argv=()):
    """The course's nbgrader configuration, with `--Class.trait=value` settings on top."""
    from traitlets.config.loader import KVArgParseConfigLoader, PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    if argv:
        config.merge(KVArgParseConfigLoader(list(argv)).load_config())
    config.CourseDirectory.root = str(root)
    return config


def main(argv):
    out = None
    if argv[:1] == ["--json"]:
        out, argv = argv[1], argv[2:]
    fresh = "--fresh" in argv
    argv = [a for a in argv if a != "--fresh"]
    started = time.perf_counter()
    problem = ensure(load_config(Path.cwd(), argv), fresh=fresh)
    result = {"host": socket.gethostname(), "passed": not problem, "reason": problem,
              "seconds": round(time.perf_counter() - started, 1)}
    if out:
        Path(out).write_text(json.dumps(result))
    return 0 if not problem else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
