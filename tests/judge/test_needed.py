"""What the evidence kernel runs of a notebook (course/judge/needed.py): the graded functions
and what they need, nothing a student's other cells do; and how the recorder runs there
(unet_evidence.replay)."""

import json

import nbformat
import pytest

from course.judge import evidence as kernel
from course.judge.needed import plan
from course.judge.preprocessors import Challenge
from course.unet_segmentation.examples import solved

FUNCTIONS = ["conv_block", "unet_model", "upsampling_block"]


def _notebook(*own):
    """The solved release with cells of the student's own after its first code cells."""
    notebook = solved((1, 2, 3))
    at = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "code_06")
    for source in reversed(own):
        notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
    return notebook


def _run(notebook):
    """The code the evidence kernel runs, as one text."""
    steps = plan(kernel.code_cells(notebook), kernel.graded_cells(notebook), FUNCTIONS)
    return "\n".join(text for step in steps if step[0] == "code" for _, text in step[2])


def test_the_solved_notebook_runs_its_imports_and_its_three_functions_only():
    notebook = _notebook()
    steps = plan(kernel.code_cells(notebook), kernel.graded_cells(notebook), FUNCTIONS)
    code = _run(notebook)
    assert "from tensorflow.keras.layers import" in code
    for name in FUNCTIONS:
        assert f"def {name}(" in code
    for left_out in ("find_data_dir", "browse_frames", "unet_checks.test", "model.fit", "flag_stub", "EPOCHS"):
        assert left_out not in code, left_out
    graded = [c.metadata["nbgrader"]["grade_id"] for c in notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("grade_")]
    assert [step[1] for step in steps if step[0] == "record"] == graded and len(graded) == 6


@pytest.mark.parametrize("attack", [
    'from unittest import mock\nmock.patch("builtins.exec", print).start()',
    'import pkgutil\npkgutil.resolve_name("sys:modules")["unet_evidence"] = None',
    "import operator\noperator.setitem(globals(), 'conv_block', print)",
    "import signal\nsignal.signal(signal.SIGALRM, lambda n, f: None)\nsignal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)",
    "import os\ngrading = 'NBGRADER_EXECUTION' in os.environ",
    "import threading\nthreading.Thread(target=print, daemon=True).start()",
])
def test_a_cell_of_ones_own_that_uses_nothing_the_functions_read_never_runs(attack):
    code = _run(_notebook(attack))
    for line in attack.splitlines():
        if not line.startswith("import") and not line.startswith("from"):
            assert line not in code, line


def test_what_the_functions_read_from_a_cell_of_ones_own_runs_with_what_changes_it():
    notebook = _notebook("SETTINGS = {}\nSETTINGS['kernel'] = 3\nunused = print('exploring')",
                         "def helper(x):\n    return x\n\nLAYERS = []\nLAYERS.append(helper)")
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "conv_block":
            cell.source = cell.source.replace("    conv = Conv2D", "    _ = (SETTINGS['kernel'], LAYERS)\n    conv = Conv2D", 1)
    code = _run(notebook)
    for needed in ("SETTINGS = {}", "SETTINGS['kernel'] = 3", "def helper(x):", "LAYERS = []", "LAYERS.append(helper)"):
        assert needed in code, needed
    assert "exploring" not in code  # on a line of its own, not needed


def test_a_statement_sharing_a_line_with_one_not_needed_is_rewritten_alone():
    notebook = _notebook("FILTERS = 3; print('not needed')")
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "conv_block":
            cell.source = cell.source.replace("Conv2D(n_filters, 3,", "Conv2D(n_filters, FILTERS,")
    code = _run(notebook)
    assert "FILTERS = 3" in code and "not needed" not in code


def test_a_modules_own_functions_and_the_instructors_cells_run_only_for_their_definitions():
    """`su.browse_frames(...)`, `np.random.seed(...)` or the locked cells' calls never run: only
    the definitions the functions read (`import tensorflow as tf`)."""
    notebook = _notebook("import numpy as np\nnp.random.seed(1)\ntf.keras.mixed_precision.set_global_policy('float32')")
    code = _run(notebook)
    assert "np.random.seed" not in code and "set_global_policy" not in code and "set_random_seed" not in code
    assert "import tensorflow as tf" in code


def test_a_change_through_another_name_is_not_followed():
    """The limit the README states: an alias's change does not run (the functions see the
    object as the statements that name it leave it)."""
    notebook = _notebook("CONFIG = {'kernel': 3}\nalias = CONFIG\nalias['kernel'] = 5")
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "conv_block":
            cell.source = cell.source.replace("Conv2D(n_filters, 3,", "Conv2D(n_filters, CONFIG['kernel'],")
    code = _run(notebook)
    assert "CONFIG = {'kernel': 3}" in code and "alias['kernel'] = 5" not in code


