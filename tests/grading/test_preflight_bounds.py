"""The preflight of `course grade` reads every notebook in a child under limits of its own
(course/bounded.py): notebooks the size cap allows, built to cost the reader gigabytes, are
graded or refused by name, and the `course grade` process stays small whatever they hold.
Each case runs in a fresh process, as `course grade` does, which prints its peak memory (VmHWM:
ru_maxrss would start from the peak of the process that started it)."""

import json
import subprocess
import sys

import nbformat
import pytest

from course.assignment import ASSIGNMENT, NOTEBOOK
from course.grading.preflight import MAX_NOTEBOOK_BYTES, MEMORY
from course.unet_segmentation.examples import solved

from course_helpers import ROOT

GRADER_PROCESS_MB = 800  # the peak of the `course grade` process, for any notebook the cap allows
NEAR_CAP = MAX_NOTEBOOK_BYTES - (2 << 20)

# The preflight, the payload and its digest of one submission, as grade_all does them.
PREFLIGHT = """
import json, sys
from pathlib import Path
from course.grading import grader
settings = grader.Settings(root=Path(sys.argv[1]))
checked, refused = grader._preflight(settings, "student", grader.source_metadata())
if not refused:
    grader._digest("grading", {}, grader._payload(settings, "student", checked))
print(json.dumps({"refused": refused.reason if refused else None,
                  "advisories": checked.advisories if checked else [],
                  "peak_mb": next(int(line.split()[1]) for line in open("/proc/self/status")
                                  if line.startswith("VmHWM:")) / 1024}))
"""


def _literal(notebook):
    """A cell of one 10 MB list literal: Python's parser needs about 4.7 GB for it."""
    notebook.cells.append(nbformat.v4.new_code_cell("x = [" + "0," * 5_000_000 + "]"))
    return nbformat.writes(notebook)


def _empty_lists(notebook):
    """Notebook metadata of 15 million empty lists: about 1 GB once json.loads has read them."""
    text = nbformat.writes(notebook)
    return text.replace('"metadata": {', '"metadata": {"x": [' + "[]," * ((NEAR_CAP - len(text)) // 3) + '[]],', 1)


def _four_byte_text(notebook):
    """A markdown cell of 11 million four-byte characters: 4 bytes each in memory too."""
    notebook.cells.append(nbformat.v4.new_markdown_cell("\U0001F697" * ((NEAR_CAP - 100_000) // 4)))
    return nbformat.writes(notebook)


@pytest.mark.parametrize("build, outcome", [
    (_literal, "graded, the literal's cell not scanned"),
    (_empty_lists, "refused: too costly to read"),
    (_four_byte_text, "graded"),
], ids=["10 MB list literal", "45 MB of empty lists", "45 MB of four-byte characters"])
def test_a_notebook_built_to_exhaust_the_reader_costs_the_grader_nothing(tmp_path, build, outcome):
    folder = tmp_path / "submitted" / "student" / ASSIGNMENT
    folder.mkdir(parents=True)
    notebook = solved((1, 2, 3))
    (folder / NOTEBOOK).write_text(build(notebook))
    size = (folder / NOTEBOOK).stat().st_size
    assert size < MAX_NOTEBOOK_BYTES  # what the cap lets through
    run = subprocess.run([sys.executable, "-c", PREFLIGHT, tmp_path], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    found = json.loads(run.stdout.splitlines()[-1])
    print(f"\n{size / 2**20:.0f} MB notebook: `course grade` process peak {found['peak_mb']:.0f} MB; "
          f"refused: {found['refused']}; advisories: {found['advisories']}")
    assert found["peak_mb"] < GRADER_PROCESS_MB, found
    if outcome == "refused: too costly to read":
        assert found["refused"] == (f"invalid notebook: {NOTEBOOK} could not be read and repaired within the "
                                    f"grader's limits ({MEMORY >> 20} MB of memory)"), found
    else:
        assert found["refused"] is None, found
    if outcome == "graded, the literal's cell not scanned":
        # the literal is the notebook's last code cell, numbered as an instructor counts them
        last = sum(cell.cell_type == "code" for cell in notebook.cells)
        assert found["advisories"] == [f"code cell {last} could not be scanned within the grader's limits ({MEMORY >> 20} "
                                       "MB of memory); the judge reads it again under limits of its own"], found


def test_nested_metadata_and_outputs_are_not_shipped(tmp_path):
    """1 MB of metadata nested 450 deep would be 250 MB once nbformat indents it: what grading
    never reads (outputs, metadata other than nbgrader's and the editor's) is left out."""
    from course.grading import grader

    notebook = solved((1, 2, 3))
    notebook.metadata["x"] = "@@"
    code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="x" * 1000)]
    chain = "[" * 450 + "]" * 450
    text = nbformat.writes(notebook).replace('"@@"', "[" + ",".join([chain] * 1200) + "]")
    folder = tmp_path / "submitted" / "student" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).write_text(text)
    (folder / "timestamp.txt").write_bytes(b"1 " * 500_000)
    settings = grader.Settings(root=tmp_path)
    checked, refused = grader._preflight(settings, "student", grader.source_metadata())
    assert refused is None
    payload = grader._payload(settings, "student", checked)
    assert len(payload["notebook"]) < len(nbformat.writes(solved((1, 2, 3)))) + 10_000, len(payload["notebook"])
    shipped = nbformat.reads(payload["notebook"].decode(), as_version=4)
    assert "x" not in shipped.metadata and "kernelspec" in shipped.metadata
    assert all(not c.get("outputs") for c in shipped.cells)
    # a timestamp.txt nbgrader would hand whole to dateutil is left out, and said
    assert "timestamp.txt" not in payload["files"]
    assert "timestamp.txt left out (over 64 bytes): no submission time, so no late penalty" in checked.repairs


def test_an_advisory_that_cannot_be_written_is_said_and_the_others_kept(tmp_path):
    from course.grading.preflight import read_submission

    notebook = solved((1, 2, 3))
    notebook.cells.append(nbformat.v4.new_code_cell("import numpy as np\nnp.x[0x" + "f" * 5000 + "] = 1"))
    notebook.cells.append(nbformat.v4.new_code_cell("import numpy as np\nnp.testing.assert_allclose = print"))
    path = tmp_path / NOTEBOOK
    path.write_text(nbformat.writes(notebook))
    checked = read_submission(path)
    last = sum(cell.cell_type == "code" for cell in notebook.cells)
    assert checked.advisories == [f"code cell {last - 1}: could not be scanned (ValueError)",
                                  f"code cell {last}: changes np.testing.assert_allclose (line 2)"], checked.advisories
