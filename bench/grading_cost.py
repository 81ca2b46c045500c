"""Where the CPU-seconds of grading one submission go: the parts measured one by one, then a
class graded by serial nbgrader and by `course grade`, side by side in one run.

    .venv/bin/python bench/grading_cost.py [--size 8] [--workers 2]

Parts (each CPU-seconds of every process involved, children included):
- a sandboxed kernel started afresh and stopped, with nothing run; the same with the
  notebook's imports cell run: the floor, what any graded notebook cost without a zygote;
- a zygote started (course/sandbox/zygote.py: its imports, paid once per worker), and a
  kernel forked from it, with nothing run and with the imports cell;
- each section of the notebook while grading (NBGRADER_EXECUTION=autograde, the hidden
  calls of the graded cells drawn as grading draws them), in one forked kernel;
- the judge on that notebook's evidence (in its isolated child, as nbgrader runs it);
- nbgrader autograde of one submission and of --size submissions in one process, and
  generate_feedback: the start-up of an nbgrader process and the cost of each further
  notebook;
- `course grade --workers W` on the same class: the machine's busy CPU-seconds per submission.
The class is the reference solution --size times: the cost of a correct notebook.
"""

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_setup  # noqa: F401  (first: PATH, sys.path, quiet logs)

import nbformat  # noqa: E402
import psutil  # noqa: E402
from traitlets.config import Config  # noqa: E402

from course.assignment import ASSIGNMENT, NOTEBOOK, RELEASE, SOURCE  # noqa: E402
from course.grading.grader import Settings, grade_all  # noqa: E402
from course.judge.preprocessors import Challenge, Judge  # noqa: E402
from course.layout import nbgrader  # noqa: E402
from course.sandbox.execute import SandboxedKernelManager  # noqa: E402
from course.sandbox.launcher import cgroup_paths  # noqa: E402
from course.unet_segmentation.examples import solved, write_examples  # noqa: E402
from course_helpers import copy_course  # noqa: E402


