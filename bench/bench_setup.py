"""What every bench needs before it imports anything else, so that it runs as a user types it
(`python bench/NAME.py` from any shell, with the environment activated or not):

- this Python environment's bin/ first on PATH: nbgrader runs the `alembic` executable when it
  creates a gradebook, and the benches start nbgrader, kernels and Dask workers;
- the course folder and tests/ on sys.path: benches reuse the tests' class builders;
- the log lines of TensorFlow (absl's C++ notices, which TF_CPP_MIN_LOG_LEVEL does not stop
  in TensorFlow 2.21), Keras and ipykernel (the debugger's warning about frozen modules) left
  out of standard error, here and in every process a bench starts, so that what a bench
  prints is its figures and its errors.

Each bench imports it first: `import bench_setup  # noqa: F401`.
"""

import atexit
import os
import re
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from course.layout import environment_bin_on_path  # noqa: E402

environment_bin_on_path()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel's debugger warning

#: Lines that are logging, not a bench's figures or errors (compare IgnorePattern in
#: nbgrader_config.py, which drops the same lines from graded cells).
NOISE = re.compile(
    r"^(WARNING: All log messages before absl|[IWE]\d{4} \d\d:\d\d:\d\d|.*oneDNN custom operations|"
    r".*TensorFlow binary is optimized|.*Unable to register|.*cpu_feature_guard|"
    r"\d+\.\d+s - (Debugger warning|It seems that frozen modules|Note: Debugging will proceed|"
    r"Make sure to use)|.*PYDEVD_DISABLE_FILE_VALIDATION|.*-Xfrozen_modules=off|"
    r"\[IPKernelApp\] WARNING \| Kernel is running over TCP)")


def _filter_stderr():
    """Standard error (file descriptor 2, which child processes inherit) through a pipe that
    drops NOISE lines; everything else reaches the terminal unchanged."""
    terminal = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def forward():
        with os.fdopen(read, "rb") as lines, os.fdopen(terminal, "wb", buffering=0) as out:
            for line in lines:
                if not NOISE.match(line.decode(errors="replace")):
                    out.write(line)

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()

    def restore():
        sys.stderr.flush()
        os.dup2(os.dup(terminal), 2)  # closes the pipe's last writer in this process
        thread.join(timeout=2)  # a child still running keeps its own copy open

    atexit.register(restore)


_filter_stderr()
