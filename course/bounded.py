"""Work on a student's bytes in a forked child, under limits of memory and time of its own.

The preflight of `course grade`, the tamper reader and the judge parse or transform student
text here (the class report's similarity parses only under a size bound instead): Python's
parser needs about 475 MB per MB of a long list literal, and IPython's input transformer
re-tokenizes a whole cell once per magic line, so a few kB of text can cost a process
gigabytes or minutes. A child
that runs over its limits is stopped and says how far it got; the process that forked it,
which grades or reports on a whole class, keeps its memory and its time.

The child only computes and writes lines of JSON to a pipe (`send`): the parent's threads and
event loops do not run in it, its garbage is frozen, and it ends with os._exit.

Imports nothing of the course: every package may use it.
"""

import gc
import json
import os
import selectors
import signal
import time
from dataclasses import dataclass, field

try:
    import resource
except ImportError:  # Windows: no fork either; callers then work in their own process
    resource = None

NAME = "unet-bounded"  # the name of every child, as `ps` shows it
PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1
MEMORY = 3  # the child's exit status after a MemoryError
FAILED = "__failed__"  # the key of the message a child sends when its work raised
MAX_LINE = 1 << 26  # bytes of one message from the child
MAX_TOTAL = 1 << 27  # bytes of all its messages


def available():
    """Whether work can be put in a child process here."""
    return hasattr(os, "fork") and resource is not None


@dataclass
class Result:
    messages: list = field(default_factory=list)  # what the child sent, in order
    stopped: str = ""  # "" when the work finished; else "time", "memory", "output" (it sent too much) or "error"
    why: str = ""  # how it was stopped, for the instructor's log

    @property
    def finished(self):
        return not self.stopped

    def limit(self, memory, seconds):
        """The limit the child ran into, as a message names it: "20 s", "512 MB of memory", or
        what else stopped it."""
        if self.stopped == "time":
            return f"{seconds} s"
        if self.stopped == "memory":
            return f"{memory >> 20} MB of memory"
        return self.why


def in_child(work, *args, memory, seconds, cpu_seconds=None, renew=""):
    """Run `work(send, *args)` in a forked child: `send(value)` passes one JSON value back.
    The child may write `memory` bytes of data beyond what it was forked with and use
    `cpu_seconds` (default `seconds`) of CPU time; it is killed when `seconds` of wall-clock
    time pass without it finishing (`renew`, what each message ends, e.g. "one cell": without
    a new message). Raises OSError when no child can be started."""
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:
        os.close(read_end)
        _child(work, args, write_end, memory, cpu_seconds or seconds)  # never returns
    os.close(write_end)
    overran, flooded = True, False
    try:
        lines, overran, flooded = _read_lines(read_end, seconds, renew)
    finally:  # whatever happens here (an interrupt, say), no child is left running
        os.close(read_end)
        status = _end(pid, overran)
    result = Result(messages=[json.loads(line) for line in lines])
    if flooded:
        result.stopped, result.why = "output", (f"sent more than {MAX_LINE >> 20} MB in one message or "
                                                f"{MAX_TOTAL >> 20} MB in all")
    elif result.messages and isinstance(result.messages[-1], dict) and FAILED in result.messages[-1]:
        result.stopped, result.why = "error", f"raised {result.messages.pop()[FAILED]}"
    elif status is None or os.waitstatus_to_exitcode(status) != 0 or overran:
        result.stopped, result.why = _why_stopped(status, overran, f"{seconds} s" + (f" on {renew}" if renew else ""))
    return result


def _child(work, args, pipe, memory, cpu_seconds):
    code = 1
    try:
        # What the parent left for the garbage collector (sockets of its clients, say) is never
        # finalized here, where the threads that serve such objects do not run.
        gc.freeze()
        _name_self()
        limit_self(memory, cpu_seconds)

        def send(value):
            data = (json.dumps(value) + "\n").encode()
            while data:
                data = data[os.write(pipe, data):]

        work(send, *args)
        code = 0
    except MemoryError:
        code = MEMORY
    except BaseException as error:  # noqa: BLE001 - said to the parent, never raised there
        try:
            send({FAILED: f"{type(error).__name__}: {str(error)[:300]}"})
        except BaseException:  # noqa: BLE001
            pass
        code = 1
    finally:
        os._exit(code)


