"""The notebook forgives what students do: cells re-run, run out of order, exploration cells
deleted or edited; a missing name says which cell to run first."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_helpers import run_source_notebook
from course.assignment import NOTEBOOK, RELEASE, SOURCE

sys.path.insert(0, str(SOURCE))
import segmentation_utils as su  # noqa: E402


def _code(source, tags=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(tags)
    return cell


def _is_free(cell):
    """A code cell students may edit or delete: no nbgrader metadata."""
    return cell.cell_type == "code" and "nbgrader" not in cell.metadata


@pytest.fixture(scope="module")
def executed(small_data, tmp_path_factory):
    notebook = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    # Delete every exploration cell but the settings: nothing later may depend on them.
    notebook.cells = [c for c in notebook.cells if not _is_free(c) or "EPOCHS =" in c.source]
    notebook.cells += [
        # Re-running the model cell gives a new, untrained network: no stale predictions.
        _code(by_id["code_39"].source), _code(by_id["code_45"].source, ["after-rebuild"]),
        # A name that is gone says where it is defined.
        _code("del image_list"),
        _code("su.browse_frames(image_list, mask_list)", ["raises-exception", "missing-name"]),
        # A frame number past the end is explained, not an IndexError.
        _code("DATA_DIR = su.find_data_dir()\nimage_list, mask_list = su.list_pairs(DATA_DIR)"),
        _code("su.browse_frames(image_list, mask_list, first=len(image_list))", ["raises-exception", "past-end"]),
    ]
    return run_source_notebook(notebook, tmp_path_factory.mktemp("robust"), small_data)


def _tagged(notebook, tag):
    return next(c for c in notebook.cells if tag in c.metadata.get("tags", []))


def _text(cell):
    return "".join(o.get("text", "") + "\n".join(o.get("traceback", [])) for o in cell.outputs)


def test_without_the_exploration_cells_everything_runs_and_trains(executed):
    errors = [(i, o.ename) for i, c in enumerate(executed.cells) if c.cell_type == "code"
              and "raises-exception" not in c.metadata.get("tags", []) for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert any("trained 1 epoch(s)" in _text(c) for c in executed.cells if c.cell_type == "code")


def test_rebuilding_the_network_forgets_the_old_training(executed):
    text = _text(_tagged(executed, "after-rebuild"))
    assert "Train the network first" in text
    assert not any(o.output_type == "display_data" for o in _tagged(executed, "after-rebuild").outputs)


def test_a_missing_name_says_which_cell_defines_it(executed):
    text = _text(_tagged(executed, "missing-name"))
    assert "NameError" in text
    assert "`image_list` is defined in section 3" in text


def test_a_frame_past_the_end_is_explained(executed):
    text = _text(_tagged(executed, "past-end"))
    assert "IndexError" not in text
    assert "FIRST must be a frame number from 0 to 5 (there are 6 frames)" in text


def test_epochs_must_be_a_whole_number():
    with pytest.raises(ValueError, match="EPOCHS must be a whole number"):
        su.epochs_to_train(2.5)


def test_every_name_the_hint_knows_is_defined_where_it_says():
    notebook = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in notebook.cells)
    for name, where in su.DEFINED_IN.items():
        assert f"{name} =" in text or f"def {name}(" in text or f"import {name}" in text or f" as {name}" in text \
            or f"{name}, " in text, name
        section = where.split("section ")[-1].split()[0].strip("()")
        assert f"## {section}." in text, (name, where)


def test_the_hint_stays_quiet_while_grading(monkeypatch):
    calls = []

    class Shell:
        def set_custom_exc(self, *args):
            calls.append(args)

    monkeypatch.setattr("IPython.get_ipython", lambda: Shell())
    monkeypatch.setattr(su, "GRADING", True)
    su.explain_missing_names()
    assert calls == []
    monkeypatch.setattr(su, "GRADING", False)
    su.explain_missing_names()
    assert len(calls) == 1


def test_frame_iou_and_highlight():
    truth = np.array([[7, 7], [13, 13]])
    assert su.frame_iou(truth, truth) == 1.0
    assert su.frame_iou(truth, np.array([[7, 7], [7, 13]])) == pytest.approx((2 / 3 + 1 / 2) / 2)
    shown = su.highlighted(truth, 13)
    assert (shown[1] == su.PALETTE[13]).all() and not (shown[0] == su.PALETTE[7]).all()


def test_images_the_notebook_shows_exist():
    notebook = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    pictures = re.findall(r"\]\((images/[^)]+)\)", "\n".join(c.source for c in notebook.cells))
    assert "images/fcn.png" in pictures
    assert all(Path(SOURCE / p).is_file() for p in pictures)


def test_the_release_folder_alone_finds_or_makes_its_data(tmp_path, monkeypatch):
    """With the course's environment, the release folder needs nothing else: without data/ the
    notebook generates the scenes into ./data next to it."""
    student = tmp_path / "home" / "unet_segmentation"
    shutil.copytree(RELEASE, student)
    made = []
    monkeypatch.delenv("UNET_DATA_DIR", raising=False)
    monkeypatch.chdir(student)
    monkeypatch.setattr(su, "generate", lambda folder, **kw: made.append(Path(folder)) or
                        __import__("roadscenes.dataset").dataset.generate(folder, count=2, workers=1, progress=False))
    monkeypatch.setattr(su, "GRADING", False)
    found = su.find_data_dir(grading=False)
    assert made == [student / "data"] and found == student / "data"
    assert su.list_pairs(found, limit=None)[0]
    # Without the roadscenes package the import says what to install, not "make run".
    check = subprocess.run([sys.executable, "-c", "import sys; sys.modules['roadscenes'] = None; "
                            "import segmentation_utils"], cwd=student, capture_output=True, text=True)
    assert "requirements.txt" in check.stderr and "roadscenes" in check.stderr
    assert "make run" not in check.stderr


def test_grading_makes_a_few_frames_at_the_networks_size(tmp_path, monkeypatch):
    """A graded kernel sees no data: it renders 8 frames, at the size the notebook feeds the
    network (IMAGE_SIZE), since grading never trains on them or draws them."""
    monkeypatch.delenv("UNET_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    found = su.find_data_dir(grading=True)
    frames, masks = su.list_pairs(found, limit=None)
    assert found.parent == tmp_path and len(frames) == len(masks) == 8
    settings = next(c.source for c in nbformat.read(SOURCE / NOTEBOOK, as_version=4).cells
                    if "IMAGE_SIZE = " in c.source)
    image_size = re.search(r"IMAGE_SIZE = \((\d+), (\d+)\)", settings).groups()
    height, width = map(int, image_size)
    image, mask = su.read_pair(frames[0], masks[0])
    assert image.shape == (height, width, 3) and mask.shape == (height, width)
    assert su.GRADING_FRAME_SIZE == (width, height)


def test_no_plumbing_or_other_courses_in_sight_of_students():
    notebook = nbformat.read(RELEASE / NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in notebook.cells)
    for word in ("original course", "NBGRADER_EXECUTION", "UNET_", "oneDNN", "os.environ", "__import__", "SMOKE"):
        assert word not in text, word
