"""Broken and hostile submissions, and the outcome each must get from `course grade`.

Each builder writes the submission folder of one student. `EXPECTED` gives the status and
the points per exercise (1, 2, 3) the grader must report.
"""

import json

import nbformat

from course.examples import solved
from course.layout import NOTEBOOK


def _index(notebook, grade_id):
    return next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with_cell(notebook, after, source):
    notebook.cells.insert(_index(notebook, after) + 1, nbformat.v4.new_code_cell(source))
    return notebook


def invalid_json(folder):
    (folder / NOTEBOOK).write_text('{"cells": [ this is not json')


def deleted_graded_cell(folder):
    notebook = solved((1, 2, 3))
    del notebook.cells[_index(notebook, "grade_conv_block_defaults")]
    nbformat.write(notebook, folder / NOTEBOOK)


def edited_test_cells(folder):
    """The blank release, with every graded cell rewritten to pass."""
    notebook = solved(())
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "print('all good')\n10"
    nbformat.write(notebook, folder / NOTEBOOK)


def copied_test_cell(folder):
    notebook = solved((1, 2, 3))
    copy = nbformat.from_dict(json.loads(json.dumps(notebook.cells[_index(notebook, "grade_unet_model_defaults")])))
    notebook.cells.append(copy)
    nbformat.write(notebook, folder / NOTEBOOK)


def corrupt_metadata(folder):
    notebook = solved((1, 2, 3))
    notebook.cells[_index(notebook, "grade_upsampling_block_defaults")].metadata.nbgrader["schema_version"] = "banana"
    nbformat.write(notebook, folder / NOTEBOOK, version=4)


def reordered_cells(folder):
    """Exercise 1's graded cells moved above the cell that defines conv_block."""
    notebook = solved((1, 2, 3))
    moved = [notebook.cells.pop(_index(notebook, g)) for g in ("grade_conv_block_defaults", "grade_conv_block_arguments")]
    at = _index(notebook, "conv_block")
    notebook.cells[at:at] = moved
    nbformat.write(notebook, folder / NOTEBOOK)


def infinite_loop(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", "while True:\n    pass"), folder / NOTEBOOK)


def memory_bomb(folder):
    bomb = "huge = bytearray(64 * 2**30)  # 64 GiB"
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", bomb), folder / NOTEBOOK)


def kills_kernel(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "unet_model", "import os\nos._exit(1)"), folder / NOTEBOOK)


def output_floods(folder):
    flood = ("import sys\nfor i in range(100000):\n    print('line', i)\n"
             "for i in range(20000):\n    print('noise', i, file=sys.stderr)")
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", flood), folder / NOTEBOOK)


ALWAYS_EQUAL = '''class Anything:
    """Equal to everything: tries to fool `assert result == expected`."""
    def __eq__(self, other):
        return True
    shape = (None, 48, 64, 32)

def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    return Anything(), Anything()'''


def always_equal(folder):
    notebook = solved((2,))
    notebook.cells[_index(notebook, "conv_block")].source = ALWAYS_EQUAL
    notebook.cells[_index(notebook, "unet_model")].source = (
        "def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23):\n    return Anything()")
    nbformat.write(notebook, folder / NOTEBOOK)


def patches_numpy(folder):
    patch = "import numpy as np\nnp.allclose = lambda *args, **kwargs: True"
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", patch), folder / NOTEBOOK)


def patches_grader_loader(folder):
    """The blank release, with runpy replaced by a fake grader that gives full points."""
    patch = ("import runpy\n"
             "runpy.run_path = lambda *args, **kwargs: {'grade': lambda check, namespace, points: points}")
    nbformat.write(_with_cell(solved(()), "conv_block", patch), folder / NOTEBOOK)


def patches_test_helpers(folder):
    patch = "import unet_checks\nunet_checks.test_conv_block = lambda function: print('All tests passed')"
    nbformat.write(_with_cell(solved(()), "conv_block", patch), folder / NOTEBOOK)


def points_grader_elsewhere(folder):
    patch = ("import os\nopen('fake.py', 'w').write('def grade(check, namespace, points):\\n    return points\\n')\n"
             "os.environ['UNET_GRADER'] = os.path.abspath('fake.py')")
    nbformat.write(_with_cell(solved(()), "conv_block", patch), folder / NOTEBOOK)


VANDAL = r'''from pathlib import Path
attempts = []
for parent in Path.cwd().resolve().parents:
    for target in list(parent.glob("submitted/*/unet_segmentation/*.ipynb")) + list(parent.glob("gradebook.db")) \
            + list(parent.glob("source/unet_segmentation/*.ipynb")):
        try:
            target.write_text("vandalised")
            attempts.append(f"wrote {target}")
        except OSError as error:
            attempts.append(f"refused: {type(error).__name__}")
        try:
            target.unlink()
            attempts.append(f"deleted {target}")
        except OSError:
            pass
print(f"attempts={len(attempts)} refused={sum(a.startswith('refused') for a in attempts)}")'''


def vandal(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", VANDAL), folder / NOTEBOOK)


FULL, NONE = (10, 10, 10), (0, 0, 0)

#: student -> (builder, expected status, expected points per exercise or None when ungraded)
EXPECTED = {
    "h_invalid_json": (invalid_json, "invalid notebook", None),
    "h_deleted_graded_cell": (deleted_graded_cell, "graded (repaired)", FULL),
    "h_edited_test_cells": (edited_test_cells, "graded", NONE),
    "h_copied_test_cell": (copied_test_cell, "graded (repaired)", FULL),
    "h_corrupt_metadata": (corrupt_metadata, "graded (repaired)", FULL),
    "h_reordered_cells": (reordered_cells, "graded", (0, 10, 10)),
    "h_infinite_loop": (infinite_loop, "cell timed out", FULL),
    "h_memory_bomb": (memory_bomb, "out of memory in a cell", FULL),
    "h_kills_kernel": (kills_kernel, "kernel died", None),
    "h_output_floods": (output_floods, "graded", FULL),
    "h_always_equal": (always_equal, "graded", (0, 10, 0)),
    "h_patches_numpy": (patches_numpy, "flagged", NONE),
    "h_patches_grader_loader": (patches_grader_loader, "flagged", NONE),
    "h_patches_test_helpers": (patches_test_helpers, "flagged", NONE),
    "h_points_grader_elsewhere": (points_grader_elsewhere, "flagged", NONE),
    "h_vandal": (vandal, "graded", FULL),
}
