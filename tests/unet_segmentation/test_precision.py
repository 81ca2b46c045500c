"""The notebook's PRECISION setting: "auto" trains in a short number format only where it is
clearly faster, a network built in one keeps its logits and loss in float32, and nothing of it
stays behind. (That grading computes in float32 whatever policy a student sets is tested with
the catalogue's eq_global_mixed_* entries, through both grading commands.)"""

import sys

import numpy as np
import pytest

from course.assignment import SOURCE

sys.path.insert(0, str(SOURCE))
import segmentation_utils as su  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras_reference import unet_model  # noqa: E402  (it imports the recorder from SOURCE)


def _choose(speeds, candidates=("bfloat16",), precision="auto"):
    return su.choose_precision(precision, measure=lambda policy: speeds[policy], candidates=lambda: list(candidates))


def test_auto_trains_in_bfloat16_where_it_is_clearly_faster(capsys):
    # as measured on an Intel Xeon with AMX, U-Net at batch 32 (issue 32)
    assert _choose({"float32": 18.7, "mixed_bfloat16": 55.0}) == "bfloat16"
    assert "Training computes in bfloat16: 2.9x as fast as float32" in capsys.readouterr().out


@pytest.mark.parametrize("bfloat16, why", [(3.1, "bfloat16 0.17x"),  # a CPU without bf16 units (this one)
                                           (20.0, "bfloat16 1.07x")])  # faster, but within the timings' noise
def test_auto_keeps_float32_where_the_short_format_is_slower_or_hardly_faster(bfloat16, why, capsys):
    assert _choose({"float32": 18.7, "mixed_bfloat16": bfloat16}) == "float32"
    out = capsys.readouterr().out
    assert out.startswith("Training computes in float32: the shorter formats are not faster") and why in out


def test_auto_on_a_gpu_times_both_short_formats_and_takes_the_fastest(capsys):
    speeds = {"float32": 400.0, "mixed_bfloat16": 1150.0, "mixed_float16": 1300.0}
    assert _choose(speeds, candidates=("bfloat16", "float16")) == "float16"
    assert "3.2x as fast as float32" in capsys.readouterr().out


def test_a_named_precision_is_used_as_it_is_and_nothing_is_timed(capsys):
    def never(policy):
        raise AssertionError("timed")
    for name in su.POLICIES:
        assert su.choose_precision(name, measure=never) == name
        assert capsys.readouterr().out == f"Training computes in {name}, as PRECISION asks.\n"


@pytest.mark.parametrize("wrong", ["bf16", "mixed_bfloat16", 16, None])
def test_a_wrong_precision_says_what_precision_can_be(wrong):
    with pytest.raises(ValueError, match='PRECISION must be "auto", "float32", "bfloat16" or "float16"; it is '):
        su.choose_precision(wrong)


def test_while_grading_training_computes_in_float32_and_nothing_is_timed(monkeypatch, capsys):
    monkeypatch.setattr(su, "GRADING", True)
    assert su.choose_precision("auto", measure=lambda policy: pytest.fail("timed")) == "float32"
    assert su.choose_precision("bfloat16") == "float32"
    assert capsys.readouterr().out == ""


def test_the_real_timing_gives_a_speed_for_each_format_and_leaves_the_policy_as_it_was():
    tf.keras.config.set_dtype_policy("float32")
    speeds = {policy: su._probe_speed(policy, seconds=0.1) for policy in ("float32", "mixed_bfloat16")}
    assert all(speed > 0 for speed in speeds.values()), speeds
    assert tf.keras.config.dtype_policy().name == "float32"
    print("probe images/s:", {policy: round(speed, 1) for policy, speed in speeds.items()})


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_a_network_built_in_a_short_format_keeps_its_logits_and_loss_in_float32(precision):
    tf.keras.config.set_dtype_policy("float32")
    model = su.build_in(precision, unet_model, (32, 32, 3), n_filters=4, n_classes=5)
    assert tf.keras.config.dtype_policy().name == "float32"  # only the network's layers changed
    inner = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)]
    assert {layer.compute_dtype for layer in inner[:-1]} == {precision}
    assert inner[-1].compute_dtype == "float32" and inner[-1].variable_dtype == "float32"
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    assert model(images).dtype == tf.float32


def test_float16_training_gets_loss_scaling_from_keras():
    """float16's narrow range needs the loss scaled up before the gradients (Keras adds it)."""
    model = su.build_in("float16", unet_model, (32, 32, 3), n_filters=2, n_classes=5)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    rng = np.random.default_rng(0)
    loss = model.train_on_batch(rng.random((2, 32, 32, 3), dtype=np.float32), rng.integers(0, 5, (2, 32, 32, 1)))
    assert np.isfinite(loss)


def test_before_training_the_notebook_says_about_how_long_it_takes():
    assert su.training_time(45.0, 10, "float32") == (
        "Training 10 epoch(s) in float32 takes about 8 min here, 45 s an epoch (estimated now; each epoch's "
        "time shows as it ends).")
    assert su.training_time(210.0, 10, "float32").endswith(  # 35 min: a shorter run is suggested, and what it gives
        "35 min here, 210 s an epoch (estimated now; each epoch's time shows as it ends). "
        "For a quicker look, EPOCHS = 3 takes about 10 min, but gives rougher masks: with the other settings "
        f"as given, 3 epochs reached a validation mean IoU of {su.MEASURED_MEAN_IOU[3]:.2f} and 10 epochs "
        f"{su.MEASURED_MEAN_IOU[10]:.2f}.")
    assert su.training_time(210.0, 20, "float32").endswith(  # 20 and 6 epochs were never measured
        "For a quicker look, EPOCHS = 6 takes about 21 min.")
    assert "quicker" not in su.training_time(900.0, 1, "float32")  # no fewer epochs to suggest


def test_the_network_is_timed_without_changing_its_weights():
    tf.keras.config.set_dtype_policy("float32")
    model = unet_model((32, 32, 3), n_filters=2, n_classes=5)
    before = [w.copy() for w in model.get_weights()]
    assert su.model_speed(model, batch=2) > 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
