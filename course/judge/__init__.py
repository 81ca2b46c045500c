"""The judge: decides every score from evidence, in the nbgrader process, never in a kernel.

`preprocessors` (Challenge before Execute, Judge after it) draws each graded cell's arguments
and turns its evidence into a verdict; `evidence` collects that evidence in a kernel of its own
(EvidenceRun starts it beside the notebook's, Evidence waits for it), running only what
`needed` finds the graded functions need; `specs` reads evidence into layer specifications through
a whitelist; `network` runs them in NumPy; `tamper` reads cells for code that reaches into the
grader; `manual_grading` sends such cells to a person after SaveAutoGrades; `markup` (InertMarkup,
after Execute) makes every output, the student's markdown and the metadata nbconvert's templates
read inert, so that the notebook nbgrader records runs nothing in the instructor's browser.

May import: course.layout, course.bounded (the tamper reader and the judge work in bounded
children), course.assignment, course.sandbox (the evidence kernel is a sandboxed kernel; how a
hidden call is written). Nothing here imports TensorFlow or runs student code: the evidence
kernel runs it in its sandbox.
"""
