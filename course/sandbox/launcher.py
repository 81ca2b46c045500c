"""Starts one graded kernel in its sandbox; imports nothing but the standard library, since
it runs once per kernel (see execute.py for what the sandbox is and why).

    python -c "...; from course.launcher import main; main()" SETTINGS KERNEL-COMMAND...

As the grader, it puts itself into cgroups of its own (memory, number of processes and CPU
quota of everything it will start), sets per-process limits, and becomes bubblewrap, which
runs the kernel as user 65534 with only the Python environment and the kernel's own files
in sight.
"""

import json
import os
import resource
import sys
from array import array
from pathlib import Path

NOBODY = 65534
WORKDIR = "/home/student/assignment"
CGROUP_ROOT = Path("/sys/fs/cgroup")
COURSE = Path(__file__).resolve().parents[2]  # the course folder: nothing of it but roadscenes is shown
CGROUP_PARENT = "unet-grading"
SHARED_ZYGOTES = "UNET_ZYGOTES"  # FOLDER:PID: the zygotes of a worker, in FOLDER as long as PID lives (execute.py)
PASSED_ENV = ("UNET_SMOKE", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS",
              "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def is_root():
    return os.geteuid() == 0


def has_cgroups():
    """Whether each kernel gets cgroups of its own here (as root, with cgroup v1's memory)."""
    return is_root() and (CGROUP_ROOT / "memory").is_dir()


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
    # Folders a .pth file adds to the path (an environment layered on another, say), as
    # Python's site module reads them: one folder per line, `import` lines are code.
    for pth in Path(sys.prefix).glob("lib/python*/site-packages/*.pth"):
        try:
            lines = pth.read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith(("#", "import ", "import\t")) and Path(line).is_absolute():
                folder = Path(line).resolve()
                if folder != COURSE and folder not in COURSE.parents:  # never the judge and the reference
                    paths.add(folder)
    return sorted(p for p in paths if p.exists() and p.is_dir())


def _parents_with_perms(path):
    """bwrap makes missing parent folders with the modes of the real ones; give them 0755."""
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return args


def bwrap_argv(private, disk_bytes, env, kernel, deferred=False):
    """The bubblewrap command that runs `kernel` (a list; None: the holder of a kernel forked
    from the zygote) in the sandbox; `deferred`: the working folder is private/work, filled
    after the kernel has started (execute.py)."""
    argv = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        link = Path("/") / name
        if link.is_symlink():
            argv += ["--symlink", os.readlink(link), str(link)]
        elif link.is_dir():
            argv += ["--ro-bind", str(link), str(link)]
    # The empty folders first: a bind made before a tmpfs mounted above it would be hidden
    # (a course under /tmp, say).
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(disk_bytes), "--tmpfs", "/tmp",
             "--perms", "0755", "--dir", "/home",
             "--perms", "1777", "--size", str(disk_bytes), "--tmpfs", "/home/student"]
    for path in python_paths():
        argv += _parents_with_perms(path) + ["--ro-bind", str(path), str(path)]
    for shared in ("/etc/fonts", "/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(shared):  # fonts and the library cache: nothing secret
            argv += ["--ro-bind", shared, shared]
    if deferred:  # started ahead: its files arrive later, straight into its working folder
        argv += ["--bind", str(private / "work"), WORKDIR]
    else:
        argv += ["--ro-bind", str(private / "files"), "/home/.submission"]
    sockets = private / "ipc"  # the kernel's sockets and connection file, at the same path as outside
    argv += _parents_with_perms(sockets) + ["--bind", str(sockets), str(sockets), "--chdir", "/home/student",
                                             "--clearenv"]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    drop = (["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
             "--bounding-set=-all", "--no-new-privs", "--"] if is_root() else [])
    prepare = (f"cd {WORKDIR}" if deferred else
               f"mkdir -p {WORKDIR} && cp -r /home/.submission/. {WORKDIR}/ && cd {WORKDIR}")
    if kernel is None:
        # The holder of a kernel forked from the zygote (zygote.py): the files are copied as
        # the kernel's user, then it waits as root, which the kernel can neither signal nor
        # trace (a student's process that kills all it sees leaves its sandbox standing).
        return argv + ["--", "/bin/sh", "-c", f'"$@" /bin/sh -c "{prepare}" && echo ready && exec cat', "holder", *drop]
    # The kernel's own standard output and error (a cell's go to nbgrader as messages) lead
    # nowhere: what student code writes there never reaches the grader's log, whose lines
    # the grader reads (batch_job.out_of_time), nor its memory.
    return argv + ["--"] + drop + ["/bin/sh", "-c", f'{prepare} && exec "$@" >/dev/null 2>&1', "kernel"] + kernel


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

CPU_PERIOD_US = 100_000


def cgroup_paths(name):
    """The kernel's cgroups: memory, number of processes, CPU (cgroup v1)."""
    return [CGROUP_ROOT / controller / CGROUP_PARENT / name for controller in ("memory", "pids", "cpu")]


def enter_cgroups(name, memory_bytes, max_processes, cpus=0.0, shares=0):
    """Put this process (and so everything it starts) into cgroups of its own: memory and
    processes are required; the CPU quota (`cpus` cores, 0 for none) and weight (`shares`,
    0 for the default) only where the cpu controller is there, else a warning."""
    memory, pids, cpu = cgroup_paths(name)
    memory.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
    swap = memory / "memory.memsw.limit_in_bytes"
    if swap.exists():
        swap.write_text(str(memory_bytes))
    (pids / "pids.max").write_text(str(max_processes))
    folders = [memory, pids]
    if cpus > 0 and limit_cpu(cpu, cpus, shares):
        folders.append(cpu)
    for folder in folders:
        (folder / "cgroup.procs").write_text(str(os.getpid()))


def limit_cpu(folder, cpus, shares=0):
    """A cgroup at `folder` whose processes together get at most `cpus` cores: whatever a
    kernel starts, in sessions of its own or not, shares them, and cannot slow the other
    kernels of the machine; `shares`: its weight against them when the cores are all busy.
    False (and a warning) where it cannot be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
        (folder / "cpu.cfs_quota_us").write_text(str(max(1000, round(cpus * CPU_PERIOD_US))))
        if shares > 0:
            (folder / "cpu.shares").write_text(str(shares))
        return True
    except OSError as error:
        print(f"unet launcher: CPU of the kernel not limited ({error})", file=sys.stderr)
        try:
            folder.rmdir()
        except OSError:
            pass
        return False


def process_limits(settings):
    """Per-process limits of every process of the kernel, by resource module name."""
    return {"RLIMIT_AS": 2 * settings["memory_bytes"], "RLIMIT_CPU": settings["cpu_seconds"],
            "RLIMIT_FSIZE": settings["disk_bytes"], "RLIMIT_CORE": 0}


def launch(settings, kernel):
    """Limits, then bubblewrap (or, when allowed, the bare kernel)."""
    private = Path(settings["private"])
    if has_cgroups():
        enter_cgroups(private.name, settings["memory_bytes"], settings["max_processes"], settings.get("cpus", 0.0),
                      settings.get("cpu_shares", 0))
    for kind, value in process_limits(settings).items():
        resource.setrlimit(getattr(resource, kind), (value, value))
    deferred = settings.get("deferred", False)
    if not settings["sandbox"]:
        os.chdir(private / "work" if deferred else settings["workdir"])
        os.execv(kernel[0], kernel)
    env = kernel_env(settings["env"])
    if settings.get("zygote"):
        code = forked_from_zygote(settings, env, kernel, deferred)
        if code is not None:
            sys.exit(code)
    argv = bwrap_argv(private, settings["disk_bytes"], env, kernel, deferred)
    os.execvp(argv[0], argv)


# ---------------------------------------------------------------------------------------
# A kernel forked from the zygote (zygote.py) into the sandbox
# ---------------------------------------------------------------------------------------

ZYGOTE_SECONDS = 300  # the zygote may still be importing TensorFlow for its first kernel


def forked_from_zygote(settings, env, kernel, deferred):
    """Start the sandbox with a holder in it (`cat`: it lives as long as its input is open),
    have the zygote fork the kernel into it, and wait until the sandbox ends: its exit code
    (the holder's, 0 once the kernel has ended). None, with a warning, when the zygote could
    not make the kernel (the caller then starts it in the sandbox directly)."""
    import socket
    import subprocess

    from .zygote import start_time

    private = Path(settings["private"])
    info_read, info_write = os.pipe()
    keep_read, keep_write = os.pipe()
    argv = bwrap_argv(private, settings["disk_bytes"], env, None, deferred)
    argv[1:1] = ["--info-fd", str(info_write)]
    sandbox = subprocess.Popen(argv, stdin=keep_read, stdout=subprocess.PIPE, pass_fds=(info_write,))
    os.close(info_write)
    os.close(keep_read)
    try:
        with os.fdopen(info_read) as info:
            holder = json.loads(info.read() or "{}").get("child-pid")
        if not holder or sandbox.stdout.readline() != b"ready\n":
            os.close(keep_write)
            return sandbox.wait()  # the sandbox could not be made: as bubblewrap would end
        sandbox.stdout.close()
        # While the sandbox runs, its PID is its own: with its start time, it names the holder.
        request = {"private": str(private), "holder": holder, "started": start_time(holder),
                   "limits": process_limits(settings), "env": env, "workdir": WORKDIR, "argv": kernel[3:]}
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as zygote:
            zygote.settimeout(ZYGOTE_SECONDS)
            zygote.connect(settings["zygote"])
            null = os.open(os.devnull, os.O_WRONLY)  # the kernel's own output: see bwrap_argv
            zygote.sendmsg([json.dumps(request).encode()],
                           [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", [null, null, keep_write]))])
            os.close(null)
            os.close(keep_write)
            keep_write = None
            answer = json.loads(zygote.recv(1 << 16) or b'{"error": "the zygote closed the connection"}')
        if "pid" not in answer:
            raise OSError(answer.get("error", "no answer"))
    except (OSError, ValueError) as error:
        print(f"unet launcher: kernel not forked from the zygote ({error}); starting it afresh", file=sys.stderr)
        if keep_write is not None:
            os.close(keep_write)
        sandbox.kill()
        sandbox.wait()
        return None
    return sandbox.wait()


def main():
    """`python -c ... SETTINGS KERNEL...` (see SandboxedKernelManager.format_kernel_cmd)."""
    launch(json.loads(sys.argv[1]), sys.argv[2:])
