"""Plain `nbgrader collect unet_segmentation`, run in a copy of the course, on an inbound folder
that students wrote by hand: links to the source notebook and gradebook.db written by a student
of a Unix account of its own, two sparse 99 MB files, a pipe, a folder claiming to be from
another student, a student id with a newline. Each is refused or skipped and named, every
other student is collected intact, the run exits non-zero, and it does so again on a rerun."""

import datetime
import os
import pwd
import subprocess
import time

import pytest

from course.assignment import ASSIGNMENT, NOTEBOOK
from course.layout import COURSE_ID, nbgrader

from course_helpers import copy_course

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="writes the inbound folder as other Unix users (needs root)")

MALLORY, ALICE = "unet_mallory", "unet_alice"  # Unix accounts of their own, named after their student ids
_NOW = datetime.datetime.now(datetime.timezone.utc)
# Times nbgrader submit could have written: after the files were (collect moves a time its files
# contradict, test_a_backdated_submission_...); BACKDATED is one they contradict.
EARLY, LATE, BACKDATED = ((_NOW + datetime.timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
                          for hours in (1, 25, -5))
SPARSE = 99_000_000  # bytes: under max_file_size (100,000 kB), two of them over max_dir_size
COLLECT_TIMEOUT = 120


def unix_user(name):
    """The uid of the Unix account `name`, created (without a home) when missing."""
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        run = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                             capture_output=True, text=True)
        assert run.returncode in (0, 9), run.stderr  # 9: made meanwhile by another test run
        return pwd.getpwnam(name).pw_uid


def as_student(user, inbound, script, *args, data=b""):
    """`sh -c script` as the Unix user `user` (no other groups), in the inbound folder: what a
    student can do there, as nbgrader lets every student write into it."""
    uid = unix_user(user)
    gid = pwd.getpwnam(user).pw_gid
    subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "sh", "-ec", script, "sh", *args],
                   cwd=inbound, input=data, check=True, timeout=60)


def folder(student, timestamp=EARLY):
    return f"{student}+{ASSIGNMENT}+{timestamp}+{os.urandom(4).hex()}"


def own_submission(inbound, name, files, timestamp=EARLY):
    """A submission written by the collecting user (instructor and student one user)."""
    top = inbound / name
    top.mkdir()
    (top / "timestamp.txt").write_text(timestamp)
    for relative, data in files.items():
        (top / relative).parent.mkdir(parents=True, exist_ok=True)
        (top / relative).write_bytes(data)
    return top


def collected_files(root, student):
    top = root / "submitted" / student / ASSIGNMENT
    return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}


