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
