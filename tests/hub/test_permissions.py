"""What a student's Unix user can and cannot do on the class's hub, checked as that user: the
course folder's instructor-only parts, other students' submissions and the released assignment
are out of reach, whatever the student's own Jupyter configuration says."""

import os
import pwd
import stat
import subprocess
import sys

from course.assignment import ASSIGNMENT, NOTEBOOK
from course.layout import COURSE_ID, ROOT

from .hub_class import INSTRUCTOR, STUDENTS, as_user, jupyter_env, setup_hub, users_python

READ = "import sys; open(sys.argv[1], 'rb').read(1)"
LIST = "import os, sys; os.listdir(sys.argv[1])"
WRITE = "import sys; open(sys.argv[1], 'ab').write(b'x')"


def can(user, code, path):
    done = as_user(user, "/usr/bin/python3", "-c", code, str(path))
    assert done.returncode == 0 or "PermissionError" in done.stderr, done.stderr
    return done.returncode == 0


def submit(student, exchange):
    env = dict(jupyter_env(), UNET_EXCHANGE=str(exchange))
    home = pwd.getpwnam(student).pw_dir
    for command in (("fetch_assignment", ASSIGNMENT), ("submit", ASSIGNMENT)):
        done = as_user(student, str(users_python()), "-m", "nbgrader", *command, env=env, cwd=home)
        assert done.returncode == 0, done.stdout + done.stderr


def test_students_cannot_read_the_course_folder_s_instructor_only_parts(hub_class):
    course, *_ = hub_class
    secrets = [course / "source" / ASSIGNMENT / NOTEBOOK, course / "course" / "unet_segmentation" / "reference.py",
               course / "gradebook.db", course / "nbgrader_config.py"]
    assert all(path.is_file() for path in secrets)
    for path in secrets:
        assert not can(STUDENTS[0], READ, path), path
        assert can(INSTRUCTOR, READ, path), path  # the staff work there
    assert not can(STUDENTS[0], LIST, course)


def test_students_reach_the_checkout_s_environment_and_data_only(hub_class):
    for path in (ROOT / "source" / ASSIGNMENT / NOTEBOOK, ROOT / "course" / "unet_segmentation" / "reference.py",
                 ROOT / "tests" / "keras_reference.py", ROOT / "nbgrader_config.py"):
        assert not can(STUDENTS[0], READ, path), path
    assert not can(STUDENTS[0], LIST, ROOT)
    assert can(STUDENTS[0], LIST, ROOT / ".venv" / "lib")  # their servers run from it
    imported = as_user(STUDENTS[0], str(users_python()), "-c", "import roadscenes, nbgrader, jupyterlab",
                       env=jupyter_env())
    assert imported.returncode == 0, imported.stderr  # the notebook's own imports, on the users' Python


def test_homes_are_their_owners_alone(hub_class):
    for student in STUDENTS:
        assert stat.S_IMODE(os.stat(pwd.getpwnam(student).pw_dir).st_mode) == 0o700
    assert not can(STUDENTS[1], LIST, pwd.getpwnam(STUDENTS[0]).pw_dir)


def test_a_student_cannot_find_or_read_another_s_submission(hub_class):
    course, exchange, *_ = hub_class
    submit(STUDENTS[0], exchange)
    inbound = exchange / COURSE_ID / "inbound"
    mine = [p for p in inbound.iterdir() if p.name.startswith(STUDENTS[0] + "+")]
    assert len(mine) == 1 and (mine[0] / NOTEBOOK).is_file()
    assert not can(STUDENTS[1], LIST, inbound)  # nbgrader's inbound: writable, not listable
    collected = as_user(INSTRUCTOR, str(users_python()), "-m", "nbgrader", "collect", ASSIGNMENT, cwd=str(course),
                        env=dict(jupyter_env(), UNET_EXCHANGE=str(exchange)), timeout=300)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert not can(STUDENTS[1], READ, course / "submitted" / STUDENTS[0] / ASSIGNMENT / NOTEBOOK)


def test_a_student_cannot_overwrite_the_released_assignment(hub_class):
    _, exchange, *_ = hub_class
    released = exchange / COURSE_ID / "outbound" / ASSIGNMENT / NOTEBOOK
    assert can(STUDENTS[2], READ, released)  # what fetch copies
    assert not can(STUDENTS[2], WRITE, released)
    assert not can(STUDENTS[2], WRITE, released.parent / "extra.ipynb")


