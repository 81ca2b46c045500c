"""The preview picture shows frames beside coloured masks."""

import numpy as np
import pytest
from PIL import Image

from roadscenes import PALETTE, colorize
from roadscenes.preview import write_preview


def test_preview_is_written(small_data, tmp_path):
    out = write_preview(small_data, tmp_path / "preview.png", rows=3)
    with Image.open(out) as image:
        width, height = image.size
    assert width > 600 and height > 500


def test_colorize_uses_the_carla_palette():
    mask = np.array([[7, 13], [0, 22]], dtype=np.uint8)
    colours = colorize(mask)
    assert colours.shape == (2, 2, 3)
    assert tuple(colours[0, 0]) == (128, 64, 128)  # Road
    assert tuple(colours[0, 1]) == (70, 130, 180)  # Sky
    assert tuple(colours[1, 1]) == tuple(PALETTE[22])


def test_colorize_rejects_values_outside_the_classes():
    with pytest.raises(ValueError, match="outside 0..22"):
        colorize(np.array([[23]]))
