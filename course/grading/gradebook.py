"""The course's gradebook, written by `course grade` alone.

Workers grade against a snapshot of the assignment (`snapshot`) in private gradebooks and
send back what nbgrader recorded there; `record` copies one submission's scores into the
real gradebook in a single transaction, together with a row of the ledger (the table
`unet_grading_ledger`, next to nbgrader's tables): which content was graded, with what
status. A submission is therefore either wholly recorded, ledger row included, or not at
all, whatever stops the run; recording it twice writes the same values again, so a result
that arrives from two workers counts once.

The values are those a plain `nbgrader autograde` would write: its own SaveAutoGrades rule
for `needs_manual_grade` (a grade a person has already given is kept and flagged for
review), the cells the judge sent to manual grading (judge/manual_grading.py) and its own
late-submission plugin for penalties.
"""

import contextlib
import datetime
import tempfile
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.exc import SAWarning
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, inspect, select
from traitlets.config.loader import PyFileConfigLoader

from ..assignment import ASSIGNMENT

LEDGER = Table("unet_grading_ledger", MetaData(),
               Column("assignment", String(128), primary_key=True), Column("student", String(128), primary_key=True),
               Column("digest", String(64), nullable=False), Column("status", String(64), nullable=False),
               Column("reason", Text()), Column("recorded", DateTime()))
# Submissions graded again on purpose (`course grade --student ID --force`): when, and what
# became of the scores a person gave in formgrader. The feedback states the last one.
REGRADES = Table("unet_regrades", LEDGER.metadata,
                 Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("assignment", String(128), nullable=False), Column("student", String(128), nullable=False),
                 Column("regraded", DateTime(), nullable=False), Column("manual", Text()))
# The term note (course/grading/feedback_note.py) each student's feedback file holds now.
FEEDBACK_NOTES = Table("unet_feedback_notes", LEDGER.metadata,
                       Column("assignment", String(128), primary_key=True),
                       Column("student", String(128), primary_key=True), Column("note", Text(), nullable=False))


def snapshot(db_url, course_id):
    """The assignment as the gradebook at `db_url` holds it (due date, notebooks, cells and
    their source): (the bytes of a new SQLite gradebook, a text that describes it all)."""
    with Gradebook(db_url, course_id) as central:
        try:
            assignment = central.find_assignment(ASSIGNMENT)
        except MissingEntry:
            raise SystemExit(f"error: the gradebook {db_url} has no assignment {ASSIGNMENT!r}: run "
                             f"`nbgrader generate_assignment {ASSIGNMENT}` with this gradebook first") from None
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "snapshot.sqlite"
            # The due date is not described: penalties are computed here, centrally, after grading.
            described = [assignment.course_id]
            with Gradebook(f"sqlite:///{path}", course_id) as copy:
                copy.add_assignment(ASSIGNMENT, duedate=assignment.duedate, course_id=assignment.course_id)
                for notebook in assignment.notebooks:
                    copy.add_notebook(notebook.name, ASSIGNMENT)
                    for cell in notebook.grade_cells:
                        copy.add_grade_cell(cell.name, notebook.name, ASSIGNMENT, max_score=cell.max_score,
                                            cell_type=cell.cell_type)
                    for cell in notebook.solution_cells:
                        copy.add_solution_cell(cell.name, notebook.name, ASSIGNMENT)
                    for cell in notebook.task_cells:
                        copy.add_task_cell(cell.name, notebook.name, ASSIGNMENT, max_score=cell.max_score,
                                           cell_type=cell.cell_type)
                    for cell in notebook.source_cells:
                        copy.add_source_cell(cell.name, notebook.name, ASSIGNMENT, cell_type=cell.cell_type,
                                             locked=cell.locked, source=cell.source, checksum=cell.checksum)
                    described += [notebook.name] + sorted(
                        f"{c.name}:{getattr(c, 'max_score', '')}:{getattr(c, 'checksum', '')}"
                        for c in notebook.grade_cells + notebook.solution_cells + notebook.task_cells
                        + notebook.source_cells)
            return path.read_bytes(), "\n".join(described)


def _row(student):
    return (LEDGER.c.assignment == ASSIGNMENT) & (LEDGER.c.student == student)


def ledger(db_url):
    """{student: (digest, status, reason)} of the submissions recorded for the assignment."""
    with Gradebook(db_url) as gradebook:
        LEDGER.metadata.create_all(gradebook.engine, checkfirst=True)
        rows = gradebook.db.execute(select(LEDGER).where(LEDGER.c.assignment == ASSIGNMENT)).all()
        graded = {s.student.id for s in gradebook.find_assignment(ASSIGNMENT).submissions}
    # A ledger row without its submission (the gradebook restored from a backup) is stale.
    return {row.student: (row.digest, row.status, row.reason or "") for row in rows if row.student in graded}


@contextlib.contextmanager
def one_transaction(gradebook):
    """nbgrader's Gradebook commits after each change; inside this block those commits only
    flush, and everything is committed at the end, or rolled back."""
    session = gradebook.db
    commit = session.commit
    session.commit = session.flush
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    else:
        commit()
    finally:
        session.commit = commit


def course_config(root):
    """The configuration in `root`'s nbgrader_config.py (an empty one when it has none)."""
    from traitlets.config import Config

    if not (Path(root) / "nbgrader_config.py").is_file():
        return Config()
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def term_dates(db_url, root):
    """The configured due date and every extension into the gradebook at `db_url`, before
    anything grades (DeadlineError when the due date cannot be used); returns the due date."""
    from ..deadline.extensions import apply

    return apply(db_url, course_config(root), root)