def test_each_user_has_the_nbgrader_extensions_of_their_role(hub_class):
    for user, formgrader in ((STUDENTS[0], False), (INSTRUCTOR, True)):
        home = pwd.getpwnam(user).pw_dir
        config = os.path.join(home, ".jupyter", "nbgrader_config.py")
        assert f"c.CourseDirectory.course_id = {COURSE_ID!r}" in open(config).read()
        assert stat.S_IMODE(os.stat(config).st_mode) == 0o600 and os.stat(config).st_uid == pwd.getpwnam(user).pw_uid
        page = os.path.join(home, ".jupyter", "labconfig", "page_config.json")
        assert os.path.exists(page) != formgrader  # students: formgrader, course list, create-assignment off


def test_a_second_setup_reuses_what_exists(hub_class):
    course, exchange, state, classlist, first = hub_class
    assert "created 5 user(s)" in first.stdout
    again = setup_hub(course, exchange.parent, classlist)
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout  # nobody new, no new password
    assert (exchange / COURSE_ID / "outbound" / ASSIGNMENT / NOTEBOOK).is_file()


def test_course_commands_in_the_course_folder_keep_what_they_make_to_the_staff(hub_class):
    """`course grade` and the other course commands run as root in the course folder: what they
    create there must stay writable by the instructor's formgrader and closed to students."""
    course, *_ = hub_class
    (course / "roster.csv").write_text(f"nbgrader_id,lms_id\n{STUDENTS[0]},{STUDENTS[0]}@uni.example\n")
    made = subprocess.run([sys.executable, "-m", "course", "export", "--to", "csv", "grades_roster.csv", "--roster",
                           "roster.csv"], cwd=course, capture_output=True, text=True, timeout=300)
    assert (course / "grades_roster.csv").is_file(), made.stdout + made.stderr
    mode = stat.S_IMODE(os.stat(course / "grades_roster.csv").st_mode)
    assert mode & 0o007 == 0 and mode & 0o060 == 0o060, oct(mode)
    assert can(INSTRUCTOR, WRITE, course / "grades_roster.csv")


def test_a_student_s_links_in_their_home_are_never_followed_by_the_setup(hub_class):
    """The setup writes each user's ~/.jupyter as root would be dangerous: a student who links
    it to the course folder would have root write and chown there. It writes as the user."""
    course, exchange, state, classlist, _ = hub_class
    home = pwd.getpwnam(STUDENTS[2]).pw_dir
    jupyter = os.path.join(home, ".jupyter")
    as_user(STUDENTS[2], "/bin/sh", "-c", f"rm -rf {jupyter} && ln -s {course} {jupyter}", check=True)
    before = {p: (os.stat(p).st_uid, os.stat(p).st_mode) for p in (course, course / "nbgrader_config.py")}
    again = setup_hub(course, exchange.parent, classlist)
    assert again.returncode == 0, again.stderr  # one student's home never stops the class's hub ...
    assert f"warning: could not write {STUDENTS[2]}'s Jupyter settings" in again.stderr  # ... and is named
    assert {p: (os.stat(p).st_uid, os.stat(p).st_mode) for p in before} == before
    assert not (course / "labconfig").exists()
    as_user(STUDENTS[2], "/bin/rm", jupyter, check=True)
    repaired = setup_hub(course, exchange.parent, classlist)
    assert repaired.returncode == 0 and "warning" not in repaired.stderr, repaired.stderr


def test_the_course_s_exchange_folders_are_the_instructor_s_from_the_start(hub_class):
    """Made by the setup, before any release: a student who made outbound/ first would hand
    classmates their own notebook."""
    course, exchange, state, classlist, _ = hub_class
    ours = exchange / COURSE_ID
    instructor = pwd.getpwnam(INSTRUCTOR).pw_uid
    for relative, mode in (("outbound", 0o755), ("inbound", 0o733), ("feedback", 0o711)):
        info = os.stat(ours / relative)
        assert info.st_uid == instructor and stat.S_IMODE(info.st_mode) == mode, relative
    os.chown(ours / "feedback", pwd.getpwnam(STUDENTS[0]).pw_uid, -1)  # as if a student had made it
    try:
        again = setup_hub(course, exchange.parent, classlist)
        assert again.returncode == 2 and f"{ours / 'feedback'} is not a folder of the instructor's" in again.stderr
    finally:
        os.chown(ours / "feedback", instructor, -1)
