"""The generated folder has the real CARLA data's layout, format and manifest."""

import hashlib
import json
import re

import numpy as np
from PIL import Image

from roadscenes import CLASS_NAMES, N_CLASSES
from roadscenes.dataset import FRAMES, MANIFEST, MASKS, generate

from course_helpers import SMALL_COUNT


def test_frames_and_masks_pair_up_with_six_digit_names(small_data):
    frames = sorted(p.name for p in (small_data / FRAMES).iterdir())
    masks = sorted(p.name for p in (small_data / MASKS).iterdir())
    assert frames == masks
    assert len(frames) == SMALL_COUNT
    assert all(re.fullmatch(r"\d{6}\.png", name) for name in frames), frames


def test_frames_are_640x480_colour_pngs(small_data):
    for path in (small_data / FRAMES).iterdir():
        with Image.open(path) as image:
            assert (image.format, image.size, image.mode) == ("PNG", (640, 480), "RGB"), path


def test_masks_hold_class_ids_in_red_only(small_data):
    for path in (small_data / MASKS).iterdir():
        with Image.open(path) as image:
            assert (image.format, image.size, image.mode) == ("PNG", (640, 480), "RGB"), path
            pixels = np.asarray(image)
        assert pixels.dtype == np.uint8
        assert pixels[..., 0].max() < N_CLASSES, path
        assert not pixels[..., 1:].any(), f"{path}: green or blue is not zero"
        assert (pixels[..., 0] != 0).all(), f"{path}: unlabeled pixels"


def test_manifest_records_request_shares_and_checksums(small_data):
    manifest = json.loads((small_data / MANIFEST).read_text())
    assert (manifest["seed"], manifest["count"], manifest["width"], manifest["height"]) == (11, SMALL_COUNT, 640, 480)
    shares = manifest["class_pixel_share"]
    assert list(shares) == list(CLASS_NAMES)
    assert abs(sum(shares.values()) - 1) < 1e-4
    assert len(manifest["files"]) == 2 * SMALL_COUNT
    for relative, digest in manifest["files"].items():
        assert hashlib.sha256((small_data / relative).read_bytes()).hexdigest() == digest, relative


def test_manifest_shares_match_the_masks(small_data):
    counts = np.zeros(N_CLASSES)
    for path in (small_data / MASKS).iterdir():
        counts += np.bincount(np.asarray(Image.open(path))[..., 0].ravel(), minlength=N_CLASSES)
    shares = json.loads((small_data / MANIFEST).read_text())["class_pixel_share"]
    for name, expected in zip(CLASS_NAMES, counts / counts.sum()):
        assert abs(shares[name] - expected) < 1e-5, name


def test_a_matching_folder_is_left_alone(small_data):
    stamps = {p: p.stat().st_mtime_ns for p in (small_data / FRAMES).iterdir()}
    generate(small_data, count=SMALL_COUNT, seed=11, workers=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in (small_data / FRAMES).iterdir()} == stamps


def test_a_damaged_or_different_folder_is_rebuilt(tmp_path):
    out = tmp_path / "data"
    generate(out, count=3, seed=5, workers=1, progress=False)
    original = (out / FRAMES / "000001.png").read_bytes()
    (out / FRAMES / "000001.png").write_bytes(b"damaged")
    generate(out, count=3, seed=5, workers=1, progress=False)
    assert (out / FRAMES / "000001.png").read_bytes() == original

    generate(out, count=2, seed=5, workers=1, progress=False)
    assert sorted(p.name for p in (out / FRAMES).iterdir()) == ["000000.png", "000001.png"]


def test_force_rewrites_the_files(tmp_path):
    out = tmp_path / "data"
    generate(out, count=2, seed=5, workers=1, progress=False)
    path = out / MASKS / "000000.png"
    path.write_bytes(path.read_bytes())  # same content, new mtime baseline
    before = path.stat().st_mtime_ns
    generate(out, count=2, seed=5, workers=1, progress=False, force=True)
    assert path.stat().st_mtime_ns != before
    assert json.loads((out / MANIFEST).read_text())["count"] == 2
