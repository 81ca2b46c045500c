"""A zygote: one process that has imported what every graded notebook imports (TensorFlow,
Keras, NumPy, matplotlib, roadscenes, ipykernel), from which each graded kernel is forked
into a sandbox of its own instead of importing all of it again (3-4 CPU-seconds a kernel).

    python course/sandbox/zygote.py SOCKET MODULES [OWNER-PID]

It lives until the process OWNER-PID ends (a grading worker's zygote serves all its
batches), or without one until its standard input closes. It is run as a file, not as part
of the `course` package, so that nothing of the course but this file is in its memory, and
so in its kernels'. It imports the standard library and then MODULES (comma-separated,
SandboxedKernelManager.zygote_modules); it never runs student code and reads nothing but
requests from its socket, in a folder only root can enter.

A request comes from the launcher of one kernel (launcher.py), which has already made that
kernel's cgroups and started bubblewrap with a placeholder (the "holder") in the new
namespaces, the kernel's files copied in. For each request the zygote forks a child which
- moves into the kernel's cgroups and takes its per-process limits;
- joins the holder's namespaces (mount, PID, network, IPC, UTS, cgroup) and its root folder,
  as `nsenter` does, then forks the kernel itself, inside the new PID namespace;
- waits for the kernel and exits with it: the holder reads a pipe only this child holds, so
  when the kernel ends the holder, bubblewrap and the launcher end too, as when the kernel
  runs under bubblewrap directly.
The kernel becomes user 65534 with no capabilities (bounding set emptied, no new privileges),
gets the kernel's environment, folder, sys.path and a session of its own, and runs
ipykernel_launcher as `python -m ipykernel_launcher` would. Every kernel is a fresh fork of a
process that never saw a notebook: nothing of one notebook can reach another.
"""

import array
import ctypes
import gc
import json
import os
import runpy
import select
import shutil
import signal
import socket
import sys
import tempfile
import traceback

NOBODY = 65534
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_PARENT = "unet-grading"
NAMESPACES = (("ipc", 0x08000000), ("uts", 0x04000000), ("net", 0x40000000), ("cgroup", 0x02000000),
              ("pid", 0x20000000), ("mnt", 0x00020000))
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
MAX_REQUEST = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)
HERE = os.path.dirname(os.path.abspath(__file__))


def _check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


# ---------------------------------------------------------------------------------------
# The zygote
# ---------------------------------------------------------------------------------------

def main():
    path, modules = sys.argv[1], [m for m in sys.argv[2].split(",") if m]
    # Its life: until the process whose PID is given ends, else until its input closes.
    until = os.pidfd_open(int(sys.argv[3])) if len(sys.argv) > 3 else sys.stdin.fileno()
    if len(sys.argv) > 3 and os.fork():
        os._exit(0)  # a worker's zygote is no descendant of the nbgrader that started it, nor killed with it
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)  # at once: a kernel's request waits while the modules load
    server.listen(64)
    print("listening", flush=True)
    os.dup2(2, 1)  # nothing more for the grader to read
    # What the modules write as they load (caches, configuration) goes to a folder of the
    # zygote's own, never to the machine's /tmp or home, nor into a kernel's sandbox.
    private = tempfile.mkdtemp(prefix="unet-zygote-")
    os.environ.update(HOME=private, MPLCONFIGDIR=os.path.join(private, "matplotlib"),
                      IPYTHONDIR=os.path.join(private, "ipython"))
    try:
        for module in modules:
            __import__(module)
        shared = shared_writable_mappings(open("/proc/self/maps").read())
        if shared:  # every kernel would share them: kernels start afresh instead
            raise SystemExit(f"unet zygote: not forking kernels, its memory has shared writable mappings: {shared[:3]}")
        # What the imports made lives as long as the kernel: its garbage collections need not
        # walk it (a full one took 0.2 CPU-s with these 340,000 objects, once a notebook).
        gc.freeze()
        serve_forever(server, until, [entry for entry in sys.path if entry != HERE])
    finally:
        shutil.rmtree(private, ignore_errors=True)
        os.unlink(path)


def shared_writable_mappings(maps):
    """The lines of /proc/PID/maps text `maps` that are shared and writable: memory a fork
    shares with its parent and siblings, where one kernel could write what another reads."""
    return [line for line in maps.splitlines() if line.split()[1:2] and line.split()[1][1] == "w"
            and line.split()[1][3] == "s"]


def serve_forever(server, until, base_path):
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    while True:
        readable, _, _ = select.select([server, until], [], [])
        if until in readable and (until != sys.stdin.fileno() or not os.read(until, 4096)):
            return  # the grader that started this zygote, or the worker it serves, is gone
        if server in readable:
            connection, _ = server.accept()
            try:
                serve(connection, server, base_path)
            except Exception:  # noqa: BLE001 - one bad request never stops the others
                traceback.print_exc()
            finally:
                connection.close()


def serve(connection, server, base_path):
    """Read one request and its file descriptors (the kernel's stdout and stderr, the holder's
    pipe), and fork the child that makes the kernel."""
    fork_for(connection, server, 3, lambda request, fds: child(connection, fds, request, base_path))


