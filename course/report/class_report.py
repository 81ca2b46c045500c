"""`python -m course report unet_segmentation`: what the class got wrong, in one HTML page.

From the gradebook, the autograded notebooks (the judge's verdict in every graded cell) and
grades_by_exercise.csv of the last grading run (statuses, reasons, seconds), it writes
reports/unet_segmentation/report.html (self-contained: figures embedded, no network) and,
beside it, the CSV files of every table:

1. scores: histograms per exercise and in total, the share of full marks (scores.csv);
2. common mistakes: the judge's findings grouped by kind, with counts and students
   (mistakes.py; mistakes.csv);
3. grading health: statuses, the slowest submissions, what was refused or repaired and why
   (grading_health.csv);
   and the cells sent to manual grading with the judge's findings (manual_grading.csv);
4. similar submissions: pairs and groups whose code (the three functions, and every other
   cell a student could write) is alike once names, comments, formatting and keyword order
   are normalised and what the class shares is discounted, beside each other with the
   passages in common marked (similarity.py; similar_pairs.csv).
"""

import base64
import csv
import html
import io
import json
from pathlib import Path

import numpy as np

from ..assignment import ASSIGNMENT, EXERCISES, NOTEBOOK, RELEASE, SOURCE
from .mistakes import mistakes, verdicts
from .points import exercise_points
from .similarity import COMMON_SHARE, FUNCTIONS, NOISE, OTHER, PART_THRESHOLD, PARTS, STRONG, THRESHOLD, \
    clusters, compare, fingerprint_places, normalise

TITLE = "U-Net segmentation: the class report"
SLOWEST = 10
PAIRS_SHOWN = 40


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------

def _text(source):
    return "".join(source) if isinstance(source, list) else source


def student_code(notebook):
    """{part: source} of a notebook (its JSON): each exercise's solution cell, and under OTHER
    every other code cell a student could write (their own cells, unlocked cells)."""
    code, other = {}, []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in FUNCTIONS:
            code[meta["grade_id"]] = _text(cell.get("source", ""))
        elif not (meta.get("locked") or meta.get("grade") or meta.get("solution")):
            other.append(_text(cell.get("source", "")))
    code[OTHER] = "\n\n".join(other)
    return code


def base_code():
    """What every submission may share: every code cell of the release's notebook and of the
    source's (the reference solution; hidden tests are never in a student's code anyway)."""
    sources = []
    for path in (SOURCE / NOTEBOOK, RELEASE / NOTEBOOK):
        for cell in json.loads(path.read_text()).get("cells", []):
            if cell.get("cell_type") == "code":
                source = _text(cell.get("source", ""))
                sources.append("\n".join(line for line in source.splitlines() if "SOLUTION" not in line))
    return sources


MANUAL = "sent to manual grading"  # how the judge's verdict of such a cell begins (judge.manual_note)


def manual_cells(judged):
    """{student: (cells, why)} of the students whose graded cells went to manual grading."""
    found = {}
    for student, cells in judged.items():
        flagged = sorted(grade_id for grade_id, (_, message) in cells.items() if message.startswith(MANUAL))
        if flagged:
            message = cells[flagged[0]][1]
            why = message.split("which no exercise needs: ", 1)[-1].split(". The judge's verdict", 1)[0].rstrip(".")
            found[student] = (flagged, why)
    return found


