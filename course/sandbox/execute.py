"""Graded kernels, each in a sandbox of its own; used by plain `nbgrader autograde` too.

`SandboxedExecute` (configured in nbgrader_config.py in place of nbgrader's Execute) starts
every notebook's kernel with `SandboxedKernelManager`:

- the kernel and nbgrader talk over Unix sockets (jupyter_client's `transport = "ipc"`) in a
  private folder of that kernel alone, so the kernel needs no network and no other kernel
  can reach its sockets or read its connection file;
- a launcher (launcher.py, run as the grader) puts the kernel in cgroups that limit the
  memory, the number of processes and the CPU (`cpus` cores, a quota) of everything it
  starts, sets per-process limits (address space, CPU time, file size), and starts
  bubblewrap: new PID, network, IPC and UTS namespaces; read-only the system's /usr and the
  Python environment, nothing else of the machine (no course folder, grader, gradebook,
  other submissions, home folders, /etc); an empty size-limited /tmp; and a size-limited
  copy of the notebook's own regular files as its working folder (regular_files: links,
  special files, files too large and names that could not be staged elsewhere are left out,
  each with a reason). The kernel runs as user 65534 with no capabilities;
- as root with cgroups, the kernel is not started afresh in that sandbox but forked into it
  from a zygote that imported TensorFlow once for all kernels (zygote.py, zygote_for);
- when the kernel ends, every process left in its cgroups is killed and the folders removed.

What a kernel sends back is bounded as it arrives, before it is held (BoundedOutputs): each
cell keeps at most 1 MB of output, a notebook 8 MB in all, the evidence of a graded cell
4 MB of its own, with a note where output was cut; zmq refuses any one message over
128 MB unread. A notebook may be given a time budget (`notebook_timeout`): past it, its
kernel and every process it started are killed and that notebook fails, alone.

Without bubblewrap grading refuses to start, unless the instructor allows it explicitly
(`--SandboxedExecute.allow_unsandboxed=True`, or `course grade --no-sandbox`); without
cgroups (not root) neither the limits of all the kernel's processes together nor the
killing of those it left running hold.
"""

import asyncio
import atexit
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import ensure_event_loop
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer, Unicode, default

from .launcher import CGROUP_ROOT, NOBODY, SHARED_ZYGOTES, has_cgroups, is_root, kernel_env
from .teardown import kill_sandbox, remove_sandbox
from .bounded_output import MAX_MESSAGE_BYTES, MB, BoundedOutputs, IopubGuard, SandboxedKernelClient
from .hidden_calls import HiddenTestsOutOfHistory
from .submission_files import copy_regular_files, shown, submitted_counterpart



# The heavy modules the notebook imports: what a zygote and a kernel started ahead load first.
NOTEBOOK_MODULES = ("numpy", "matplotlib.pyplot", "roadscenes.dataset", "tensorflow", "tensorflow.keras.layers")


class SandboxUnavailable(RuntimeError):
    """Bubblewrap is missing and unsandboxed grading was not allowed."""


def bwrap_available():
    return shutil.which("bwrap") is not None


_PROBE = []


def sandbox_problem():
    """Why no sandbox can be made here ('' when one can): bubblewrap missing, or the kernel
    refusing the namespaces it needs. Tried once per process."""
    if not bwrap_available():
        return "bubblewrap (bwrap) is not installed"
    if not _PROBE:
        probe = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--ro-bind", "/usr", "/usr",
                 "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                 "--proc", "/proc", "--dev", "/dev", "--", "/bin/true"]
        if not is_root():
            probe.insert(1, "--unshare-user")
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        _PROBE.append("" if result.returncode == 0 else
                      f"bubblewrap cannot create namespaces here ({result.stderr.strip()[:200]})")
    return _PROBE[0]


