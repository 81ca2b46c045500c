"""What a grading run tells the instructor: `points` (per student and exercise, as a table and
a CSV file) and `class_report` (one HTML page: scores, the judge's verdicts grouped into
`mistakes`, grading health, and `similarity` between submissions).

May import: course.layout, course.assignment. Parses student code only under a size bound
(similarity.MAX_SOURCE_CHARS). Reads the gradebook and autograded notebooks;
never runs student code.
"""