def read_class(root, db_url):
    """Everything the report shows, as plain data."""
    root = Path(root)
    points = exercise_points(db_url)
    runs = {}
    csv_path = root / "grades_by_exercise.csv"
    if csv_path.is_file():
        with open(csv_path, newline="") as handle:
            runs = {row["student"]: row for row in csv.DictReader(handle)}
    judged, code = {}, {}
    folder = root / "autograded"
    for student in sorted(set(points) | set(runs)):
        path = folder / student / ASSIGNMENT / NOTEBOOK
        if path.is_file():
            try:
                notebook = json.loads(path.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue
            judged[student] = verdicts(notebook)
            code[student] = student_code(notebook)
    return {"points": points, "runs": runs, "verdicts": judged, "code": code}


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def score_figures(points):
    """(histograms figure, full-marks figure) as data URLs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(1, len(EXERCISES) + 1, figsize=(13, 3.0))
    for axis, (number, (function, _)) in zip(axes, EXERCISES.items()):
        scores = [row[number][0] for row in points.values()]
        top = max([row[number][1] for row in points.values()] or [10])
        axis.hist(scores, bins=[x - 0.5 for x in range(int(top) + 2)], color="#4c72b0")
        axis.set_title(f"exercise {number}: {function}", fontsize=10)
        axis.set_xlabel(f"points (of {top:g})")
    totals = [sum(p[0] for p in row.values()) for row in points.values()]
    top_total = max([sum(p[1] for p in row.values()) for row in points.values()] or [30])
    axes[-1].hist(totals, bins=min(31, int(top_total) + 1), range=(-0.5, top_total + 0.5), color="#dd8452")
    axes[-1].set_title("total", fontsize=10)
    axes[-1].set_xlabel(f"points (of {top_total:g})")
    axes[0].set_ylabel("students")
    for axis in axes:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    histograms = _png(figure)
    plt.close(figure)
    figure, axis = plt.subplots(figsize=(5, 2.4))
    shares = [full_marks_share(points, number) for number in EXERCISES]
    axis.barh([f"exercise {n}" for n in EXERCISES], [100 * s for s in shares], color="#55a868")
    axis.set_xlim(0, 100)
    axis.set_xlabel("students with full marks (%)")
    axis.invert_yaxis()
    full = _png(figure)
    plt.close(figure)
    return histograms, full


def full_marks_share(points, number):
    rows = [row[number] for row in points.values() if row[number][1]]
    return sum(score >= top for score, top in rows) / len(rows) if rows else 0.0


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------

def _write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _students(names, limit=12):
    shown = ", ".join(html.escape(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def marked(source, common):
    """The normalised `source` as HTML, the passages whose fingerprints are in `common` marked."""
    text = normalise(source) or source
    inside = np.zeros(len(text) + 1, dtype=int)
    for fingerprint, places in fingerprint_places(text).items():
        if fingerprint in common:
            for start in places:
                inside[start] += 1
                inside[start + NOISE] -= 1
    shared = np.cumsum(inside)[:len(text)] > 0
    pieces, start = [], 0
    for end in range(1, len(text) + 1):
        if end == len(text) or shared[end] != shared[start]:
            chunk = html.escape(text[start:end])
            pieces.append(f"<mark>{chunk}</mark>" if shared[start] else chunk)
            start = end
    return "".join(pieces)


def _side_by_side(pair, code):
    rows = []
    for function in PARTS:
        share = pair.by_function.get(function)
        label = f"{function}: {share:.0%} in common" if share is not None else f"{function}: nothing beyond what all share"
        common = pair.common.get(function, frozenset())
        left, right = (marked(code.get(s, {}).get(function, ""), common) or "(no code)" for s in (pair.a, pair.b))
        rows.append(f'<tr><th colspan="2">{html.escape(label)}</th></tr>'
                    f"<tr><td><pre>{left}</pre></td><td><pre>{right}</pre></td></tr>")
    return (f'<details><summary><b>{html.escape(pair.a)}</b> and <b>{html.escape(pair.b)}</b>: '
            f"{pair.score:.0%} of their weighted fingerprints in common ({pair.shared} fingerprints, evidence "
            f"{pair.evidence:.0f})</summary>"
            f'<table class="code"><tr><th>{html.escape(pair.a)}</th><th>{html.escape(pair.b)}</th></tr>'
            + "".join(rows) + "</table></details>")


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ddd; padding: 3px 8px;
text-align: left; vertical-align: top; } th { background: #f4f4f4; }
img { max-width: 100%; } .note { color: #555; } pre { margin: 0; font-size: 0.85em; white-space: pre-wrap; }
table.code td { width: 50%; } details { margin: 0.4em 0; } mark { background: #ffe08a; }
"""


def write_report(root, db_url, out=None):
    """Write the report and its CSV files; returns the path of report.html."""
    root = Path(root)
    out = Path(out) if out else root / "reports" / ASSIGNMENT
    out.mkdir(parents=True, exist_ok=True)
    data = read_class(root, db_url)
    points, runs, judged, code = data["points"], data["runs"], data["verdicts"], data["code"]
    manual = manual_cells(judged)
    found = mistakes({student: {g: v for g, v in cells.items() if not v[1].startswith(MANUAL)}
                      for student, cells in judged.items()})
    comparison = compare(code, base_code())
    pairs = comparison.pairs
    groups = clusters(pairs)
    parts = [f"<h1>{TITLE}</h1>",
             f'<p class="note">{len(points)} graded submissions, {len(runs) or len(points)} in the last grading run. '
             "Points come from the gradebook, mistakes from the judge's verdicts in the autograded notebooks.</p>"]

    # 1. Scores
    _write_csv(out / "scores.csv", ["student"] + [f"ex{n}_{f}" for n, (f, _) in EXERCISES.items()] + ["total"],
               [[s] + [f"{row[n][0]:g}" for n in EXERCISES] + [f"{sum(p[0] for p in row.values()):g}"]
                for s, row in sorted(points.items())])
    parts.append("<h2>1. Scores</h2>")
    if points:
        histograms, full = score_figures(points)
        parts.append(f'<p>How many students got each number of points, per exercise and in total.</p>'
                     f'<img alt="score histograms" src="{histograms}">'
                     f'<p>The share of students with full marks in each exercise.</p><img alt="full marks" src="{full}">')
        parts.append("<table><tr><th>exercise</th><th>mean points</th><th>full marks</th></tr>" + "".join(
            f"<tr><td>{n}: {f}</td><td>{sum(r[n][0] for r in points.values()) / len(points):.1f} of "
            f"{max(r[n][1] for r in points.values()):g}</td><td>{full_marks_share(points, n):.0%}</td></tr>"
            for n, (f, _) in EXERCISES.items()) + "</table>")
    else:
        parts.append("<p>No graded submission in the gradebook yet.</p>")

    # 2. Common mistakes
    parts.append("<h2>2. Common mistakes</h2><p>What the judge found wrong, grouped by kind; a student counts "
                 "once per kind and exercise (an exercise has two graded cells).</p>")
    rows = []
    for number, (function, _) in EXERCISES.items():
        parts.append(f"<h3>Exercise {number}: {function}</h3>")
        if not found[number]:
            parts.append("<p>No mistakes found.</p>")
            continue
        parts.append("<table><tr><th>mistake</th><th>students</th><th>who</th></tr>" + "".join(
            f"<tr><td>{html.escape(kind)}</td><td>{len(names)}</td><td>{_students(names)}</td></tr>"
            for kind, names in found[number].items()) + "</table>")
        rows += [[number, kind, len(names), " ".join(names)] for kind, names in found[number].items()]
    _write_csv(out / "mistakes.csv", ["exercise", "mistake", "students", "who"], rows)

    # 3. Grading health
    parts.append("<h2>3. Grading health</h2>")
    if runs:
        statuses = {}
        for student, row in runs.items():
            statuses.setdefault(row.get("status", ""), []).append(student)
        parts.append("<table><tr><th>status</th><th>submissions</th><th>who</th></tr>" + "".join(
            f"<tr><td>{html.escape(status)}</td><td>{len(names)}</td><td>{_students(sorted(names))}</td></tr>"
            for status, names in sorted(statuses.items(), key=lambda item: -len(item[1]))) + "</table>")
        timed = sorted(runs.values(), key=lambda row: -float(row.get("seconds") or 0))[:SLOWEST]
        parts.append("<h3>Slowest submissions</h3><table><tr><th>student</th><th>seconds</th><th>status</th></tr>"
                     + "".join(f"<tr><td>{html.escape(r['student'])}</td><td>{html.escape(r.get('seconds', ''))}</td>"
                               f"<td>{html.escape(r.get('status', ''))}</td></tr>" for r in timed) + "</table>")
        odd = [r for r in runs.values() if r.get("reason")]
        parts.append("<h3>Refused, repaired or stopped, and why</h3>" + ("<table><tr><th>student</th><th>status</th>"
                     "<th>reason</th></tr>" + "".join(
                         f"<tr><td>{html.escape(r['student'])}</td><td>{html.escape(r.get('status', ''))}</td>"
                         f"<td>{html.escape(r['reason'])}</td></tr>" for r in sorted(odd, key=lambda r: r["student"]))
                     + "</table>" if odd else "<p>Nothing was refused or repaired.</p>"))
        late = sorted((r for r in runs.values() if r.get("late")), key=lambda r: r["student"])
        parts.append("<h3>Late submissions</h3>" + (
            f"<p>{len(late)} of {len(runs)} submissions late (the late policy is in nbgrader_config.py).</p>"
            "<table><tr><th>student</th><th>late, and the penalty in points</th></tr>" + "".join(
                f"<tr><td>{html.escape(r['student'])}</td><td>{html.escape(r['late'])}</td></tr>" for r in late)
            + "</table>" if late else "<p>No submission was late.</p>"))
        _write_csv(out / "grading_health.csv", ["student", "status", "reason", "seconds"],
                   [[r["student"], r.get("status", ""), r.get("reason", ""), r.get("seconds", "")]
                    for r in sorted(runs.values(), key=lambda r: r["student"])])
    else:
        parts.append("<p>No grading run recorded here (grades_by_exercise.csv is written by "
                     "<code>course grade</code>).</p>")
    parts.append("<h3>Sent to manual grading</h3><p>Notebooks whose code reaches into the grading machinery "
                 "(the kernel's shell, loaded modules, frames, the recorder): their graded cells score 0 until you "
                 "grade them in formgrader, where the same findings are on each exercise's solution cell.</p>")
    parts.append("<table><tr><th>student</th><th>cells</th><th>why</th></tr>" + "".join(
        f"<tr><td>{html.escape(student)}</td><td>{len(cells)}</td><td>{html.escape(why)}</td></tr>"
        for student, (cells, why) in sorted(manual.items())) + "</table>" if manual
                 else "<p>No notebook was sent to manual grading.</p>")
    _write_csv(out / "manual_grading.csv", ["student", "cells", "why"],
               [[student, " ".join(cells), why] for student, (cells, why) in sorted(manual.items())])

    # 4. Similar submissions
    parts.append(
        "<h2>4. Similar submissions</h2><p>The code of every pair of students (the three functions, and their "
        "other cells together), compared after local names, comments, formatting and the order of keyword arguments "
        "are normalised. What everyone may share counts for nothing: every passage of the release's notebook and of "
        f"the reference solution, and what more than {COMMON_SHARE:.0%} of the class wrote alike (common knowledge: "
        f"{comparison.common} fingerprints held by more than {comparison.most} students). Every other fingerprint "
        "weighs by how rare it is in the class, so that a passage only two students have says more than an idiom "
        f"many chose. A pair is listed when at least {THRESHOLD:.0%} of its weight is in common, or "
        f"{PART_THRESHOLD:.0%} of their other cells' (a pasted cell; one function alike is not enough, there are few "
        f"ways to write each); groups join only pairs at least {STRONG:.0%} alike. "
        "Open a pair to see its code side by side, normalised, with the passages in common marked. Similar is not "
        "proof of copying: look at the code.</p>")
    total = comparison.students * (comparison.students - 1) // 2
    parts.append(f'<p class="note">{comparison.students} students, {total:,} pairs: {comparison.compared:,} share a '
                 f"fingerprint that is not common knowledge and were compared; {len(pairs)} of them are alike enough "
                 f"to be listed; the other {total - len(pairs):,} share less.</p>")
    if pairs:
        if groups:
            parts.append("<h3>Groups</h3><ul>" + "".join(f"<li>{len(g)} students: {_students(g, 30)}</li>"
                                                         for g in groups) + "</ul>")
        parts.append(f"<h3>Pairs ({len(pairs)}), most alike first</h3>"
                     + "".join(_side_by_side(p, code) for p in pairs[:PAIRS_SHOWN]))
        if len(pairs) > PAIRS_SHOWN:
            parts.append(f"<p>{len(pairs) - PAIRS_SHOWN} more pairs in similar_pairs.csv.</p>")
    else:
        parts.append("<p>No two submissions are alike beyond what everyone shares.</p>")
    _write_csv(out / "similar_pairs.csv", ["student_a", "student_b", "score", "shared_fingerprints", "evidence",
                                           *PARTS],
               [[p.a, p.b, f"{p.score:.3f}", p.shared, f"{p.evidence:.1f}"]
                + ["" if p.by_function[f] is None else f"{p.by_function[f]:.3f}" for f in PARTS] for p in pairs])
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{TITLE}</title>'
            f"<style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
