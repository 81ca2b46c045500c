"""Shared fixtures: small generated data folders, made once per test session."""

import pytest

from roadscenes.dataset import generate

SMALL_COUNT = 6


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A 6-frame data folder written by one worker process."""
    out = tmp_path_factory.mktemp("roadscenes") / "data"
    generate(out, count=SMALL_COUNT, seed=11, workers=1, progress=False)
    return out