def test_the_notebooks_kernel_never_sees_a_challenge():
    """Challenge draws the arguments and the secret and takes the recorder's call out of the
    graded cells: nothing of them reaches the kernel that runs the student's notebook."""
    notebook = _notebook()
    resources = {}
    Challenge().preprocess(notebook, resources)
    text = nbformat.writes(notebook)
    assert "unet_evidence" not in text
    for challenge in resources["unet_challenges"].values():
        assert challenge["nonce"] not in text and str(challenge["seed"]) not in text


HELPER = '''"""Looks like a helper; on import, plants a thread that points the recorder at the solution."""
import gc, threading, time

def noop():
    return None

def _solution(name):
    return None

STOP = []


def _redirect():
    while not STOP:
        for found in gc.get_objects():
            if isinstance(found, dict) and "collect" in found and "replay" in found:
                found["collect"] = lambda name, namespace, challenge: {"nonce": challenge.get("nonce")}
        time.sleep(0.001)

THREAD = threading.Thread(target=_redirect, daemon=True)
THREAD.start()
'''


def test_a_module_of_ones_own_that_plants_a_thread_gets_nothing_recorded(tmp_path, monkeypatch):
    """Code the functions need runs in the evidence kernel, a module of the student's own
    included: what it leaves running there (a thread) or changes in the recorder stops the
    recording, and the tamper reader reads the module too."""
    import catalogue
    from course.judge import tamper
    from course.unet_segmentation import RELEASE

    (tmp_path / "helper.py").write_text(HELPER)
    monkeypatch.syspath_prepend(str(tmp_path))
    notebook = _notebook()
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "conv_block":
            cell.source = "import helper\n\n" + cell.source.replace("    conv = Conv2D", "    helper.noop()\n    conv = Conv2D", 1)
    recorder = catalogue._recorder()
    original = recorder.collect
    try:
        verdicts = catalogue.evidence_run(notebook)
    finally:  # this process's recorder, as the test found it
        import helper

        helper.STOP.append(True)
        helper.THREAD.join(10)
        recorder.collect = original
    assert not any(passed for passed, _ in verdicts.values()), verdicts
    assert any("thread(s) running" in message or "recorder was changed" in message for _, message in verdicts.values())
    found = tamper.findings(notebook, files=tamper.module_files(tmp_path, RELEASE))
    assert any(f.startswith("file helper.py") for f in found), found
    assert tamper.module_files(RELEASE, RELEASE) == []  # the course's own files, as shipped, are not read


def test_a_function_that_never_returns_costs_its_own_cells_only():
    """The evidence kernel records every graded cell in one run: each recording has the time a
    graded cell has, so a conv_block stuck in a loop fails its cells and unet_model (recorded
    with the grader's stand-ins for the blocks) still gets its verdict."""
    import catalogue
    from course.judge import preprocessors as judge
    from course.unet_segmentation import challenges

    notebook = _notebook()
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "conv_block":
            cell.source = cell.source.replace("    conv = Conv2D", "    while True:\n        pass\n    conv = Conv2D", 1)
    graded = kernel.graded_cells(notebook)
    drawn = {grade_id: challenges.draw(grade_id) for grade_id in graded.values()}
    seconds = {"conv_block": 2, "upsampling_block": 30, "unet_model": 30}  # the others: time enough on a busy machine
    steps = [step if step[0] == "code" else ["record", judge.FUNCTION_OF[step[1]], drawn[step[1]],
                                             seconds[judge.FUNCTION_OF[step[1]]]]
             for step in plan(kernel.code_cells(notebook), graded, FUNCTIONS)]
    collected = []
    catalogue._recorder().replay(steps, show=lambda evidence: collected.append(json.loads(json.dumps(evidence))))
    by_function = {}
    for evidence in collected:
        by_function.setdefault(evidence["function"], []).append(evidence)
    assert all(e.get("error") == "conv_block did not return within 2 s (the time a graded cell has)"
               for e in by_function["conv_block"])
    grade_ids = [g for g in drawn if judge.FUNCTION_OF[g] == "unet_model"]
    verdicts = [judge.verdict(g, drawn[g], e) for g, e in zip(grade_ids, by_function["unet_model"])]
    assert all(passed for passed, _ in verdicts), verdicts


def test_magics_that_bind_what_cannot_be_read_run_whenever_anything_is_needed():
    code = _run(_notebook("%%writefile my_layers.py\ndef conv(x):\n    return x", "%run my_layers.py", "%time x = 1"))
    assert "run_cell_magic('writefile'" in code and "run_line_magic('run'" in code and "'time'" not in code
