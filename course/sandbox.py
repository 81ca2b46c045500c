"""A kernel specification that runs each graded notebook's kernel in a sandbox.

With bubblewrap (`bwrap`), the kernel sees the machine read-only, except its own graded
folder and a private scratch folder (its TMPDIR): student code cannot touch other submissions, the gradebook or
the source. Its address space is limited (a memory bomb gets a MemoryError instead of
taking the machine down). Without bubblewrap only the memory limit applies.
"""

import json
import shutil
import sys
from pathlib import Path

KERNEL_NAME = "unet-grading"


def bwrap_available():
    return shutil.which("bwrap") is not None


def kernel_argv(workdir, scratch, memory_bytes, sandbox=True):
    """The command that starts one sandboxed ipykernel in `workdir`, with `scratch` as its
    temporary folder. Both stay writable; the rest of the machine is read-only."""
    limit = [shutil.which("prlimit") or "prlimit", f"--as={memory_bytes}", "--"]
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if not (sandbox and bwrap_available()):
        return limit + kernel
    # /tmp stays as it is (read-only): the kernel's connection file may be there.
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for folder in (workdir, scratch):
        folder = str(Path(folder).resolve())
        argv += ["--bind", folder, folder]
    return argv + ["--chdir", str(Path(workdir).resolve()), "--die-with-parent", "--"] + limit + kernel


def write_kernelspec(jupyter_path, workdir, scratch, memory_bytes, sandbox=True):
    """Write kernels/<KERNEL_NAME>/kernel.json under `jupyter_path` (to put on JUPYTER_PATH)."""
    folder = Path(jupyter_path) / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(scratch).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": kernel_argv(workdir, scratch, memory_bytes, sandbox),
        "display_name": "Python 3 (sandboxed grading)",
        "language": "python",
        # Interrupt through the kernel's control channel: a signal sent to bwrap would not
        # reach the kernel inside, and a cell that runs too long could not be stopped.
        "interrupt_mode": "message",
        "env": {"TMPDIR": str(scratch), "IPYTHONDIR": str(scratch / "ipython"),
                "MPLCONFIGDIR": str(scratch / "matplotlib"), "MPLBACKEND": "Agg"},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder
