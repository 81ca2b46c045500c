"""Reading the student's cells for code that reaches into the grading machinery
(course/judge/tamper.py): every way in that the issue names is found, and what real notebooks
do (imports, prints to stderr, plots, timing magics, display settings) is not."""

import time

import nbformat
import pytest

from course.assignment import NOTEBOOK, RELEASE
from course.judge import tamper

IMPORTED = {"tf", "np", "plt", "os", "sys", "Conv2D", "keras", "unet_evidence"}

ATTACKS = {
    "import unet_evidence\nunet_evidence.record = print": "imports unet_evidence",
    "import sys\nsys.modules['unet_evidence'].record = print": "uses sys.modules",
    "import gc\n[o for o in gc.get_objects()]": "imports gc",
    "from gc import get_referrers": "imports gc",
    "import inspect\ninspect.currentframe()": "uses inspect.currentframe",
    "import inspect\nframes = inspect.stack()": "uses inspect.stack",
    "from inspect import stack": "imports stack from inspect",
    "import sys\nframe = sys._getframe(1)": "uses sys._getframe",
    "def conv_block(x):\n    f = x.f_back.f_globals": "uses x.f_back",
    "import builtins\nbuiltins.exec = print": "imports builtins",
    "__builtins__['exec'] = print": "uses __builtins__",
    "exec('x = 1')": "uses exec",
    "eval('1')": "uses eval",
    "code = compile('1', 'x', 'eval')": "uses compile",
    "m = __import__('sy' + 's')": "uses __import__",
    "globals()[name] = None": "uses globals",
    "globals()['__builtins__']": "names '__builtins__'",
    "g = globals()": "uses globals",
    "setattr(tf.keras.layers.Conv2D, 'call', None)": "uses setattr",
    "getattr(sys, 'mod' + 'ules')": "uses getattr with a name computed as it runs",
    "getattr(sys, 'modules')": "names 'modules'",
    "tf.keras.layers.Conv2D.call = lambda self, x: x": "changes tf.keras.layers.Conv2D.call",
    "Conv2D.call = None": "changes Conv2D.call",
    "np.asarray = list": "changes np.asarray",
    "import importlib\nimportlib.reload(os)": "imports importlib",
    "ip = get_ipython()": "uses get_ipython",
    "get_ipython().display_pub.publish = print": "uses get_ipython",
    "%config InteractiveShell.ast_node_interactivity = 'none'": "runs the magic %config",
    "%%script python\nprint(1)": "runs the magic %%script",
    "%config InteractiveShell.ast_node_interactivity = 'none'\n": "runs the magic %config",
    "%load_ext my_extension": "runs the magic %load_ext",
    "%%capture\nimport gc": "imports gc",
    "from IPython.core.interactiveshell import InteractiveShell": "imports IPython.core.interactiveshell",
    "def conv_block(inputs=None, n_filters=32):\n    f = conv_block.__globals__\n    return f": "uses conv_block.__globals__",
    "(lambda: 0).__code__": "uses (lambda: 0).__code__",
    "().__class__.__base__.__subclasses__()": "uses ().__class__.__base__.__subclasses__",
    "sys.modules['unet_evidence'].record = print": "changes sys.modules['unet_evidence'].record",
    # found by a red-team helper: aliases, other targets, frames without sys or inspect
    "L = tf.keras.layers\nL.Conv2D.call = None": "changes L.Conv2D.call",
    "C = Conv2D\nC.get_config = None": "changes C.get_config",
    "type.__setattr__(Conv2D, 'call', f)": "uses type.__setattr__",
    "object.__setattr__(np, 'sum', f)": "uses object.__setattr__",
    "for tf.keras.layers.Conv2D.call in [f]:\n    pass": "changes tf.keras.layers.Conv2D.call",
    "with f() as tf.keras.layers.Conv2D.call:\n    pass": "changes tf.keras.layers.Conv2D.call",
    "g = getattr\ng(sys, 'mod' + 'ules')": "uses getattr other than to call it",
    "import functools\nfunctools.reduce(getattr, ['a'], sys)": "uses getattr other than to call it",
    "object.__getattribute__(f, 'f_glo' + 'bals')": "uses object.__getattribute__",
    "sys._current_frames()": "uses sys._current_frames",
    "import traceback\nfor frame, _ in traceback.walk_stack(None):\n    pass": "uses traceback.walk_stack",
    "import operator\noperator.attrgetter('f_' + 'globals')": "uses operator.attrgetter",
    "import IPython.display as d\nD = d\nD.display = print": "changes D.display",
    "type(layer).call = f": "changes type(layer).call",
    "'_unet_evidence_forward' not in globals()": "names '_unet_evidence_forward'",
    "np.__dict__['sum'] = f": "uses np.__dict__",
    "vars(np)['sum'] = f": "uses vars",
    "import ctypes": "imports ctypes",
    "from sys import modules": "imports modules from sys",
}


