"""The LMS files as nbgrader export plugins:

    nbgrader export --exporter course.lms.exporters.CanvasExport --to canvas.csv \
        --CanvasExport.roster=roster.csv --CanvasExport.canvas_export=canvas_gradebook.csv
    nbgrader export --exporter course.lms.exporters.MoodleExport --to moodle.csv \
        --MoodleExport.roster=roster.csv
    nbgrader export --exporter course.lms.exporters.RosterCsvExport --to grades_roster.csv \
        --RosterCsvExport.roster=roster.csv

(or the same settings in nbgrader_config.py). `python -m course export` calls these. Every
student of the roster gets a row; one without a submission gets 0, or an empty cell with
`missing = "empty"`. A student graded but not on the roster is named, and the export ends
with an error after writing the file, so that nobody is left out without a word.
"""

import os
import tempfile
from pathlib import Path

from nbgrader.plugins import ExportPlugin
from traitlets import Enum, Float, Unicode

from ..assignment import ASSIGNMENT
from . import canvas, moodle, plain
from .grades import final_grades, matched, pending_manual
from .roster import ExportError, read_roster


class ExportRefused(SystemExit):
    """An export that could not be written, or left a graded student out; says why."""


class LmsExport(ExportPlugin):
    roster = Unicode("", help="CSV file with the columns nbgrader_id and lms_id: one row per student of the "
                     "class").tag(config=True)
    missing = Enum(["zero", "empty"], "zero", help="a student of the roster without a submission: 0 or an empty "
                   "cell").tag(config=True)
    default_name = "grades_lms.csv"

    def export(self, gradebook):
        if not self.roster:
            raise ExportRefused(f"error: no roster: set {type(self).__name__}.roster to a CSV file with the columns "
                                "nbgrader_id and lms_id")
        dest = Path(self.to or self.default_name)
        self.bring_up_to_date(gradebook)
        try:
            roster = read_roster(self.roster)
            grades, max_score = final_grades(gradebook)
            rows, strays = matched(roster, grades)
            # Written whole or not at all: an LMS importing half a file is worse than none.
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", dir=dest.parent or ".",
                                             prefix=f".{dest.name}.", delete=False) as out:
                try:
                    said = self.write(out, rows, max_score)
                except BaseException:
                    os.unlink(out.name)
                    raise
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(out.name, 0o666 & ~mask)  # as any file written here (a temporary file is private)
            os.replace(out.name, dest)
        except (ExportError, OSError) as error:
            raise ExportRefused(f"error: {error}") from None
        self.log.info("%s: %s", dest, said)
        self.written = f"{dest}: {said}"
        waiting = [student for student in pending_manual(gradebook) if student in {r[0].nbgrader_id for r in rows}]
        if waiting:  # exported as they stand, and said, never silently
            note = (f"{len(waiting)} submission(s) still wait for manual grading in formgrader, exported with the "
                    f"points they have so far: {', '.join(waiting)}")
            self.log.warning(note)
            self.written += f"\nwarning: {note}"
        if strays:
            raise ExportRefused(f"error: {dest} written for the roster's {len(rows)} students, but "
                                f"{len(strays)} graded student(s) are not on the roster {self.roster} and were not "
                                f"exported: {', '.join(map(repr, strays))}; add them to it and export again")


    def bring_up_to_date(self, gradebook):
        """The configured due date, the extensions and every penalty into the gradebook first, as
        `course grade` leaves them: an extension or a new due date granted since grading counts."""
        from ..deadline.due import DeadlineError
        from ..grading.gradebook import recompute_penalties, term_dates

        coursedir = getattr(self.parent, "coursedir", None)
        root = getattr(coursedir, "root", None) or self.config.CourseDirectory.get("root") or os.getcwd()
        db_url = gradebook.engine.url.render_as_string(hide_password=False)
        try:
            term_dates(db_url, root)
            recompute_penalties(db_url, root)
        except DeadlineError as refused:
            raise ExportRefused(f"error: {refused}") from None
        gradebook.db.expire_all()


class CanvasExport(LmsExport):
    """Canvas's gradebook import (course/lms/canvas.py)."""

    canvas_export = Unicode("", help="the gradebook CSV downloaded from Canvas (Grades, Export)").tag(config=True)
    column = Unicode("", help='the assignment\'s column as Canvas titles it, e.g. "U-Net segmentation (123456)"; '
                     "empty: the export's only assignment").tag(config=True)
    match = Unicode("SIS Login ID", help="the column of the Canvas export that holds the roster's lms_id (ID, "
                    "SIS User ID or SIS Login ID)").tag(config=True)
    default_name = "grades_canvas.csv"

    def write(self, out, rows, max_score):
        if not self.canvas_export:
            raise ExportError("no Canvas gradebook export: set CanvasExport.canvas_export (course export "
                              "--canvas-export) to the CSV downloaded from Canvas's Grades page")
        return canvas.write(out, self.canvas_export, self.column, self.match, rows, max_score, self.missing)


class MoodleExport(LmsExport):
    """Moodle's grade import (course/lms/moodle.py)."""

    identifier = Unicode("email", help="header of the identifier column, which you map to a Moodle user field on "
                         "import (email, idnumber or username)").tag(config=True)
    item = Unicode(ASSIGNMENT, help="header of the grade column, which you map to the grade item").tag(config=True)
    out_of = Float(None, allow_none=True, help="the grade item's maximum, when it is not the assignment's "
                   "points").tag(config=True)
    default_name = "grades_moodle.csv"

    def write(self, out, rows, max_score):
        return moodle.write(out, self.identifier, self.item, rows, max_score, self.missing, self.out_of)


class RosterCsvExport(LmsExport):
    """A plain CSV of the roster's students with their scores (course/lms/plain.py)."""

    default_name = "grades_roster.csv"

    def write(self, out, rows, max_score):
        return plain.write(out, rows, max_score, self.missing)
