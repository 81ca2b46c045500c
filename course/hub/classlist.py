"""The class list: a CSV with a header row and the columns `id` and `role`.

    id,role
    mlee,instructor
    tgrader,grader
    s1234,student

`id` is the student's (or staff member's) login: the Unix user the hub runs their server as,
and the id nbgrader knows them by. `role` is student, instructor or grader; exactly one
instructor, who runs formgrader. Other columns are ignored.
"""

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..layout import read_csv_text

ROLES = ("student", "instructor", "grader")
# A portable Unix login that is also a safe nbgrader student id and folder name.
LOGIN = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
RESERVED = {"root", "nobody", "daemon", "bin", "sys"}
MAX_BYTES = 5 * 2**20


class ClassListError(ValueError):
    """A class list that cannot be used, with the file and line."""


@dataclass(frozen=True)
class Member:
    id: str
    role: str

    @property
    def staff(self):
        return self.role in ("instructor", "grader")


@dataclass(frozen=True)
class ClassList:
    members: tuple

    @property
    def instructor(self):
        return next(m.id for m in self.members if m.role == "instructor")

    @property
    def staff(self):
        return [m.id for m in self.members if m.staff]

    @property
    def students(self):
        return [m.id for m in self.members if m.role == "student"]

    @property
    def ids(self):
        return [m.id for m in self.members]


def read_class_list(path):
    path = Path(path)
    text = read_csv_text(path, "class list", ClassListError, MAX_BYTES)
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in reader.fieldnames or []]
    if "id" not in columns or "role" not in columns:
        raise ClassListError(f"class list {path}: its first line must name the columns id and role (found "
                             f"{columns})")
    reader.fieldnames = columns
    members, seen = [], {}
    for row in reader:
        line = reader.line_num
        login, role = (row.get("id") or "").strip(), (row.get("role") or "").strip().lower()
        if not login and not role:
            continue
        if not LOGIN.fullmatch(login) or login in RESERVED:
            raise ClassListError(f"class list {path}, line {line}: {login!r} cannot be a login (lower-case letters, "
                                 "digits, '_' and '-', at most 32, not starting with a digit or '-')")
        if role not in ROLES:
            raise ClassListError(f"class list {path}, line {line}: role {role!r} is not one of {', '.join(ROLES)}")
        if login in seen:
            raise ClassListError(f"class list {path}, line {line}: {login!r} is on line {seen[login]} too")
        seen[login] = line
        members.append(Member(login, role))
    instructors = [m.id for m in members if m.role == "instructor"]
    if len(instructors) != 1:
        raise ClassListError(f"class list {path}: needs exactly one instructor (who runs formgrader), has "
                             f"{len(instructors)}{': ' + ', '.join(instructors) if instructors else ''}")
    return ClassList(tuple(members))