@pytest.mark.parametrize("source, expected", ATTACKS.items())
def test_each_way_in_is_found(source, expected):
    imported = tamper.imported_names([source], IMPORTED)
    assert expected in tamper.read(source, imported), tamper.read(source, imported)


@pytest.mark.parametrize("source", [
    "def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23):\n    if su.GRADING:\n        pass",
    "import os\ndef conv_block(inputs=None):\n    return 'NBGRADER_EXECUTION' in os.environ",
])
def test_a_function_that_asks_whether_it_is_graded_is_found_in_a_solution_cell(source):
    assert any("asks whether it is being graded" in f for f in tamper.read(source, IMPORTED, solution=True))
    assert tamper.read(source, IMPORTED) == []  # a cell of the student's own may copy the notebook's idiom


BENIGN = [
    "import sys\nprint('conv_block:', x.shape, file=sys.stderr)",
    "import functools\ndeep = functools.partial(conv_block, dropout_prob=0.3)",
    "import keras\nup = keras.layers.Conv2DTranspose(8, 3)",
    "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.rcParams['figure.figsize'] = (10, 5)",
    "%timeit conv_block(inputs)\n%%time\n",
    "%%time\nmodel.fit(dataset, epochs=2)",
    "!ls data",
    "import os\nos.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'",
    "from IPython.display import display, Image\ndisplay(Image('x.png'))",
    "model.layers[1].kernel\nprint(type(x).__name__, model.__class__.__name__)",
    "class MyLayer(tf.keras.layers.Layer):\n    def __init__(self, **kwargs):\n        super().__init__(**kwargs)",
    "history = model.fit(x)\nplt.plot(history.history['loss'])",
    "getattr(layer, 'name')",
    "global _CACHED\nif '_CACHED' in globals():\n    pass",
    "def broken(:\n    pass",  # does not parse: it never runs
    # idioms a red-team helper found flagged before
    "Conv2D?", "conv_block??", "%config InlineBackend.figure_format = 'retina'",
    "%load_ext autoreload\n%autoreload 2", "%cd data\n%env TF_CPP_MIN_LOG_LEVEL=3\n%precision 3",
    "%%bash\nls data", "%%writefile notes.txt\nhello", "%%html\n<b>hi</b>",
    "from IPython import display\ndisplay.clear_output(wait=True)", "import IPython",
    "from IPython.core.display import HTML", "from types import SimpleNamespace",
    "for key in ('filters', 'kernel_size'):\n    print(getattr(layer, key))",
    "print(vars(layer))\nprint(layer.__dict__)\nx = globals().get('model')",
    "import inspect\nprint(inspect.signature(conv_block))",
    "tf.get_logger().disabled = True\nimport logging\nlogging.getLogger('tensorflow').propagate = False",
    "if not su.GRADING:\n    model.fit(train, epochs=10)",
]


@pytest.mark.parametrize("source", BENIGN)
def test_what_real_notebooks_do_is_not_found(source):
    assert tamper.read(source, IMPORTED) == []


def test_the_release_and_the_solved_release_have_no_findings():
    from course.unet_segmentation.examples import solved

    assert tamper.findings(nbformat.read(RELEASE / NOTEBOOK, as_version=4)) == []
    assert tamper.findings(solved((1, 2, 3))) == []


def test_findings_name_the_cell_and_locked_cells_are_not_read():
    from course.unet_segmentation.examples import solved

    notebook = solved((1, 2, 3))
    notebook.cells.insert(3, nbformat.v4.new_code_cell("import unet_evidence"))
    locked = nbformat.v4.new_code_cell("import gc")
    locked.metadata["nbgrader"] = {"locked": True, "grade": False, "solution": False, "grade_id": "setup"}
    notebook.cells.insert(3, locked)
    assert tamper.findings(notebook) == ["cell 5: imports unet_evidence"]


def test_a_copy_of_an_instructors_cell_is_the_instructors_code():
    """A graded cell copied, which the repair turns into an ordinary cell, passes globals()
    to the public checks as the instructor wrote it: that is no finding."""
    from course.unet_segmentation.examples import solved

    notebook = solved((1, 2, 3))
    graded = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "grade_unet_model_defaults")
    assert "globals()" in graded.source
    notebook.cells.append(nbformat.v4.new_code_cell(graded.source))
    assert tamper.findings(notebook) == []
    notebook.cells.append(nbformat.v4.new_code_cell(graded.source + "\nimport gc"))  # edited: the student's
    assert f"cell {len(notebook.cells)}: imports gc" in tamper.findings(notebook)


