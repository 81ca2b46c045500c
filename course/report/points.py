"""Per-student, per-exercise points from the gradebook, as a table and a CSV file."""

import csv

from nbgrader.api import Gradebook, MissingEntry

from ..assignment import ASSIGNMENT, EXERCISES, NOTEBOOK, exercise_of

NOTEBOOK_ID = NOTEBOOK.removesuffix(".ipynb")


def exercise_points(db_url, students=None):
    """{student: {exercise number: (score, max score)}} for every graded submission."""
    table = {}
    with Gradebook(db_url) as gradebook:
        ids = students or sorted(s.id for s in gradebook.students)
        for student in ids:
            try:
                notebook = gradebook.find_submission_notebook(NOTEBOOK_ID, ASSIGNMENT, student)
            except MissingEntry:
                continue
            points = {number: [0.0, 0.0] for number in EXERCISES}
            for grade in notebook.grades:
                if grade.cell_type == "code" and grade.max_score:
                    number = exercise_of(grade.name)
                    points[number][0] += grade.score or 0.0
                    points[number][1] += grade.max_score
            table[student] = {number: tuple(p) for number, p in points.items()}
    return table


def format_table(table, extra=None):
    """A plain-text table; `extra` maps student -> dict of further columns (status, reason)."""
    extra = extra or {}
    extra_keys = sorted({k for row in extra.values() for k in row})
    headers = ["student"] + [f"ex{n} {name}" for n, (name, _) in EXERCISES.items()] + ["total"] + extra_keys
    rows = []
    for student in sorted(set(table) | set(extra)):
        points = table.get(student, {})
        cells = [student]
        for number in EXERCISES:
            score, top = points.get(number, (0.0, 0.0))
            cells.append(f"{score:g}/{top:g}" if top else "-")
        total = sum(p[0] for p in points.values())
        top = sum(p[1] for p in points.values())
        cells.append(f"{total:g}/{top:g}" if top else "-")
        cells += [str(extra.get(student, {}).get(k, "")) for k in extra_keys]
        rows.append(cells)
    widths = [max(len(r[i]) for r in [headers] + rows) for i in range(len(headers))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def write_csv(table, path, extra=None):
    extra = extra or {}
    extra_keys = sorted({k for row in extra.values() for k in row})
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student"] + [f"ex{n}_{name}" for n, (name, _) in EXERCISES.items()]
                        + ["total", "max_total"] + extra_keys)
        for student in sorted(set(table) | set(extra)):
            points = table.get(student, {})
            writer.writerow([student] + [f"{points.get(n, (0, 0))[0]:g}" for n in EXERCISES]
                            + [f"{sum(p[0] for p in points.values()):g}", f"{sum(p[1] for p in points.values()):g}"]
                            + [extra.get(student, {}).get(k, "") for k in extra_keys])
