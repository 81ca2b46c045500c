"""The browser tests, run several times in a row while other processes keep every core busy.

    .venv/bin/python bench/browser_under_load.py [--runs 3] [--busy N]

Each run is a fresh `pytest tests/browser` (a JupyterLab server, Chromium, kernels); `--busy`
processes (default: one per core) spin in pure Python the whole time. Prints each run's
outcome and minutes, and keeps each run's whole pytest output in build/browser_under_load/
(the failures' tracebacks say what a test waited for). Goal (issue 9): every run passes.
"""

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "build" / "browser_under_load"


def spin():
    while True:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count())
    args = parser.parse_args()
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for process in spinners:
        process.start()
    outcomes = []
    try:
        for run in range(1, args.runs + 1):
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/browser"],
                                    cwd=ROOT, capture_output=True, text=True)
            minutes = (time.perf_counter() - start) / 60
            LOGS.mkdir(parents=True, exist_ok=True)
            (LOGS / f"run-{run}.log").write_text(result.stdout + result.stderr)
            summary = (result.stdout.strip().splitlines() or ["no output"])[-1]
            outcomes.append(result.returncode == 0)
            print(f"run {run}: {'passed' if result.returncode == 0 else 'FAILED'} in {minutes:.1f} min ({summary})",
                  flush=True)
            if result.returncode:
                print("\n".join(line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))))
                print(f"whole output: {LOGS / f'run-{run}.log'}")
    finally:
        for process in spinners:
            process.terminate()
    print(f"{sum(outcomes)} of {args.runs} runs passed with {args.busy} busy process(es) on {os.cpu_count()} core(s)")
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
