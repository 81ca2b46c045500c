"""Instructor tooling of the U-Net segmentation course.

    layout.py           the course folder: paths, running nbgrader, names shown and walked
    assignment.py       the assignment this course grades (the one place that names it)
    unet_segmentation/  that assignment: exercises, reference, challenges, evidence format,
                        examples, diagrams
    judge/              scores graded cells from evidence, in the nbgrader process
    sandbox/            runs each graded kernel in a sandbox of its own, output bounded
    grading/            `course grade`: checks, self-test, Dask, the gradebook
    deadline/           the term: the due date, the late policy, extensions
    report/             points per exercise and the class report
    __main__.py         `python -m course ...`

Imports go one way (tests/test_layout.py checks it): layout <- the assignment <- sandbox,
deadline <- judge, grading, report <- __main__. The engine (judge, sandbox, grading, report) reaches the
assignment only through assignment.py, never through `unet_segmentation` by name.
"""
