"""Graded kernels, each in a sandbox of its own; used by plain `nbgrader autograde` too.

`SandboxedExecute` (configured in nbgrader_config.py in place of nbgrader's Execute) starts
every notebook's kernel with `SandboxedKernelManager`:

- the kernel and nbgrader talk over Unix sockets (jupyter_client's `transport = "ipc"`) in a
  private folder of that kernel alone, so the kernel needs no network and no other kernel
  can reach its sockets or read its connection file;
- a launcher (`main` below, run as the grader) puts the kernel in cgroups that limit
  the memory and the number of processes of everything it starts, sets per-process limits
  (address space, CPU time, file size), and starts bubblewrap: new PID, network, IPC and UTS
  namespaces; read-only the system's /usr and the Python environment, nothing else of the
  machine (no course folder, grader, gradebook, other submissions, home folders, /etc); an
  empty size-limited /tmp; and a size-limited copy of the notebook's own regular files as
  its working folder. The kernel runs as user 65534 with no capabilities;
- when the kernel ends, every process left in its cgroups is killed and the folders removed.

Without bubblewrap grading refuses to start, unless the instructor allows it explicitly
(`--SandboxedExecute.allow_unsandboxed=True`, or `course grade --no-sandbox`).
"""

import asyncio
import json
import os
import resource
import shutil
import signal
import stat
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode

from .layout import walk

