"""Where things are in the course directory, and which graded cell belongs to which exercise."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "unet_segmentation"
NOTEBOOK = "Image_segmentation_Unet.ipynb"
SOURCE = ROOT / "source" / ASSIGNMENT
RELEASE = ROOT / "release" / ASSIGNMENT

#: exercise number -> (function the student writes, ids of its graded cells)
EXERCISES = {
    1: ("conv_block", ("grade_conv_block_defaults", "grade_conv_block_arguments")),
    2: ("upsampling_block", ("grade_upsampling_block_defaults", "grade_upsampling_block_arguments")),
    3: ("unet_model", ("grade_unet_model_defaults", "grade_unet_model_arguments")),
}


def exercise_of(grade_id):
    for number, (_, cells) in EXERCISES.items():
        if grade_id in cells:
            return number
    raise KeyError(f"graded cell {grade_id!r} belongs to no exercise")


def nbgrader(*args, root=ROOT, check=True, capture=False):
    """Run `nbgrader ARGS` in the course folder `root`, with this environment's bin/ on PATH
    (nbgrader runs the `alembic` executable when it creates a gradebook)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    result = subprocess.run([sys.executable, "-m", "nbgrader", *map(str, args)], cwd=root, env=env, text=True,
                            capture_output=capture)
    if check and result.returncode != 0:
        tail = "\n".join(((result.stdout or "") + (result.stderr or "")).splitlines()[-25:])
        raise RuntimeError(f"nbgrader {' '.join(map(str, args))} failed (exit {result.returncode}) in {root}"
                           + (f":\n{tail}" if capture else ""))
    return result
