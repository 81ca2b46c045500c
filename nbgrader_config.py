"""nbgrader configuration of the U-Net segmentation course. Run nbgrader from this folder."""

import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader)

COURSE_ROOT = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "unet-segmentation"
c.CourseDirectory.root = str(COURSE_ROOT)

# The hidden checks live outside the assignment folder, so they never reach students; the
# graded cells find them through this variable, which kernels started by nbgrader inherit.
os.environ["UNET_GRADER"] = str(COURSE_ROOT / "course" / "unet_grader.py")
# Quiet TensorFlow in graded kernels: anything on stderr in a test cell scores 0.
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

# Feedback shows test results, never the source of hidden tests.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Never copy checkpoints or caches into the release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "*.egg-info", ".DS_Store"]
