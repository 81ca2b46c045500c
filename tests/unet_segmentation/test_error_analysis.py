"""Section 12 of the notebook, why the network errs: the confusion matrix, the error maps and a
class's worst frames compute what they say, and each figure comes with its text alternative."""

import sys

import matplotlib
import numpy as np
import pytest

from course.assignment import SOURCE

matplotlib.use("Agg")
sys.path.insert(0, str(SOURCE))
import matplotlib.pyplot as plt  # noqa: E402
import segmentation_utils as su  # noqa: E402

ROAD, SIDEWALK, VEHICLES, SKY = (su.CLASS_NAMES.index(name) for name in ("Road", "Sidewalk", "Vehicles", "Sky"))


def _counts(truth, predicted):
    truth, predicted = np.asarray(truth).ravel(), np.asarray(predicted).ravel()
    return np.bincount(truth * su.N_CLASSES + predicted, minlength=su.N_CLASSES ** 2).reshape(su.N_CLASSES, -1)


def _scene():
    """Four 4x8 frames: road below, sky above, a car on the road in frames 1-3, taken for road
    in frame 2 and half of it in frame 3."""
    truths = np.full((4, 4, 8), ROAD)
    truths[:, :2] = SKY
    truths[1:, 2:, 2:4] = VEHICLES
    predicted = truths.copy()
    predicted[2][truths[2] == VEHICLES] = ROAD
    predicted[3, 2, 2:4] = ROAD
    return np.random.default_rng(0).random((4, 4, 8, 3)), truths, predicted


def test_each_row_of_the_confusion_matrix_is_the_share_of_a_true_class():
    _, truths, predicted = _scene()
    shares, rows, columns = su.confusion_shares(_counts(truths, predicted))
    assert rows == columns == sorted([ROAD, VEHICLES, SKY])
    assert np.allclose(shares.sum(axis=1), 1)
    vehicles = shares[rows.index(VEHICLES)]
    assert vehicles[columns.index(ROAD)] == pytest.approx(6 / 12) and vehicles[columns.index(VEHICLES)] == pytest.approx(6 / 12)


def test_a_class_only_predicted_is_a_column_not_a_row():
    counts = _counts([ROAD, ROAD, ROAD, SKY], [ROAD, SIDEWALK, ROAD, SKY])
    _, rows, columns = su.confusion_shares(counts)
    assert SIDEWALK in columns and SIDEWALK not in rows


def test_the_strongest_confusions_are_named_in_a_sentence_largest_first():
    truth = [VEHICLES] * 10 + [SIDEWALK] * 10 + [ROAD] * 100
    predicted = [ROAD] * 6 + [VEHICLES] * 4 + [ROAD] * 3 + [SIDEWALK] * 7 + [ROAD] * 98 + [SKY] * 2
    counts = _counts(truth, predicted)
    assert [(t, p) for t, p, _ in su.strongest_confusions(counts)] == [(VEHICLES, ROAD), (SIDEWALK, ROAD)]  # Road->Sky: 2%
    assert su.describe_confusions(counts) == ("Strongest confusions: 60% of the Vehicles pixels are taken for Road; "
                                              "30% of the Sidewalk pixels are taken for Road.")
    assert su.describe_confusions(_counts(truth, truth)) == "No class is taken for another on 5% or more of its pixels."


def test_a_frames_errors_are_its_share_of_wrong_pixels_and_their_largest_confusions():
    _, truths, predicted = _scene()
    share, pairs = su.frame_errors(truths[2], predicted[2])
    assert share == pytest.approx(4 / 32) and pairs == [(VEHICLES, ROAD, pytest.approx(4 / 32))]
    assert su.describe_frame_errors(2, truths[2], predicted[2]) == (
        "validation frame 2: 12% of the pixels wrong (mostly Vehicles taken for Road on 12.5%)")
    assert su.describe_frame_errors(1, truths[1], predicted[1]) == "validation frame 1: 0% of the pixels wrong"


