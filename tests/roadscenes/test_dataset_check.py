"""`roadscenes check` names the file and the problem for every kind of bad data."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from roadscenes.check import check
from roadscenes.dataset import FRAMES, MASKS


@pytest.fixture
def data(small_data, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(small_data, copy)
    return copy


def _edit_mask(path, edit):
    pixels = np.asarray(Image.open(path)).copy()
    edit(pixels)
    Image.fromarray(pixels).save(path)


def _only(problems, path, words):
    assert len(problems) == 1, problems
    assert str(path) in problems[0] and words in problems[0], problems[0]


def test_generated_data_is_valid(small_data):
    assert check(small_data) == []


def test_real_carla_layout_is_accepted(data):
    """RGBA frames and masks (alpha 255), non-consecutive names: as the real files are."""
    for index, name in enumerate(sorted(p.name for p in (data / FRAMES).iterdir())):
        new = f"{26 + 977 * index:06d}.png"
        for folder in (FRAMES, MASKS):
            image = Image.open(data / folder / name).convert("RGBA")
            (data / folder / name).unlink()
            image.save(data / folder / new)
    assert check(data) == []


def test_frame_without_mask(data):
    (data / MASKS / "000002.png").unlink()
    _only(check(data), data / FRAMES / "000002.png", "has no mask")


def test_mask_without_frame(data):
    (data / FRAMES / "000003.png").unlink()
    _only(check(data), data / MASKS / "000003.png", "has no frame")


def test_unreadable_png(data):
    (data / FRAMES / "000001.png").write_bytes(b"this is not a picture")
    _only(check(data), data / FRAMES / "000001.png", "unreadable")


def test_truncated_png(data):
    path = data / MASKS / "000004.png"
    path.write_bytes(path.read_bytes()[:2000])
    _only(check(data), path, "truncated")


def test_wrong_size(data):
    path = data / FRAMES / "000000.png"
    Image.open(path).resize((320, 240)).save(path)
    _only(check(data), path, "wrong size 320x240, expected 640x480")


def test_mask_value_outside_the_classes(data):
    path = data / MASKS / "000005.png"
    _edit_mask(path, lambda p: p.__setitem__((10, 10, 0), 23))
    _only(check(data), path, "class id 23")


@pytest.mark.parametrize("channel, name", [(1, "green"), (2, "blue")])
def test_mask_colour_channels_must_be_zero(data, channel, name):
    path = data / MASKS / "000001.png"
    _edit_mask(path, lambda p: p.__setitem__((5, 7, channel), 9))
    _only(check(data), path, f"{name} channel is not zero")


def test_missing_folder(tmp_path):
    assert check(tmp_path) == [f"{tmp_path / FRAMES}: folder missing", f"{tmp_path / MASKS}: folder missing"]


def test_command_line_exit_codes(data):
    ok = subprocess.run([sys.executable, "-m", "roadscenes", "check", str(data)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (data / MASKS / "000002.png").unlink()
    bad = subprocess.run([sys.executable, "-m", "roadscenes", "check", str(data)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert str(data / FRAMES / "000002.png") in bad.stderr
