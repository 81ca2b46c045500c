"""Appearance families and the camera: a family changes how a scene looks, never what is in it,
and the held-out family uses no setting of the standard one."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from roadscenes import classes as C
from roadscenes.appearance import FAMILIES, LIGHTS, draw_look
from roadscenes.dataset import MANIFEST, generate, is_up_to_date, read_manifest
from roadscenes.render import frame_rng, render

SETTINGS = ("exposure", "saturation", "contrast", "blur", "noise", "texture", "vignette")


def _looks(family, count=400):
    return [draw_look(frame_rng(5, i, 1), family) for i in range(count)]


def test_held_out_settings_are_never_drawn_by_the_standard_family():
    standard, heldout = _looks("standard"), _looks("heldout")
    assert not {look.light for look in standard} & {look.light for look in heldout}
    for name in SETTINGS:
        low = min(getattr(look, name) for look in standard)
        high = max(getattr(look, name) for look in standard)
        inside = [getattr(look, name) for look in heldout if low < getattr(look, name) < high]
        assert not inside, f"{name}: held-out values {inside[:3]} inside the standard range {low:.2f}..{high:.2f}"
    # White balance: every held-out frame is further off neutral than any standard one.
    off = [max(abs(g - 1) for g in look.white_balance) for look in standard]
    assert min(max(abs(g - 1) for g in look.white_balance) for look in heldout) >= max(off) - 1e-9


def test_every_light_has_a_family_and_both_families_vary():
    used = {light for family in FAMILIES.values() for light in family.lights}
    assert used == set(LIGHTS)
    for family in FAMILIES:
        looks = _looks(family, 100)
        assert len({look.light for look in looks}) >= 3, family
        assert np.std([look.exposure for look in looks]) > 0.02, family


@pytest.mark.parametrize("index", [0, 7])
def test_a_family_changes_the_picture_not_the_mask(index):
    rgb_a, mask_a = render(9, index, 320, 240, "standard")
    rgb_b, mask_b = render(9, index, 320, 240, "heldout")
    assert np.array_equal(mask_a, mask_b)
    assert np.abs(rgb_a.astype(int) - rgb_b.astype(int)).mean() > 5


def test_unknown_family_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="'sepia'.*heldout"):
        generate(tmp_path / "x", count=1, appearance="sepia", progress=False)
    assert not (tmp_path / "x").exists()
    result = subprocess.run([sys.executable, "-m", "roadscenes", "generate", "--out", str(tmp_path / "y"),
                             "--count", "1", "--appearance", "sepia"], capture_output=True, text=True)
    assert result.returncode == 2 and "sepia" in result.stderr


def test_the_manifest_names_the_family_and_another_family_rebuilds(tmp_path):
    generate(tmp_path, count=2, seed=3, size=(128, 96), workers=1, progress=False, appearance="heldout")
    assert read_manifest(tmp_path)["appearance"] == "heldout"
    assert is_up_to_date(tmp_path, 3, 2, 128, 96, "heldout")
    assert not is_up_to_date(tmp_path, 3, 2, 128, 96, "standard")
    generate(tmp_path, count=2, seed=3, size=(128, 96), workers=1, progress=False)
    assert read_manifest(tmp_path)["appearance"] == "standard"
    assert (tmp_path / MANIFEST).exists()


def test_the_camera_sees_the_same_scene_at_any_frame_size():
    """A 90 degree field of view at every size: a small frame is the large one, scaled down."""
    for index in range(4):
        _, large = render(2, index, 640, 480)
        _, small = render(2, index, 128, 96)
        scaled = np.asarray(Image.fromarray(large).resize((128, 96), Image.NEAREST))
        assert (scaled == small).mean() > 0.9, index


def test_the_horizon_is_near_mid_height():
    """A level camera, as in the real frames: the lowest sky pixel of the middle column."""
    rows = []
    for index in range(12):
        _, mask = render(4, index, 640, 480)
        column = mask[:, 300:340]
        sky_rows = np.flatnonzero((column == C.SKY).any(axis=1))
        rows.append(sky_rows.max())
    assert 200 < np.median(rows) < 260, rows


def test_surfaces_are_textured_not_flat():
    """Within one frame, the road's and the vegetation's pixels vary, as photographs do."""
    for index in range(6):
        rgb, mask = render(6, index, 640, 480)
        luma = rgb.astype(float).mean(axis=-1)
        for cls in (C.ROAD, C.VEGETATION):
            pixels = luma[mask == cls]
            if len(pixels) > 2000:
                assert pixels.std() > 3, (index, C.CLASS_NAMES[cls], pixels.std())


def test_lane_markings_are_thin():
    """CARLA's markings are about 0.1-0.16 m wide: a few pixels at the bottom of the frame, at most."""
    widths = []
    for index in range(12):
        _, mask = render(8, index, 640, 480)
        row = mask[400]
        lines = np.flatnonzero(row == C.ROADLINE)
        if len(lines):
            runs = np.split(lines, np.flatnonzero(np.diff(lines) > 1) + 1)
            widths += [len(run) for run in runs]
    assert widths
    assert np.median(widths) <= 16, widths
