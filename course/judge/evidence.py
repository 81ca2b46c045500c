"""The evidence kernel: the graded functions recorded where the rest of the notebook never runs.

The notebook itself runs in its graded kernel as a student would run it (SandboxedExecute);
its graded cells no longer collect anything there. `EvidenceRun` (after Challenge) starts a
second kernel beside it, on a thread of the nbgrader process, and `Evidence` (before the
Judge) waits for it. That kernel is sandboxed like the first, has the notebook's files, and
runs without the grading flag (`NBGRADER_EXECUTION` is not set there, so `segmentation_utils.GRADING`
is False, as on a student's own machine). Its one request is sent as a user expression (out of
its history) and does, in this order:

1. loads a fresh copy of the recorder (`unet_evidence.py`) into a module that no name of the
   notebook reaches, with a copy of the built-in functions of its own, and refuses any audit
   hook added after it;
2. runs the notebook's cells in the kernel's own namespace, each with the time a cell has:
   every cell a student writes, whole, and of the instructor's cells the definitions the
   graded functions need (needed.py reads the cells: no data is read, nothing is trained);
3. at each graded cell's place, calls the recorder with the challenge drawn for that cell,
   unless the notebook's code left a thread running or changed the recorder (signal handlers,
   timers and trace functions it set are undone first), with the time a cell has; where the
   notebook builds the network it trains, builds unet_model() with the student's own blocks;
   each graded cell's evidence is shown as one output.

The notebook's kernel never sees the challenges; what the evidence kernel records is what the
student's own code builds, as their notebook builds it. The outputs are matched to the graded
cells by the nonce each challenge carries, and the Judge reads them there as before.
"""

import copy
import threading
import time

from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

from .. import bounded
from ..assignment import EXERCISES, RECORDER, TRAINING_CELL
from ..sandbox.execute import SandboxedExecute
from ..sandbox.hidden_calls import BEGIN
from . import needed

FUNCTION_OF = {cell: function for function, cells in EXERCISES.values() for cell in cells}
FAILURE = "unet_evidence_failure"  # resources key: why a graded cell has no evidence
RUN_KEY = "unet_evidence_run"  # resources key: the evidence run under way
MIME = "application/vnd.unet-evidence+json"
EVIDENCE_CPU_SHARES = 512  # half a notebook kernel's weight (cgroup v1's default is 1024)
# The request: a fresh recorder, with built-ins of its own, bound before any notebook code runs.
RUN = ('(lambda m: (m.__dict__.update(__builtins__=dict(vars(__import__("builtins")))), '
       'exec(compile({source!r}, "<unet_evidence>", "exec"), m.__dict__), '
       'm.replay({steps!r})))(type(__import__("sys"))("unet_evidence"))')


class EvidenceExecute(SandboxedExecute):
    """SandboxedExecute for the evidence kernel: no grading flag in its environment."""

    def _new_kernel_manager(self):
        km = super()._new_kernel_manager()
        km.grading_flag = False
        if km.cpu_seconds:  # per process: its one kernel runs every cell, each with a cell's time
            km.cpu_seconds = max(km.cpu_seconds, self.notebook_timeout)
        # When every core is busy, the notebook's own kernel goes first: its cells keep the
        # timings they had without this one (a student cell's status, "cell timed out", is
        # the notebook's), and this one, with twice the notebook's budget, uses what is left.
        km.cpu_shares = EVIDENCE_CPU_SHARES
        return km

    def _kernels_ahead(self, workdir):
        """Never a kernel started ahead for the notebooks: theirs have the grading flag."""


def graded_cells(nb):
    """{cell number: grade_id} of the graded cells of the exercises."""
    return {number: cell.metadata["nbgrader"]["grade_id"] for number, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and isinstance(cell.metadata.get("nbgrader"), dict)
            and cell.metadata["nbgrader"].get("grade") and cell.metadata["nbgrader"].get("grade_id") in FUNCTION_OF}


def code_cells(nb):
    """(cell number, source, whether a student could have written it) of each code cell."""
    found = []
    for number, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader") if isinstance(cell.metadata, dict) else None
        if cell.cell_type == "code" and isinstance(cell.source, str):
            found.append((number, cell.source, not (isinstance(meta, dict) and meta.get("locked") is True)))
    return found


def trained_at(nb):
    """The number of the cell that builds the network the notebook trains, or None."""
    return next((number for number, cell in enumerate(nb.cells) if isinstance(cell.metadata.get("nbgrader"), dict)
                 and cell.metadata["nbgrader"].get("grade_id") == TRAINING_CELL), None)


def plan(nb):
    """needed.plan for a notebook."""
    return needed.plan(code_cells(nb), graded_cells(nb), sorted(set(FUNCTION_OF.values())), trained_at(nb))


def _plan(send, nb):
    send(plan(nb))