# ---------------------------------------------------------------------------------------
# jupyter_client and nbgrader
# ---------------------------------------------------------------------------------------


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through the launcher, with IPC sockets in a private folder."""

    memory_mb = Integer(4096, help="memory of all the kernel's processes together").tag(config=True)
    max_processes = Integer(512, help="processes and threads of the kernel together").tag(config=True)
    cpu_seconds = Integer(900, help="CPU time of any one process of the kernel").tag(config=True)
    disk_mb = Integer(256, help="size of the kernel's /tmp and of its working folder, each").tag(config=True)
    cpus = Float(1.0, help="CPU cores the kernel's processes may use together (0: no limit)").tag(config=True)
    cpu_shares = Integer(0, help="the kernel's weight for the CPU when every core is busy (cgroup v1 cpu.shares; "
                                 "0: the default, 1024)").tag(config=True)
    sandbox = Bool(True, help="run the kernel under bubblewrap").tag(config=True)
    zygote = Bool(True, help="fork the kernel from a process that has imported zygote_modules "
                  "(as root, in the sandbox)").tag(config=True)
    zygote_modules = Unicode(",".join(NOTEBOOK_MODULES + ("ipykernel.kernelapp",)),
                             help="modules the zygote imports once for all its kernels").tag(config=True)

    deferred = False  # started ahead of its notebook: files come later, by deliver()
    # Whether the kernel's environment says it is being graded (NBGRADER_EXECUTION): the
    # notebook's kernel is told, so that it reads few frames and does not train; the kernel
    # that collects the evidence (judge/evidence.py) is not, so that no grading flag reaches
    # the code it records.
    grading_flag = True

    def forks(self):
        """Whether the kernel is to be forked from a zygote (whose child joins the kernel's
        cgroups: there must be some)."""
        return self.zygote and self.sandbox and has_cgroups()

    async def _async_pre_start_kernel(self, **kw):
        self.private = Path(tempfile.mkdtemp(prefix="unet-kernel-", dir=_sandbox_base()))
        workdir = Path(kw.get("cwd") or os.getcwd())
        folders = {"ipc": "1m"}
        if self.deferred:
            folders["work"] = f"{self.disk_mb}m"
            self.left_out = []
        else:
            (self.private / "files").mkdir()
            self.left_out = copy_regular_files(workdir, self.private / "files", submitted_counterpart(workdir))
        # The folders the kernel may write outside its own tmpfs: its sockets and connection
        # file, and for a kernel started ahead its working folder. As root each is a tmpfs of
        # its own, so that the kernel cannot fill the machine's disk.
        for name, size in folders.items():
            (self.private / name).mkdir()
            if is_root():
                try:
                    mount_tmpfs(self.private / name, size)
                except (OSError, subprocess.CalledProcessError) as error:  # a container without mounts
                    self.log.warning("%s folder of the sandbox not size-limited: %s", name, error)
        if is_root() and self.cpus > 0 and not (CGROUP_ROOT / "cpu").is_dir():
            self.log.warning("CPU of the kernel not limited: no cgroup cpu controller at %s", CGROUP_ROOT / "cpu")
        sockets = self.private / "ipc"
        if is_root():
            for path in [self.private, *self.private.rglob("*")]:
                os.lchown(path, NOBODY, NOBODY)
        self.private.chmod(0o700)
        self.transport = "ipc"
        self.connection_file = str(sockets / "kernel.json")
        self.ip = str(sockets / "socket")
        self.settings = {"private": str(self.private), "workdir": str(workdir), "sandbox": self.sandbox,
                         "memory_bytes": self.memory_mb * 2**20, "max_processes": self.max_processes,
                         "cpu_seconds": self.cpu_seconds, "disk_bytes": self.disk_mb * 2**20, "cpus": self.cpus,
                         "cpu_shares": self.cpu_shares, "deferred": self.deferred,
                         "env": {"NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde")}
                         if self.grading_flag else {}}
        if self.forks():
            # One zygote for kernels with the grading flag and without: nothing it imports reads it.
            self.settings["zygote"] = zygote_for(kernel_env({}), self.zygote_modules)
        command, kw = await super()._async_pre_start_kernel(**kw)
        # A signal would reach bubblewrap, not the kernel inside: interrupt by message.
        self.kernel_spec.interrupt_mode = "message"
        return command, kw

    @default("client_factory")
    def _client_factory_default(self):
        return SandboxedKernelClient

    def deliver(self, workdir):
        """Give a kernel started ahead the regular files of its notebook's folder `workdir`."""
        target = self.private / "work"
        self.left_out = copy_regular_files(workdir, target, submitted_counterpart(workdir))
        if is_root():
            for path in [target, *target.rglob("*")]:
                os.lchown(path, NOBODY, NOBODY)

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if is_root() and os.path.exists(self.connection_file):
            os.chown(self.connection_file, NOBODY, NOBODY)

    def format_kernel_cmd(self, extra_arguments=None):
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
        start = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); "
                 "from course.sandbox.launcher import main; main()")
        return [sys.executable, "-c", start, json.dumps(self.settings), *kernel]

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        private = getattr(self, "private", None)
        if private is not None and not restart:
            await asyncio.get_running_loop().run_in_executor(None, remove_sandbox, private)

    cleanup_resources = _async_cleanup_resources


# ---------------------------------------------------------------------------------------
# The zygotes: kernels forked from a process that has imported TensorFlow (zygote.py)
# ---------------------------------------------------------------------------------------

