"""Each student's final score for the assignment, as the gradebook holds it."""

import datetime
from dataclasses import dataclass

from nbgrader.api import MissingEntry

from ..assignment import ASSIGNMENT
from ..deadline.notes import number


@dataclass(frozen=True)
class Grade:
    raw: float  # the points the notebook earned
    penalty: float  # taken by the late policy
    max_score: float
    submitted: datetime.datetime | None  # naive UTC, as the gradebook stores it
    seconds_late: float

    @property
    def score(self):
        return max(0.0, self.raw - self.penalty)


def final_grades(gradebook):
    """({nbgrader id: Grade} of the students with a submission, the assignment's points), from
    an open nbgrader Gradebook."""
    try:
        assignment = gradebook.find_assignment(ASSIGNMENT)
    except MissingEntry:
        return {}, 0.0
    grades = {}
    for submission in assignment.submissions:
        grades[submission.student.id] = Grade(
            raw=float(submission.score or 0.0), penalty=float(submission.late_submission_penalty or 0.0),
            max_score=float(submission.max_score or 0.0), submitted=submission.timestamp,
            seconds_late=float(submission.total_seconds_late or 0.0))
    return grades, float(assignment.max_score or 0.0)


def pending_manual(gradebook):
    """The students whose submission still waits for a person in formgrader: their score may rise."""
    try:
        assignment = gradebook.find_assignment(ASSIGNMENT)
    except MissingEntry:
        return []
    return sorted(s.student.id for s in assignment.submissions if s.needs_manual_grade)


def matched(roster, grades):
    """[(roster Student, their Grade or None)] in the roster's order, and the ids graded but not
    in the roster (sorted)."""
    listed = {student.nbgrader_id for student in roster}
    return [(student, grades.get(student.nbgrader_id)) for student in roster], sorted(set(grades) - listed)


points = number  # a score as every LMS reads it
