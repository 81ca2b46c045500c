"""Hidden tests run out of the kernel's history (course/sandbox/hidden_calls.py): a later cell that
prints everything the kernel kept of its cells finds no hidden code. Tiny notebooks in real
sandboxed kernels, no TensorFlow."""

import tempfile

from nbformat.v4 import new_code_cell, new_notebook

from course.sandbox.execute import SandboxedExecute
from course.sandbox.hidden_calls import split_hidden

HIDDEN = "SECRET_ARGUMENTS = {'nonce': 'n0nce-4f1c'}\nprint('hidden ran', sorted(SECRET_ARGUMENTS))"
GRADED = f"x = 1\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS\nprint('after the region')"
PRINTS_HISTORY = """import linecache
ip = get_ipython()
print(In, _ih, ip.history_manager.input_hist_raw)
print(["".join(entry[2]) for entry in list(linecache.cache.values()) if len(entry) > 2])
ip.run_line_magic("history", "-n")
"""


def _run(*sources):
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    SandboxedExecute(timeout=60, allow_errors=True).preprocess(notebook, {"metadata": {"path": tempfile.mkdtemp()}})
    return notebook


def _text(cell):
    return "".join(o.get("text", "") + str(o.get("data", "")) + o.get("evalue", "") for o in cell.outputs)


def test_split_hidden_keeps_the_visible_lines_and_needs_both_markers():
    assert split_hidden(GRADED) == ("x = 1\nprint('after the region')", HIDDEN)
    assert split_hidden("a = 1\n### BEGIN HIDDEN TESTS\nb = 2") == ("a = 1\n### BEGIN HIDDEN TESTS\nb = 2", None)
    assert split_hidden("a = 1") == ("a = 1", None)


def test_a_later_cell_finds_no_hidden_code_anywhere_in_the_kernel():
    notebook = _run(GRADED, PRINTS_HISTORY, "print(SECRET_ARGUMENTS['nonce'] == 'n0nce-4f1c')")
    graded, history, namespace = notebook.cells
    assert "hidden ran ['nonce']" in _text(graded)  # the hidden code ran, its output is the cell's
    assert "after the region" in _text(graded)
    assert graded.source == GRADED  # the notebook keeps the whole source
    shown = _text(history)
    assert "x = 1" in shown and "import linecache" in shown  # what the kernel keeps is printed
    for secret in ("HIDDEN TESTS", "SECRET_ARGUMENTS", "n0nce", "hidden ran"):
        assert secret not in shown, secret
    assert "True" in _text(namespace)  # in the notebook's own namespace, as before


def test_an_error_in_the_hidden_code_is_the_cells_error_and_stops_nothing():
    broken = "### BEGIN HIDDEN TESTS\nraise ValueError('the hidden check failed')\n### END HIDDEN TESTS"
    notebook = _run("y = 2\n" + broken, "print('next', y)")
    errors = [o for o in notebook.cells[0].outputs if o.output_type == "error"]
    assert [(e.ename, e.evalue) for e in errors] == [("ValueError", "the hidden check failed")]
    assert "next 2" in _text(notebook.cells[1])


def test_hidden_code_after_an_error_in_the_visible_code_does_not_run():
    notebook = _run("1 / 0\n### BEGIN HIDDEN TESTS\nprint('hidden ran')\n### END HIDDEN TESTS")
    assert "hidden ran" not in _text(notebook.cells[0])
    assert [o.ename for o in notebook.cells[0].outputs if o.output_type == "error"] == ["ZeroDivisionError"]