def run_collect(root, exchange):
    start = time.monotonic()
    run = nbgrader("collect", ASSIGNMENT, root=root, check=False, capture=True, timeout=COLLECT_TIMEOUT,
                   extra_env={"UNET_EXCHANGE": str(exchange)})
    return run.returncode, run.stdout + run.stderr, time.monotonic() - start


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course copy, its inbound folder written by hand, collected twice by plain nbgrader:
    (root, what each student submitted, first run, rerun), each run (exit code, log, seconds)."""
    root = copy_course(tmp_path_factory.mktemp("collect") / "course")
    exchange = root / "exchange"
    nbgrader("generate_assignment", ASSIGNMENT, "--force", root=root, capture=True,
             extra_env={"UNET_EXCHANGE": str(exchange)})
    inbound = exchange / COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    inbound.chmod(0o733)  # as nbgrader's release_assignment makes it: every student writes into it
    notebook = (root / "release" / ASSIGNMENT / NOTEBOOK).read_bytes()
    sent = {
        "aaron": {NOTEBOOK: notebook, "notes.txt": b"aaron's notes\n"},
        "big": {NOTEBOOK: notebook},
        "cpipe": {NOTEBOOK: notebook, "data/extra.txt": b"cpipe's extra file\n"},
        "zoe": {NOTEBOOK: notebook, "figures/plot.txt": b"zoe's plot\n"},
    }
    for student, files in sent.items():
        own_submission(inbound, folder(student), files)
    for name in ("big_1.bin", "big_2.bin"):  # 99 MB each to nbgrader, 0 bytes on disk
        with open(next(inbound.glob(f"big+*")) / name, "wb") as sparse:
            sparse.truncate(SPARSE)
    os.mkfifo(next(inbound.glob("cpipe+*")) / "pipe")
    # Mallory's own submission: a correct notebook beside links to the instructor's files.
    as_student(MALLORY, inbound, """
        d="$1"; mkdir "$d"; cat > "$d/$2"; printf '%s' "$3" > "$d/timestamp.txt"
        ln -s "../../../../source/$4/$2" "$d/source.ipynb"
        ln -s ../../../../gradebook.db "$d/gradebook.db"
        ln -s "$(printf '\\033[31mred')" "$d/$(printf '\\033[31mred')"
    """, folder(MALLORY), NOTEBOOK, EARLY, ASSIGNMENT, data=notebook)
    sent[MALLORY] = {NOTEBOOK: notebook, "timestamp.txt": EARLY.encode()}
    # Alice's own submission, and a later one Mallory wrote under Alice's name.
    genuine = notebook.replace(b'"nbformat"', b'"metadata_alice": 1, "nbformat"', 1)
    as_student(ALICE, inbound, 'mkdir "$1"; cat > "$1/$2"; printf "%s" "$3" > "$1/timestamp.txt"',
               folder(ALICE, EARLY), NOTEBOOK, EARLY, data=genuine)
    sent[ALICE] = {NOTEBOOK: genuine, "timestamp.txt": EARLY.encode()}
    forged = folder(ALICE, LATE)
    as_student(MALLORY, inbound, 'mkdir "$1"; cat > "$1/$2"', forged, NOTEBOOK, data=b"forged")
    (inbound / f"dan\n+{ASSIGNMENT}+{EARLY}+0").mkdir()  # a student id no log line can print
    # A timestamp.txt that nbgrader would hand whole to dateutil: 5 MB of numbers.
    own_submission(inbound, folder("tim"), {NOTEBOOK: notebook, "timestamp.txt": b"1 " * 2_500_000})
    sent["tim"] = {NOTEBOOK: notebook, "timestamp.txt": EARLY.encode()}  # what collect writes instead
    # Bea's, backdated: the folder's name and timestamp.txt say five hours ago, written just now.
    own_submission(inbound, folder("bea", BACKDATED), {NOTEBOOK: notebook}, timestamp=BACKDATED)
    # Nat's has no timestamp.txt (nbgrader would record no time, so no lateness) and a
    # backdated name; Dot's timestamp.txt is a folder.
    (own_submission(inbound, folder("nat", BACKDATED), {NOTEBOOK: notebook}) / "timestamp.txt").unlink()
    dot = own_submission(inbound, folder("dot"), {NOTEBOOK: notebook})
    (dot / "timestamp.txt").unlink()
    (dot / "timestamp.txt").mkdir()
    (dot / "timestamp.txt" / "inside.txt").write_text("x")
    for files in sent.values():
        files.setdefault("timestamp.txt", EARLY.encode())
    first = run_collect(root, exchange)
    rerun = run_collect(root, exchange)
    return root, inbound, sent, forged, first, rerun


def test_links_to_the_instructors_files_are_not_followed(course):
    root, inbound, sent, _, (code, log, _), _ = course
    mallory = next(inbound.glob(f"{MALLORY}+*"))
    assert mallory.stat().st_uid == pwd.getpwnam(MALLORY).pw_uid != os.geteuid()  # really another user's
    assert os.readlink(mallory / "source.ipynb").startswith("../../../../source/")  # and really the attack
    assert collected_files(root, MALLORY) == sent[MALLORY]  # the notebook; no link, no file made of one
    hidden = hidden_test_lines(root)
    assert b"CREATE TABLE" in (root / "gradebook.db").read_bytes()
    for path in (root / "submitted").rglob("*"):
        assert not path.is_symlink(), path
        if path.is_file():
            data = path.read_bytes()
            assert not [line for line in hidden if line in data], f"{path} holds the source's hidden tests"
            assert b"SQLite format 3\0" not in data and b"CREATE TABLE" not in data, f"{path} holds gradebook.db"
    for name in ("source.ipynb", "gradebook.db", "\\x1b[31mred"):
        assert f"skipped in {MALLORY}'s submission: {name} (symbolic link)" in log
    assert "\x1b" not in log  # names are shown escaped, never as a terminal would obey them


def hidden_test_lines(root):
    """Lines of the source notebook's hidden tests that the release does not have."""
    source = (root / "source" / ASSIGNMENT / NOTEBOOK).read_text()
    release = (root / "release" / ASSIGNMENT / NOTEBOOK).read_text()
    found, inside = [], False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside and len(line.strip()) > 25 and line.strip() not in release:
            found.append(line.strip().encode())
    assert len(found) >= 3, "the source notebook's hidden tests were not found"
    return found


