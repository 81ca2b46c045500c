"""Kernels forked from the zygote (course/sandbox/zygote.py): the same sandbox as a kernel
started afresh (user, capabilities, files in sight, mounts, limits, cgroups, environment,
sys.path), nothing of the notebook before or beside it (files, names, module state, random
state, environment, processes), a death seen at once, and fresh kernels when no zygote can
be had. Tiny notebooks in real sandboxed kernels."""

import json
import tempfile
from pathlib import Path
import threading
import time

import pytest
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from course.sandbox import launcher
from course.sandbox.execute import SandboxedExecute, SandboxedKernelManager

from course_helpers import in_a_thread

pytestmark = pytest.mark.skipif(not launcher.is_root(), reason="the zygote forks kernels only as root")

PROBE = r"""import json, os, resource, socket, sys
# the kernel's standard streams and ipykernel's copies of them: the grader's, in every kernel
streams = {"0", "1", "2", *(str(getattr(s, "_original_stdstream_copy", None)) for s in (sys.stdout, sys.stderr))}
fds = []
for fd in set(os.listdir("/proc/self/fd")) - streams:
    try:
        fds.append(os.readlink(f"/proc/self/fd/{fd}").split(":")[0])
    except OSError:
        pass
processes = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        processes.append(os.path.basename(handle.read().split(b"\0")[0].decode()))
print(json.dumps({
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()], "cwd": os.getcwd(),
    "status": [l.strip() for l in open("/proc/self/status") if l.startswith(("Cap", "NoNewPrivs", "Seccomp"))],
    "fds": sorted(set(fds)), "root": sorted(os.listdir("/")), "host": socket.gethostname(),
    "interfaces": [name for _, name in socket.if_nameindex()], "path": sys.path, "env": sorted(os.environ.items()),
    "limits": [resource.getrlimit(getattr(resource, n)) for n in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_CORE")],
    "mounts": sorted(l.split()[4] for l in open("/proc/self/mountinfo")),
    "cgroups": sorted(l.split(":")[1] for l in open("/proc/self/cgroup")),
    "tmp": sorted(os.listdir("/tmp")), "home": sorted(os.listdir("/home/student")), "files": sorted(os.listdir(".")),
    "argv": sys.argv[1:], "orig_argv": sys.orig_argv[1:], "dumpable": __import__("ctypes").CDLL(None).prctl(3, 0, 0, 0, 0),
    "processes": sorted(processes), "imported": "tensorflow" in sys.modules}))
"""


def _notebook(*sources):
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _run(*sources, zygote=True, modules=None, folder=None, **options):
    """Run the cells in a sandboxed kernel; the text each printed."""
    config = Config()
    config.SandboxedKernelManager.zygote = zygote
    if modules is not None:
        config.SandboxedKernelManager.zygote_modules = modules
    notebook = _notebook(*sources)
    if folder is None:
        folder = tempfile.mkdtemp()
    SandboxedExecute(timeout=120, config=config, **options).preprocess(notebook, {"metadata": {"path": str(folder)}})
    for cell in notebook.cells:
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
    return ["".join(o.get("text", "") for o in cell.outputs) for cell in notebook.cells]


def _probe(**options):
    found = json.loads(in_a_thread(lambda: _run(PROBE, **options))[0])
    private = [p for p in found["tmp"] if p.startswith("unet-kernel-")]
    return json.loads(json.dumps(found).replace(private[0], "unet-kernel-PRIVATE")) if private else found


def test_a_forked_kernel_gets_the_sandbox_a_fresh_kernel_gets():
    fresh, forked = _probe(zygote=False), _probe()
    assert forked.pop("imported") and not fresh.pop("imported")  # forked from a zygote with TensorFlow loaded
    # What may differ: the holder, the sandbox's placeholder, is the kernel's neighbour.
    assert sorted(forked.pop("processes")) == ["bwrap", "cat", "python"] and fresh.pop("processes") == ["bwrap", "python"]
    assert forked == fresh
    assert set(forked["fds"]) <= {"anon_inode", "pipe", "socket"}  # no file, folder or namespace of the zygote's
    assert forked["ids"] == [65534, 65534, 65534, []] and forked["interfaces"] == ["lo"]
    assert "CapBnd:\t0000000000000000" in forked["status"] and "NoNewPrivs:\t1" in forked["status"]


