"""Grades the LMS imports (course/lms/): Canvas's gradebook import and Moodle's grade import
from a roster, with a student who did not submit and one graded but not on the roster, checked
against the formats Canvas and Moodle document (columns, UTF-8, quoting, a decimal point), and
the same bytes from `python -m course export` and plain `nbgrader export`."""

import csv
import datetime
import io
import os
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

from term_gradebook import submit
from course.deadline.due import parse_when
from course.deadline.extensions import grant
from course.grading.gradebook import course_config
from course.layout import ROOT, nbgrader

DUE = parse_when("2026-12-14 23:59 Europe/London")
HOUR = datetime.timedelta(hours=1)
TERM = '''c = get_config()
c.Deadline.due = "2026-12-14 23:59 Europe/London"
c.AssignLatePenalties.plugin_class = "course.deadline.policy.LatePolicy"
c.LatePolicy.per_started_day = 0.10
c.LatePolicy.max_days = 5
'''
# As Canvas writes its gradebook export: a byte-order mark, a "Points Possible" row, names
# with commas, a test student, and other columns the import ignores.
CANVAS_EXPORT = ('\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,"U-Net segmentation (4242)",'
                 '"Quiz 1 (4243)",Current Score\r\n'
                 '    Points Possible,,,,,100.00,10.00,(read only)\r\n'
                 '"Lovelace, Ada",101,S001,ada@uni.example,Lab A,,8.00,80\r\n'
                 '"Byron, Bob",102,S002,bob@uni.example,Lab B,,9.00,90\r\n'
                 '"Ñúñez, Cy",103,S003,cy@uni.example,Lab A,,7.00,70\r\n'
                 '"Student, Test",104,,test@uni.example,Lab A,,,\r\n')
ROSTER = "nbgrader_id,lms_id,name\r\nada,ada@uni.example,Ada\r\nbob,bob@uni.example,Bob\r\ncy,cy@uni.example,Cy\r\n"


@pytest.fixture
def course_root(tmp_path, db_url):
    """A course folder whose nbgrader_config.py holds the term, a roster and Canvas's export;
    ada on time, bob 25 hours late (two started days: 20%), cy never submitted."""
    root = tmp_path / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text(TERM)
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8", newline="")
    (root / "canvas.csv").write_text(CANVAS_EXPORT, encoding="utf-8", newline="")
    submit(db_url, "ada", DUE - HOUR, points=30)
    submit(db_url, "bob", DUE + 25 * HOUR, points=25)
    return root


def course_export(root, db_url, *args):
    """`python -m course export ...` with the course folder `root`."""
    code = ("import sys, course.__main__ as m, course.layout as l, pathlib; "
            "m.ROOT = l.ROOT = pathlib.Path(sys.argv[1]); sys.exit(m.main(sys.argv[2:]))")
    return subprocess.run([sys.executable, "-c", code, str(root), "export", *args, "--db", db_url], cwd=root,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def rows(path):
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")  # UTF-8 throughout
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")  # RFC 4180 line ends
    return list(csv.reader(io.StringIO(raw.decode("utf-8"))))


def test_canvas_import_has_canvas_identity_columns_and_scores_scaled_to_points_possible(course_root, db_url):
    out = course_root / "canvas_import.csv"
    done = course_export(course_root, db_url, "--to", "canvas", str(out), "--roster", "roster.csv",
                         "--canvas-export", "canvas.csv", "--column", "U-Net segmentation (4242)")
    assert done.returncode == 0, done.stderr
    table = rows(out)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "U-Net segmentation (4242)"]
    # ada 30/30 -> 100; bob 25 - 20% = 20/30 -> 66.67; cy no submission -> 0; the test student left out.
    assert table[1:] == [["Lovelace, Ada", "101", "S001", "ada@uni.example", "Lab A", "100"],
                         ["Byron, Bob", "102", "S002", "bob@uni.example", "Lab B", "66.67"],
                         ["Ñúñez, Cy", "103", "S003", "cy@uni.example", "Lab A", "0"]]
    assert b'"Lovelace, Ada"' in out.read_bytes()  # quoted where a comma is in the field
    assert "Canvas's 100 points possible" in done.stdout


def test_canvas_needs_the_column_named_when_the_export_has_several(course_root, db_url):
    done = course_export(course_root, db_url, "--to", "canvas", "x.csv", "--roster", "roster.csv",
                         "--canvas-export", "canvas.csv")
    assert done.returncode == 1
    assert "--column" in done.stderr and "U-Net segmentation (4242)" in done.stderr and "Quiz 1 (4243)" in done.stderr
    assert not (course_root / "x.csv").exists()


def test_canvas_refuses_a_roster_student_it_does_not_know(course_root, db_url):
    (course_root / "roster.csv").write_text(ROSTER + "dan,dan@uni.example,Dan\r\n")
    done = course_export(course_root, db_url, "--to", "canvas", "x.csv", "--roster", "roster.csv",
                         "--canvas-export", "canvas.csv", "--column", "U-Net segmentation (4242)")
    assert done.returncode == 1 and "'dan@uni.example'" in done.stderr and "SIS Login ID" in done.stderr
    assert not (course_root / "x.csv").exists()