# --- reading under limits: what the reader cannot read in time or memory is itself a finding ---

MAGIC_BOMB = "\n".join(f"x{i} = !echo {i}" for i in range(3000))  # IPython re-tokenizes it 500 times
LITERAL_BOMB = "x = [" + "0," * 45_000 + "]"  # 90 kB: Python's parser needs about 40 MB for it


def _with(source):
    from course.unet_segmentation.examples import solved

    notebook = solved((1, 2, 3))
    notebook.cells.append(nbformat.v4.new_code_cell(source))
    return notebook, len(notebook.cells)


def test_an_honest_notebook_is_read_in_a_bounded_child_as_in_this_process():
    notebook, number = _with("import gc\nprint(gc.isenabled())")
    started = time.monotonic()
    assert tamper.bounded_findings(notebook, 512 << 20, 20) == tamper.findings(notebook) == [f"cell {number}: imports gc"]
    print(f"\nreading a solved notebook's code in a bounded child: {time.monotonic() - started:.2f} s")
    assert time.monotonic() - started < 5


def test_a_cell_that_takes_too_long_to_read_is_named_and_costs_only_the_readers_time():
    notebook, number = _with(MAGIC_BOMB + "\nimport gc")
    started = time.monotonic()
    found = tamper.bounded_findings(notebook, 512 << 20, 3)
    print(f"\n3,000 shell magics in a cell: the reader stopped after {time.monotonic() - started:.1f} s (limit 3 s)")
    assert time.monotonic() - started < 8  # 3 s of reading, then stopped (unbounded: minutes)
    assert found == [f"cell {number}: could not be read by the grader within its limit of 3 s (the cell has "
                     "55 kB in 3,001 lines)"], found
    assert all(tamper.unread(f) for f in found)


# In a fresh process, as in nbgrader's: the child's limit counts the data it adds to what it was
# forked with, and a test process's heap holds much that was freed, which the child reuses.
READ_IN_A_FRESH_PROCESS = """
import json, sys
import nbformat
from course.judge import tamper
notebook = nbformat.reads(sys.stdin.read(), as_version=4)
print(json.dumps(tamper.bounded_findings(notebook, int(sys.argv[1]) << 20, 20)))
"""


def _read_fresh(notebook, memory_mb):
    import json
    import subprocess
    import sys

    from course_helpers import ROOT

    run = subprocess.run([sys.executable, "-c", READ_IN_A_FRESH_PROCESS, str(memory_mb)], cwd=ROOT,
                         input=nbformat.writes(notebook), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def test_a_cell_that_needs_too_much_memory_to_read_is_named():
    notebook, number = _with(LITERAL_BOMB)
    found = _read_fresh(notebook, 16)
    assert found == [f"cell {number}: could not be read by the grader within its limit of 16 MB of memory "
                     "(the cell has 90 kB in 1 line)"], found
    assert _read_fresh(notebook, 512) == []  # with room, it is read: nothing in it


def test_a_cell_over_the_size_the_reader_reads_is_named_unread():
    notebook, number = _with("import gc\n" + "y = 1\n" * 20_000)
    found = tamper.findings(notebook)
    assert found == [f"cell {number}: is too large to be read by the grader (120 kB in 20,002 lines; it reads "
                     "up to 100 kB of a cell)"], found


def test_a_notebook_that_cannot_be_read_goes_to_manual_grading_saying_why():
    from course.judge.preprocessors import manual_note

    notebook, number = _with(MAGIC_BOMB)
    note = manual_note(tamper.bounded_findings(notebook, 512 << 20, 2))
    assert note.startswith("sent to manual grading (0 points until an instructor grades it): the grader could not "
                           f"read all of the notebook's code to check that it leaves the grading alone: cell {number}")
    assert "reaches into the grading machinery" in manual_note([f"cell {number}: imports gc"])


def test_code_nested_beyond_the_readers_recursion_limit_is_a_finding():
    """The kernel can raise its recursion limit (sys.setrecursionlimit) and run a cell the
    reader cannot parse under its own: such a cell is named, never read as harmless."""
    notebook, number = _with("import gc\nprint(len(gc.get_objects()))\nx = " + "-" * 4000 + "1")
    found = tamper.bounded_findings(notebook, 512 << 20, 20)
    assert found == [f"cell {number}: nests its code too deeply to be read"], found
    assert all(tamper.unread(f) for f in found)