def test_the_attack_is_real_under_nbgrader_s_own_collect(course, tmp_path):
    """The same submission through nbgrader 0.9.6's ExchangeCollect: the link to the source is
    copied as a file holding the hidden tests (what the test above guards against)."""
    root, inbound, *_ = course
    exchange = tmp_path / "exchange"
    (exchange / COURSE_ID / "inbound").mkdir(parents=True)
    mallory = next(inbound.glob(f"{MALLORY}+*"))
    os.symlink(mallory, exchange / COURSE_ID / "inbound" / mallory.name)
    # (it then fails on the link that points to itself, after copying the rest)
    nbgrader("collect", ASSIGNMENT, "--ExchangeFactory.collect=nbgrader.exchange.default.collect.ExchangeCollect",
             "--CourseDirectory.submitted_directory=plain_submitted", root=root, check=False, capture=True,
             timeout=COLLECT_TIMEOUT, extra_env={"UNET_EXCHANGE": str(exchange)})
    leaked = root / "plain_submitted" / MALLORY / ASSIGNMENT / "source.ipynb"
    assert not leaked.is_symlink() and any(line in leaked.read_bytes() for line in hidden_test_lines(root))


def test_bystanders_are_collected_intact(course):
    root, _, sent, *_ = course
    for student in ("aaron", "cpipe", "zoe"):
        assert collected_files(root, student) == sent[student], student


def test_a_submission_over_max_dir_size_is_refused_and_named_and_nobody_else_stops(course):
    root, _, _, _, (code, log, _), (rerun_code, rerun_log, _) = course
    assert code != 0
    line = next(line for line in log.splitlines() if "refused big+unet_segmentation+" in line)
    size = int(line.split(": ")[1].split(" bytes of files")[0].replace(",", ""))
    assert 2 * SPARSE < size < 2 * SPARSE + 100_000  # the apparent size: nothing of it is on disk
    assert line.endswith(" bytes of files, over the limit of 100,000,000 (CourseDirectory.max_dir_size)")
    assert not (root / "submitted" / "big").exists()  # no half folder
    assert not [p for p in (root / "submitted").rglob(".*") if "collecting" in p.name or "replaced" in p.name]
    assert collected_files(root, "aaron") and collected_files(root, "zoe")  # before and after it
    assert "Traceback" not in log and "Traceback" not in rerun_log
    # The rerun: the same refusal, the same exit, and nobody stopped.
    assert rerun_code != 0 and "refused big+unet_segmentation+" in rerun_log
    for student in ("aaron", "cpipe", "zoe", "tim", MALLORY, ALICE):
        assert f"Submission already exists, use --update to update: {student} {ASSIGNMENT}" in rerun_log


def test_a_pipe_is_skipped_and_named_without_a_hang(course):
    root, _, sent, _, (_, log, seconds), _ = course
    assert "skipped in cpipe's submission: pipe (named pipe (FIFO))" in log
    assert collected_files(root, "cpipe") == sent["cpipe"]
    assert seconds < COLLECT_TIMEOUT / 2


def test_a_folder_owned_by_another_student_is_refused_naming_both(course):
    root, _, sent, forged, (_, log, _), _ = course
    assert f"refused {forged}: claims to be from {ALICE} but is owned by {MALLORY}" in log
    # The forgery is later than Alice's own submission, and nbgrader alone would take it.
    assert collected_files(root, ALICE) == sent[ALICE]


