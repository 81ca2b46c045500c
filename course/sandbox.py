"""Kernels for graded notebooks, each in a sandbox of its own.

The kernel specification written here starts this file as a launcher. nbgrader starts each
notebook's kernel in the notebook's graded folder; the launcher takes that folder as the
one place the kernel may write (plus a scratch folder of its own, its TMPDIR), and starts
ipykernel under bubblewrap (`bwrap`): the rest of the machine is read-only, so student code
cannot touch other submissions, the gradebook or the source. `prlimit` caps the kernel's
address space, so a memory bomb gets a MemoryError instead of taking the machine down.
Without bubblewrap only the memory limit applies.
"""

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

KERNEL_NAME = "unet-grading"


def bwrap_available():
    return shutil.which("bwrap") is not None


def kernel_argv(workdir, scratch, memory_bytes, connection_file, sandbox=True):
    """The command that starts one ipykernel in `workdir`, sandboxed when possible."""
    limit = [shutil.which("prlimit") or "prlimit", f"--as={memory_bytes}", "--"]
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", connection_file]
    if not (sandbox and bwrap_available()):
        return limit + kernel
    # /tmp stays as it is (read-only): the kernel's connection file may be there.
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for folder in (workdir, scratch):
        argv += ["--bind", str(folder), str(folder)]
    return argv + ["--chdir", str(workdir), "--die-with-parent", "--"] + limit + kernel


def launch(scratch_root, memory_bytes, sandbox, connection_file):
    """Become the sandboxed kernel of the notebook whose folder is the current directory."""
    workdir = Path.cwd().resolve()
    scratch = Path(scratch_root) / hashlib.sha256(str(workdir).encode()).hexdigest()[:16]
    scratch.mkdir(parents=True, exist_ok=True)
    os.environ.update({"TMPDIR": str(scratch), "IPYTHONDIR": str(scratch / "ipython"),
                       "MPLCONFIGDIR": str(scratch / "matplotlib")})
    argv = kernel_argv(workdir, scratch, memory_bytes, connection_file, sandbox)
    os.execvp(argv[0], argv)


def write_kernelspec(jupyter_path, scratch_root, memory_bytes, sandbox=True, threads=None):
    """Write kernels/<KERNEL_NAME>/kernel.json under `jupyter_path` (to put on JUPYTER_PATH)."""
    folder = Path(jupyter_path) / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    Path(scratch_root).mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, str(Path(__file__).resolve()), str(Path(scratch_root).resolve()),
                 str(memory_bytes), "sandbox" if sandbox else "no-sandbox", "{connection_file}"],
        "display_name": "Python 3 (sandboxed grading)",
        "language": "python",
        # Interrupt through the kernel's control channel: a signal sent to bwrap would not
        # reach the kernel inside, and a cell that runs too long could not be stopped.
        "interrupt_mode": "message",
        "env": {"MPLBACKEND": "Agg"},
    }
    if threads:
        # Kernels graded side by side share the cores: TensorFlow's thread pools, sized
        # for the whole machine by default, would fight each other.
        spec["env"].update({name: str(threads) for name in (
            "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")})
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder


if __name__ == "__main__":
    scratch_root, memory, mode, connection = sys.argv[1:5]
    launch(scratch_root, int(memory), mode == "sandbox", connection)
