"""Broken and hostile submissions, and the outcome each must get from `course grade`.

Each builder writes the submission folder of one student. `EXPECTED` gives the status and
the points per exercise (1, 2, 3) the grader must report.
"""

import json
import os

import nbformat

from course.assignment import NOTEBOOK
from course.unet_segmentation.examples import solved


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


TRANSFORMER = """ip = get_ipython()
def skip_grading(lines):
    text = "".join(lines)
    return ["pass\\n"] if "unet_evidence" in text or "flag_stub" in text else lines
ip.input_transformers_cleanup.append(skip_grading)"""


def input_transformer(folder):
    """The blank release, with every graded cell turned into `pass` before it runs."""
    nbformat.write(_with_cell(solved(()), "conv_block", TRANSFORMER), folder / NOTEBOOK)


def hides_results(folder):
    cell = "get_ipython().ast_node_interactivity = 'none'"
    nbformat.write(_with_cell(solved(()), "conv_block", cell), folder / NOTEBOOK)


FAKE_RECORD = """import unet_evidence
from IPython.display import display
def fake(name, namespace, challenge=None):
    evidence = {"version": 1, "function": name, "nonce": (challenge or {}).get("nonce"),
                "cases": [{"nodes": [{"id": 0, "class": "Input", "position": 0, "shape": [None, 8, 8, 3]}],
                           "outputs": [0, 0]} for _ in (challenge or {}).get("cases", [])]}
    display({unet_evidence.MIME: evidence, "text/plain": "evidence"}, raw=True)
unet_evidence.record = fake
unet_evidence.__dict__.update(record=fake)"""


def fakes_evidence(folder):
    """The blank release, with the evidence recorder replaced by one that makes evidence up."""
    nbformat.write(_with_cell(solved(()), "conv_block", FAKE_RECORD), folder / NOTEBOOK)


def _forged_record():
    """A recorder that describes the right network for whatever arguments it is asked about,
    built from a solution kept out of the notebook's functions (which stay stubs), and makes
    its numbers up: it cannot know what the real network computes for the grader's secret."""
    from catalogue import REFERENCE

    solution = "\n\n".join(REFERENCE[f] for f in ("conv_block", "upsampling_block", "unet_model"))
    return f"""import unet_evidence
from IPython.display import display
_hidden = dict(globals())
exec({solution!r}, _hidden)
def forged(name, namespace, challenge=None):
    evidence = unet_evidence.collect(name, _hidden, dict(challenge or {{}}, seed=None))
    for case in evidence["cases"]:
        case["computed"] = {{"outputs": [{{"shape": [2, *shape[1:]], "sums": [0.0, 0.0, 0.0], "sample": [0.0] * 256}}
                                        for shape in case.get("output_shapes", [])]}}
    display({{unet_evidence.MIME: evidence, "text/plain": "evidence"}}, raw=True)
unet_evidence.record = forged"""


def forges_recorder(folder):
    """The blank release and one extra cell: the issue's forged recorder."""
    nbformat.write(_with_cell(solved(()), "conv_block", _forged_record()), folder / NOTEBOOK)


SHADOW_MODULE = r"""import importlib, pathlib, sys
pathlib.Path("unet_evidence.py").write_text("def record(*args, **kwargs):\n    print('all good')\n")
sys.modules.pop("unet_evidence", None)
importlib.invalidate_caches()"""


def shadows_evidence_module(folder):
    """The blank release, with a file of its own written over the evidence recorder."""
    nbformat.write(_with_cell(solved(()), "conv_block", SHADOW_MODULE), folder / NOTEBOOK)


def snoop_cell(root):
    """A cell that looks for everything a kernel must not see, and prints what it found."""
    targets = [str(root / "source" / "unet_segmentation" / NOTEBOOK), str(root / "course" / "unet_segmentation" / "reference.py"),
               str(root / "gradebook.db"), str(root / "submitted" / "reference" / "unet_segmentation" / NOTEBOOK),
               str(root / "nbgrader_config.py"), "/etc/shadow", "/etc/passwd", "/root/.bashrc", "/etc/hostname"]
    return f"""import glob, os, socket
readable = []
from ipykernel.connect import get_connection_file
own = os.path.realpath(get_connection_file())
others = glob.glob("/tmp/**/kernel*.json", recursive=True) + glob.glob("/tmp/unet-kernel-*")
for path in {targets!r} + [p for p in others if os.path.realpath(p) != own]:
    try:
        with open(path, "rb") as handle:
            handle.read(10)
        readable.append(path)
    except OSError:
        pass
spies, visible = [], 0
for pid in os.listdir("/proc"):
    try:
        program = open(f"/proc/{{pid}}/cmdline", "rb").read().decode(errors="replace").split("\\x00")[:3]
    except OSError:
        continue
    visible += 1
    if any(os.path.basename(word) in ("nbgrader", "pytest", "postgres", "jupyter-lab") for word in program):
        spies.append(" ".join(program))
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2).close()
    network = "open"
except OSError:
    network = "refused"
print(f"snoop: readable={{len(readable)}} grader_processes={{len(spies)}} network={{network}} uid={{os.getuid()}}")
print(f"processes in sight: {{visible}}")
print(readable, spies)"""


def snoop(folder):
    root = folder.parents[2]
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", snoop_cell(root)), folder / NOTEBOOK)


#: a cell after every graded cell that prints all the kernel keeps of the cells it ran
HISTORY = """import linecache
ip = get_ipython()
print("In:", In)
print("_ih:", _ih)
print("raw:", ip.history_manager.input_hist_raw)
print("linecache:", ["".join(entry[2]) for entry in list(linecache.cache.values()) if len(entry) > 2])
ip.run_line_magic("history", "-n")
"""


def prints_history(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "grade_unet_model_arguments", HISTORY), folder / NOTEBOOK)


DAEMON = """import os, signal, time
kernel = os.getpid()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        # A detached daemon: for three minutes, kill every process it can see.
        end = time.time() + 180
        while time.time() < end:
            for pid in os.listdir("/proc"):
                if pid.isdigit() and int(pid) not in (os.getpid(), kernel):
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
            time.sleep(0.2)
        os._exit(0)
    os._exit(0)
os.wait()"""


