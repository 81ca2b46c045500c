"""The class roster: which nbgrader student is which student in the LMS.

A CSV file with a header row and at least two columns:

    nbgrader_id,lms_id
    ada,ada.lovelace@example.edu
    bob,bob.b@example.edu

`nbgrader_id` is the id nbgrader knows the student by (their login on the course server);
`lms_id` is how the LMS knows them: for Canvas the value of the column `--match` names in
its gradebook export (SIS Login ID by default), for Moodle the identifier you map on import
(an email address, an ID number or a username). Other columns are ignored.
"""

import csv
import io
from dataclasses import dataclass

from ..layout import read_csv_text

MAX_BYTES = 20 * 1024 * 1024  # a roster of a very large class is well under a megabyte


class ExportError(ValueError):
    """A roster, an LMS file or a setting that cannot be used, said in the instructor's terms."""


@dataclass(frozen=True)
class Student:
    nbgrader_id: str
    lms_id: str


def read_text(path, what):
    return read_csv_text(path, what, ExportError, MAX_BYTES)


def read_roster(path):
    """The roster's students in its order; refused with the line at fault when a column is
    missing, a cell empty or an id given twice."""
    reader = csv.DictReader(io.StringIO(read_text(path, "roster")))
    columns = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in ("nbgrader_id", "lms_id") if name not in columns]
    if missing:
        raise ExportError(f"roster {path}: no column {' or '.join(missing)} in its header {columns}; the first line "
                          "must name the columns, e.g. nbgrader_id,lms_id")
    reader.fieldnames = columns
    students, seen = [], {"nbgrader_id": {}, "lms_id": {}}
    for row in reader:
        line = reader.line_num
        values = {name: (row.get(name) or "").strip() for name in ("nbgrader_id", "lms_id")}
        if not any(values.values()) and not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        for name, value in values.items():
            if not value:
                raise ExportError(f"roster {path}, line {line}: the {name} is empty")
            if value in seen[name]:
                raise ExportError(f"roster {path}, line {line}: {name} {value!r} is on line {seen[name][value]} too")
            seen[name][value] = line
        students.append(Student(**values))
    if not students:
        raise ExportError(f"roster {path}: no students in it")
    return students
