"""Reading the student's cells for code that reaches into the grading machinery
(course/tamper.py): every way in that the issue names is found, and what real notebooks
do (imports, prints to stderr, plots, timing magics, display settings) is not."""

import nbformat
import pytest

from course import tamper
from course.layout import NOTEBOOK, RELEASE

IMPORTED = {"tf", "np", "plt", "os", "sys", "Conv2D", "keras", "unet_evidence"}

ATTACKS = {
    "import unet_evidence\nunet_evidence.record = print": "imports unet_evidence",
    "import sys\nsys.modules['unet_evidence'].record = print": "uses sys.modules",
    "import gc\n[o for o in gc.get_objects()]": "imports gc",
    "from gc import get_referrers": "imports gc",
    "import inspect\ninspect.currentframe()": "imports inspect",
    "import sys\nframe = sys._getframe(1)": "uses sys._getframe",
    "def conv_block(x):\n    f = x.f_back.f_globals": "uses x.f_back",
    "import builtins\nbuiltins.exec = print": "imports builtins",
    "__builtins__['exec'] = print": "uses __builtins__",
    "exec('x = 1')": "uses exec",
    "eval('1')": "uses eval",
    "code = compile('1', 'x', 'eval')": "uses compile",
    "m = __import__('sy' + 's')": "uses __import__",
    "globals()['conv_block'] = None": "uses globals",
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
    "%%javascript\nalert(1)": "runs the magic %%javascript",
    "%%capture\nimport gc": "imports gc",
    "from IPython.core.interactiveshell import InteractiveShell": "imports IPython.core.interactiveshell",
    "def conv_block(inputs=None, n_filters=32):\n    f = conv_block.__globals__\n    return f": "uses conv_block.__globals__",
    "(lambda: 0).__code__": "uses (lambda: 0).__code__",
    "().__class__.__base__.__subclasses__()": "uses ().__class__.__base__.__subclasses__",
    "sys.modules['unet_evidence'].record = print": "changes sys.modules['unet_evidence'].record",
    "import ctypes": "imports ctypes",
    "from sys import modules": "imports modules from sys",
}


@pytest.mark.parametrize("source, expected", ATTACKS.items())
def test_each_way_in_is_found(source, expected):
    assert expected in tamper.read(source, IMPORTED), tamper.read(source, IMPORTED)


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
]


@pytest.mark.parametrize("source", BENIGN)
def test_what_real_notebooks_do_is_not_found(source):
    assert tamper.read(source, IMPORTED) == []


def test_the_release_and_the_solved_release_have_no_findings():
    from course.examples import solved

    assert tamper.findings(nbformat.read(RELEASE / NOTEBOOK, as_version=4)) == []
    assert tamper.findings(solved((1, 2, 3))) == []


def test_findings_name_the_cell_and_locked_cells_are_not_read():
    from course.examples import solved

    notebook = solved((1, 2, 3))
    notebook.cells.insert(3, nbformat.v4.new_code_cell("import unet_evidence"))
    locked = nbformat.v4.new_code_cell("import gc")
    locked.metadata["nbgrader"] = {"locked": True, "grade": False, "solution": False, "grade_id": "setup"}
    notebook.cells.insert(3, locked)
    assert tamper.findings(notebook) == ["cell 5: imports unet_evidence"]
