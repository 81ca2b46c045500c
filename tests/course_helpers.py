"""Helpers the test modules import (a conftest.py is not importable by name: each test folder
has its own, and `from conftest import ...` would find whichever was loaded last)."""

import os
import shutil
from pathlib import Path

from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source" / "unet_segmentation"
SMALL_COUNT = 6  # frames of the small generated data set (conftest.small_data)


def copy_course(destination, origin=ROOT):
    """A course directory with the source, release, config and grader of the course folder
    `origin` (this one, or a checkout of another version), nothing else."""
    destination, origin = Path(destination), Path(origin)
    for folder in ("source", "release", "course"):
        shutil.copytree(origin / folder, destination / folder,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    shutil.copy(origin / "nbgrader_config.py", destination)
    return destination


# --- running the source notebook with nbclient ---------------------------------------------

QUICK_SETTINGS = {"UNET_SMOKE": "1", "UNET_STATIC_VIEWS": "1"}  # one short epoch, static figures


def run_source_notebook(notebook, workdir, data_dir, resources=None):
    """Execute `notebook` in `workdir`, beside links to the source folder's other files, with
    the quick settings on the frames in `data_dir`; returns the executed notebook."""
    for item in SOURCE.iterdir():
        if item.suffix != ".ipynb":
            os.symlink(item, Path(workdir) / item.name)
    resources = dict(resources or {}, metadata={"path": str(workdir)})
    env = dict(QUICK_SETTINGS, UNET_DATA_DIR=str(data_dir))
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=600, kernel_name="python3", resources=resources).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return notebook
