"""The assignment this course grades: the one place that names it.

The engine (judge, sandbox, grading, report) imports what it needs of an assignment from here:
its name, notebook, folders and exercises, the reference solution, the challenges and the
evidence format. Grading a second assignment means a package beside `unet_segmentation/` with
the same names, chosen here.
"""

from .unet_segmentation import NAME as ASSIGNMENT
from .unet_segmentation import EXERCISES, NOTEBOOK, RECORDER, RELEASE, SOURCE, TRAINING_CELL, exercise_of
from .unet_segmentation import challenges, evidence_format, reference
from .unet_segmentation.evidence_format import MIME, EvidenceInvalid, shown

__all__ = ["ASSIGNMENT", "EXERCISES", "NOTEBOOK", "RECORDER", "RELEASE", "SOURCE", "TRAINING_CELL", "exercise_of",
           "challenges", "evidence_format", "reference", "MIME", "EvidenceInvalid", "shown"]
