"""A property of the judge: a network near the reference (one setting or one wire changed
anywhere, settings the judge never names included) passes only if it computes what the
reference computes. Whether it does is decided here by Keras itself: both networks get the
same weights and the same inputs, and their outputs are compared."""

import json

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from course.judge import preprocessors as judge
from course.unet_segmentation import challenges
from test_judge import unet_evidence

L = tf.keras.layers
CONV = {"filters": 0, "kernel_size": 3, "activation": "relu", "padding": "same", "kernel_initializer": "he_normal"}
UP = {"filters": 0, "kernel_size": 3, "strides": 2, "padding": "same"}
# setting -> values it may take instead (None: the layer's filters plus one)
CHANGES = {
    "Conv2D": {"filters": [None], "kernel_size": [1, 5, (3, 1)], "strides": [2], "padding": ["valid"],
               "dilation_rate": [2], "use_bias": [False], "kernel_initializer": ["glorot_uniform", "he_uniform"],
               "bias_initializer": ["ones"], "name": ["my_own_name"], "kernel_constraint": ["non_neg"],
               "activity_regularizer": ["l2"], "dtype": ["float64"], "data_format": ["channels_first"],
               "activation": ["linear", "sigmoid", "relu6", "elu", "threshold", "cap", "leaky"]},
    "Conv2DTranspose": {"filters": [None], "kernel_size": [2, 4], "strides": [1, (2, 1)], "padding": ["valid"],
                        "use_bias": [False], "activation": ["relu", "threshold"], "kernel_initializer": ["he_normal"],
                        "name": ["my_own_name"], "output_padding": [1]},
    "MaxPooling2D": {"pool_size": [3, (2, 1)], "strides": [1], "padding": ["same"], "data_format": ["channels_first"],
                     "name": ["my_pool"]},
    "Dropout": {"rate": [0.5], "seed": [3], "noise_shape": [(None, 1, 1, None)], "name": ["my_dropout"]},
    "Concatenate": {"axis": [1, 2, -1], "name": ["my_concat"]},
}
ACTIVATIONS = {"threshold": L.ReLU(threshold=0.2), "cap": L.ReLU(max_value=8.5), "leaky": L.LeakyReLU(0.01)}
WIRES = {"conv_block": ["second_conv_from_input", "skip_before_second_conv", "pool_from_first_conv", "outputs_swapped"],
         "upsampling_block": ["skip_not_concatenated", "concatenate_skip_twice", "second_conv_from_merge"]}


def _layer(kind, config, change, number):
    config = dict(config)
    if change and change[0] == number:
        key, value = change[1], change[2]
        if value is None:
            value = config["filters"] + 1
        config[key] = ACTIVATIONS.get(value, value) if key == "activation" else value
    return getattr(L, kind)(**config)


def builders(change=None, wire=None):
    """conv_block and upsampling_block as the reference builds them, with one change: a
    setting (layer number, key, value) or a wire (a name from WIRES)."""
    def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
        first = _layer("Conv2D", dict(CONV, filters=n_filters), change, 1)(inputs)
        conv = _layer("Conv2D", dict(CONV, filters=n_filters), change, 2)(inputs if wire == "second_conv_from_input" else first)
        if dropout_prob > 0:
            conv = _layer("Dropout", {"rate": dropout_prob}, change, 3)(conv)
        skip = first if wire == "skip_before_second_conv" else conv
        if max_pooling:
            pooled = _layer("MaxPooling2D", {"pool_size": 2}, change, 4)(first if wire == "pool_from_first_conv" else conv)
        else:
            pooled = conv
        return (skip, pooled) if wire == "outputs_swapped" else (pooled, skip)

    def upsampling_block(expansive_input, contractive_input, n_filters=32):
        up = _layer("Conv2DTranspose", dict(UP, filters=n_filters), change, 1)(expansive_input)
        parts = {"skip_not_concatenated": [up, up], "concatenate_skip_twice": [up, contractive_input, contractive_input]}
        merge = _layer("Concatenate", {"axis": 3}, change, 2)(parts.get(wire, [up, contractive_input]))
        conv = _layer("Conv2D", dict(CONV, filters=n_filters), change, 3)(merge)
        return _layer("Conv2D", dict(CONV, filters=n_filters), change, 4)(merge if wire == "second_conv_from_merge" else conv)

    return {"conv_block": conv_block, "upsampling_block": upsampling_block}


