"""What the evidence kernel runs of a notebook (course/judge/needed.py): the graded functions
and what they need, nothing a student's other cells do; and how the recorder runs there
(unet_evidence.replay)."""

import json

import nbformat

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
    steps = kernel.plan(notebook)
    return "\n".join(text for step in steps if step[0] == "code" for _, text in step[2])


def test_the_evidence_run_is_the_students_cells_and_the_instructors_definitions_they_need():
    """Every cell a student writes runs whole, in order, as in the notebook (a cell of one's own
    that changes or redefines anything runs there too); of the instructor's cells only the
    definitions the functions need: no data is read, nothing is trained, no test runs."""
    notebook = _notebook("import numpy as np\nnp.random.seed(1)\nalias = {'kernel': 3}\nalias['kernel'] = 5")
    steps = plan(kernel.code_cells(notebook), kernel.graded_cells(notebook), FUNCTIONS, kernel.trained_at(notebook))
    code = _run(notebook)
    for name in FUNCTIONS:
        assert f"def {name}(" in code
    for runs in ("from tensorflow.keras.layers import", "np.random.seed(1)", "alias['kernel'] = 5", "browse_frames",
                 "EPOCHS = 10"):
        assert runs in code, runs
    for left_out in ("find_data_dir", "set_random_seed", "unet_checks.test", ".fit(", "flag_stub", "import unet_checks",
                     "unet = unet_model"):
        assert left_out not in code, left_out
    graded = [c.metadata["nbgrader"]["grade_id"] for c in notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("grade_")]
    assert [step[1] for step in steps if step[0] == "record"] == graded and len(graded) == 6
    assert steps[-1] == ["assemble"]  # where the notebook builds the network it trains, after its graded cells


def test_the_instructors_definitions_a_students_statement_needs_come_with_it():
    notebook = _notebook("height, width = IMAGE_SIZE\n\ndef helper():\n    return height")
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "conv_block":
            cell.source = cell.source.replace("    conv = Conv2D", "    helper()\n    conv = Conv2D", 1)
    assert "IMAGE_SIZE = (96, 128)" in _run(notebook)
    assert "IMAGE_SIZE = (96, 128)" not in _run(_notebook())


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
    from course.unet_segmentation import RELEASE, SOURCE

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
    found = tamper.findings(notebook, files=tamper.module_files(tmp_path, SOURCE, RELEASE))
    assert any(f.startswith("file helper.py") for f in found), found
    # the course's own files, as shipped, are not read (only the source may be there, on a worker)
    assert tamper.module_files(RELEASE, SOURCE) == [] and tamper.module_files(RELEASE, RELEASE) == []
    changed = tmp_path / "segmentation_utils.py"
    changed.write_text((RELEASE / "segmentation_utils.py").read_text() + "\nimport gc\n")
    assert [name for name, _ in tamper.module_files(tmp_path, SOURCE, RELEASE)] == ["helper.py", "segmentation_utils.py"]


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
    steps = [["record", judge.FUNCTION_OF[step[1]], drawn[step[1]], seconds[judge.FUNCTION_OF[step[1]]]]
             if step[0] == "record" else step + [30] for step in kernel.plan(notebook)]
    collected = []
    catalogue._recorder().replay(steps, show=lambda evidence: collected.append(json.loads(json.dumps(evidence))))
    by_function = {}
    for evidence in collected:
        by_function.setdefault(evidence["function"], []).append(evidence)
    assert all(e.get("error") == "conv_block did not return within 2 s (the time a graded cell has)"
               for e in by_function["conv_block"])
    by_nonce = {evidence["nonce"]: evidence for evidence in collected}
    verdicts = [judge.verdict(g, drawn[g], by_nonce[drawn[g]["nonce"]]) for g in drawn
                if judge.FUNCTION_OF[g] == "unet_model"]
    assert all(passed for passed, _ in verdicts), verdicts
