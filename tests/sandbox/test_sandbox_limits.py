"""The bounds of a graded notebook (course/sandbox/execute.py, bounded_output.py, submission_files.py): its outputs' bytes, kept in bounds as
they arrive; its time, for the whole notebook; its kernel's CPU; and any name a submission's
files may have. Tiny notebooks in real sandboxed kernels, no TensorFlow."""

import asyncio
import contextlib
import errno
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from traitlets.config import Config
from nbformat.v4 import new_code_cell, new_notebook

from course.sandbox import bounded_output, launcher, execute as sandbox, submission_files
from course.sandbox.execute import NotebookOutOfTime, SandboxedExecute, SandboxedKernelManager
from course.unet_segmentation.evidence_format import MIME

from course_helpers import in_a_thread

ROOT = Path(__file__).resolve().parents[2]  # the course folder
MB = 1_000_000


def _notebook(*sources, graded=()):
    """A notebook of code cells; the cells numbered in `graded` are graded, as nbgrader marks them."""
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for number in graded:
        notebook.cells[number].metadata["nbgrader"] = {"grade": True, "grade_id": f"graded_{number}", "points": 1}
    return notebook


def _texts(cell):
    return [o.get("text") or o.get("data", {}).get("text/plain", "") for o in cell.outputs]


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------

# Run in a process of its own, to measure that process's peak memory. A 0.4 MB figure (the
# largest the source notebook shows, run as a student runs it), then six cells of 50 MB each.
FLOOD = r"""
import json, sys, tempfile
import nbformat
from nbformat.v4 import new_code_cell, new_notebook
from course.sandbox.execute import SandboxedExecute

def peak_mb():  # this process's own peak (VmHWM); ru_maxrss also counts the parent it was forked from
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]) / 1024

PRINT = 'print("x" * 50_000_000)'
DISPLAY = ('from IPython.display import display\n'
           'display({"image/png": "A" * 50_000_000, "text/plain": "<Figure>"}, raw=True)')
FIGURE = ('from IPython.display import display\n'
          'display({"image/png": "B" * 400_000, "text/plain": "<Figure>"}, raw=True)')
notebook = new_notebook(cells=[new_code_cell(s) for s in [FIGURE] + [PRINT, DISPLAY] * 3])
notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
options = json.loads(sys.argv[1])
SandboxedExecute(timeout=120, **options).preprocess(notebook, {"metadata": {"path": tempfile.mkdtemp()}})
print(json.dumps({"notebook": nbformat.writes(notebook),
                  "peak_mb": peak_mb()}))
"""
PEAK_MB = 700  # measured: 270 MB with the bounds, 980 MB with them lifted (the test after next)