NOBODY = 65534
WORKDIR = "/home/student/assignment"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "unet-grading"
MAX_FILE_BYTES = 16 * 2**20
MAX_COPY_BYTES = 64 * 2**20
PASSED_ENV = ("NBGRADER_EXECUTION", "UNET_SMOKE", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
              "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


class SandboxUnavailable(RuntimeError):
    """Bubblewrap is missing and unsandboxed grading was not allowed."""


def bwrap_available():
    return shutil.which("bwrap") is not None


def _is_root():
    return os.geteuid() == 0


# ---------------------------------------------------------------------------------------
# What the kernel gets to see
# ---------------------------------------------------------------------------------------

def python_paths():
    """Folders of the Python environment: the interpreter's prefix, the virtual environment
    and the source folders of editable installs (roadscenes)."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    for finder in Path(sys.prefix).glob("lib/python*/site-packages/__editable__*finder.py"):
        text = finder.read_text()
        start = text.find("MAPPING")
        if start >= 0:
            mapping = text[text.find("{", start):text.find("}", start) + 1]
            try:
                paths.update(Path(p).resolve() for p in json.loads(mapping.replace("'", '"')).values())
            except ValueError:
                pass
    return sorted(p for p in paths if p.exists())


def copy_regular_files(folder, target, submitted=None):
    """Copy the regular files under `folder` into `target`; links, pipes, devices and sockets
    are never followed, nor is any path whose counterpart in `submitted` is not a regular
    file (nbgrader's own copy follows links). Returns the names left out and why."""
    left_out, total = [], 0
    folder, target = Path(folder), Path(target)
    for path in walk(folder):
        relative = path.relative_to(folder)
        if ".ipynb_checkpoints" in relative.parts:
            continue
        mode = path.lstat().st_mode
        original = Path(submitted) / relative if submitted else None
        if original is not None and (original.is_symlink() or (original.exists() and not (
                stat.S_ISREG(original.lstat().st_mode) or stat.S_ISDIR(original.lstat().st_mode)))):
            left_out.append(f"{relative} (not a regular file in the submission)")
            continue
        if stat.S_ISDIR(mode):
            (target / relative).mkdir(parents=True, exist_ok=True)
        elif not stat.S_ISREG(mode):
            left_out.append(f"{relative} (not a regular file)")
        elif path.lstat().st_size > MAX_FILE_BYTES or total + path.lstat().st_size > MAX_COPY_BYTES:
            left_out.append(f"{relative} (too large)")
        else:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / relative, follow_symlinks=False)
            total += path.lstat().st_size
    return left_out


def submitted_counterpart(workdir):
    """root/submitted/<student>/<assignment> for nbgrader's root/autograded/<student>/<assignment>."""
    workdir = Path(workdir).resolve()
    if len(workdir.parts) > 3 and workdir.parents[1].name == "autograded":
        return workdir.parents[2] / "submitted" / workdir.parent.name / workdir.name
    return None


def _parents_with_perms(path):
    """bwrap makes missing parent folders with the modes of the real ones; give them 0755."""
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def bwrap_argv(private, disk_bytes, env, kernel):
    """The bubblewrap command that runs `kernel` (a list) in the sandbox."""
    argv = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        link = Path("/") / name
        if link.is_symlink():
            argv += ["--symlink", os.readlink(link), str(link)]
        elif link.is_dir():
            argv += ["--ro-bind", str(link), str(link)]
    for path in python_paths():
        argv += _parents_with_perms(path) + ["--ro-bind", str(path), str(path)]
    for shared in ("/etc/fonts", "/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(shared):  # fonts and the library cache: nothing secret
            argv += ["--ro-bind", shared, shared]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(disk_bytes), "--tmpfs", "/tmp",
             "--perms", "0755", "--dir", "/home",
             "--perms", "1777", "--size", str(disk_bytes), "--tmpfs", "/home/student",
             "--ro-bind", str(private / "files"), "/home/.submission"]
    argv += _parents_with_perms(private) + ["--bind", str(private), str(private), "--chdir", "/home/student",
                                             "--clearenv"]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    drop = (["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", "--no-new-privs", "--"] if _is_root() else [])
    start = f'mkdir -p {WORKDIR} && cp -r /home/.submission/. {WORKDIR}/ && cd {WORKDIR} && exec "$@"'
    return argv + ["--"] + drop + ["/bin/sh", "-c", start, "kernel"] + kernel


def kernel_env(extra):
    env = {"PATH": f"{Path(sys.prefix) / 'bin'}:/usr/bin:/bin", "HOME": "/home/student", "TMPDIR": "/tmp",
           "IPYTHONDIR": "/tmp/.ipython", "MPLCONFIGDIR": "/tmp/.matplotlib", "MPLBACKEND": "Agg",
           "JUPYTER_RUNTIME_DIR": "/tmp/.jupyter", "LANG": "C.UTF-8", "USER": "student", "PYTHONNOUSERSITE": "1"}
    env.update({name: os.environ[name] for name in PASSED_ENV if name in os.environ})
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------
# The launcher: runs as the grader, becomes the sandbox
# ---------------------------------------------------------------------------------------

def cgroup_paths(name):
    return [CGROUP_ROOT / controller / CGROUP_PARENT / name for controller in ("memory", "pids")]


def enter_cgroups(name, memory_bytes, max_processes):
    """Put this process (and so everything it starts) into cgroups of its own."""
    memory, pids = cgroup_paths(name)
    memory.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
    swap = memory / "memory.memsw.limit_in_bytes"
    if swap.exists():
        swap.write_text(str(memory_bytes))
    (pids / "pids.max").write_text(str(max_processes))
    for folder in (memory, pids):
        (folder / "cgroup.procs").write_text(str(os.getpid()))


def launch(settings, kernel):
    """Limits, then bubblewrap (or, when allowed, the bare kernel)."""
    private = Path(settings["private"])
    if _is_root() and (CGROUP_ROOT / "memory").is_dir():
        enter_cgroups(private.name, settings["memory_bytes"], settings["max_processes"])
    limits = {resource.RLIMIT_AS: 2 * settings["memory_bytes"], resource.RLIMIT_CPU: settings["cpu_seconds"],
              resource.RLIMIT_FSIZE: settings["disk_bytes"], resource.RLIMIT_CORE: 0}
    for kind, value in limits.items():
        resource.setrlimit(kind, (value, value))
    if not settings["sandbox"]:
        os.chdir(settings["workdir"])
        os.execv(kernel[0], kernel)
    argv = bwrap_argv(private, settings["disk_bytes"], kernel_env(settings["env"]), kernel)
    os.execvp(argv[0], argv)


# ---------------------------------------------------------------------------------------
# jupyter_client and nbgrader
# ---------------------------------------------------------------------------------------

class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through the launcher, with IPC sockets in a private folder."""

    memory_mb = Integer(4096, help="memory of all the kernel's processes together").tag(config=True)
    max_processes = Integer(512, help="processes and threads of the kernel together").tag(config=True)
    cpu_seconds = Integer(900, help="CPU time of any one process of the kernel").tag(config=True)
    disk_mb = Integer(256, help="size of the kernel's /tmp and of its working folder, each").tag(config=True)
    sandbox = Bool(True, help="run the kernel under bubblewrap").tag(config=True)

    async def _async_pre_start_kernel(self, **kw):
        self.private = Path(tempfile.mkdtemp(prefix="unet-kernel-"))
        workdir = Path(kw.get("cwd") or os.getcwd())
        (self.private / "files").mkdir()
        self.left_out = copy_regular_files(workdir, self.private / "files", submitted_counterpart(workdir))
        if _is_root():
            for path in [self.private, *self.private.rglob("*")]:
                os.lchown(path, NOBODY, NOBODY)
        self.private.chmod(0o700)
        self.transport = "ipc"
        self.connection_file = str(self.private / "kernel.json")
        self.ip = str(self.private / "socket")
        self.settings = {"private": str(self.private), "workdir": str(workdir), "sandbox": self.sandbox,
                         "memory_bytes": self.memory_mb * 2**20, "max_processes": self.max_processes,
                         "cpu_seconds": self.cpu_seconds, "disk_bytes": self.disk_mb * 2**20,
                         "env": {"NBGRADER_EXECUTION": os.environ.get("NBGRADER_EXECUTION", "autograde")}}
        command, kw = await super()._async_pre_start_kernel(**kw)
        # A signal would reach bubblewrap, not the kernel inside: interrupt by message.
        self.kernel_spec.interrupt_mode = "message"
        return command, kw

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if _is_root() and os.path.exists(self.connection_file):
            os.chown(self.connection_file, NOBODY, NOBODY)

    def format_kernel_cmd(self, extra_arguments=None):
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file, *(extra_arguments or [])]
        start = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r}); "
                 "from course.sandbox import main; main()")
        return [sys.executable, "-c", start, json.dumps(self.settings), *kernel]

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        private = getattr(self, "private", None)
        if private is not None and not restart:
            await asyncio.get_running_loop().run_in_executor(None, remove_sandbox, private)

    cleanup_resources = _async_cleanup_resources


def remove_sandbox(private):
    """Kill whatever the kernel left running, remove its cgroups and its private folder."""
    for folder in cgroup_paths(Path(private).name):
        for _ in range(50):
            if not folder.exists():
                break
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()] if folder.exists() else []
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                folder.rmdir()
            except OSError:
                time.sleep(0.1)
    shutil.rmtree(private, ignore_errors=True)


class SandboxedExecute(Execute):
    """nbgrader's Execute, with every kernel in a sandbox of its own."""

    allow_unsandboxed = Bool(False, help="grade without bubblewrap when it is missing (unsafe)").tag(config=True)
    kernel_name = Unicode("python3").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        if not bwrap_available() and not self.allow_unsandboxed:
            raise SandboxUnavailable(
                "bubblewrap (bwrap) is not installed, so student code cannot be sandboxed: grading refused. "
                "Install it (apt-get install bubblewrap), or pass --SandboxedExecute.allow_unsandboxed=True "
                "to grade without a sandbox at your own risk.")
        return super().preprocess(nb, resources, km)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        km.sandbox = km.sandbox and bwrap_available()
        return km


def main():
    """The launcher: `python -c ... SETTINGS KERNEL...` (see format_kernel_cmd)."""
    launch(json.loads(sys.argv[1]), sys.argv[2:])
