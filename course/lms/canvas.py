"""Canvas's gradebook import: its own export, with the assignment's column filled in.

The instructor downloads the course's gradebook from Canvas (Grades, Export, CSV) and names
the assignment's column, as Canvas titles it: "U-Net segmentation (123456)", the name and
Canvas's id. The file written has Canvas's identity columns (Student, ID, SIS User ID, SIS
Login ID, Section, and Integration ID when the export has it) copied from the export, so that
Canvas matches every row to its student, and that one column: UTF-8, comma separated, quoted
where needed, a decimal point. Scores are scaled to the column's points possible when the
export has its "Points Possible" row; students of the export who are not on the roster are
left out, and Canvas keeps their grades as they are.
"""

import csv
import io
import re

from .grades import points
from .roster import ExportError, read_text

IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
OPTIONAL = ("Integration ID",)
POINTS_POSSIBLE = "Points Possible"
ASSIGNMENT_COLUMN = re.compile(r".+ \(\d+\)")


def read_export(path):
    """(header, rows, points possible row or None) of a Canvas gradebook export."""
    reader = csv.reader(io.StringIO(read_text(path, "Canvas gradebook export")))
    header = [name.strip() for name in next(reader, [])]
    missing = [name for name in IDENTITY if name not in header]
    if missing:
        raise ExportError(f"Canvas gradebook export {path}: no column {', '.join(missing)}; download it from "
                          "Canvas (Grades, Export, Export Entire Gradebook)")
    rows, possible = [], None
    for row in reader:
        if row and row[0].strip() == POINTS_POSSIBLE:
            possible = row
        elif any(cell.strip() for cell in row):
            rows.append(row + [""] * (len(header) - len(row)))
    return header, rows, possible


def assignment_column(header, column, path):
    if column:
        if column not in header:
            raise ExportError(f"Canvas gradebook export {path}: no column {column!r}; its assignments: "
                              f"{_assignments(header)}")
        return column
    found = _assignments(header)
    if len(found) != 1:
        raise ExportError(f"Canvas gradebook export {path}: name the assignment's column with --column "
                          f"(CanvasExport.column); its assignments: {found}")
    return found[0]


def _assignments(header):
    return [name for name in header if ASSIGNMENT_COLUMN.fullmatch(name) and name not in IDENTITY + OPTIONAL]


def write(out, export_path, column, match, rows, max_score, missing):
    """Write the import file to `out` (text, newline="") for `rows` [(Student, Grade or None)];
    returns a sentence on what was written."""
    header, canvas_rows, possible = read_export(export_path)
    column = assignment_column(header, column, export_path)
    if match not in header:
        raise ExportError(f"Canvas gradebook export {export_path}: no column {match!r} to match the roster's lms_id "
                          f"with; use one of {list(IDENTITY[1:4])}")
    where = header.index(match)
    by_id = {}
    for row in canvas_rows:
        by_id.setdefault(row[where].strip(), row)
    unknown = [student.lms_id for student, _ in rows if student.lms_id not in by_id]
    if unknown:
        raise ExportError(f"Canvas gradebook export {export_path}: no student whose {match} is "
                          f"{', '.join(map(repr, unknown[:10]))}{' ...' if len(unknown) > 10 else ''} (the roster's "
                          "lms_id); is the roster or --match right?")
    scale, note = 1.0, f"out of {points(max_score)}"
    if possible is not None:
        try:
            out_of = float(possible[header.index(column)])
        except (ValueError, IndexError):
            out_of = None
        if out_of and max_score:
            scale, note = out_of / max_score, f"scaled to Canvas's {points(out_of)} points possible"
    identity = [name for name in IDENTITY + OPTIONAL if name in header]
    writer = csv.writer(out)
    writer.writerow(identity + [column])
    for student, grade in rows:
        canvas = by_id[student.lms_id]
        value = points(grade.score * scale) if grade else ("0" if missing == "zero" else "")
        writer.writerow([_inert(canvas[header.index(name)], name) for name in identity] + [value])
    return f"{len(rows)} students in column {column!r}, {note}"


def _inert(cell, column):
    """A display name a student chose, never a spreadsheet formula: Canvas matches rows by the
    ID columns, so the Student and Section cells may carry a leading apostrophe."""
    if column in ("Student", "Section") and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell
