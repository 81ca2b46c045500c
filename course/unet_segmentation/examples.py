"""Example submissions for the course loop: the reference solution, the untouched release,
and a release with only exercise 1 solved."""

import copy
import shutil
from pathlib import Path

import nbformat

from ..layout import ROOT
from . import EXERCISES, NOTEBOOK, RELEASE, SOURCE
from . import NAME as ASSIGNMENT


def solution_cells(notebook):
    """grade_id -> cell for every cell students write code in."""
    return {cell.metadata["nbgrader"]["grade_id"]: cell for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("solution")}


def solved(exercises):
    """The release notebook with the reference solution of the given exercises filled in."""
    release = nbformat.read(RELEASE / NOTEBOOK, as_version=4)
    reference = solution_cells(nbformat.read(SOURCE / NOTEBOOK, as_version=4))
    notebook = copy.deepcopy(release)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        for number in exercises:
            if grade_id == EXERCISES[number][0]:
                # The source keeps its solution markers; nbgrader ignores them in submissions.
                cell.source = reference[grade_id].source
    return notebook


EXAMPLES = {
    "reference": (1, 2, 3),
    "untouched_release": (),
    "only_exercise_1": (1,),
}


def write_examples(submitted=ROOT / "submitted", examples=None):
    """Write each example as submitted/<student>/unet_segmentation/; returns the student ids.

    `examples` maps student id -> solved exercise numbers (default: EXAMPLES)."""
    examples = EXAMPLES if examples is None else examples
    for student, exercises in examples.items():
        folder = Path(submitted) / student / ASSIGNMENT
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        nbformat.write(solved(exercises), folder / NOTEBOOK)
    return list(examples)
