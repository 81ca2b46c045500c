"""A plain CSV of the class: for a spreadsheet or an LMS without a format of its own here."""

import csv

from ..deadline.policy import lateness
from .grades import points

COLUMNS = ("nbgrader_id", "lms_id", "submitted_utc", "late", "raw_score", "late_penalty", "score", "max_score")


def write(out, rows, max_score, missing):
    """Write the file to `out` for `rows` [(Student, Grade or None)]; returns a sentence."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for student, grade in rows:
        if grade is None:
            empty = "0" if missing == "zero" else ""
            writer.writerow([student.nbgrader_id, student.lms_id, "", "not submitted", empty, "", empty,
                             points(max_score)])
            continue
        submitted = grade.submitted.strftime("%Y-%m-%d %H:%M:%S") if grade.submitted else ""
        writer.writerow([student.nbgrader_id, student.lms_id, submitted, lateness(grade.seconds_late),
                         points(grade.raw), points(grade.penalty), points(grade.score), points(max_score)])
    return f"{len(rows)} students, out of {points(max_score)}"
