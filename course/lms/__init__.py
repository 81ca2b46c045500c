"""Grades for a learning management system: Canvas's gradebook import, Moodle's grade import,
and a plain CSV, each for every student of the class roster.

`roster` reads the instructor's roster (nbgrader's student id beside the LMS's); `grades`
reads each student's final score from the gradebook (after the late penalty); `canvas`,
`moodle` and `plain` write one file each; `exporters` makes them nbgrader export plugins, so
`nbgrader export --exporter course.lms.exporters.CanvasExport` and `python -m course export
--to canvas` write the same file.

`exporters` first brings the gradebook's due date and penalties up to date, as `course
grade` leaves them.

May import: course.layout, course.assignment, course.deadline, course.grading.
"""
