"""A graded class made without grading: autograded notebooks that carry the judge's real
verdicts (judged in this process, once per distinct code) and a gradebook with the points,
as `course grade` would leave them. For the class report's tests and its speed bench."""

import csv
import json
import warnings
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from course.assignment import ASSIGNMENT, NOTEBOOK, RELEASE
from course.grading.gradebook import one_transaction
from course.judge import preprocessors as judge, tamper
from course.layout import COURSE_ID, nbgrader
from course.report.similarity import OTHER

from catalogue import IMPORTS, REFERENCE, verdicts_of
from course_helpers import copy_course

_VERDICTS = {}


def verdicts_for(code):
    """{grade_id: (passed, message)} the judge gives the functions `code` {function: source}
    (the reference for the others)."""
    sources = dict(REFERENCE, **{f: source for f, source in code.items() if f in REFERENCE})
    key = tuple(sorted(sources.items()))
    if key not in _VERDICTS:
        names = {}
        exec(IMPORTS, names)
        for source in sources.values():
            exec(source, names)
        _VERDICTS[key] = verdicts_of(names)
    return _VERDICTS[key]


def make_class(root, students, statuses=None):
    """A course at `root` whose class `students` {student: {function: source}} was graded;
    `statuses` {student: (status, reason, seconds)} for grades_by_exercise.csv. A source
    under similarity.OTHER is a cell of the student's own, after the conv_block cell; the
    judge's findings on it (course/judge/tamper.py) send the notebook to manual grading, as in a
    real grading run."""
    root = copy_course(root)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True)
    release = nbformat.read(RELEASE / NOTEBOOK, as_version=4)
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(db_url, COURSE_ID) as gradebook, one_transaction(gradebook), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy on nbgrader's add_submission (see gradebook.record)
        notebook_id = NOTEBOOK.removesuffix(".ipynb")
        for student, code in students.items():
            verdicts = verdicts_for(code)
            notebook = nbformat.from_dict(json.loads(json.dumps(release)))
            if OTHER in code:
                at = next(i for i, c in enumerate(notebook.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "conv_block")
                notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(code[OTHER]))
            found = tamper.findings(notebook)
            if found:
                verdicts = {g: (False, judge.manual_message(found, *v)) for g, v in verdicts.items()}
            for cell in notebook.cells:
                meta = cell.metadata.get("nbgrader", {})
                if meta.get("solution") and meta.get("grade_id") in REFERENCE:  # what was judged
                    cell.source = code.get(meta["grade_id"], REFERENCE[meta["grade_id"]])
                if meta.get("grade_id") in verdicts:
                    passed, message = verdicts[meta["grade_id"]]
                    points = meta.get("points", 0) if passed else 0
                    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                           text=f"{'passed' if passed else 'failed'}: {message}\n"),
                                    nbformat.v4.new_output("execute_result", data={"text/plain": f"{points:g}"})]
            folder = root / "autograded" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(notebook, folder / NOTEBOOK)
            gradebook.update_or_create_student(student)
            gradebook.add_submission(ASSIGNMENT, student)
            for grade in gradebook.find_submission_notebook(notebook_id, ASSIGNMENT, student).grades:
                passed = verdicts.get(grade.name, (False, ""))[0]
                grade.auto_score = grade.max_score if passed else 0.0
                grade.needs_manual_grade = bool(found)
    statuses = statuses or {}
    with open(root / "grades_by_exercise.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "status", "reason", "seconds"])
        for student in students:
            writer.writerow([student, *statuses.get(student, ("graded", "", "9"))])
    return Path(root), db_url