def daemon(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", DAEMON), folder / NOTEBOOK)


# Four processes, each within its own address-space limit (8 GB) and together over the
# machine's 24 GB. Pages are touched one byte each (numpy) rather than filled: the bomb is as
# strong, and costs the grader's CPU half as long (CI once took it past the 30-s cell limit).
FORKED_MEMORY_BOMB = """import os
import numpy as np
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        try:
            blocks = []
            for _ in range(40):
                block = np.empty(256 * 2**20, np.uint8)
                block[::4096] = 1  # touches every page
                blocks.append(block)
        finally:
            os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print("forked memory bomb over")"""


def forked_memory_bomb(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", FORKED_MEMORY_BOMB), folder / NOTEBOOK)


FORK_BOMB = """import os, time
started = 0
try:
    for _ in range(100000):
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        started += 1
except OSError as error:
    print("fork refused after", started, type(error).__name__)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break"""


def fork_bomb(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", FORK_BOMB), folder / NOTEBOOK)


DISK_BOMB = """import os
for folder in ("/tmp", "."):
    written = 0
    try:
        with open(os.path.join(folder, "filler"), "wb") as handle:
            while written < 64 * 2**30:
                handle.write(b"x" * 2**20)
                written += 2**20
    except OSError as error:
        print(folder, "full after", written // 2**20, "MB:", type(error).__name__)
    os.remove(os.path.join(folder, "filler"))"""


def disk_bomb(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", DISK_BOMB), folder / NOTEBOOK)


def links(folder):
    """Symbolic links to another student's notebook, to /etc/shadow and to /etc."""
    nbformat.write(solved((1, 2, 3)), folder / NOTEBOOK)
    (folder / "friend.ipynb").symlink_to(folder.parents[1] / "reference" / folder.name / NOTEBOOK)
    (folder / "shadow.txt").symlink_to("/etc/shadow")
    (folder / "data").symlink_to("/etc")


def fifo(folder):
    nbformat.write(solved((1, 2, 3)), folder / NOTEBOOK)
    os.mkfifo(folder / "pipe")


def notebook_is_a_link(folder):
    (folder / NOTEBOOK).symlink_to(folder.parents[1] / "reference" / folder.name / NOTEBOOK)


def _raw_reference():
    return json.loads(nbformat.writes(solved((1, 2, 3))))


def grade_id_list(folder):
    notebook = _raw_reference()
    cell = next(c for c in notebook["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "grade_conv_block_defaults")
    cell["metadata"]["nbgrader"]["grade_id"] = ["grade_conv_block_defaults"]
    (folder / NOTEBOOK).write_text(json.dumps(notebook))


def metadata_string(folder):
    notebook = _raw_reference()
    notebook["cells"][3]["metadata"] = "not a dict"
    (folder / NOTEBOOK).write_text(json.dumps(notebook))


def nested_brackets(folder):
    (folder / NOTEBOOK).write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")


def random_bytes(folder):
    (folder / NOTEBOOK).write_bytes(bytes(range(256)) * 40)


def vandal_cell(root):
    """A cell that tries to overwrite and delete other submissions, the gradebook and the source."""
    targets = [str(root / "submitted" / "reference" / "unet_segmentation" / NOTEBOOK), str(root / "gradebook.db"),
               str(root / "source" / "unet_segmentation" / NOTEBOOK), str(root / "nbgrader_config.py")]
    return f"""import os
attempts, refused = 0, 0
for target in {targets!r}:
    for action in (lambda: open(target, "w").write("vandalised"), lambda: os.remove(target)):
        attempts += 1
        try:
            action()
        except OSError:
            refused += 1
print(f"attempts={{attempts}} refused={{refused}}")"""


def vandal(folder):
    nbformat.write(_with_cell(solved((1, 2, 3)), "conv_block", vandal_cell(folder.parents[2])), folder / NOTEBOOK)


# Correct functions kept under other names, and five ways of making the recorder use them
# while the graded names stay the release's stubs (issue 31). Each is a cell of the student's
# own; none may score.
HIDDEN_SOLUTION = """import tensorflow as tf
from tensorflow.keras.layers import Concatenate, Conv2D, Conv2DTranspose, Dropout, Input, MaxPooling2D


def _conv(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    x = Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")(inputs)
    x = Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")(x)
    if dropout_prob > 0:
        x = Dropout(dropout_prob)(x)
    return (MaxPooling2D(2)(x) if max_pooling else x), x


def _up(expansive_input, contractive_input, n_filters=32):
    up = Conv2DTranspose(n_filters, 3, strides=2, padding="same")(expansive_input)
    x = Concatenate(axis=3)([up, contractive_input])
    x = Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")(x)
    return Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")(x)


def _unet(input_size=(96, 128, 3), n_filters=32, n_classes=23):
    inputs = Input(input_size)
    x, skips = inputs, []
    for level in range(5):
        x, skip = _conv(x, n_filters * 2 ** level, 0.3 if level >= 3 else 0, level < 4)
        skips.append(skip)
    for level in (3, 2, 1, 0):
        x = _up(x, skips[level], n_filters * 2 ** level)
    x = Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")(x)
    return tf.keras.Model(inputs, Conv2D(n_classes, 1, padding="same")(x))


GOOD = {"conv_block": _conv, "upsampling_block": _up, "unet_model": _unet}


def _redirect(recorder):
    # The recorder's own functions, pointed at the good functions.
    if isinstance(recorder, dict) and "collect" in recorder and not getattr(recorder["collect"], "redirected", False):
        collect = recorder["collect"]
        def redirected(name, namespace, challenge):
            return collect(name, dict(namespace, **GOOD), challenge)
        redirected.redirected = True
        recorder["collect"] = redirected
"""
REDIRECTIONS = [
    # 1. the hidden call loads the recorder with exec: hook exec (the attack)
    """from unittest import mock
_exec = exec
def _hook(code, globs=None, locs=None):
    result = _exec(code, globs) if locs is None else _exec(code, globs, locs)
    _redirect(globs)
    return result
mock.patch("builtins.exec", _hook).start()""",
    # 2. the loaded modules, reached by name: a fake recorder module in sys.modules
    """import pkgutil, types
_modules = pkgutil.resolve_name("sys:modules")
_fake = types.ModuleType("unet_evidence")
_fake.record = lambda name, namespace, challenge=None: None
_modules["unet_evidence"] = _fake""",
    # 3. text run by unpickling: an audit hook that redirects the recorder when code is exec'd
    """import pickle
_gadget = b"cbuiltins\\nexec\\n(V" + (
    "import sys; sys.addaudithook(lambda event, args: event == 'exec' and "
    "_redirect(sys._getframe(1).f_globals))").encode() + b"\\ntR."
pickle.loads(_gadget)""",
    # 4. a thread that swaps the graded names for the good functions whenever the recorder runs
    """import operator, sys, threading, time
def _swap():
    stubs = {name: globals()[name] for name in GOOD}
    while True:
        recording = any("unet_evidence" in (f.f_code.co_filename or "") for f in sys._current_frames().values())
        for name in GOOD:
            operator.setitem(globals(), name, GOOD[name] if recording else stubs[name])
        time.sleep(0.0005)
threading.Thread(target=_swap, daemon=True).start()""",
    # 5. a signal handler, whose frame argument leads to the recorder's namespace
    """import signal
def _on_alarm(number, frame):
    while frame is not None:
        _redirect(frame.f_globals)
        frame = frame.f_back
signal.signal(signal.SIGALRM, _on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)""",
]


def redirects_the_recorder(folder):
    notebook = solved(())
    for source in reversed([HIDDEN_SOLUTION] + REDIRECTIONS):
        _with_cell(notebook, "code_06", source)
    nbformat.write(notebook, folder / NOTEBOOK)


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
    "h_vandal": (vandal, "graded", FULL),
    # in-kernel tricks: only evidence counts
    "h_input_transformer": (input_transformer, "graded", NONE),
    "h_hides_results": (hides_results, "graded", NONE),
    "h_fakes_evidence": (fakes_evidence, "graded", NONE),
    "h_forges_recorder": (forges_recorder, "graded", NONE),
    "h_shadows_evidence_module": (shadows_evidence_module, "graded", NONE),
    "h_redirects_the_recorder": (redirects_the_recorder, "graded", NONE),
    # the sandbox
    "h_snoop": (snoop, "graded", FULL),
    "h_prints_history": (prints_history, "graded", NONE),  # it asks for the kernel's shell: manual grading
    "h_daemon": (daemon, "graded", FULL),
    "h_forked_memory_bomb": (forked_memory_bomb, "graded", FULL),
    "h_fork_bomb": (fork_bomb, "graded", FULL),
    "h_disk_bomb": (disk_bomb, "graded", FULL),
    # files and bytes
    "h_links": (links, "graded (repaired)", FULL),
    "h_fifo": (fifo, "graded (repaired)", FULL),
    "h_notebook_is_a_link": (notebook_is_a_link, "invalid notebook", None),
    "h_grade_id_list": (grade_id_list, "graded (repaired)", FULL),
    "h_metadata_string": (metadata_string, "graded (repaired)", FULL),
    "h_nested_brackets": (nested_brackets, "invalid notebook", None),
    "h_random_bytes": (random_bytes, "invalid notebook", None),
}

#: cases that reach into the grading machinery (course/judge/tamper.py): every graded cell goes to
#: manual grading, with 0 points until an instructor grades it
MANUAL = ["h_input_transformer", "h_hides_results", "h_fakes_evidence", "h_forges_recorder",
          "h_shadows_evidence_module", "h_prints_history", "h_redirects_the_recorder"]

#: cases whose tricks run in the kernel: plain `nbgrader autograde` must give them the same points
IN_KERNEL = ["h_edited_test_cells", "h_always_equal", "h_input_transformer", "h_hides_results",
             "h_fakes_evidence", "h_forges_recorder", "h_shadows_evidence_module", "h_snoop", "h_vandal", "h_prints_history",
             "h_redirects_the_recorder"]
