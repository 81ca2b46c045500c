"""The feedback's first cell: the due date (with the student's extension), when the notebook
was submitted, how late, the penalty in points, and when it was regraded.

`TermNote` is a GenerateFeedback preprocessor (nbgrader_config.py), so plain `nbgrader
generate_feedback` writes the cell from the gradebook it is given. `course grade` generates
feedback on workers, whose private gradebooks know the due date but not the student's
extension nor a regrade, and later recomputes penalties centrally; `refresh` then makes every
feedback file state what the real gradebook holds, generating again (centrally, in one nbgrader
process, no student code run) only the files whose note would change. The table
`unet_feedback_notes` keeps the note each feedback file holds."""

import datetime
import warnings

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy import select

from ..assignment import ASSIGNMENT
from ..deadline.due import configured, from_utc
from ..deadline.notes import feedback_markdown
from ..deadline.policy import described
from . import gradebook as course_gradebook

MARK = "unet_term_note"


def note(book, student, notebook_name, config, as_worker=False):
    """The markdown of `student`'s term note for one notebook, from the open Gradebook `book`;
    '' when there is nothing to say (no due date, never regraded). `as_worker`: as a worker's
    private gradebook has it, without the extension and the regrade."""
    try:
        submission = book.find_submission(ASSIGNMENT, student)
        notebook = book.find_submission_notebook(notebook_name, ASSIGNMENT, student)
    except MissingEntry:
        return ""
    due = from_utc(submission.assignment.duedate)
    regraded = None if as_worker else from_utc(course_gradebook.last_regrade(book.db.connection(), student))
    if due is None and regraded is None:
        return ""
    until = due if as_worker or submission.extension is None or due is None else due + submission.extension
    submitted = from_utc(submission.timestamp)
    raw = float(notebook.score or 0.0)
    if as_worker:
        penalty = _penalty_without_extension(config, student, raw, submitted, due)
    else:
        penalty = float(notebook.late_submission_penalty or 0.0)
    configured_due = configured(config)
    zone = configured_due.tzinfo if configured_due is not None else datetime.timezone.utc
    return feedback_markdown(due, until, submitted, raw, penalty, described(config), zone, regraded)


def _penalty_without_extension(config, student, raw, submitted, due):
    """What a worker's AssignLatePenalties charged: the class's due date, no extension."""
    if submitted is None or due is None or submitted <= due:
        return 0.0
    from nbgrader.preprocessors import AssignLatePenalties

    assigner = AssignLatePenalties(config=config)
    assigner.init_plugin()
    penalty = assigner.plugin_inst.late_submission_penalty(student, raw, (submitted - due).total_seconds())
    return 0.0 if penalty is None else min(float(penalty), raw)


class TermNote(NbGraderPreprocessor):
    """GenerateFeedback, after GetGrades: the term note as the feedback's first cell."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as book, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = note(book, info["student"], info["notebook"], self.config)
        if text:
            cell = nbformat.v4.new_markdown_cell(text)
            cell.metadata[MARK] = True
            nb.cells.insert(0, cell)
        return nb, resources


def notes_of(book, student, notebooks, config, as_worker=False):
    return "\n\n".join(note(book, student, name, config, as_worker) for name in notebooks)


def stale(db_url, root, config, graded_now):
    """The students whose feedback file does not state what the gradebook holds: {student:
    the note it should state}. Those graded in this run hold what their worker wrote."""
    table = course_gradebook.FEEDBACK_NOTES
    found = {}
    with Gradebook(db_url) as book, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.metadata.create_all(book.engine, checkfirst=True)
        held = dict(book.db.execute(select(table.c.student, table.c.note).where(
            table.c.assignment == ASSIGNMENT)).all())
        assignment = book.find_assignment(ASSIGNMENT)
        notebooks = [nb.name for nb in assignment.notebooks]
        for submission in assignment.submissions:
            student = submission.student.id
            if not (root / "feedback" / student / ASSIGNMENT).is_dir():
                continue
            now = notes_of(book, student, notebooks, config)
            was = notes_of(book, student, notebooks, config, as_worker=True) if student in graded_now \
                else held.get(student)
            if was != now:
                found[student] = now
            elif held.get(student) != now:
                remember(book, student, now)
    return found


def remember(book, student, text):
    table = course_gradebook.FEEDBACK_NOTES
    row = (table.c.assignment == ASSIGNMENT) & (table.c.student == student)
    with course_gradebook.one_transaction(book):
        if book.db.execute(select(table.c.student).where(row)).first():
            book.db.execute(table.update().where(row).values(note=text))
        else:
            book.db.execute(table.insert().values(assignment=ASSIGNMENT, student=student, note=text))


def refresh(db_url, root, config, graded_now, run_nbgrader):
    """Generate again the feedback of the students `stale` finds, in one nbgrader process
    (`run_nbgrader(args)` returns the exit codes of the steps that ran); returns (those
    refreshed, those whose feedback could not be generated again)."""
    todo = stale(db_url, root, config, graded_now)
    if not todo:
        return [], []
    steps = []
    for student in todo:
        steps += ["--then"] * bool(steps) + ["generate_feedback", ASSIGNMENT, "--force", "--student", student,
                                             f"--CourseDirectory.root={root}", f"--CourseDirectory.db_url={db_url}"]
    codes = run_nbgrader(steps)
    done = [student for student, code in zip(todo, codes) if code == 0]
    with Gradebook(db_url) as book:
        for student in done:
            remember(book, student, todo[student])
    return done, [student for student in todo if student not in done]