class LatePenalties:
    """nbgrader's AssignLatePenalties, with the course's configuration (its plugin)."""

    def __init__(self, root):
        from nbgrader.preprocessors import AssignLatePenalties

        self.preprocessor = AssignLatePenalties(config=course_config(root))
        self.preprocessor.init_plugin()

    def apply(self, submission, notebook):
        notebook.late_submission_penalty = None
        if submission.total_seconds_late > 0:
            penalty = self.preprocessor.plugin_inst.late_submission_penalty(
                submission.student.id, notebook.score, submission.total_seconds_late)
            if penalty is not None:
                notebook.late_submission_penalty = self.preprocessor._check_late_penalty(notebook, penalty)


def record(gradebook, student, scores, digest, status, reason, penalties, regrade=False, force_manual=False):
    """Write one graded submission (`scores` as batch_job.scores returns them) and its ledger
    row into the open `gradebook`, in one transaction. A score a person gave in formgrader is
    kept (and flagged for review) unless `force_manual`; a `regrade` is recorded. Returns the
    manual scores met: [(cell, manual score, automatic score, points)]."""
    with one_transaction(gradebook), warnings.catch_warnings():
        # nbgrader's add_submission touches its new row before adding it to the session, and
        # SQLAlchemy says so; the row is added right after.
        warnings.simplefilter("ignore", SAWarning)
        gradebook.update_or_create_student(student)
        manual = []
        if scores["timestamp"] is not None:
            submission = gradebook.update_or_create_submission(ASSIGNMENT, student, timestamp=scores["timestamp"])
        else:
            submission = gradebook.update_or_create_submission(ASSIGNMENT, student)
        for name, recorded in scores["notebooks"].items():
            notebook = gradebook.find_submission_notebook(name, ASSIGNMENT, student)
            for grade in notebook.grades:
                grade.auto_score = recorded["grades"][grade.name]
                if grade.manual_score is not None:
                    manual.append((grade.name, grade.manual_score, grade.auto_score, grade.max_score))
                    if force_manual:
                        grade.manual_score = None
                grade.needs_manual_grade = (grade.manual_score is not None or grade.auto_score is None
                                            or grade.name in recorded.get("manual", ()))  # judge/manual_grading.py
            for comment in notebook.comments:
                comment.auto_comment = recorded["comments"][comment.name]
            gradebook.db.flush()
            gradebook.db.expire(notebook)  # its score is computed by the database
            penalties.apply(submission, notebook)
        values = {"digest": digest, "status": status, "reason": reason,
                  "recorded": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)}
        if gradebook.db.execute(select(LEDGER.c.student).where(_row(student))).first():
            gradebook.db.execute(LEDGER.update().where(_row(student)).values(**values))
        else:
            gradebook.db.execute(LEDGER.insert().values(assignment=ASSIGNMENT, student=student, **values))
        if regrade:
            said = "; ".join(f"{cell}: {_n(m)} of {_n(p)} "
                             + (f"replaced by the automatic {_n(a)}" if force_manual else "kept")
                             for cell, m, a, p in manual)
            gradebook.db.execute(REGRADES.insert().values(assignment=ASSIGNMENT, student=student,
                                                          regraded=values["recorded"], manual=said))
    return manual


def _n(value):
    return "none" if value is None else f"{value:g}"


def last_regrade(connection, student):
    """When `student`'s submission was last regraded (naive UTC), or None; a gradebook without
    the course's tables (plain nbgrader) has none."""
    if not inspect(connection).has_table(REGRADES.name):
        return None
    return connection.execute(select(REGRADES.c.regraded).where(
        (REGRADES.c.assignment == ASSIGNMENT) & (REGRADES.c.student == student)).order_by(
        REGRADES.c.regraded.desc(), REGRADES.c.id.desc())).scalars().first()


def forget(gradebook, student):
    """Drop a student's ledger row (a submission that could not be graded this time) from the
    open `gradebook` (ledger() has made the table)."""
    with one_transaction(gradebook):
        gradebook.db.execute(LEDGER.delete().where(_row(student)))


def recompute_penalties(db_url, root):
    """Every submission's late penalty again, in one transaction, from the gradebook's due date,
    each student's extension and the configured policy: submissions not graded again this run
    (unchanged) get a new due date, extension or policy too. Returns [(student, seconds late,
    penalty, score before it)] of the late submissions, and of those with points but no time of
    submission while a due date is set (seconds None: their lateness is unknown, and no penalty
    is charged)."""
    penalties = LatePenalties(root)
    late = []
    with Gradebook(db_url) as book, one_transaction(book):
        assignment = book.find_assignment(ASSIGNMENT)
        for submission in assignment.submissions:
            if submission.timestamp is None:
                if assignment.duedate is not None and any(n.score for n in submission.notebooks):
                    late.append((submission.student.id, None, 0.0, sum(n.score for n in submission.notebooks)))
                continue
            for notebook in submission.notebooks:
                penalties.apply(submission, notebook)
            book.db.flush()
            if submission.total_seconds_late > 0:
                late.append((submission.student.id, submission.total_seconds_late,
                             sum(n.late_submission_penalty or 0.0 for n in submission.notebooks),
                             sum(n.score for n in submission.notebooks)))
    return sorted(late, key=lambda row: row[0])