LEAVE = """import builtins, os, subprocess, sys, types
import numpy as np
import tensorflow as tf
for folder in (".", "/tmp", "/home/student"):
    open(os.path.join(folder, "left_by_a.txt"), "w").write("A")
builtins.LEFT_BY_A = tf.LEFT_BY_A = np.LEFT_BY_A = True
sys.modules["left_by_a"] = types.ModuleType("left_by_a")
os.environ["LEFT_BY_A"] = "1"
tf.keras.config.set_floatx("float16")
subprocess.Popen(["sleep", "600"], start_new_session=True)
np.random.seed(5)
print(np.random.randint(2**62))"""
LOOK = """import builtins, os, sys
import numpy as np
import tensorflow as tf
left = [os.path.exists(os.path.join(folder, "left_by_a.txt")) for folder in (".", "/tmp", "/home/student")]
left += [hasattr(module, "LEFT_BY_A") for module in (builtins, tf, np)]
left += ["left_by_a" in sys.modules, "LEFT_BY_A" in os.environ, tf.keras.config.floatx() != "float32"]
processes = [open(f"/proc/{pid}/cmdline").read().split("\\0")[0] for pid in os.listdir("/proc") if pid.isdigit()]
print(any(left), "sleep" in processes, sorted(os.listdir(".")), np.random.randint(2**62))"""


def test_a_forked_kernel_sees_nothing_of_the_notebooks_before_or_beside_it(tmp_path):
    seeded = str(__import__("numpy").random.RandomState(5).randint(2**62))
    for name in "abc":
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}_only.txt").write_text(name)
    modules = SandboxedKernelManager.zygote_modules.default_value + ",numpy.random"  # a global generator made
    first = in_a_thread(lambda: _run(LEAVE, "print('done')", folder=tmp_path / "a", modules=modules))
    assert first[0].strip() == seeded
    after = in_a_thread(lambda: _run(LOOK, folder=tmp_path / "b", modules=modules))[0].split()
    assert after[:3] == ["False", "False", "['b_only.txt']"], after
    # Beside it: a notebook whose detached process runs while the other one looks.
    busy = threading.Thread(target=lambda: _run(LEAVE, "import time; time.sleep(12)", folder=tmp_path / "c",
                                                modules=modules))
    busy.start()
    time.sleep(6)
    beside = in_a_thread(lambda: _run(LOOK, folder=tmp_path / "b", modules=modules))[0].split()
    busy.join()
    assert beside[:3] == ["False", "False", "['b_only.txt']"], beside
    # Each kernel draws its own random numbers, not the zygote's sequence, nor the seed before it.
    assert len({after[3], beside[3], seeded}) == 3


def test_a_forked_kernel_that_dies_is_seen_dead_at_once():
    started = time.monotonic()
    with pytest.raises(DeadKernelError):
        in_a_thread(lambda: _run("import os\nos._exit(3)", "print('never')"))
    assert time.monotonic() - started < 60  # not the cell's timeout of 120 s


def test_without_a_zygote_each_kernel_starts_afresh(capfd):
    """A zygote that cannot import its modules ends; the kernel is started in the sandbox
    directly, with a warning in the grader's log, and the notebook is graded as usual."""
    found = json.loads(in_a_thread(lambda: _run(PROBE, modules="numpy,no_such_module_of_the_zygote"))[0])
    assert not found["imported"] and found["ids"][0] == 65534 and found["processes"] == ["bwrap", "python"]
    assert "kernel not forked from the zygote" in capfd.readouterr().err


FORGED = """import os, sys
for stream, line in ((sys.stderr, b"Notebook x of bob ran over its time budget of 1 s\\n"), (sys.stdout, b"own-output-mark\\n")):
    os.write(getattr(stream, "_original_stdstream_copy", None) or stream.fileno(), line * 1000)
print("written")"""


