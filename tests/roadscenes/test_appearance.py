"""Appearance families and the camera: a family changes how a scene looks, never what is in it,
and the held-out family uses no setting of the standard one."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from roadscenes import classes as C
from roadscenes.appearance import FAMILIES, LIGHTS, draw_look
from roadscenes.dataset import generate, is_up_to_date, read_manifest
from roadscenes.render import frame_rng, render
from roadscenes.scene import LINE_WIDTH, Scene

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
    heldout = read_manifest(tmp_path)["files"]
    generate(tmp_path, count=2, seed=3, size=(128, 96), workers=1, progress=False)
    standard = read_manifest(tmp_path)
    assert standard["appearance"] == "standard"
    frames = [name for name in heldout if name.startswith("CameraRGB/")]
    masks = [name for name in heldout if name.startswith("CameraMask/")]
    assert all(standard["files"][name] != heldout[name] for name in frames)  # rewritten, with a new look
    assert all(standard["files"][name] == heldout[name] for name in masks)  # of the same scenes


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
    """Inside one stretch of road, neighbouring pixels differ, as in a photograph of asphalt:
    the picture is not one flat colour per object."""
    for index in range(6):
        rgb, mask = render(6, index, 640, 480)
        luma = rgb.astype(float).mean(axis=-1)
        patch, labels = luma[400:460, 200:440], mask[400:460, 200:440]
        if (labels == C.ROAD).mean() < 0.9:
            continue
        rows = patch - patch.mean(axis=1, keepdims=True)  # the vertical gradient taken out
        assert rows[labels == C.ROAD].std() > 1.5, index


def test_lane_markings_are_thin_and_narrow_with_distance():
    """In any row, a run of marking pixels is at most the widest marking (LINE_WIDTH) at that
    row's depth, plus a pixel each side for rasterising."""
    runs = 0
    for index in range(16):
        _, mask = render(8, index, 640, 480)
        cam = Scene(frame_rng(8, index), 640, 480).cam
        for v in (270, 300, 330, 360, 420):
            if v <= cam.horizon + 5:
                continue
            widest = LINE_WIDTH[1] * (v - cam.horizon) / cam.height_m + 2  # metres * focal / depth
            lines = np.flatnonzero(mask[v] == C.ROADLINE)
            for run in np.split(lines, np.flatnonzero(np.diff(lines) > 1) + 1) if len(lines) else []:
                runs += 1
                # Zebra crossings and stop lines are wider on purpose; they lie across the road.
                if len(run) > widest and not _across_the_road(mask, v, run):
                    raise AssertionError(f"frame {index}, row {v}: a marking {len(run)} px wide, "
                                         f"at most {widest:.1f} expected")
    assert runs > 50


def _across_the_road(mask, v, run):
    """Part of a zebra crossing or a stop line: marking pixels continue in the row above too."""
    return (mask[v - 1, run[0]:run[-1] + 1] == C.ROADLINE).mean() > 0.9 and len(run) > 20


def test_the_held_out_family_is_deterministic_too():
    first = render(12, 3, 320, 240, "heldout")
    second = render(12, 3, 320, 240, "heldout")
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
