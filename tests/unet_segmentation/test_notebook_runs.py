"""The source notebook runs top to bottom (smoke settings), on data in the real CARLA layout."""

import copy
import re

import nbformat
import pytest
from PIL import Image

import catalogue
from course_helpers import run_source_notebook
from course.assignment import NOTEBOOK, SOURCE
from course.judge.preprocessors import Challenge, Judge
from roadscenes.dataset import FRAMES, MASKS

CHALLENGES = {}  # grade_id -> the arguments drawn for the run below


@pytest.fixture(scope="module")
def carla_layout(small_data, tmp_path_factory):
    """The small generated set rewritten as the real files are: RGBA PNGs, non-consecutive names."""
    folder = tmp_path_factory.mktemp("carla") / "data"
    for sub in (FRAMES, MASKS):
        (folder / sub).mkdir(parents=True)
    for index, path in enumerate(sorted((small_data / FRAMES).glob("*.png"))):
        name = f"{26 + 6421 * index:06d}.png"
        for sub in (FRAMES, MASKS):
            Image.open(small_data / sub / path.name).convert("RGBA").save(folder / sub / name)
    return folder


@pytest.fixture(scope="module")
def executed(carla_layout, tmp_path_factory):
    notebook = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    # The graded cells get arguments drawn now, as under nbgrader; the judge scores them below.
    notebook, resources = Challenge().preprocess(notebook, {})
    CHALLENGES.update(resources["unet_challenges"])
    return run_source_notebook(notebook, tmp_path_factory.mktemp("run"), carla_layout, resources)


def _outputs(notebook, output_type):
    return [(i, o) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
            for o in cell.outputs if o.output_type == output_type]


def test_every_cell_runs_without_error(executed):
    errors = [(i, o.ename, o.evalue) for i, o in _outputs(executed, "error")]
    assert not errors


# TensorFlow's notice that its oneDNN CPU kernels are on, printed before logging starts.
ONEDNN_NOTICE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\).*|I\d{4} .*oneDNN custom "
                           r"operations are on.*)$")


def test_nothing_but_the_onednn_notice_is_written_to_stderr(executed):
    lines = [(i, line) for i, o in _outputs(executed, "stream") if o.name == "stderr"
             for line in o.text.splitlines() if line.strip()]
    assert [(i, line) for i, line in lines if not ONEDNN_NOTICE.match(line)] == []


def test_public_tests_pass_on_the_reference(executed):
    text = "".join(o.text for _, o in _outputs(executed, "stream"))
    for name in ("conv_block", "upsampling_block", "unet_model"):
        assert f"All tests passed for {name}." in text


def test_graded_cells_give_full_points(executed):
    """Its graded cells collect no evidence in the notebook's own kernel (the judge finds none
    there); the source notebook's cells, replayed as the evidence kernel replays them, pass."""
    judged, _ = Judge().preprocess(copy.deepcopy(executed), {"unet_challenges": CHALLENGES})
    scores = [cell.outputs[-1].data["text/plain"] for cell in judged.cells
              if cell.metadata.get("nbgrader", {}).get("grade")]
    assert scores == ["0"] * 6, scores
    verdicts = catalogue.evidence_run(nbformat.read(SOURCE / NOTEBOOK, as_version=4))
    assert len(verdicts) == 6 and all(passed for passed, _ in verdicts.values()), verdicts


def test_it_trained_and_drew_the_figures(executed):
    text = "".join(o.text for _, o in _outputs(executed, "stream"))
    assert "trained 1 epoch(s)" in text
    pictures = [i for i, o in _outputs(executed, "display_data") if "image/png" in o.data]
    # examples, class shares, learning curves, predictions, per-class IoU
    assert len(set(pictures)) >= 5, pictures


def test_it_read_the_rgba_frames_with_their_odd_names(executed):
    text = "".join(o.text for _, o in _outputs(executed, "stream"))
    assert "6 frames with masks" in text
    assert "first pair: 000026.png 000026.png" in text