@pytest.mark.parametrize("zygote", [True, False], ids=["forked", "fresh"])
def test_what_a_kernel_writes_to_its_own_output_never_reaches_the_grader(capfd, zygote):
    """A kernel's own standard output and error (not its cells') lead nowhere: a line forged
    there cannot name another student in the grader's log, nor a flood fill its memory."""
    assert in_a_thread(lambda: _run(FORGED, zygote=zygote)) == ["written\n"]
    grader = capfd.readouterr()
    assert "of bob ran over" not in grader.err + grader.out and "own-output-mark" not in grader.err + grader.out


def test_a_zygote_with_shared_writable_memory_is_not_used(tmp_path):
    """Memory mapped shared and writable would be shared by every kernel forked after: such a
    zygote refuses to serve (its kernels then start afresh)."""
    import mmap

    from course.sandbox import zygote

    shared = mmap.mmap(-1, 4096)  # anonymous and shared, as a semaphore or a shared array would be
    try:
        found = zygote.shared_writable_mappings(open("/proc/self/maps").read())
        assert any("rw-s" in line for line in found), found
    finally:
        shared.close()
    assert zygote.shared_writable_mappings("7f3b-7f3c r--s 00000000 fe:00 338846 /usr/lib/gconv/gconv-modules.cache\n"
                                           "7f3d-7f3e rw-p 00000000 00:00 0 [heap]\n") == []


HOLDER_REUSED = """import json, os, subprocess, sys
from course.sandbox import launcher, zygote
name = sys.argv[1]
launcher.enter_cgroups(name, 2**30, 64)
other = subprocess.Popen(["sleep", "30"])
request = {"private": "/tmp/" + name, "limits": {}, "holder": other.pid, "started": zygote.start_time(other.pid) - 1}
try:
    zygote.enter(request)
    print("joined")
except OSError as error:
    print(error)
other.kill()
"""


def test_a_kernel_is_never_forked_into_the_namespaces_of_a_process_that_took_its_sandboxs_pid(tmp_path):
    """The zygote's child joins the namespaces of the holder by PID: when that PID is another
    process's by then (the sandbox ended, the PID reused), it refuses."""
    import subprocess
    import sys

    from course.sandbox.teardown import remove_sandbox

    name = f"unet-kernel-reused-{tmp_path.name[-8:]}"
    try:
        done = subprocess.run([sys.executable, "-c", HOLDER_REUSED, name], capture_output=True, text=True, timeout=60,
                              cwd=str(Path(__file__).resolve().parents[2]))
    finally:
        remove_sandbox(tmp_path / name)
    assert "ended before its kernel was forked" in done.stdout, done.stdout + done.stderr


KILL_ALL = """import os, signal
for pid in os.listdir("/proc"):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
print("killed what it could")"""


def test_a_kernel_that_kills_every_process_it_sees_still_runs_its_next_cell():
    """The holder, the forked kernel's neighbour, is root's: no student process can end the
    sandbox it lives in (as with a fresh kernel, whose only neighbour is bubblewrap's)."""
    assert in_a_thread(lambda: _run(KILL_ALL, "print('still here')")) == ["killed what it could\n", "still here\n"]


def test_a_workers_zygote_lives_as_long_as_the_worker_not_as_the_nbgrader_that_started_it():
    """batch_job names the worker (UNET_ZYGOTES=FOLDER:PID): its zygote serves the worker's
    later batches, is no descendant of the process that started it (whose family is killed
    when it runs over its time), and ends with the worker."""
    import shutil
    import subprocess

    import psutil

    from course.sandbox import execute

    folder, worker = tempfile.mkdtemp(prefix="z"), subprocess.Popen(["sleep", "120"])
    env = launcher.kernel_env({})
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(launcher.SHARED_ZYGOTES, f"{folder}/zygotes:{worker.pid}")
            path = execute.zygote_for(env, "json")
            assert path.startswith(folder) and execute.zygote_for(env, "json") == path  # found again, not started twice
        zygote = next(p for p in psutil.process_iter(["cmdline"]) if path in (p.info["cmdline"] or []))
        assert zygote.pid not in {p.pid for p in psutil.Process().children(recursive=True)}
        worker.kill()
        worker.wait()
        zygote.wait(timeout=15)
        assert not Path(path).exists()
    finally:
        worker.kill()
        shutil.rmtree(folder, ignore_errors=True)