# As the notebook's segmentation_utils sets before it first imports TensorFlow: the zygote
# imports TensorFlow for the notebook, and its C++ logs would reach the kernels' cells.
ZYGOTE_IMPORT_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}
_ZYGOTES = {}  # (kernel environment, modules) -> (zygote process, its socket, its folder)
_ZYGOTES_LOCK = threading.Lock()


def zygote_for(env, modules):
    """The socket of a zygote for kernels of environment `env` (kernels of another
    environment get a zygote of their own, since modules read it as they load): the
    worker's, which outlives this process, where $UNET_ZYGOTES names one (batch_job.py sets
    it), else this process's own. Started on first use; None, with a warning, when none
    could be started."""
    with _ZYGOTES_LOCK:  # the evidence kernel starts on a thread of its own (judge/evidence.py)
        return _zygote_for(env, modules)


def _zygote_for(env, modules):
    key = json.dumps([env, modules, sys.executable], sort_keys=True)
    shared = os.environ.get(SHARED_ZYGOTES, "")
    folder, _, owner = shared.rpartition(":")
    if folder and owner.isdigit():
        found = _shared_zygote(Path(folder) / hashlib.sha256(key.encode()).hexdigest()[:16], int(owner), env, modules)
        if found:
            return found
    found = _ZYGOTES.get(key)
    if found and found[0].poll() is None:
        return found[1]
    folder = tempfile.mkdtemp(prefix="unet-zygote-")  # only its owner, the grader, may enter
    process = _start_zygote(Path(folder) / "socket", env, modules, stdin=subprocess.PIPE, stderr=None)
    if process is None:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    if not _ZYGOTES:
        atexit.register(_stop_zygotes)
    _ZYGOTES[key] = (process, str(Path(folder) / "socket"), folder)
    return _ZYGOTES[key][1]


def _shared_zygote(folder, owner, env, modules):
    """The socket of the zygote in `folder` that lives as long as process `owner`, started if
    it is not there; None where the folder is not the grader's alone."""
    socket_path = folder / "socket"
    if len(str(socket_path)) > SOCKET_PATH_LIMIT:
        return None
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = os.lstat(folder)
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid() or found.st_mode & 0o077:
        logging.getLogger(__name__).warning("%s is not the grader's alone: no shared zygote there", folder)
        return None
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one start, whoever asks first
        if _answers(socket_path):
            return str(socket_path)
        socket_path.unlink(missing_ok=True)  # its zygote ended with a worker of the same PID before
        with open(folder / "zygote.log", "ab") as log:
            process = _start_zygote(socket_path, env, modules, owner=owner, stdin=subprocess.DEVNULL, stderr=log)
    return str(socket_path) if process else None


def _answers(socket_path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(socket_path))  # an empty request: the zygote reads it as a knock
            return True
        except OSError:
            return False


def _start_zygote(socket_path, env, modules, owner=None, **streams):
    command = [sys.executable, str(Path(__file__).with_name("zygote.py")), str(socket_path), modules]
    process = subprocess.Popen(command + ([str(owner)] if owner else []), stdout=subprocess.PIPE,
                               env={**ZYGOTE_IMPORT_ENV, **env}, start_new_session=True, **streams)
    if process.stdout.readline() != b"listening\n":
        process.kill()
        process.wait()
        logging.getLogger(__name__).warning("no zygote: every kernel imports its modules itself")
        return None
    process.stdout.close()
    return process


def _stop_zygotes():
    for process, _, folder in _ZYGOTES.values():
        process.stdin.close()  # the zygote's signal to end
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
    _ZYGOTES.clear()


SOCKET_PATH_LIMIT = 100  # a Unix socket's path has at most 107 bytes


def _sandbox_base():
    """Where kernels' private folders go: $UNET_SANDBOX_DIR (course grade sets one per batch,
    to sweep after), else the temporary folder; /tmp when either would make socket paths
    too long."""
    base = os.environ.get("UNET_SANDBOX_DIR") or tempfile.gettempdir()
    longest = Path(base) / "unet-kernel-xxxxxxxx" / "ipc" / "socket-65535"
    return base if len(str(longest)) <= SOCKET_PATH_LIMIT else "/tmp"


def mount_tmpfs(folder, size):
    """Mount an empty tmpfs of `size` owned by the kernel's user on `folder` (root only)."""
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700,uid={NOBODY},gid={NOBODY}",
                    "tmpfs", str(folder)], check=True, capture_output=True)


class NotebookOutOfTime(RuntimeError):
    """A notebook ran longer than SandboxedExecute.notebook_timeout; its kernel was stopped."""