def test_the_error_map_is_grey_where_right_and_the_predicted_class_where_wrong():
    frames, truths, predicted = _scene()
    shown = su.errors_shown(frames[3], truths[3], predicted[3])
    wrong = truths[3] != predicted[3]
    assert np.allclose(shown[wrong], su.PALETTE[ROAD] / 255)
    right = shown[~wrong]
    assert np.allclose(right[:, 0], right[:, 1]) and np.allclose(right[:, 1], right[:, 2])  # grey
    only_sky = su.errors_shown(frames[3], truths[3], predicted[3], class_id=SKY)  # no error on sky's pixels
    assert np.allclose(only_sky[..., 0], only_sky[..., 2])


def test_the_worst_frames_of_a_class_are_those_where_it_has_the_lowest_iou():
    _, truths, predicted = _scene()
    assert su.worst_frames(truths, predicted, VEHICLES) == [(2, 0.0), (3, 0.5), (1, 1.0)]  # frame 0 has none
    assert su.worst_frames(truths, predicted, VEHICLES, n=1) == [(2, 0.0)]
    assert su.worst_frames(truths, predicted, SIDEWALK) == []


def test_the_static_views_draw_a_figure_and_say_it_in_words(monkeypatch, capsys):
    frames, truths, predicted = _scene()
    monkeypatch.setenv("UNET_STATIC_VIEWS", "1")
    monkeypatch.setattr(su, "DRAW", True)
    shown = []
    monkeypatch.setattr(plt, "show", lambda: (shown.append(len(plt.get_fignums())), plt.close("all")))
    assert su.plot_confusion(_counts(truths, predicted)) is not None
    plt.close("all")
    su.browse_errors(frames, truths, predicted, examples=2, first=2)
    su.browse_worst_frames(frames, truths, predicted, VEHICLES, examples=2)
    su.browse_worst_frames(frames, truths, predicted, SIDEWALK, examples=2)
    out = capsys.readouterr().out.splitlines()
    assert shown == [1, 1, 1, 1]
    assert out == ["validation frame 2: 12% of the pixels wrong (mostly Vehicles taken for Road on 12.5%)",
                   "validation frame 3: 6% of the pixels wrong (mostly Vehicles taken for Road on 6.2%)",
                   "validation frame 2: Vehicles IoU 0.00; 12% of the pixels wrong (mostly Vehicles taken for Road on 12.5%)",
                   "validation frame 3: Vehicles IoU 0.50; 6% of the pixels wrong (mostly Vehicles taken for Road on 6.2%)",
                   "No validation frame holds Sidewalk."]


def test_a_worst_frame_legend_names_the_class_in_colour_and_the_grey_of_the_others(monkeypatch):
    """Only the studied class is in colour there, so the legend lists it alone (not the road and
    sky around it) and says what grey means."""
    frames, truths, predicted = _scene()
    monkeypatch.setenv("UNET_STATIC_VIEWS", "1")
    monkeypatch.setattr(su, "DRAW", True)
    legends = []
    monkeypatch.setattr(plt, "show", lambda: (legends.extend(
        [t.get_text() for t in legend.get_texts()] for legend in plt.gcf().legends), plt.close("all")))
    su.browse_worst_frames(frames, truths, predicted, VEHICLES, examples=1)
    assert legends == [[f"{VEHICLES:2d} Vehicles", "every other class (grey)"]]
    legends.clear()
    su.browse_errors(frames, truths, predicted, examples=1, first=2)  # every class in colour
    assert len(legends) == 1 and "every other class (grey)" not in legends[0]


def test_while_grading_nothing_is_drawn_and_a_wrong_class_is_named(monkeypatch, capsys):
    frames, truths, predicted = _scene()
    monkeypatch.setattr(su, "DRAW", False)
    assert su.plot_confusion(_counts(truths, predicted)) is None
    assert su.browse_errors(frames, truths, predicted) is None
    assert su.browse_worst_frames(frames, truths, predicted, VEHICLES) is None
    assert capsys.readouterr().out == "" and not plt.get_fignums()
    with pytest.raises(ValueError, match="class_id must be a class id from 0 to 22; it is 23"):
        su.browse_worst_frames(frames, truths, predicted, 23)