def test_moodle_import_with_empty_cells_for_the_missing_and_an_extension_counted(course_root, db_url):
    grant(db_url, course_config(course_root), course_root, "bob", days=2, reason="illness")
    out = course_root / "moodle.csv"
    done = course_export(course_root, db_url, "--to", "moodle", str(out), "--roster", "roster.csv",
                         "--missing", "empty", "--item", "U-Net (lab 4)")
    assert done.returncode == 0, done.stderr
    assert rows(out) == [["email", "U-Net (lab 4)"], ["ada@uni.example", "30"], ["bob@uni.example", "25"],
                         ["cy@uni.example", ""]]


def test_a_graded_student_missing_from_the_roster_is_named_not_dropped(course_root, db_url):
    with Gradebook(db_url) as gradebook:
        gradebook.add_student("eve")
    submit(db_url, "eve", DUE - HOUR, points=10)
    out = course_root / "plain.csv"
    done = course_export(course_root, db_url, "--to", "csv", str(out), "--roster", "roster.csv")
    assert done.returncode == 1
    assert "'eve'" in done.stderr and "not on the roster" in done.stderr
    table = rows(out)
    assert table[0] == ["nbgrader_id", "lms_id", "submitted_utc", "late", "raw_score", "late_penalty", "score",
                        "max_score"]
    assert [r[0] for r in table[1:]] == ["ada", "bob", "cy"]
    assert table[2][3:] == ["1 day 1 h late", "25", "5", "20", "30"]
    assert table[3][3:] == ["not submitted", "0", "", "0", "30"]


@pytest.mark.parametrize("roster, said", [
    ("student,email\nada,a@x\n", "no column nbgrader_id or lms_id"),
    ("nbgrader_id,lms_id\nada,a@x\nada,b@x\n", "line 3: nbgrader_id 'ada' is on line 2 too"),
    ("nbgrader_id,lms_id\nada,\n", "line 2: the lms_id is empty"),
    ("nbgrader_id,lms_id\n", "no students in it"),
])
def test_a_bad_roster_is_refused_naming_the_file_and_line(course_root, db_url, roster, said):
    (course_root / "roster.csv").write_text(roster)
    done = course_export(course_root, db_url, "--to", "csv", "out.csv", "--roster", "roster.csv")
    assert done.returncode == 1 and "roster.csv" in done.stderr and said in done.stderr, done.stderr
    assert not (course_root / "out.csv").exists()


def test_a_roster_that_is_not_utf8_is_refused(course_root, db_url):
    (course_root / "roster.csv").write_bytes("nbgrader_id,lms_id\nada,Ñ@x\n".encode("latin-1"))
    done = course_export(course_root, db_url, "--to", "csv", "out.csv", "--roster", "roster.csv")
    assert done.returncode == 1 and "not UTF-8" in done.stderr


def test_plain_nbgrader_export_writes_the_same_bytes(course_root, db_url):
    grant(db_url, course_config(course_root), course_root, "bob", days=1)  # still late: 1 h past it
    ours = course_root / "ours.csv"
    done = course_export(course_root, db_url, "--to", "moodle", str(ours), "--roster", "roster.csv")
    assert done.returncode == 0, done.stderr
    theirs = course_root / "theirs.csv"
    nbgrader("export", "--exporter", "course.lms.exporters.MoodleExport", "--to", theirs,
             "--MoodleExport.roster=roster.csv", f"--CourseDirectory.db_url={db_url}",
             f"--CourseDirectory.root={course_root}", root=course_root, capture=True,
             extra_env={"PYTHONPATH": str(ROOT)})
    assert theirs.read_bytes() == ours.read_bytes()
    assert rows(theirs)[2] == ["bob@uni.example", "22.5"]  # 25 less one started day's 10%


def test_a_display_name_is_never_a_spreadsheet_formula(course_root, db_url):
    export = (course_root / "canvas.csv").read_text(encoding="utf-8")
    (course_root / "canvas.csv").write_text(export.replace('"Lovelace, Ada"', '"=HYPERLINK(""http://x"")"'),
                                            encoding="utf-8", newline="")
    out = course_root / "canvas_import.csv"
    done = course_export(course_root, db_url, "--to", "canvas", str(out), "--roster", "roster.csv",
                         "--canvas-export", "canvas.csv", "--column", "U-Net segmentation (4242)")
    assert done.returncode == 0, done.stderr
    assert rows(out)[1][0] == "'=HYPERLINK(\"http://x\")" and rows(out)[1][1] == "101"


def test_a_submission_waiting_for_manual_grading_is_named(course_root, db_url):
    with Gradebook(db_url) as gradebook:
        from course.assignment import ASSIGNMENT
        from term_gradebook import NOTEBOOK_NAME

        gradebook.find_submission_notebook(NOTEBOOK_NAME, ASSIGNMENT, "bob").grades[0].needs_manual_grade = True
        gradebook.db.commit()
    done = course_export(course_root, db_url, "--to", "csv", "plain.csv", "--roster", "roster.csv")
    assert done.returncode == 0, done.stderr
    assert "1 submission(s) still wait for manual grading in formgrader" in done.stdout and "bob" in done.stdout