def _flood(**options):
    done = subprocess.run([sys.executable, "-c", FLOOD, json.dumps(options)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    return nbformat.reads(found["notebook"], as_version=4), found["peak_mb"], len(found["notebook"].encode())


def test_huge_outputs_are_cut_as_they_arrive_with_a_note():
    notebook, peak_mb, size = _flood()
    figure, *flooded = notebook.cells
    assert figure.outputs[0].data["image/png"] == "B" * 400_000  # a real figure is kept whole
    for cell in flooded:
        texts = _texts(cell)
        note = re.fullmatch(r"\[output cut by the grader: ([\d.]+) MB more of this cell's output not kept; "
                            r"a cell keeps at most 1 MB\]", texts[-1])
        assert note and 49 <= float(note[1]) <= 50, texts[-1]  # 49 MB of text cut, or a 50 MB image left out
        kept = sum(bounded_output.output_bytes([o.get("text"), o.get("data")]) for o in cell.outputs)
        assert kept <= 1 * MB + 200
    # The images could not be cut: they are left out whole, their text kept.
    assert all("image/png" not in o.get("data", {}) for cell in flooded for o in cell.outputs)
    assert size < 8 * MB, size  # 300 MB sent
    assert peak_mb < PEAK_MB, peak_mb
    print(f"notebook {size / MB:.1f} MB, peak memory of the grading process {peak_mb:.0f} MB")


def test_evidence_is_kept_whole_when_other_cells_used_up_the_notebook_budget():
    evidence = {"function": "conv_block", "nonce": "n" * 32, "cases": [{"nodes": ["x" * 1000] * 100}]}
    show = ("from IPython.display import display\n"
            f"display({{{MIME!r}: {evidence!r}, 'text/plain': 'evidence'}}, raw=True)")
    notebook = _notebook(*['print("y" * 999_000)'] * 9, show + "\nprint('more')", show, graded=[9])
    in_a_thread(lambda: SandboxedExecute(timeout=60).preprocess(notebook, {"metadata": {"path": tempfile.mkdtemp()}}))
    full, graded, ungraded = notebook.cells[8], notebook.cells[9], notebook.cells[10]
    assert "a notebook keeps at most 8 MB in all" in _texts(full)[-1]
    shown = [o for o in graded.outputs if MIME in o.get("data", {})]
    assert len(shown) == 1 and shown[0].data[MIME] == evidence
    # the rest of the graded cell counts as any output: the budget is used up
    assert "a notebook keeps at most 8 MB in all" in _texts(graded)[-1] and "more\n" not in _texts(graded)
    # the exemption is for graded cells only
    assert not [o for o in ungraded.outputs if MIME in o.get("data", {})]


def test_a_message_too_large_to_read_is_refused_and_the_notebook_goes_on():
    """A 200 MB display: zmq refuses it unread (MAXMSGSIZE); the cell ends with a note, and
    the next cell's output arrives on the connection made again."""
    notebook = _notebook('from IPython.display import display\ndisplay({"text/plain": "h" * 200_000_000}, raw=True)',
                         'print("after")')
    in_a_thread(lambda: SandboxedExecute(timeout=60).preprocess(notebook, {"metadata": {"path": tempfile.mkdtemp()}}))
    assert "one output over 128 MB is refused whole" in _texts(notebook.cells[0])[-1]
    assert _texts(notebook.cells[1]) == ["after\n"]


# ---------------------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------------------

class RecordedKernelManager(SandboxedKernelManager):
    made = []

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        RecordedKernelManager.made.append(self)


DAEMON = ('import subprocess\n'
          'subprocess.Popen(["sleep", "987.654"], start_new_session=True)  # outlives its cell, in its own session')


def _daemons():
    return [p for p in psutil.process_iter(["cmdline"]) if "987.654" in (p.info["cmdline"] or [])]


def test_a_notebook_over_its_time_budget_is_stopped_and_the_next_one_graded(monkeypatch, caplog):
    monkeypatch.setattr(sandbox, "_AHEAD", {})  # as in a new nbgrader process
    monkeypatch.setattr(sandbox, "_SPARES", [])
    RecordedKernelManager.made = []
    budget = 4
    options = {"timeout": 60, "notebook_timeout": budget, "prestart": 1, "warm_up": "pass",
               "kernel_manager_class": RecordedKernelManager,
               "config": Config({"SandboxedKernelManager": {"zygote": False}})}  # forked kernels are not started ahead
    slow, quick = _notebook(DAEMON, *["import time; time.sleep(0.5)"] * 40), _notebook('print("graded")')
    caplog.set_level(logging.WARNING)

    def grade_both():  # in one thread, as nbgrader does: the kernel started ahead waits on its loop
        start = time.monotonic()
        with pytest.raises(NotebookOutOfTime):
            SandboxedExecute(**options).preprocess(slow, {"metadata": {"path": tempfile.mkdtemp()}})
        took = time.monotonic() - start
        [first] = [km for km in RecordedKernelManager.made if not km.deferred]  # the other is started ahead
        gone = not _daemons() and not Path(first.private).exists() and not any(
            folder.exists() for folder in launcher.cgroup_paths(Path(first.private).name))
        SandboxedExecute(**options).preprocess(quick, {"metadata": {"path": tempfile.mkdtemp()}})
        return took, gone

    took, gone = in_a_thread(grade_both)
    assert budget <= took < budget + 4, took
    said = [r.getMessage() for r in caplog.records if "time budget" in r.getMessage()]
    assert len(said) == 1 and f"ran over its time budget of {budget} s" in said[0], said
    assert gone  # the kernel, the process it left running in a session of its own, its cgroups, its folder
    assert _texts(quick.cells[0]) == ["graded\n"]
    assert len(RecordedKernelManager.made) == 2 and not sandbox._SPARES  # it ran in the kernel started ahead
    assert not [r for r in caplog.records if r.levelno == logging.WARNING], caplog.records


# ---------------------------------------------------------------------------------------
# CPU
# ---------------------------------------------------------------------------------------

SPIN = ('import subprocess, sys\n'
        'for _ in range(4):\n'
        '    subprocess.Popen([sys.executable, "-c", "while True: pass", "spin-4711"], start_new_session=True)')


def _spinners():
    return [p for p in psutil.process_iter(["cmdline"]) if "spin-4711" in (p.info["cmdline"] or [])]


@contextlib.asynccontextmanager
async def _ready(km):
    """The kernel of `km`, started and ready (its cgroups made), and its client; shut down after."""
    await km.start_kernel(cwd=tempfile.mkdtemp())
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        yield client
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)


def _cpu_group(km):
    return Path(launcher.CGROUP_ROOT, "cpu", launcher.CGROUP_PARENT, Path(km.private).name)


async def _spin_and_measure(seconds):
    """(cores the spinners used, the cpu.stat of their cgroup)."""
    km = SandboxedKernelManager(kernel_name="python3")
    async with _ready(km) as client:
        client.execute(SPIN)
        for _ in range(100):
            if len(_spinners()) == 4:
                break
            await asyncio.sleep(0.1)
        spinners = _spinners()
        used = lambda: sum(sum(p.cpu_times()[:2]) for p in spinners)  # noqa: E731
        before, start = used(), time.monotonic()
        await asyncio.sleep(seconds)
        cores = (used() - before) / (time.monotonic() - start)
        group = _cpu_group(km)
        return len(spinners), cores, (group / "cpu.stat").read_text(), (group / "cpu.cfs_quota_us").read_text()


@pytest.mark.skipif(not (sandbox.is_root() and (launcher.CGROUP_ROOT / "cpu").is_dir()),
                    reason="needs root and the cgroup v1 cpu controller")
def test_a_kernel_gets_at_most_one_core_whatever_it_starts():
    count, cores, stats, quota = in_a_thread(lambda: asyncio.run(_spin_and_measure(3)))
    throttled = int(dict(line.split() for line in stats.splitlines())["nr_throttled"])
    print(f"4 spinning processes in sessions of their own used {cores:.2f} cores")
    assert count == 4 and int(quota) == 100_000
    assert throttled > 0  # the quota, not a busy machine, held them back
    assert cores < 1.15, cores
    assert not _spinners()  # and they ended with their kernel


def test_the_launcher_warns_and_goes_on_without_a_cpu_controller(tmp_path, capsys):
    (tmp_path / "not-a-folder").write_text("")
    assert not launcher.limit_cpu(tmp_path / "not-a-folder" / "kernel", 1.0)
    assert "CPU of the kernel not limited" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------

def test_any_name_in_a_submission_is_listed_or_left_out_with_a_reason(tmp_path):
    folder = tmp_path / "submission"
    raw = os.fsencode(folder)
    os.makedirs(raw)
    entries = {b"ok.txt": None, b"notes\xff.txt": "name not valid UTF-8", b"new\nline.txt": "control characters",
               b"tab\there.txt": "control characters", ("é" * 127).encode(): None}  # 254 bytes: allowed
    for name in entries:
        Path(os.fsdecode(raw + b"/" + name)).write_bytes(b"data")
    with pytest.raises(OSError) as refused:  # no Linux file system holds such a name: the check is below
        open(raw + b"/" + b"a" * 300, "wb")
    assert refused.value.errno == errno.ENAMETOOLONG
    assert submission_files._name_problem(b"a" * 300, b"a" * 300, 1) == "name longer than 255 bytes"
    long = raw + b"/" + b"/".join([b"d" * 200] * 10)  # a relative path of 2,009 bytes
    os.makedirs(long)
    Path(os.fsdecode(long + b"/f")).write_bytes(b"deep")
    deep = raw + b"/" + b"/".join([b"k"] * 40)
    os.makedirs(deep)
    Path(os.fsdecode(deep + b"/f")).write_bytes(b"deep")

    chosen, left_out = submission_files.regular_files(folder)
    copied_left_out = submission_files.copy_regular_files(folder, tmp_path / "copy")

    names = {str(relative) for relative, _ in chosen}
    assert {"ok.txt", "é" * 127} <= names
    for relative, _ in chosen:
        str(relative).encode("utf-8")  # what is chosen can be staged anywhere
        assert len(os.fsencode(relative)) <= submission_files.MAX_RELATIVE_BYTES and len(relative.parts) <= submission_files.MAX_DEPTH
    assert (tmp_path / "copy" / ("é" * 127)).read_bytes() == b"data"
    joined = "\n".join(left_out)
    assert "notes\\udcff.txt (name not valid UTF-8)" in left_out
    assert "new\\nline.txt (control characters in the name)" in left_out
    assert "tab\\there.txt (control characters in the name)" in left_out
    assert "(path longer than 1024 bytes, with all it holds)" in joined
    assert f"{'/'.join(['k'] * 33)} (more than 32 folders deep, with all it holds)" in joined
    assert len(left_out) == 5 and copied_left_out == left_out
    for reason in left_out:
        assert reason.isascii() and reason.isprintable() and len(reason) < 140, reason
        assert str(tmp_path) not in reason  # no absolute paths


async def _cpu_shares(km):
    async with _ready(km):
        return int((_cpu_group(km) / "cpu.shares").read_text())


@pytest.mark.skipif(not (sandbox.is_root() and (launcher.CGROUP_ROOT / "cpu").is_dir()),
                    reason="needs root and the cgroup v1 cpu controller")
def test_the_evidence_kernel_yields_the_cpu_to_the_notebooks_own():
    """When every core is busy, the kernel that collects the evidence gets half the weight of
    the notebook's (whose cells' timings are the student's), and is not told it is graded."""
    from course.judge.evidence import EVIDENCE_CPU_SHARES, EvidenceExecute

    evidence_km = EvidenceExecute()._new_kernel_manager()
    shares = in_a_thread(lambda: asyncio.run(_cpu_shares(evidence_km)))
    notebook_shares = in_a_thread(lambda: asyncio.run(_cpu_shares(SandboxedKernelManager(kernel_name="python3"))))
    assert (shares, notebook_shares) == (EVIDENCE_CPU_SHARES, 1024)
    assert EVIDENCE_CPU_SHARES < 1024 and not evidence_km.grading_flag
