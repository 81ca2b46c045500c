"""Instructor commands of the U-Net course.

    python -m course run        the whole loop: data, release, example submissions,
                                autograde, feedback, grades.csv, a table of points
    python -m course release    regenerate release/ from source/ (nbgrader generate_assignment)
    python -m course examples   write the example submissions into submitted/
    python -m course report [unet_segmentation]
                                the per-student, per-exercise table, and the class
                                report (reports/unet_segmentation/report.html)
    python -m course grade unet_segmentation [--workers N | --scheduler tcp://HOST:8786]
                                grade every submission on Dask (a local cluster, or a
                                running one), each kernel sandboxed; feedback, grades.csv
                                and a report. Unchanged submissions are not graded again
                                (--force grades everything; --student ID --force regrades
                                one student, keeping manual scores unless --force-manual)
    python -m course extend STUDENT --until DATE | --days N [--reason TEXT]
                                give one student a later due date (c.Deadline.due in
                                nbgrader_config.py is the class's)
    python -m course extensions list the extensions granted
    python -m course export --to canvas|moodle|csv FILE --roster ROSTER.csv [...]
                                the grades for the LMS, a row for every student of the
                                roster (nbgrader export plugins: course/lms/)
    python -m course hub --class-list class.csv [--port 8000]
                                the course on a JupyterHub on this machine (as root): users,
                                the shared exchange, formgrader as a service (course/hub/)
    python -m course selftest   grade the reference solution and the blank release in the
                                sandbox students get (full marks and zero, or it says why);
                                every grading process does this first, once per machine
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

from .assignment import ASSIGNMENT
from .layout import ROOT, environment_bin_on_path, nbgrader

DB_URL = f"sqlite:///{ROOT / 'gradebook.db'}"
STAFF_MARK = ".staff-course"  # written by `course hub` into the course folder it makes (course/hub/folders.py)


def release():
    from .deadline.due import DeadlineError, shown
    from .grading.gradebook import term_dates

    nbgrader("generate_assignment", ASSIGNMENT, "--force", capture=True)
    print(f"released {ASSIGNMENT} into {ROOT / 'release' / ASSIGNMENT}")
    try:
        due = term_dates(DB_URL, ROOT)
    except DeadlineError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    print(f"due date: {shown(due) if due else 'none (c.Deadline.due in nbgrader_config.py)'}")


def examples():
    from .unet_segmentation.examples import write_examples

    students = write_examples()
    print(f"example submissions in {ROOT / 'submitted'}: {', '.join(students)}")


def report(args):
    from .report.class_report import write_report
    from .report.points import exercise_points, format_table

    db_url = args.db or DB_URL
    print(format_table(exercise_points(db_url)))
    print(f"\nclass report: {write_report(ROOT, db_url)}")


def grade(args):
    from .report.class_report import write_report
    from .deadline.due import DeadlineError
    from .grading.gradebook import recompute_penalties
    from .grading.grader import NoWorkerLeft, SelfTestRefused, Settings, grade_all, sandbox_note, sandbox_refusal
    from .report.points import exercise_points, format_table, write_csv

    settings = Settings(db_url=args.db, workers=args.workers, scheduler=args.scheduler, timeout=args.timeout,
                        cell_timeout=args.cell_timeout, memory_mb=args.memory_mb, cpus=args.cpus,
                        sandbox=not args.no_sandbox, force=args.force, batch_size=args.batch_size,
                        prestart=not args.no_prestart, force_manual=args.force_manual)
    refusal = sandbox_refusal(settings)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    where = f"the Dask cluster at {settings.scheduler}" if settings.scheduler else \
        f"a local Dask cluster of {settings.workers} worker(s)"
    print(f"grading on {where}, {sandbox_note(settings)}, memory {settings.memory_mb} MB, "
          f"{settings.cell_timeout} s per cell, {settings.timeout} s per submission, "
          f"{settings.cpus:g} core(s) per kernel")
    broken = []
    try:
        outcomes = grade_all(settings, only=args.student, health=broken)
    except (SelfTestRefused, NoWorkerLeft, DeadlineError) as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    late = recompute_penalties(settings.db_url, ROOT)
    graded = [o.student for o in outcomes.values() if o.graded]
    graded_now = {o.student for o in outcomes.values() if o.graded and not o.unchanged}
    refreshed = refresh_feedback(settings.db_url, graded_now)
    unchanged = sum(o.unchanged for o in outcomes.values())
    nbgrader("export", "--to", ROOT / "grades.csv", f"--CourseDirectory.db_url={settings.db_url}", capture=True,
             check=False)
    table = exercise_points(settings.db_url, students=list(outcomes))
    extra = {o.student: {"status": o.status + (" (unchanged)" if o.unchanged else ""), "reason": o.reason,
                         "seconds": f"{o.seconds:.0f}", "late": late_note(late, o.student)} for o in outcomes.values()}
    write_csv(table, ROOT / "grades_by_exercise.csv", extra)
    print(format_table(table, extra))
    print_late(late)
    print_regrades(outcomes.values(), settings.force_manual)
    refreshed, stuck = refreshed
    if refreshed:
        print(f"\nfeedback stating the due date, lateness and penalty as the gradebook now has them, generated "
              f"again for: {', '.join(refreshed)}")
    if stuck:
        print(f"\nfeedback NOT generated again for {', '.join(stuck)}: it may state an earlier due date, extension "
              "or penalty; run `course grade` again", file=sys.stderr)
    print(f"\n{len(graded)} of {len(outcomes)} submissions graded ({unchanged} unchanged since the last run, "
          f"not graded again); feedback in {ROOT / 'feedback'}; "
          f"{ROOT / 'grades.csv'} and {ROOT / 'grades_by_exercise.csv'} written")
    print(f"class report (scores, common mistakes, grading health, similar submissions): "
          f"{write_report(ROOT, settings.db_url)}")
    if broken:
        print(f"\n{len(broken)} worker(s) failed the self-test and graded nothing (fix them and grade again):",
              file=sys.stderr)
        for report in broken:
            print(f"  {report.get('worker')}: {report['reason']}", file=sys.stderr)
    return 0 if len(graded) == len(outcomes) and not broken and not stuck else 1


def refresh_feedback(db_url, graded_now):
    """Feedback files whose term note no longer matches the gradebook (an extension, a new due
    date, a regrade) are generated again, centrally: course/grading/feedback_note.py."""
    from .grading.feedback_note import refresh
    from .grading.gradebook import course_config

    def run_nbgrader(steps):
        codes = ROOT / ".feedback_codes.json"
        codes.unlink(missing_ok=True)
        try:
            nbgrader(codes, *steps, module="course.grading.nbgrader_steps", check=False, capture=True,
                     timeout=120 + 30 * steps.count("generate_feedback"))
        except subprocess.TimeoutExpired:
            pass  # the steps that finished wrote their codes
        try:
            return json.loads(codes.read_text())
        except (OSError, ValueError):
            return []
        finally:
            codes.unlink(missing_ok=True)

    return refresh(db_url, ROOT, course_config(ROOT), graded_now, run_nbgrader)


def print_regrades(outcomes, force_manual):
    """Each regraded submission, and what became of the scores a person gave in formgrader."""
    for outcome in outcomes:
        if not outcome.regraded:
            continue
        print(f"\nregraded {outcome.student} (recorded; the feedback says so)")
        for cell, manual, automatic, points in outcome.manual:
            if force_manual:
                print(f"  {cell}: the manual score {manual:g} of {points:g} replaced by the automatic {automatic:g} "
                      "(--force-manual)")
            else:
                print(f"  {cell}: the manual score {manual:g} of {points:g} given in formgrader kept (automatic: "
                      f"{automatic:g}); --force-manual replaces it")


def late_note(late, student):
    """'1 day 2 h late, -6 points' for a late submission, '' for one on time."""
    from .deadline.policy import lateness

    for name, seconds, penalty, _ in late:
        if name == student:
            return "no time of submission recorded" if seconds is None else f"{lateness(seconds)}, -{penalty:g} points"
    return ""


def print_late(late):
    """One line per late submission: how late, and the penalty the late policy charged."""
    from .deadline.policy import lateness, started_days

    timed = [row for row in late if row[1] is not None]
    if timed:
        print(f"\n{len(timed)} late submission(s) (penalties per the late policy in nbgrader_config.py):")
    for student, seconds, penalty, score in timed:
        print(f"  {student}: {lateness(seconds)} ({started_days(seconds)} started day(s)), penalty "
              f"{penalty:g} of {score:g} points")
    untimed = sorted(row[0] for row in late if row[1] is None)
    if untimed:
        print(f"\nno time of submission recorded (no readable timestamp.txt), so no lateness and no penalty: "
              f"{', '.join(untimed)}; check their submissions in the exchange", file=sys.stderr)


def extend(args):
    from .deadline.due import DeadlineError, shown, sync
    from .deadline.extensions import grant
    from .grading.gradebook import course_config, recompute_penalties

    config = course_config(ROOT)
    try:
        until = grant(args.db or DB_URL, config, ROOT, args.student, until=args.until, days=args.days,
                      reason=args.reason)
    except DeadlineError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    due = sync(args.db or DB_URL, config)
    print(f"{args.student}: due {shown(until, due.tzinfo)} (the class: {shown(due)})"
          + (f"; reason: {args.reason}" if args.reason else ""))
    # The penalty follows at once, so that an export or the report made now agrees with it.
    note = late_note(recompute_penalties(args.db or DB_URL, ROOT), args.student)
    if note:
        print(f"{args.student}'s submission: {note}")
    print("the feedback states the new due date after `python -m course grade` and `nbgrader release_feedback`")
    return 0


def extensions(args):
    from .deadline.due import DeadlineError, shown, sync
    from .deadline.extensions import granted
    from .grading.gradebook import course_config

    try:
        due = sync(args.db or DB_URL, course_config(ROOT))
    except DeadlineError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    rows = granted(args.db or DB_URL)
    zone = due.tzinfo if due else None
    print(f"due date: {shown(due) if due else 'none set (c.Deadline.due in nbgrader_config.py)'}")
    if not rows:
        print("no extensions")
        return 0
    for student, until, reason, when in rows:
        print(f"  {student}: until {shown(until, zone)}, granted {shown(when, zone)}"
              + (f": {reason}" if reason else ""))
    return 0


EXPORTERS = {"canvas": "CanvasExport", "moodle": "MoodleExport", "csv": "RosterCsvExport"}


def export(args):
    """The grades for an LMS, through the same nbgrader export plugin `nbgrader export` uses."""
    from nbgrader.api import Gradebook
    from traitlets.config import Config

    from .grading.gradebook import course_config
    from .lms import exporters

    name = EXPORTERS[args.format]
    config = Config(course_config(ROOT))
    settings = {"roster": args.roster, "missing": args.missing, "canvas_export": args.canvas_export,
                "column": args.column, "match": args.match, "identifier": args.identifier, "item": args.item,
                "out_of": args.out_of}
    for key, value in settings.items():
        if value is not None and key in getattr(exporters, name).class_trait_names(config=True):
            config[name][key] = value
    config.ExportPlugin.to = args.file
    config.CourseDirectory.root = str(ROOT)
    plugin = getattr(exporters, name)(config=config)
    try:
        with Gradebook(args.db or DB_URL) as gradebook:
            plugin.export(gradebook)
    except exporters.ExportRefused as refused:
        print(refused, file=sys.stderr)
        return 1
    print(plugin.written)
    return 0


def selftest(args):
    """The self-test alone, with the limits `course grade` would use."""
    from .grading.batch_job import grading_args, kernel_threads_env

    options = {"timeout": args.timeout, "cell_timeout": args.cell_timeout, "memory_mb": args.memory_mb,
               "cpus": args.cpus, "sandbox": not args.no_sandbox, "threads": os.cpu_count() or 1}
    out = ROOT / ".selftest.json"
    print("self-test: grading the reference solution and the blank release in the students' sandbox ...")
    nbgrader("--json", out, "--fresh", *grading_args(options), module="course.grading.selftest", check=False,
             capture=True, extra_env=kernel_threads_env(options))
    result = json.loads(out.read_text()) if out.is_file() else {"passed": False, "reason": "it did not finish"}
    out.unlink(missing_ok=True)
    if result["passed"]:
        print(f"self-test passed on {result['host']} in {result['seconds']:.0f} s: the reference solution gets "
              "full marks and the blank release zero")
        return 0
    print(f"error: self-test failed: {result['reason']}", file=sys.stderr)
    return 1


def run():
    from roadscenes.dataset import DEFAULT_DIR, generate
    from roadscenes.preview import write_preview

    # The demo starts from a clean slate: a gradebook holding earlier example grades would
    # stop nbgrader from releasing a source notebook whose cells have changed since.
    for produced in ("gradebook.db", "autograded", "feedback", "submitted"):
        path = ROOT / produced
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    print("1/4 data set")
    generate(DEFAULT_DIR)
    print(f"    preview: {write_preview(DEFAULT_DIR, DEFAULT_DIR / 'preview.png')}")
    print("2/4 release")
    release()
    print("3/4 example submissions")
    examples()
    print("4/4 grading (autograde, feedback, grades.csv)")
    return grade(parse(["grade", ASSIGNMENT]))


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "release", "examples"):
        commands.add_parser(name)
    reporting = commands.add_parser("report", help="the class report: scores, mistakes, grading health, similarity")
    reporting.add_argument("assignment", nargs="?", choices=[ASSIGNMENT], default=ASSIGNMENT)
    reporting.add_argument("--db", default="", help="gradebook URL (default sqlite:///gradebook.db)")
    checking = commands.add_parser("selftest", help="check that this machine grades the reference and the blank "
                                   "release right")
    checking.add_argument("--timeout", type=int, default=900, help="seconds for a whole notebook (900)")
    checking.add_argument("--cell-timeout", type=int, default=300, help="seconds for one cell (300)")
    checking.add_argument("--memory-mb", type=int, default=4096, help="memory of all of a kernel's processes (4096)")
    checking.add_argument("--cpus", type=float, default=1.0, help="CPU cores each kernel may use (1)")
    checking.add_argument("--no-sandbox", action="store_true", help="run kernels without bubblewrap (unsafe)")
    grading = commands.add_parser("grade", help="grade every submission in parallel")
    grading.add_argument("assignment", choices=[ASSIGNMENT])
    grading.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                         help="worker processes of the local Dask cluster (one per core)")
    grading.add_argument("--scheduler", default="", help="address of a running Dask scheduler, e.g. tcp://host:8786")
    grading.add_argument("--force", action="store_true", help="grade again submissions graded before, unchanged")
    grading.add_argument("--batch-size", type=int, default=0, help="submissions per task (default: chosen)")
    grading.add_argument("--timeout", type=int, default=900, help="seconds for a whole submission (900)")
    grading.add_argument("--cell-timeout", type=int, default=300, help="seconds for one cell (300)")
    grading.add_argument("--memory-mb", type=int, default=4096, help="memory of all of a kernel's processes (4096)")
    grading.add_argument("--cpus", type=float, default=1.0, help="CPU cores each kernel may use (1; 0: no quota)")
    grading.add_argument("--db", default="", help="gradebook URL (default sqlite:///gradebook.db)")
    grading.add_argument("--student", action="append", help="grade only this student (repeatable); with --force, "
                         "a regrade: recorded, and stated in the feedback")
    grading.add_argument("--force-manual", action="store_true", help="a regrade replaces the scores given by hand "
                         "in formgrader too (kept by default)")
    grading.add_argument("--no-sandbox", action="store_true", help="run kernels without bubblewrap (unsafe)")
    grading.add_argument("--no-prestart", action="store_true",
                         help="start each kernel only when its notebook comes (slower)")
    extending = commands.add_parser("extend", help="give one student a later due date")
    extending.add_argument("student")
    when = extending.add_mutually_exclusive_group(required=True)
    when.add_argument("--until", help='the new due date, e.g. "2026-12-18 12:00" (the due date\'s time zone) '
                      'or "2026-12-18 12:00 Europe/London"')
    when.add_argument("--days", type=int, help="this many days after the due date")
    extending.add_argument("--reason", default="", help="kept with the extension, listed by `extensions`")
    extending.add_argument("--db", default="", help="gradebook URL (default sqlite:///gradebook.db)")
    listing = commands.add_parser("extensions", help="list the extensions granted")
    listing.add_argument("--db", default="", help="gradebook URL (default sqlite:///gradebook.db)")
    hub = commands.add_parser("hub", help="the course on a JupyterHub on this machine (run as root)")
    hub.add_argument("--class-list", required=True, help="CSV with the columns id and role (student, instructor, "
                     "grader)")
    hub.add_argument("--port", type=int, default=8000, help="the hub's port; it uses the 3 after it too (8000)")
    hub.add_argument("--ip", default="127.0.0.1", help="the address to listen on (127.0.0.1; behind a TLS proxy, "
                     "or 0.0.0.0 on a private network)")
    hub.add_argument("--exchange", default="/srv/nbgrader/exchange", help="the shared exchange folder")
    hub.add_argument("--state", default="/srv/unet-hub", help="the hub's own files (root only)")
    hub.add_argument("--course-dir", default="/srv/unet-course", help="the course folder the staff work in, made "
                     "from this checkout when missing (/srv/unet-course)")
    hub.add_argument("--setup-only", action="store_true", help="set the class up, do not start the hub")
    exporting = commands.add_parser("export", help="the grades for an LMS (Canvas, Moodle) or a plain CSV, from a "
                                    "roster")
    exporting.add_argument("--to", dest="format", choices=sorted(EXPORTERS), required=True)
    exporting.add_argument("file", help="the CSV file to write")
    exporting.add_argument("--roster", required=True, help="CSV with the columns nbgrader_id and lms_id")
    exporting.add_argument("--missing", choices=["zero", "empty"], help="a student without a submission: 0 "
                           "(default) or an empty cell")
    exporting.add_argument("--canvas-export", help="canvas: the gradebook CSV downloaded from Canvas")
    exporting.add_argument("--column", help='canvas: the assignment\'s column, e.g. "U-Net segmentation (123456)"')
    exporting.add_argument("--match", help="canvas: the column holding the roster's lms_id (default SIS Login ID)")
    exporting.add_argument("--identifier", help="moodle: header of the identifier column (default email)")
    exporting.add_argument("--item", help="moodle: header of the grade column (default the assignment's name)")
    exporting.add_argument("--out-of", type=float, help="moodle: the grade item's maximum, if not the assignment's")
    exporting.add_argument("--db", default="", help="gradebook URL (default sqlite:///gradebook.db)")
    return parser.parse_args(argv)


def main(argv=None):
    try:
        return _main(argv)
    except KeyboardInterrupt as interrupt:  # what was recorded stays recorded (grading/grader.py)
        if type(interrupt).__name__ != "Interrupted":
            print("interrupted", file=sys.stderr)
        return 130


def _main(argv):
    args = parse(argv)
    environment_bin_on_path()
    if (ROOT / STAFF_MARK).is_file():
        # The course folder `course hub` made for its staff group: what grading creates there stays
        # writable by the instructor's formgrader and the graders, and closed to everyone else.
        os.umask(0o007)
    if args.command == "grade":
        return grade(args)
    if args.command == "selftest":
        return selftest(args)
    if args.command == "report":
        return report(args) or 0
    if args.command == "hub":
        from .hub.serve import main as hub_main

        return hub_main(args)
    if args.command in ("extend", "extensions", "export"):
        return {"extend": extend, "extensions": extensions, "export": export}[args.command](args)
    return {"run": run, "release": release, "examples": examples}[args.command]() or 0


if __name__ == "__main__":
    sys.exit(main())