def test_a_student_id_that_does_not_print_is_refused_escaped(course):
    root, _, _, _, (_, log, _), _ = course
    assert f"refused dan\\n+{ASSIGNMENT}+" in log and "student id is not printable UTF-8 text" in log
    assert sorted(p.name for p in (root / "submitted").iterdir()) == sorted(["aaron", "bea", "cpipe", "dot", "nat",
                                                                             "zoe", "tim", MALLORY, ALICE])


def test_a_timestamp_that_is_not_one_is_replaced_and_never_parsed(course):
    """nbgrader reads a collected timestamp.txt on every later collect (and autograde for the
    late penalty), whole, with dateutil: a 5 MB one would keep each run busy for minutes."""
    root, _, sent, _, (_, log, _), (_, rerun_log, rerun_seconds) = course
    assert "skipped in tim's submission: timestamp.txt (over 64 bytes): replaced by the time in the folder's name" \
        in log
    assert collected_files(root, "tim") == sent["tim"]
    assert f"Submission already exists, use --update to update: tim {ASSIGNMENT}" in rerun_log
    assert rerun_seconds < COLLECT_TIMEOUT / 4


def test_a_timestamp_file_in_submitted_is_read_bounded(tmp_path):
    """A submission copied into submitted/ by hand keeps its timestamp.txt: a later collect
    reads at most a few bytes of it, never follows or blocks on it."""
    from course.exchange.collect import SafeCollect

    for name, make in {"huge": lambda p: p.write_bytes(b"1 " * 2_500_000),
                       "pipe": os.mkfifo,
                       "zone": lambda p: p.write_text("2024-01-01 00:00:00 /dev/zero"),  # a time zone file to open
                       "link": lambda p: p.symlink_to("/dev/zero"),
                       "good": lambda p: p.write_text(EARLY)}.items():
        (tmp_path / name).mkdir()
        make(tmp_path / name / "timestamp.txt")
        start = time.monotonic()
        found = SafeCollect.existing_timestamp(None, str(tmp_path / name))
        assert time.monotonic() - start < 1, name
        assert (found is not None) == (name == "good"), (name, found)


def test_a_backdated_submission_gets_the_time_its_files_were_written(course):
    """Every student can write into the inbound folder, its names and timestamp.txt included: a
    submission made late can claim any time. Its files' inode change times cannot be moved back
    by anyone but root, so collect records the later time and names it."""
    from nbgrader.utils import parse_utc

    root, _, _, _, (_, log, _), _ = course
    recorded = parse_utc((root / "submitted" / "bea" / ASSIGNMENT / "timestamp.txt").read_text())
    claimed = parse_utc(BACKDATED)
    assert datetime.timedelta(hours=4, minutes=55) < recorded - claimed < datetime.timedelta(hours=5, minutes=30)
    assert f"skipped in bea's submission: timestamp.txt says {claimed:%Y-%m-%d %H:%M:%S} UTC, but the submission's " \
           f"files were changed up to {recorded:%Y-%m-%d %H:%M:%S} UTC: that later time recorded" in log
    assert collected_files(root, "aaron")["timestamp.txt"] == EARLY.encode()  # a time after its files: kept


def test_a_submission_without_a_plain_timestamp_file_still_gets_a_time(course):
    """Without timestamp.txt nbgrader records no time and charges no lateness: collect always
    leaves one, the time in the folder's name, or the later time its files were written."""
    from nbgrader.utils import parse_utc

    root, _, _, _, (_, log, _), _ = course
    nat = parse_utc((root / "submitted" / "nat" / ASSIGNMENT / "timestamp.txt").read_text())
    assert nat - parse_utc(BACKDATED) > datetime.timedelta(hours=4, minutes=55)  # its files' time, not its name's
    assert "skipped in nat's submission: timestamp.txt (missing): replaced by the time in the folder's name" in log
    dot = root / "submitted" / "dot" / ASSIGNMENT / "timestamp.txt"
    assert dot.is_file() and dot.read_text() == EARLY
    assert "skipped in dot's submission: timestamp.txt (not a regular file)" in log
