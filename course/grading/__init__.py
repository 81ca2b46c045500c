"""Grading a class: `python -m course grade`, on Dask, one machine or many.

`grader` checks and repairs each submission (`preflight`), ships the grading files (`bundle`)
to workers (`cluster`, `remote`), where `batch_job` runs nbgrader's autograde and feedback in
one process (`nbgrader_steps`) and `selftest` first proves the machine grades the reference
and the blank release right; `gradebook` records each submission in one transaction, and
regrades; `feedback_note` opens each feedback file with the student's due date, lateness,
penalty and regrade, and generates again, centrally, the files a later extension or regrade
made stale.

May import: course.layout, course.bounded (the preflight reads each notebook in a bounded
child), course.assignment, course.sandbox, course.deadline (the due date and extensions go
into the gradebook before grading; penalties are recomputed after). The judge is not imported here:
nbgrader loads it from nbgrader_config.py in the processes that grade.
"""
