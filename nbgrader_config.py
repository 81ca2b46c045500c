"""nbgrader configuration of the U-Net segmentation course. Run nbgrader from this folder."""

import os
import sys
from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(COURSE_ROOT))  # the course package: judge and sandbox

from course.judge.manual_grading import ManualGrading  # noqa: E402
from course.judge.markup import InertMarkup  # noqa: E402
from course.judge.evidence import Evidence, EvidenceRun  # noqa: E402
from course.judge.preprocessors import Challenge, Judge  # noqa: E402
from course.layout import COURSE_ID  # noqa: E402
from course.sandbox.execute import SandboxedExecute  # noqa: E402

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.root = str(COURSE_ROOT)

# The exchange: `nbgrader release_assignment` puts the assignment there for students to fetch,
# their submissions wait there for `nbgrader collect`, their feedback for them. By default a
# folder of the course (exchange/, not committed); UNET_EXCHANGE names a shared one on a
# course server (README). Created when missing; nbgrader needs every user to be able to write
# into it (students create files there when they fetch and submit); the sticky bit lets only
# a file's owner delete it.
EXCHANGE = Path(os.environ.get("UNET_EXCHANGE") or COURSE_ROOT / "exchange")
try:
    EXCHANGE.mkdir(parents=True)
    EXCHANGE.chmod(0o1777)
except FileExistsError:
    pass
except OSError as error:  # no right to create it here: nbgrader names the folder it cannot use
    print(f"nbgrader_config.py: cannot create the exchange {EXCHANGE}: {error}", file=sys.stderr)
c.Exchange.root = str(EXCHANGE)
# Every student can write into the exchange's inbound folder, and nbgrader's own collect follows
# links there (a link to the source or gradebook.db lands in submitted/ as a file) and stops the
# whole run at one oversized or odd submission: this one follows nothing, copies each submission
# whole or refuses it by name, and goes on with the next student (course/exchange/).
c.ExchangeFactory.collect = "course.exchange.collect.SafeCollect"

# Student code only produces evidence; the judge, in this nbgrader process, decides every
# score. Challenge writes argument values drawn now into the graded cells; each kernel runs
# in a sandbox of its own (course/sandbox/execute.py); Judge replaces the graded cells' outputs with
# its verdict on their evidence, which is what SaveAutoGrades records. InertMarkup makes every
# cell's outputs, the student's markdown and the metadata the templates read inert (no script,
# handler, widget or JavaScript output: course/judge/markup.py) before anything is recorded, so
# the autograded notebook that formgrader and the feedback show on the instructor's origin runs
# nothing of the student's. (ClearMetadataPreprocessor below is never enabled: it clears nothing.)
c.Autograde.autograde_preprocessors = [
    Challenge,
    EvidenceRun,  # the graded cells' evidence, from a kernel of its own, beside the notebook's
    SandboxedExecute,
    InertMarkup,
    "nbgrader.preprocessors.IgnorePattern",
    Evidence,  # waits for it
    Judge,
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    ManualGrading,  # after SaveAutoGrades: the cells the judge sends to a person
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Before it grades anyone, the process grades the reference solution and the blank release in
# the same sandbox (course/grading/selftest.py): full marks and zero, or it stops with the reason and
# records nothing, instead of giving every student 0 on a broken machine. Once per machine,
# grading files and environment.
# After it, the term's due date and extensions go into the gradebook, where nbgrader's
# lateness reads them (course/deadline/).
c.Autograde.pre_convert_hook = "course.grading.selftest.before_autograde"

# The term (README, "Running a term"). The due date, with its time zone by name ("UTC" too);
# None: no due date and no penalty. Lateness is nbgrader's: the time `nbgrader submit`
# recorded (timestamp.txt) against the due date and the student's extension
# (`python -m course extend`). The late policy is nbgrader's own plugin, so plain
# `nbgrader autograde` and `course grade` charge the same. Changing these lines grades nothing
# again: `course grade` recomputes every penalty.
c.Deadline.due = None  # e.g. "2026-12-14 23:59 Europe/London"
c.AssignLatePenalties.plugin_class = "course.deadline.policy.LatePolicy"
c.LatePolicy.per_started_day = 0.10  # a tenth of the points earned per started day late
c.LatePolicy.max_days = 5  # later than 5 days: no points (None: no limit)
# Limits of each graded kernel (see course/sandbox/execute.py).
c.SandboxedKernelManager.memory_mb = 4096
c.SandboxedKernelManager.max_processes = 512
c.SandboxedKernelManager.cpu_seconds = 900
c.SandboxedKernelManager.disk_mb = 256
c.SandboxedKernelManager.cpus = 1.0  # a CPU quota: processes that spin slow only their own notebook
# Each notebook has its own time budget, whatever the others do: past it, its kernel and every
# process it started are stopped and it is not graded (course grade --timeout sets both).
c.SandboxedExecute.notebook_timeout = 900
# Quiet TensorFlow in the judge and in graded kernels.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# Importing TensorFlow and building several U-Nets takes far more than the default 30 s
# on a slow machine; a cell that runs longer than this is stopped and scores 0.
c.Execute.timeout = 300
c.Execute.startup_timeout = 120

# TensorFlow and Keras may still log to stderr (C++ logs, deprecation and user warnings);
# such lines are dropped before grading instead of costing the cell its points.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(^|\n)(WARNING: All log messages before absl|[IWE]\d{4} \d\d:\d\d:\d\d|"
    r".*(UserWarning|DeprecationWarning|FutureWarning|oneDNN custom operations|"
    r"cuda|TensorFlow binary is optimized|Unable to register))"
)

# A student who deletes a graded cell gets it back (and graded) instead of losing it.
c.OverwriteCells.add_missing_cells = True

# A second line, for notebooks graded before InertMarkup: formgrader's and the feedback's
# exporter (both read this file) leave out JavaScript and widget outputs and pass HTML and
# markdown outputs through nbconvert's clean_html filter, replaced by the course's allowlist
# (nbconvert's own escapes headings, paragraphs and images). Their templates' markdown cells
# never go through it.
c.HTMLExporter.sanitize_html = True
c.HTMLExporter.filters = {"clean_html": "course.judge.markup.clean_html"}

# Feedback shows test results, never the source of hidden tests; the comments it shows as
# markdown (the judge's note quotes the student's code) are made inert like a student's markdown.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course.grading.feedback_note.TermNote",  # the due date, the extension, lateness, penalty, regrade
    "course.judge.markup.InertComments",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# The released notebook states the configured due date and late policy, under its title
# (course/deadline/release_cell.py): made from c.Deadline.due, it is never stale.
from nbgrader.converters import GenerateAssignment  # noqa: E402

c.GenerateAssignment.preprocessors = GenerateAssignment.class_traits()["preprocessors"].default() + [
    "course.deadline.release_cell.DueDateCell"]

# Never copy checkpoints or caches into the release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.egg-info", ".DS_Store"]