class SandboxedExecute(HiddenTestsOutOfHistory, BoundedOutputs, Execute):
    """nbgrader's Execute, with every kernel in a sandbox of its own, the notebook's outputs
    kept within bounds as they arrive (BoundedOutputs) and, with `notebook_timeout`, a time
    budget for the whole notebook: past it, the kernel and every process it started are
    killed and the notebook fails (nbgrader then removes that student's autograded folder
    and goes on with the next).

    With `prestart` = N (course grade sets it to the number of notebooks after the first in
    its nbgrader process), the kernel of the next notebook is started while this one runs,
    in a sandbox of its own, and imports the heavy modules the notebook needs (`warm_up`,
    run silently in a throwaway namespace); when its notebook comes, it gets the notebook's
    files and runs that notebook only. Nothing of a student reaches a kernel before its own
    notebook does, and no kernel ever sees two notebooks. Kernels forked from a zygote are not
    started ahead: they start in a few tenths of a CPU-second.

    Hidden tests run as user expressions, out of the kernel's history (HiddenTestsOutOfHistory).
    """

    allow_unsandboxed = Bool(False, help="grade without bubblewrap when it is missing (unsafe)").tag(config=True)
    kernel_name = Unicode("python3").tag(config=True)
    prestart = Integer(0, help="kernels to start ahead, one for each later notebook of this process").tag(config=True)
    warm_up = Unicode(f"exec('import {', '.join(NOTEBOOK_MODULES)}', {{}})",
                      help="code a kernel started ahead runs before its notebook arrives").tag(config=True)
    notebook_timeout = Integer(0, help="seconds a whole notebook may take, its cells together (0: no limit); "
                               "a notebook that takes longer fails").tag(config=True)
    cell_output_bytes = Integer(1 * MB, help="bytes of output one cell keeps").tag(config=True)
    notebook_output_bytes = Integer(8 * MB, help="bytes of output a notebook keeps in all, "
                                    "graded cells' evidence aside").tag(config=True)
    evidence_bytes = Integer(4 * MB, help="bytes of evidence a graded cell keeps").tag(config=True)
    store_widget_state = Bool(False, help="keep widgets' state in the notebook (not bounded)").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)
        self._handover = None
        self._deadline, self._stopped = None, False

    def preprocess(self, nb, resources=None, km=None):
        problem = sandbox_problem()
        if problem and not self.allow_unsandboxed:
            raise SandboxUnavailable(
                f"{problem}, so student code cannot be sandboxed: grading refused. Install bubblewrap "
                "(apt-get install bubblewrap) where namespaces are allowed, or pass "
                "--SandboxedExecute.allow_unsandboxed=True to grade without a sandbox at your own risk.")
        self._kernels_ahead((resources or {}).get("metadata", {}).get("path"))
        # The clock starts once a kernel started ahead is ready: its warm-up is the grader's time.
        self._deadline = time.monotonic() + self.notebook_timeout if self.notebook_timeout > 0 else None
        self._stopped, self._guard, self._strict_iopub = False, None, self.raise_on_iopub_timeout
        configured = {"raise_on_iopub_timeout": self.raise_on_iopub_timeout, "shutdown_kernel": self.shutdown_kernel}
        try:
            return super().preprocess(nb, resources)
        finally:
            self._handover, self._deadline = None, None
            if self._guard is not None:
                self._guard.close()
            for name, value in configured.items():  # changed for this notebook alone
                setattr(self, name, value)

    def _kernels_ahead(self, workdir):
        """Take the kernel started ahead for this notebook, if any, and start the next one.
        nbgrader makes a new preprocessor for every notebook: what is ahead is the process's."""
        if _SPARES:
            self._handover = self._claim(_SPARES[0], workdir)
        _AHEAD.setdefault("left", self.prestart)
        if _AHEAD["left"] > 0 and not _loop_running():  # nbgrader's own process runs none
            spare = self._new_kernel_manager()
            if spare.forks():
                # A forked kernel starts in a few tenths of a CPU-second: started ahead, it cost
                # more than it saved (bench/class_grading.py, 2 workers: 103 s against 80 s).
                _AHEAD["left"] = 0
                return
            _AHEAD["left"] -= 1
            spare.deferred = True
            if not _AHEAD.get("registered"):
                _AHEAD["registered"] = atexit.register(_stop_spares)
            _SPARES.append((spare, ensure_event_loop().create_task(self._warm(spare))))

    def preprocess_cell(self, cell, resources, index):
        self._ledger.current = (index, cell)
        self.raise_on_iopub_timeout = self._strict_iopub
        if self._guard is None and self.kc is not None and not _loop_running():
            self._guard = IopubGuard(self.kc, self._output_refused)
        return self._timed_cell(cell, resources, index)

    def _output_refused(self):
        """The kernel sent an output too large to read: it was refused with whatever came
        after it in the connection, the end of its cell perhaps. The cell ends at the IOPub
        timeout then, with what arrived, rather than failing the notebook."""
        self.raise_on_iopub_timeout = False
        cell_index, cell = self._ledger.current
        if cell is not None:
            self._count_cut(cell_index, MAX_MESSAGE_BYTES, "message")
            self._show_note(cell.outputs, cell_index)

    # -- the notebook's time budget ---------------------------------------------------

    def _timed_cell(self, cell, resources, index):
        self._check_time()
        try:
            result = super().preprocess_cell(cell, resources, index)
        except NotebookOutOfTime:
            raise
        except Exception:
            self._check_time()  # a cell cut short at the deadline: the notebook is over
            raise
        self._check_time()
        return result

    def _get_timeout(self, cell):
        """No cell may wait past the notebook's deadline."""
        timeout = super()._get_timeout(cell)
        if self._deadline is None:
            return timeout
        left = max(1, math.ceil(self._deadline - time.monotonic()))
        return left if timeout is None else min(timeout, left)

    async def _async_handle_timeout(self, timeout, cell=None):
        self._check_time()  # the notebook's time is up, not just the cell's: no interrupt
        return await super()._async_handle_timeout(timeout, cell)

    def _check_time(self):
        if self._deadline is not None and time.monotonic() >= self._deadline - 0.1:
            self._stop_for_time()

    def _stop_for_time(self):
        """Kill the kernel and all it started, now, and fail the notebook."""
        if not self._stopped:
            self._stopped = True
            private = getattr(self.km, "private", None)
            if private is not None:
                kill_sandbox(private)
            self.shutdown_kernel = "immediate"  # nothing is left to shut down gracefully
            self.log.error("%s ran over its time budget of %d s: its kernel and every process it started "
                           "were stopped, and it is not graded", self._notebook_name(), self.notebook_timeout)
        raise NotebookOutOfTime(f"stopped after {self.notebook_timeout} s, the most one notebook may take")

    def _notebook_name(self):
        about = (self.resources or {}).get("nbgrader") or {}
        if about.get("student"):
            return f"Notebook {about.get('notebook', '')} of {shown(str(about['student']))}"
        return "The notebook"

    def _new_kernel_manager(self):
        km = self.kernel_manager_class(kernel_name=self.kernel_name, config=self.config)
        km.sandbox = km.sandbox and not sandbox_problem()
        return km

    def create_kernel_manager(self):
        if self._handover is not None:
            self.km, self._handover = self._handover, None
            return self.km
        self.km = self._new_kernel_manager()
        return self.km

    async def _warm(self, km):
        await km.start_kernel(extra_arguments=["--HistoryManager.hist_file=:memory:"])
        client = km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=self.startup_timeout)
            request = client.execute(self.warm_up, silent=True, store_history=False)
            while True:
                reply = await client.get_shell_msg(timeout=self.startup_timeout)
                if reply["parent_header"].get("msg_id") == request:
                    return reply["content"]["status"]
        finally:
            client.stop_channels()

    def _claim(self, spare, workdir):
        """The kernel started ahead, with the files of `workdir`; None if it did not start
        well (its notebook then gets a kernel started now, as usual)."""
        km, task = spare
        _SPARES.remove(spare)
        loop = ensure_event_loop()
        try:
            status = loop.run_until_complete(task)
            if status != "ok" or not workdir:
                raise RuntimeError(f"warm-up ended with {status!r}")
            km.deliver(Path(workdir))
            return km
        except Exception as error:  # noqa: BLE001 - fall back to a kernel of its own
            self.log.warning("kernel started ahead not used (%s); starting one now", error)
            if not _loop_running():
                loop.run_until_complete(_stop(km))
            return None


_SPARES = []  # (kernel manager, task starting it): started ahead, not claimed yet
_AHEAD = {}  # how many more kernels this process may start ahead


def _loop_running():
    """Whether an event loop runs in this thread (then nbclient runs its own elsewhere, and a
    kernel started ahead on this thread's loop would never be served)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def _stop(km):
    try:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
        else:
            await km.cleanup_resources()
    except Exception:  # noqa: BLE001 - its sandbox is swept with the batch anyway
        pass


def _stop_spares():
    loop = ensure_event_loop()
    for km, task in list(_SPARES):
        try:
            loop.run_until_complete(task)
        except Exception:  # noqa: BLE001
            pass
        loop.run_until_complete(_stop(km))
    _SPARES.clear()
