"""A term's dates: the assignment's due date, the late policy, extensions.

`due` reads the due date from nbgrader_config.py (`c.Deadline.due`, with its time zone) and
writes it into the gradebook, where nbgrader's own autograde looks for it; `policy` is the
late policy as nbgrader's LateSubmissionPlugin (`c.LatePolicy.*`), so plain `nbgrader
autograde` and `course grade` charge the same penalty; `extensions` grants and lists
per-student extensions in nbgrader's own extension column; `hook` writes the due date and
the extensions into the gradebook before plain `nbgrader autograde` grades; `release_cell`
states the due date in the released notebook; `notes` words what students read about the
term (in the release and in their feedback).

May import: course.assignment.
"""
