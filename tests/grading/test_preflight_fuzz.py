"""Property-based fuzzing of preflight: whatever bytes a submission holds, preflight returns
either a notebook to grade or a reason to refuse it, and never raises (which would stop the
grading of the whole class)."""

import json
import tempfile
from pathlib import Path

import nbformat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course.grading.preflight import check_submission, source_metadata

from fuzzing import mutate, reference_json

KNOWN = source_metadata()
SCRATCH = Path(tempfile.mkdtemp(prefix="preflight-fuzz-")) / "Image_segmentation_Unet.ipynb"
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)
cells = st.fixed_dictionaries({"cell_type": st.sampled_from(["code", "markdown", "raw"]) | json_values,
                               "source": st.text(max_size=40) | json_values,
                               "metadata": st.fixed_dictionaries({"nbgrader": json_values}) | json_values})
notebooks = st.fixed_dictionaries({"cells": st.lists(cells, max_size=6) | json_values,
                                   "metadata": json_values, "nbformat": json_values, "nbformat_minor": json_values})


def _outcome(path):
    checked = check_submission(path, KNOWN)
    assert (checked.notebook is None) == bool(checked.problem), checked
    if checked.notebook is not None:  # what is graded must be a valid notebook nbgrader can read
        nbformat.validate(checked.notebook)
        grade_ids = [c.metadata["nbgrader"]["grade_id"] for c in checked.notebook.cells if "nbgrader" in c.metadata]
        assert len(grade_ids) == len(set(grade_ids))
    else:
        assert checked.problem.startswith("invalid notebook:")
    return checked


@FUZZ
@given(data=st.binary(max_size=3000))
def test_any_bytes_give_a_status(data):
    path = SCRATCH
    path.write_bytes(data)
    _outcome(path)


@FUZZ
@given(notebook=notebooks)
def test_any_notebook_shaped_json_gives_a_status(notebook):
    path = SCRATCH
    path.write_text(json.dumps(notebook))
    _outcome(path)


@FUZZ
@given(rng=st.randoms(use_true_random=False), count=st.integers(1, 6))
def test_any_corruption_of_a_real_submission_gives_a_status(rng, count):
    path = SCRATCH
    path.write_text(json.dumps(mutate(reference_json(), rng, count)))
    _outcome(path)
