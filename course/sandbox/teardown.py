"""The end of a kernel's sandbox, whatever is left of it: its processes killed through its
cgroups, its cgroups and private folder removed. Standard library only: the grading job,
which only sweeps, does not pay for importing nbgrader."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .launcher import cgroup_paths


def kill_sandbox(private):
    """Kill every process of the kernel whose private folder is `private`: its cgroups hold
    them all, in whatever session or process group they put themselves."""
    for folder in cgroup_paths(Path(private).name):
        for _ in range(50):  # a process may fork while the others are being killed
            pids = _cgroup_pids(folder)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)


def _cgroup_pids(folder):
    try:
        return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    except OSError:  # no such cgroup: this kernel never had one, or it is gone
        return []


def remove_sandbox(private):
    """Kill whatever the kernel left running, remove its cgroups and its private folder."""
    for folder in cgroup_paths(Path(private).name):
        for _ in range(50):
            if not folder.exists():
                break
            kill_sandbox(private)
            try:
                folder.rmdir()
            except OSError:
                time.sleep(0.1)
    for name in ("ipc", "work"):
        if os.path.ismount(Path(private) / name):
            subprocess.run(["umount", "-l", str(Path(private) / name)], check=False)
    shutil.rmtree(private, ignore_errors=True)
