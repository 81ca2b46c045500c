"""Same seed and count give byte-identical files, whatever the number of workers."""

import pytest

from roadscenes.dataset import generate


def _files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    base = tmp_path_factory.mktemp("determinism")
    generate(base / "a", count=4, seed=3, workers=1, progress=False)
    generate(base / "b", count=4, seed=3, workers=1, progress=False)
    generate(base / "c", count=4, seed=3, workers=2, progress=False)
    generate(base / "d", count=4, seed=4, workers=1, progress=False)
    return {k: _files(base / k) for k in "abcd"}


def test_two_runs_are_byte_identical(twice):
    assert len(twice["a"]) == 8
    assert twice["a"] == twice["b"]


def test_worker_count_does_not_change_the_files(twice):
    assert twice["a"] == twice["c"]


def test_different_seeds_give_different_scenes(twice):
    for name, data in twice["a"].items():
        assert twice["d"][name] != data, name


def test_frames_do_not_depend_on_the_count(tmp_path):
    generate(tmp_path / "two", count=2, seed=3, workers=1, progress=False)
    generate(tmp_path / "three", count=3, seed=3, workers=1, progress=False)
    for name in ("CameraRGB/000001.png", "CameraMask/000001.png"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "three" / name).read_bytes()