def fork_for(connection, server, count, handle):
    """Read one request (JSON) and its `count` file descriptors from `connection`, and fork a
    child that runs `handle(request, fds)` and exits with what it returns. An empty request is
    a knock (whether the server is there): nothing is forked. (The batch server's too.)"""
    fds = array.array("i")
    data, ancillary, _, _ = connection.recvmsg(MAX_REQUEST, socket.CMSG_LEN(count * fds.itemsize))
    if not data and not ancillary:
        return
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    try:
        if len(fds) != count:
            raise ValueError(f"expected {count} file descriptors, got {len(fds)}")
        request = json.loads(data)
        if os.fork() == 0:
            code = 1
            try:
                server.close()
                code = handle(request, list(fds))
            except BaseException:  # noqa: BLE001 - never return into the server's loop
                traceback.print_exc()
            finally:
                os._exit(code)
    finally:
        for fd in fds:
            os.close(fd)


# ---------------------------------------------------------------------------------------
# The child: outside the sandbox, root, one per kernel
# ---------------------------------------------------------------------------------------

def child(connection, fds, request, base_path):
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    stdout, stderr, keepalive = fds
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    keep = {connection.fileno(), keepalive}
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    try:
        root = enter(request)
    except OSError as error:
        connection.sendall(json.dumps({"error": str(error)}).encode())
        return 1
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            connection.close()
            os.close(keepalive)
            code = kernel(root, request, base_path)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(root)
    connection.sendall(json.dumps({"pid": pid}).encode())
    connection.close()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) & 0xFF


def enter(request):
    """Join the kernel's cgroups and limits and the holder's namespaces; the kernel forked
    next is inside them. Returns the holder's root folder, open."""
    name = os.path.basename(request["private"])
    for controller in ("memory", "pids", "cpu"):
        procs = os.path.join(CGROUP_ROOT, controller, CGROUP_PARENT, name, "cgroup.procs")
        if os.path.exists(procs) or controller != "cpu":
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
    import resource
    for kind, value in request["limits"].items():
        resource.setrlimit(getattr(resource, kind), (value, value))
    holder = int(request["holder"])
    namespaces = [os.open(f"/proc/{holder}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC) for kind, _ in NAMESPACES]
    root = os.open(f"/proc/{holder}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if start_time(holder) != request["started"]:  # that PID is another process's now: these are not its namespaces
        raise OSError(f"the sandbox's process {holder} ended before its kernel was forked")
    try:
        for fd, (kind, flag) in zip(namespaces, NAMESPACES):
            _check(_libc.setns(fd, flag), f"joining the sandbox's {kind} namespace")
    finally:
        for fd in namespaces:
            os.close(fd)
    return root


def start_time(pid):
    """When process `pid` started (clock ticks since boot): with its PID, it names one process."""
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[19])


# ---------------------------------------------------------------------------------------
# The kernel: inside the sandbox
# ---------------------------------------------------------------------------------------

def kernel(root, request, base_path):
    os.fchdir(root)
    os.chroot(".")
    os.close(root)
    os.setsid()
    drop_privileges()
    # After the change of user, which clears both: the kernel dies with the child that made
    # it, and is as dumpable as a kernel that was exec'd (its own /proc files readable).
    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "parent death signal")
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(request["workdir"])
    os.environ.clear()
    os.environ.update(request["env"], PWD=request["workdir"], OLDPWD=os.path.dirname(request["workdir"]))  # as `cd` leaves them
    forget_the_zygote()
    sys.argv = ["ipykernel_launcher", *request["argv"]]
    sys.orig_argv = [sys.executable, "-m", "ipykernel_launcher", *request["argv"]]
    sys.path[:] = ["", *base_path]  # as `python -m` makes it; ipykernel_launcher takes "" out
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
    return 0


def drop_privileges():
    """User and group 65534, no supplementary groups, no capabilities of any kind, and no way
    back (no new privileges)."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for capability in range(last + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0), "dropping a capability")
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(NOBODY, NOBODY, NOBODY)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    _check(_libc.capset(header, (ctypes.c_uint32 * 6)()), "clearing capabilities")
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no new privileges")
    if os.getuid() != NOBODY or os.geteuid() != NOBODY or os.getgroups():
        raise OSError("could not become user 65534")


def forget_the_zygote():
    """What the imports cached from the zygote's own folders: looked up again in the kernel's."""
    for name in [name for name in sys.modules if name == "__mp_main__"]:
        del sys.modules[name]
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is not None:
        for cached in ("get_configdir", "get_cachedir", "_get_config_or_cache_dir"):
            getattr(getattr(matplotlib, cached, None), "cache_clear", lambda: None)()
    tempfile.tempdir = None
    generator = sys.modules.get("numpy.random")  # where a module of the zygote's made NumPy's global one
    if generator is not None:
        generator.seed()  # the kernel's own, not the zygote's (Python's own `random` reseeds itself)


if __name__ == "__main__":
    main()