def _model(build, case):
    inputs = [tf.keras.Input(tuple(shape)) for shape in case["inputs"]]
    outputs = build(*inputs, **case["kwargs"])
    return tf.keras.Model(inputs, list(outputs) if isinstance(outputs, tuple) else [outputs])


def computes_the_same(function, changed, case):
    """Keras's own answer: same weights in, same outputs out, on inputs at several scales."""
    reference, other = _model(builders()[function], case), _model(changed, case)
    if [tuple(w.shape) for w in reference.weights] != [tuple(w.shape) for w in other.weights]:
        return False
    rng = np.random.default_rng(0)
    for mine, theirs in zip(reference.weights, other.weights):
        value = rng.standard_normal(tuple(mine.shape)).astype(np.float32) * 0.3
        mine.assign(value)
        theirs.assign(value.astype(theirs.dtype))
    for scale in (0.1, 1.0, 30.0):
        inputs = [rng.standard_normal((2, *shape)).astype(np.float32) * scale for shape in case["inputs"]]
        want, got = reference(inputs, training=False), other(inputs, training=False)
        if len(want) != len(got) or any(a.shape != b.shape or not np.allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                                                             rtol=1e-4, atol=1e-4 * scale)
                                        for a, b in zip(want, got)):
            return False
    return True


@st.composite
def near_reference(draw):
    function = draw(st.sampled_from(["conv_block", "upsampling_block"]))
    kinds = {"conv_block": ["Conv2D", "Conv2D", "Dropout", "MaxPooling2D"],
             "upsampling_block": ["Conv2DTranspose", "Concatenate", "Conv2D", "Conv2D"]}[function]
    if draw(st.integers(0, 4)) == 0:
        return function, None, draw(st.sampled_from(WIRES[function]))
    number = draw(st.integers(1, len(kinds)))
    key = draw(st.sampled_from(sorted(CHANGES[kinds[number - 1]])))
    return function, (number, key, draw(st.sampled_from(CHANGES[kinds[number - 1]][key]))), None


GRADE_ID = {"conv_block": "grade_conv_block_arguments", "upsampling_block": "grade_upsampling_block_arguments"}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(near_reference())
def test_a_network_near_the_reference_passes_only_if_it_computes_the_same(drawn):
    function, change, wire = drawn
    changed = builders(change, wire)[function]
    challenge = challenges.draw(GRADE_ID[function])
    if function == "conv_block":  # a dropout layer in every case, so that a change to it shows
        for case in challenge["cases"]:
            case["kwargs"]["dropout_prob"] = case["kwargs"]["dropout_prob"] or 0.2
    try:
        same = all(computes_the_same(function, changed, case) for case in challenge["cases"])
    except Exception:  # Keras refuses the change (a shape that does not fit, say)
        assume(False)
    evidence = json.loads(json.dumps(unet_evidence.collect(function, {function: changed}, challenge)))
    passed, message = judge.verdict(GRADE_ID[function], challenge, evidence)
    assert not passed or same, f"passed, but computes something else: {drawn}"


@pytest.mark.parametrize("change", [(1, "name", "my_own_name"), (3, "seed", 3), (4, "name", "my_pool")])
def test_a_change_that_computes_the_same_passes(change):
    changed = builders(change)["conv_block"]
    challenge = challenges.draw("grade_conv_block_arguments")
    evidence = json.loads(json.dumps(unet_evidence.collect("conv_block", {"conv_block": changed}, challenge)))
    assert judge.verdict("grade_conv_block_arguments", challenge, evidence)[0]
