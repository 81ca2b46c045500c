"""Submissions that attack the trusted side of grading (the judge, nbgrader's memory and disk,
the time and CPU of other submissions, the grader's handling of names), and bystanders that
share their batch. Each builder writes the submission folder of one student; `EXPECTED`
gives the status and points per exercise (1, 2, 3) that `course grade` must report."""

import os
from pathlib import Path

import nbformat

from course.assignment import ASSIGNMENT, NOTEBOOK
from course.layout import nbgrader
from course.unet_segmentation.examples import solved

from course_helpers import CELL_TIMEOUT
from hostile import _index, _with_cell

FULL = (10, 10, 10)
ODD_STUDENT = b"t_\xff"  # a student folder whose name is not UTF-8


def bystander(folder):
    nbformat.write(solved((1, 2, 3)), folder / NOTEBOOK)


def sleeper(folder):
    """Sleeps through many short cells: no CPU, every cell under the cell timeout, the whole
    notebook far over its budget."""
    notebook = solved((1, 2, 3))
    for _ in range(5):
        _with_cell(notebook, "conv_block", f"import time\ntime.sleep({CELL_TIMEOUT - 10})")
    nbformat.write(notebook, folder / NOTEBOOK)


OUTPUT_BOMB = """import sys
from IPython.display import display
line = "x" * 50_000_000
{}"""


def output_bomb(folder):
    """Six cells that each show one 50 MB line, on stdout, stderr and as a display."""
    notebook = solved((1, 2, 3))
    for show in ("print(line)", "print(line, file=sys.stderr)", "display({'text/plain': line}, raw=True)") * 2:
        _with_cell(notebook, "conv_block", OUTPUT_BOMB.format(show))
    nbformat.write(notebook, folder / NOTEBOOK)


ADD_CHAIN = '''def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    x = inputs
    for _ in range(30):  # each layer adds its input to itself: a graph whose tree doubles
        x = tf.keras.layers.Add()([x, x])
    return x, x
'''


def add_chain(folder):
    """conv_block returns 30 Add([x, x]) layers: small evidence, a tree of 2**30 leaves."""
    notebook = solved((1, 2, 3))
    notebook.cells[_index(notebook, "conv_block")].source = ADD_CHAIN
    nbformat.write(notebook, folder / NOTEBOOK)


ODD_NAMES = [b"notes\xff.txt", b"new\nline.txt", b"tab\there.txt"]


def odd_names(folder):
    """The reference, beside files whose names no staging folder or report can take as they are."""
    bystander(folder)
    raw = os.fsencode(folder)
    for name in ODD_NAMES:
        with open(os.path.join(raw, name), "wb") as handle:
            handle.write(b"hello")
    _nested(raw, [b"p" * 199] * 20, b"deep.txt")  # a relative path of 4,008 bytes
    _nested(raw, [b"d"] * 40, b"bottom.txt")  # 40 folders deep
    (folder / "plain.txt").write_text("kept")


def _nested(top, folders, name):
    """Make top/folders.../name, one folder at a time relative to the one before: the whole
    path may be longer than the system lets any single call name."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for folder in folders:
            os.mkdir(folder, dir_fd=fd)
            inner = os.open(folder, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        handle = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(handle, b"deep")
        os.close(handle)
    finally:
        os.close(fd)


SPINNER = """import os, time
for _ in range(16):  # each in a session of its own, each under the per-process CPU limit
    if os.fork() == 0:
        os.setsid()
        end = time.time() + 20
        while time.time() < end:
            pass
        os._exit(0)
"""


def spinner(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "unet_model", SPINNER), folder / NOTEBOOK)


READER_BOMB = "\n".join(f"x{i} = !echo {i}" for i in range(3000))


def reader_bomb(folder):
    """A cell of 3,000 shell magics (55 kB): IPython re-tokenizes the whole cell once per magic,
    500 times, which takes minutes to read; the kernel gives up at its cell timeout, the
    tamper reader at its own limit, and a person reads the notebook."""
    nbformat.write(_with_cell(solved((1, 2, 3)), "unet_model", READER_BOMB), folder / NOTEBOOK)


#: student -> (builder, expected status, expected points per exercise or None when ungraded)
EXPECTED = {
    "t_bystander_1": (bystander, "graded", FULL),
    "t_sleeper": (sleeper, "timed out", None),
    "t_bystander_2": (bystander, "graded", FULL),
    "t_output_bomb": (output_bomb, "graded", FULL),
    "t_add_chain": (add_chain, "graded", (0, 10, 10)),
    "t_odd_names": (odd_names, "graded (repaired)", FULL),
    "t_spinner": (spinner, "graded", FULL),
    "t_reader_bomb": (reader_bomb, "cell timed out", (0, 0, 0)),
    "t_bystander_3": (bystander, "graded", FULL),
}


def write_class(root):
    """The class of EXPECTED, and the student ODD_STUDENT, in the course folder `root`."""
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    for student, (build, _, _) in EXPECTED.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        build(folder)
    odd = os.path.join(os.fsencode(root / "submitted"), ODD_STUDENT, ASSIGNMENT.encode())
    os.makedirs(odd)
    bystander(Path(os.fsdecode(odd)))
    return root
