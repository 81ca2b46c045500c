"""Moodle's grade import (Grades, Import, CSV file).

Two columns: the identifier that Moodle maps to a user field on import (the roster's lms_id:
an email address, an ID number or a username; the header names which) and the grade item's
column. UTF-8, comma separated (Moodle's default separator), a decimal point. An empty cell
leaves a student's grade in Moodle as it is.
"""

import csv

from .grades import points


def write(out, identifier, item, rows, max_score, missing, out_of=None):
    """Write the import file to `out` for `rows` [(Student, Grade or None)]; returns a sentence."""
    scale = out_of / max_score if out_of and max_score else 1.0
    writer = csv.writer(out)
    writer.writerow([identifier, item])
    for student, grade in rows:
        writer.writerow([student.lms_id, points(grade.score * scale) if grade else ("0" if missing == "zero" else "")])
    return f"{len(rows)} students, identifier column {identifier!r}, grade column {item!r}, out of " \
           f"{points(out_of or max_score)}"