def _name_self():
    """Named for `ps`, `top` and the tests' memory sampler (the command line stays the
    parent's): unet-bounded; and killed if the parent dies, so that no child outlives it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_NAME, NAME.encode(), 0, 0, 0)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: unnamed, and the parent's clock still holds
        pass


def _read_lines(fd, seconds, renew):
    """(lines, overran, flooded): what the child writes until it closes the pipe, or until
    `seconds` pass (since the last line, with `renew`: overran), or until it sends more than
    MAX_LINE bytes in one line or MAX_TOTAL in all (flooded). Each byte is joined once."""
    lines, pending, waiting, total = [], [], 0, 0
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return lines, True, False
            if not selector.select(left):
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return lines, False, False
            total += len(chunk)
            head, newline, tail = chunk.rpartition(b"\n")
            if newline:
                complete = (b"".join(pending) + head).split(b"\n")
                if max(map(len, complete)) > MAX_LINE:
                    return lines, True, True
                lines += complete
                pending, waiting = [tail], len(tail)
                if renew:
                    deadline = time.monotonic() + seconds
            else:
                pending.append(chunk)
                waiting += len(chunk)
            if waiting > MAX_LINE or total > MAX_TOTAL:
                return lines, True, True


def _end(pid, overran):
    """Reap the child, killing it if it overran or does not exit by itself soon after closing
    its pipe; its wait status, or None if something else reaped it."""
    try:
        if not overran:
            for _ in range(500):  # 5 s
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return status
                time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _why_stopped(status, overran, clock):
    """(the word for the student's message: "time" or "memory", the reason for the log)."""
    if overran:
        return "time", f"took more than {clock} and was stopped"
    code = None if status is None else os.waitstatus_to_exitcode(status)
    if code == -signal.SIGXCPU:
        return "time", "used up its CPU time"
    if code == MEMORY:
        return "memory", "ran out of memory"
    if code is not None and code < 0:
        # Under RLIMIT_DATA a failed allocation outside Python ends in SIGSEGV or SIGABRT; the
        # kernel's OOM killer sends SIGKILL.
        return "memory", f"was killed by {signal.Signals(-code).name}"
    return "memory", f"stopped early (exit status {code})"


def limit_self(memory, cpu_seconds):
    """This process's limits: `memory` bytes of data (heap, anonymous memory, thread stacks)
    beyond what it has now, `cpu_seconds` of CPU time; and signals back to their defaults, so
    that an interrupt ends it instead of waking its parent's event loop.

    RLIMIT_DATA, not RLIMIT_AS: importing Keras (the judge, for an unusual initializer) maps
    libraries that grow the address space by 0.9 GB on a CPU build of TensorFlow, more with
    CUDA, but the data by 0.2 GB; what the work itself builds is data either way."""
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except (ValueError, OSError):
        pass
    forked_with = _data_size()
    if forked_with is not None:
        _lower(resource.RLIMIT_DATA, forked_with + memory)
    _lower(resource.RLIMIT_CPU, max(1, int(cpu_seconds)), hard_extra=5)


def _data_size():
    """The size of this process's data in bytes (VmData), or None where /proc does not say."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _lower(kind, soft, hard_extra=0):
    """Set a resource limit to `soft` (and the hard one a little above), never above what
    it is already. Where the system refuses, the child works without it: the parent's clock
    still holds."""
    try:
        old_soft, old_hard = resource.getrlimit(kind)
        infinity = resource.RLIM_INFINITY
        soft = soft if old_soft == infinity else min(soft, old_soft)
        hard = soft + hard_extra if old_hard == infinity else min(soft + hard_extra, old_hard)
        resource.setrlimit(kind, (min(soft, hard), hard))
    except (ValueError, OSError):
        pass
