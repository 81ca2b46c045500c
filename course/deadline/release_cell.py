"""The due date in the released notebook, from the configuration, so the release never states
a stale one (`nbgrader generate_assignment` runs this; nbgrader_config.py adds it).

The cell has no nbgrader metadata: it is not in the gradebook, so a new due date changes no
checksum and grades nothing again. Without a due date configured, no cell is added."""

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from .due import configured
from .policy import described

MARK = "unet_due_date"  # the cell's metadata key, so that a release made again replaces it


class DueDateCell(NbGraderPreprocessor):
    def preprocess(self, nb, resources):
        nb.cells = [cell for cell in nb.cells if MARK not in cell.get("metadata", {})]
        due = configured(self.config)
        if due is not None:
            from .notes import release_markdown

            cell = nbformat.v4.new_markdown_cell(release_markdown(due, described(self.config)))
            cell.metadata[MARK] = True
            nb.cells.insert(1, cell)
        return nb, resources