class EvidenceRun(NbGraderPreprocessor):
    """Starts the evidence kernel (after Challenge, before the notebook's own kernel): it needs
    only the notebook's code and the challenges, so it runs beside the notebook, on a thread
    of its own; `Evidence` waits for it."""

    seconds = Integer(0, help="Seconds the evidence kernel may take, start to end (0: twice the notebook's "
                              "own budget, SandboxedExecute.notebook_timeout, else 600: it runs beside the "
                              "notebook's kernel, on a machine that kernel keeps busy)").tag(config=True)
    memory_mb = Integer(1024, help="Memory (MiB) for reading the notebook's code to choose what the "
                                   "evidence kernel runs (in a child process)").tag(config=True)
    reading_seconds = Integer(20, help="Seconds for reading it").tag(config=True)

    def preprocess(self, nb, resources):
        graded = graded_cells(nb)
        drawn = resources.get("unet_challenges", {})
        if not graded:
            return nb, resources
        run = resources[RUN_KEY] = {"outputs": [], "problem": ""}
        try:
            steps = self._steps(nb, graded)
        except RuntimeError as problem:
            run["problem"] = str(problem)
            return nb, resources
        configured = SandboxedExecute(config=self.config, log=self.log)
        cell_seconds = configured.timeout or 0  # each cell and each graded cell's function: the time a cell has
        steps = [["record", FUNCTION_OF[step[1]], drawn.get(step[1], {}), cell_seconds] if step[0] == "record"
                 else step + [cell_seconds] for step in steps]
        seconds = self.seconds or 2 * (configured.notebook_timeout or 300)
        # Through the configuration: nbconvert's preprocess() sets the executor's traits from it again.
        config = copy.deepcopy(self.config)
        config.EvidenceExecute.timeout = seconds  # its one cell runs the whole notebook's code
        config.EvidenceExecute.notebook_timeout = seconds
        executor = EvidenceExecute(config=config, log=self.log)
        path = resources.get("metadata", {}).get("path", ".")
        run["thread"] = threading.Thread(target=_run, args=(executor, steps, path, run), daemon=True,
                                         name="unet-evidence")
        run["thread"].start()
        run["seconds"] = seconds
        return nb, resources

    def _steps(self, nb, graded):
        if bounded.available():
            child = bounded.in_child(_plan, nb, memory=self.memory_mb << 20, seconds=self.reading_seconds)
            if child.stopped or not child.messages:
                raise RuntimeError(f"the grader could not read the notebook's code within its limits ({child.why})")
            return child.messages[0]
        return plan(nb)


class Evidence(NbGraderPreprocessor):
    """Waits for the evidence kernel (after the notebook's kernel, before the Judge) and puts
    each graded cell's evidence in its outputs, matched by the challenge's nonce."""

    def preprocess(self, nb, resources):
        graded = graded_cells(nb)
        drawn = resources.get("unet_challenges", {})
        run = resources.pop(RUN_KEY, None) or {"outputs": [], "problem": "the evidence run was not started "
                                                                          "(is EvidenceRun configured?)"}
        thread = run.get("thread")
        if thread is not None:
            thread.join(run["seconds"] + 60)  # its own clock stops it; this only guards against a hang
            if thread.is_alive():
                run["problem"] = "the evidence run did not end"
        found = {}  # nonce -> the last evidence shown for it (the run shows again what changes)
        for output in list(run["outputs"]):
            evidence = (output.get("data") or {}).get(MIME)
            if isinstance(evidence, dict) and isinstance(evidence.get("nonce"), str):
                found[evidence["nonce"]] = [output]
        for number, grade_id in graded.items():
            challenge = drawn.get(grade_id) or {}
            outputs = found.get(challenge.get("nonce"), [])
            if run["problem"] and challenge.get("assemble") and outputs and not _has_assembled(outputs[0]):
                outputs = []  # the run ended before the U-Net was built: the cell is told why
            nb.cells[number].outputs = outputs
        if run["problem"]:
            resources[FAILURE] = run["problem"]
        return nb, resources


def _has_assembled(output):
    evidence = output["data"][MIME]
    return "assembled" in evidence or "error" in evidence


def _run(executor, steps, path, run):
    """On the evidence thread: the evidence kernel's one cell; its outputs and what went wrong
    go into `run`."""
    source = RUN.format(source=RECORDER.read_text(), steps=steps)
    # Some visible code: nbclient does not send a cell whose code is empty.
    cell = new_code_cell(f"# the graded functions' evidence\n### {BEGIN}\n{source}\n### END HIDDEN TESTS",
                         metadata={"nbgrader": {"grade": True, "grade_id": "unet_evidence", "points": 0}})
    notebook = new_notebook(cells=[cell], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                   "language": "python"}})
    started = time.monotonic()
    try:
        executor.preprocess(notebook, {"metadata": {"path": path}})
    except Exception as error:  # noqa: BLE001 - the kernel died, ran out of time...
        run["problem"] = _why(error, time.monotonic() - started)
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors and not run["problem"]:
        run["problem"] = (f"the evidence run stopped: {str(errors[0].get('ename'))[:80]}: "
                          f"{str(errors[0].get('evalue'))[:300]}")
    run["outputs"] = list(cell.get("outputs", []))


def _why(error, seconds):
    name = type(error).__name__
    if "Time" in name or "Timeout" in name:
        return f"the evidence run did not end within its time ({seconds:.0f} s)"
    if "Dead" in name:
        return "the evidence kernel died (out of memory?)"
    return f"the evidence run failed ({name}: {str(error)[:200]})"
