"""Sending graded cells to a person: nbgrader's manual grading, from the judge's findings.

The judge (preprocessors.py) scores 0 for a cell it will not score automatically, writes why into
the cell's output, and lists the cell in `resources["unet_manual"]`. nbgrader's own
SaveAutoGrades flags a test cell for manual grading only when it has no automatic score,
which a test cell always has; this preprocessor, placed after it in nbgrader_config.py,
sets `needs_manual_grade` on the listed cells' grades and puts the note on the comment of
each exercise's solution cell, where formgrader shows it. `course grade` carries both
from its workers' private gradebooks (batch_job.scores, gradebook.record).
"""

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor

from ..assignment import EXERCISES

KEY = "unet_manual"  # resources[KEY]: {grade_id: note}


class ManualGrading(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        flagged = resources.get(KEY) or {}
        info = resources.get("nbgrader", {})
        if not flagged or "db_url" not in info:
            return nb, resources
        where = (info["notebook"], info["assignment"], info["student"])
        with Gradebook(info["db_url"]) as gradebook:
            for grade_id in flagged:
                gradebook.find_grade(grade_id, *where).needs_manual_grade = True
            for function, cells in EXERCISES.values():
                notes = [flagged[c] for c in cells if c in flagged]
                if notes:
                    try:
                        gradebook.find_comment(function, *where).auto_comment = notes[0]
                    except MissingEntry:  # the solution cell is not in this notebook
                        pass
            gradebook.db.commit()
        return nb, resources
