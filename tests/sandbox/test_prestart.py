"""Kernels started ahead (SandboxedExecute.prestart): the next notebook's kernel has imported
TensorFlow before its notebook comes, yet it sees nothing of the notebook before it (no file,
no name, no module state) and only its own notebook's files. nbgrader makes a new Execute for
every notebook; so does this test."""

import os

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from course.sandbox import execute as sandbox
from course.sandbox import launcher
from course.sandbox.execute import SandboxedExecute

from course_helpers import in_a_thread

LEAVE = """import builtins, os
open("left_by_a.txt", "w").write("A")
builtins.LEFT_BY_A = True
os.environ["LEFT_BY_A"] = "1"
print(sorted(os.listdir(".")))"""
LOOK = """import builtins, os, sys
print(sorted(os.listdir(".")), os.path.exists("left_by_a.txt"), hasattr(builtins, "LEFT_BY_A"),
      "LEFT_BY_A" in os.environ, "tensorflow" in sys.modules, [n for n in dir() if "tensorflow" in n])"""


FRESH = Config({"SandboxedKernelManager": {"zygote": False}})  # kernels started afresh, as without root


def _run(folder, source, own_file, config=FRESH):
    folder.mkdir()
    (folder / own_file).write_text("mine")
    notebook = new_notebook(cells=[new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    SandboxedExecute(prestart=1, timeout=120, config=config).preprocess(notebook, {"metadata": {"path": str(folder)}})
    outputs = notebook.cells[0].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    return "".join(o.get("text", "") for o in outputs).strip(), notebook.cells[0].execution_count


def test_a_kernel_started_ahead_is_warm_and_sees_only_its_own_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setattr(sandbox, "_AHEAD", {})  # as in a new nbgrader process
    in_a_thread(lambda: _check(tmp_path))


def _check(tmp_path):
    first, _ = _run(tmp_path / "a", LEAVE, "a_only.txt")
    assert first == "['a_only.txt', 'left_by_a.txt']"
    assert len(sandbox._SPARES) == 1  # the next notebook's kernel, started during this one
    second, count = _run(tmp_path / "b", LOOK, "b_only.txt")
    assert second == "['b_only.txt'] False False False True []", second
    assert count == 1  # the warm-up left no trace in the history
    assert not sandbox._SPARES  # one kernel ahead was asked for, and it was used
    assert not (tmp_path / "b" / "left_by_a.txt").exists() and os.listdir(tmp_path / "b") == ["b_only.txt"]


@pytest.mark.skipif(not (launcher.is_root() and launcher.has_cgroups()), reason="kernels are forked only as root")
def test_kernels_forked_from_a_zygote_are_not_started_ahead(tmp_path, monkeypatch):
    """A forked kernel starts in a few tenths of a CPU-second: none is started ahead."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setattr(sandbox, "_AHEAD", {})
    monkeypatch.setattr(sandbox, "_SPARES", [])

    def both():
        first, _ = _run(tmp_path / "a", LEAVE, "a_only.txt", config=Config())
        ahead = len(sandbox._SPARES)
        second, _ = _run(tmp_path / "b", LOOK, "b_only.txt", config=Config())
        return first, ahead, second

    first, ahead, second = in_a_thread(both)
    assert first == "['a_only.txt', 'left_by_a.txt']" and ahead == 0
    assert second == "['b_only.txt'] False False False True []", second  # TensorFlow: the zygote's import