def own_and_children_cpu():
    """CPU-seconds of this process and of the children it has waited for."""
    return sum(usage.ru_utime + usage.ru_stime
               for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


def busy_seconds():
    times = psutil.cpu_times()
    return times.user + times.nice + times.system + times.irq + times.softirq


def kernel_cpu(km):
    """CPU-seconds so far of the processes in the cgroup of the kernel of `km`, and of the
    children they reaped (a kernel forked from the zygote is no descendant of its launcher)."""
    total = 0.0
    for pid in (cgroup_paths(Path(km.private).name)[1] / "cgroup.procs").read_text().split():
        try:
            times = psutil.Process(int(pid)).cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


def submission_folder(root):
    """A folder as nbgrader gives a kernel: the release's files and the solved notebook."""
    folder = Path(root) / "work"
    shutil.copytree(RELEASE, folder, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    return folder


async def run_cells(folder, cells, zygote=True):
    """([(cell, CPU-seconds of the kernel's processes during it)], CPU-seconds of the whole
    machine from the kernel's start to its end) of one kernel in the sandbox that runs
    `cells` one after the other. (A kernel's processes end in their cgroup, not reaped by
    this process: their CPU time is seen while they run, or in the machine's total.)"""
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    config = Config()
    config.SandboxedKernelManager.zygote = zygote
    client = NotebookClient(notebook, kernel_manager_class=SandboxedKernelManager, timeout=600, config=config,
                            resources={"metadata": {"path": str(folder)}})
    costs, before = [], busy_seconds()
    async with client.async_setup_kernel(cwd=str(folder), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
        for index, cell in enumerate(notebook.cells):
            at = kernel_cpu(client.km)
            if cell.cell_type == "code":
                await client.async_execute_cell(cell, index)
            costs.append((cell, kernel_cpu(client.km) - at))
    return costs, busy_seconds() - before


def sections(costs):
    """[(section title, CPU-seconds)] by the notebook's '## ' headings."""
    found, title = {}, "before section 1"
    for cell, seconds in costs:
        if cell.cell_type == "markdown":
            heading = next((line[3:].strip() for line in cell.source.splitlines() if line.startswith("## ")), None)
            title = heading or title
        found[title] = found.get(title, 0.0) + seconds
    return list(found.items())


def kernel_parts(tmp):
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    try:
        folder = submission_folder(tmp)
        imports_cell = next(c for c in solved((1, 2, 3)).cells if "import tensorflow" in c.source)
        _, empty = asyncio.run(run_cells(folder, [], zygote=False))
        _, imported = asyncio.run(run_cells(folder, [imports_cell], zygote=False))
        _, zygote_and_forked = asyncio.run(run_cells(folder, []))  # this process's zygote starts
        _, forked = asyncio.run(run_cells(folder, []))
        _, forked_imported = asyncio.run(run_cells(folder, [imports_cell]))
        notebook = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
        notebook, resources = Challenge().preprocess(notebook, {})
        costs, whole = asyncio.run(run_cells(folder, notebook.cells))
        executed = nbformat.v4.new_notebook(cells=[cell for cell, _ in costs])
        before = own_and_children_cpu()
        Judge().preprocess(executed, resources)
        judge = own_and_children_cpu() - before
    finally:
        del os.environ["NBGRADER_EXECUTION"]
    return {"empty": empty, "imported": imported, "zygote": zygote_and_forked - forked, "forked": forked,
            "forked_imported": forked_imported, "sections": sections(costs), "whole": whole, "judge": judge,
            "nbformat": import_seconds("nbformat")}


def import_seconds(module):
    """CPU-seconds a new Python process spends importing `module` (and starting)."""
    before = own_and_children_cpu()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return own_and_children_cpu() - before


def class_of(root, size):
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    write_examples(root / "submitted", {f"reference_{n:02d}": (1, 2, 3) for n in range(size)})
    return root


def measured(work):
    """(wall seconds, the machine's busy CPU-seconds) of `work()`."""
    wall, busy = time.perf_counter(), busy_seconds()
    work()
    return time.perf_counter() - wall, busy_seconds() - busy


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        parts = kernel_parts(tmp)
        one, many, grader = (class_of(copy_course(tmp / name), size)
                             for name, size in (("one", 1), ("many", args.size), ("grader", args.size)))
        runs = {}
        for name, root in (("one", one), ("many", many)):
            runs[name, "autograde"] = measured(lambda: nbgrader("autograde", ASSIGNMENT, root=root, capture=True))
            runs[name, "feedback"] = measured(lambda: nbgrader("generate_feedback", ASSIGNMENT, root=root,
                                                               capture=True))
        settings = Settings(root=grader, workers=args.workers)
        runs["grader"] = measured(lambda: grade_all(settings, progress=False, say=lambda _: None))

    print(f"CPU-seconds of grading one correct submission, on {psutil.cpu_count()} cores "
          "(the machine's busy time: run it on an idle machine)\n")
    floor = parts["imported"]
    rows = [("a sandboxed kernel started afresh and stopped, nothing run", parts["empty"]),
            ("floor: the same, running the notebook's imports cell", floor),
            ("a zygote started (its imports; once per worker)", parts["zygote"]),
            ("a kernel forked from it and stopped, nothing run", parts["forked"]),
            ("the same, running the notebook's imports cell", parts["forked_imported"]),
            ("the notebook while grading, in a forked kernel (start to end)", parts["whole"])]
    rows += [(f"  {title[:56]}", seconds) for title, seconds in parts["sections"] if seconds >= 0.005]
    rows.append(("the judge on its evidence", parts["judge"]))
    per = {}
    for step in ("autograde", "feedback"):
        one, many = runs["one", step][1], runs["many", step][1]
        per[step] = (many - one) / (args.size - 1)
        rows += [(f"nbgrader {step}, 1 submission", one),
                 ("  start-up of its process (1 submission less one more)", one - per[step]),
                 (f"  each further submission (of {args.size})", per[step])]
    rows.append(("    autograde beyond the notebook's kernel (nbgrader, judge)", per["autograde"] - parts["whole"]))
    rows.append(("a Python process that imports nbformat (every nbgrader command)", parts["nbformat"]))
    for name, seconds in rows:
        print(f"{name:66s} {seconds:7.2f}")
    serial_wall = runs["many", "autograde"][0] + runs["many", "feedback"][0]
    serial_busy = runs["many", "autograde"][1] + runs["many", "feedback"][1]
    grader_wall, grader_busy = runs["grader"]
    print(f"\nclass of {args.size} (machine busy CPU-s per submission, wall s):")
    print(f"  serial nbgrader autograde + generate_feedback  {serial_busy / args.size:6.2f}  {serial_wall:7.1f}")
    print(f"  course grade --workers {args.workers}                      {grader_busy / args.size:6.2f}  "
          f"{grader_wall:7.1f}")
    print(f"  speed-up {serial_wall / grader_wall:.2f}x; course grade's CPU per submission is "
          f"{grader_busy / args.size / floor:.2f}x the floor (goal 1.5x). A small class is mostly the run's "
          "fixed costs: bench/class_grading.py measures the speed-up and the 1,000-submission projection")


if __name__ == "__main__":
    main()
