"""Extensions: one student's later due date, granted by the instructor.

    python -m course extend STUDENT --until "2026-12-18 12:00" | --days N [--reason TEXT]
    python -m course extensions

An extension is kept twice in the gradebook: with its reason and when it was granted in the
course's table `unet_extensions` (nbgrader has no column for either), and as nbgrader's own
`extension` of the student's submission, which nbgrader's lateness (and so the late policy)
reads. nbgrader keeps that column only on a submission's row, so `apply` writes it for every
student who has a row or a submission waiting in submitted/, before anything grades: the
course's commands call it, and so does the autograde hook.
"""

import datetime
import warnings
from pathlib import Path

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, inspect, select

from ..assignment import ASSIGNMENT
from .due import DeadlineError, as_utc, from_utc, parse_when, shown, sync

EXTENSIONS = Table("unet_extensions", MetaData(),
                   Column("assignment", String(128), primary_key=True),
                   Column("student", String(128), primary_key=True),
                   Column("until", DateTime(), nullable=False),  # UTC
                   Column("reason", Text()), Column("granted", DateTime(), nullable=False))


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _known_students(gradebook, root):
    known = {student.id for student in gradebook.students}
    submitted = Path(root) / "submitted"
    if submitted.is_dir():
        known |= {p.name for p in submitted.iterdir() if (p / ASSIGNMENT).is_dir() and not p.is_symlink()}
    return known


def grant(db_url, config, root, student, until=None, days=None, reason="", now=None):
    """Extend `student`'s due date to `until` (text; the due date's zone when it names none) or
    by `days` after the due date. Returns the new due date (aware). Refuses, with a
    DeadlineError that says why, an unknown student, no due date set, a date not after the
    due date, or a date already past for a student who has not submitted."""
    from nbgrader.api import Gradebook

    due = sync(db_url, config)
    if due is None:
        raise DeadlineError("no due date is set (c.Deadline.due in nbgrader_config.py), so there is nothing to "
                            "extend")
    if (until is None) == (days is None):
        raise DeadlineError("give either --until DATE or --days N")
    if days is not None:
        if days <= 0:
            raise DeadlineError(f"--days {days}: an extension is at least one day")
        new_due = due + datetime.timedelta(days=days)
    else:
        new_due = parse_when(until, zone=due.tzinfo, what="--until")
    now = now or _utcnow()
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if student not in _known_students(gradebook, root):
            raise DeadlineError(f"{student!r} is not a student of this course (not in the gradebook, no submission "
                                "in submitted/); check the spelling, or add them with `nbgrader db student add`")
        if new_due <= due:
            raise DeadlineError(f"{shown(new_due, due.tzinfo)} is not after the due date, {shown(due)}")
        # A past date changes nothing for a student yet to submit (a typo, most likely); for one
        # who submitted late, it is an excuse that lowers the penalty.
        if new_due <= now and _submitted_at(gradebook, student) is None:
            raise DeadlineError(f"{shown(new_due, due.tzinfo)} is already past, and {student} has not submitted: "
                                "give a later date")
        EXTENSIONS.create(gradebook.engine, checkfirst=True)
        row = (EXTENSIONS.c.assignment == ASSIGNMENT) & (EXTENSIONS.c.student == student)
        values = {"until": as_utc(new_due), "reason": reason or "",
                  "granted": now.astimezone(datetime.timezone.utc).replace(tzinfo=None)}
        if gradebook.db.execute(select(EXTENSIONS.c.student).where(row)).first():
            gradebook.db.execute(EXTENSIONS.update().where(row).values(**values))
        else:
            gradebook.db.execute(EXTENSIONS.insert().values(assignment=ASSIGNMENT, student=student, **values))
        gradebook.db.commit()
    apply(db_url, config, root)
    return new_due


def _submitted_at(gradebook, student):
    from nbgrader.api import MissingEntry

    try:
        timestamp = gradebook.find_submission(ASSIGNMENT, student).timestamp
    except MissingEntry:
        return None
    return from_utc(timestamp)


def granted(db_url):
    """[(student, until UTC aware, reason, granted UTC aware)] sorted by student."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gradebook:
        if not inspect(gradebook.engine).has_table(EXTENSIONS.name):
            return []  # none granted yet: the table is made by the first grant
        rows = gradebook.db.execute(select(EXTENSIONS).where(EXTENSIONS.c.assignment == ASSIGNMENT)
                                    .order_by(EXTENSIONS.c.student)).all()
    return [(r.student, from_utc(r.until), r.reason or "", from_utc(r.granted)) for r in rows]


def apply(db_url, config, root):
    """The configured due date (due.sync), then each extension, into the gradebook: nbgrader's
    `extension` column of the student's submission, made when the student has a submission
    waiting in submitted/. Returns the due date in force."""
    from nbgrader.api import Gradebook, MissingEntry

    due = sync(db_url, config)
    extensions = granted(db_url)
    if due is None or not extensions:
        return due
    submitted = Path(root) / "submitted"
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gradebook.find_assignment(ASSIGNMENT)
        except MissingEntry:
            return due
        for student, until, _, _ in extensions:
            extension = max(until - due, datetime.timedelta(0))
            try:
                submission = gradebook.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                if not (submitted / student / ASSIGNMENT).is_dir():
                    continue  # written when the student's submission is collected and graded
                gradebook.update_or_create_student(student)
                submission = gradebook.add_submission(ASSIGNMENT, student)
            if submission.extension != extension:
                submission.extension = extension
                gradebook.db.commit()
    return due
