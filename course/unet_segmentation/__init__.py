"""The U-Net segmentation assignment: what the grading engine needs to know of it.

- here: its name, notebook and folders, and its exercises with their graded cells;
- `reference`: the solution as layer specifications the judge compares (never released);
- `challenges`: the argument values and secrets drawn for each graded cell;
- `evidence_format`: the shape of the evidence its recorder (`unet_evidence.py`) sends;
- `examples`: example submissions; `diagrams`: the notebook's figures.

May import: `course.layout`. The engine (judge, sandbox, grading, report) reaches this package
only through `course/assignment.py`: a second assignment is a package beside this one.
"""

from ..layout import ROOT

NAME = "unet_segmentation"
NOTEBOOK = "Image_segmentation_Unet.ipynb"
SOURCE = ROOT / "source" / NAME
RELEASE = ROOT / "release" / NAME
RECORDER = SOURCE / "unet_evidence.py"  # loaded fresh in the evidence kernel (judge/evidence.py)
# The locked cell that builds the network the notebook trains: there the evidence kernel builds
# unet_model() with the student's own blocks (unet_evidence.assembled).
TRAINING_CELL = "code_39"

#: exercise number -> (function the student writes, ids of its graded cells)
EXERCISES = {
    1: ("conv_block", ("grade_conv_block_defaults", "grade_conv_block_arguments")),
    2: ("upsampling_block", ("grade_upsampling_block_defaults", "grade_upsampling_block_arguments")),
    3: ("unet_model", ("grade_unet_model_defaults", "grade_unet_model_arguments")),
}


def exercise_of(grade_id):
    for number, (_, cells) in EXERCISES.items():
        if grade_id in cells:
            return number
    raise KeyError(f"graded cell {grade_id!r} belongs to no exercise")
