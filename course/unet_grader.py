"""Hidden checks of the U-Net assignment. Never released to students.

The autograder test cells of the notebook run this file fresh (``runpy.run_path``) and end
with ``grade(check, globals(), points)``, whose value is the cell's score. It compares each student function with the reference
implementation below: the same layers with the same settings, wired the same way (see
``unet_checks.canonical``), for many argument values, and, for the blocks, the same outputs
once the student's weights are copied into the reference network. ``unet_model`` is graded
with the reference blocks in place, so a wrong ``conv_block`` costs only its own points.

Messages say what is wrong without giving code away; they may be shown in feedback.
"""

import runpy
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
CHECKS = runpy.run_path(str(HERE.parent / "source" / "unet_segmentation" / "unet_checks.py"))
canonical, trace, layer_list = CHECKS["canonical"], CHECKS["trace"], CHECKS["layer_list"]
layers = tf.keras.layers


class GradingError(AssertionError):
    """A graded check failed; the message says which argument values and what differs."""


# ---------------------------------------------------------------------------------------
# Reference implementation
# ---------------------------------------------------------------------------------------

def _conv(filters, kernel_size=3):
    return layers.Conv2D(filters, kernel_size, activation="relu", padding="same", kernel_initializer="he_normal")


def reference_conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    x = _conv(n_filters)(inputs)
    x = _conv(n_filters)(x)
    if dropout_prob > 0:
        x = layers.Dropout(dropout_prob)(x)
    skip_connection = x
    next_layer = layers.MaxPooling2D(2)(x) if max_pooling else x
    return next_layer, skip_connection


def reference_upsampling_block(expansive_input, contractive_input, n_filters=32):
    up = layers.Conv2DTranspose(n_filters, 3, strides=2, padding="same")(expansive_input)
    x = layers.Concatenate(axis=3)([up, contractive_input])
    x = _conv(n_filters)(x)
    return _conv(n_filters)(x)


def reference_unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23):
    inputs = layers.Input(input_size)
    skips, x = [], inputs
    for level in range(5):
        x, skip = reference_conv_block(x, n_filters * 2**level, 0.3 if level >= 3 else 0, level < 4)
        skips.append(skip)
    for level in (3, 2, 1, 0):
        x = reference_upsampling_block(x, skips[level], n_filters * 2**level)
    x = _conv(n_filters)(x)
    return tf.keras.Model(inputs, layers.Conv2D(n_classes, 1, padding="same")(x))


# ---------------------------------------------------------------------------------------
# Comparing a student's network with the reference
# ---------------------------------------------------------------------------------------

def _call(function, what, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise GradingError(f"{what}: not implemented yet") from None
    except Exception as error:  # the student's code may raise anything
        raise GradingError(f"{what} raised {type(error).__name__}: {error}") from None


def _outputs(result, what, count):
    if count == 1:
        if isinstance(result, (tuple, list)):
            raise GradingError(f"{what} must return one tensor, got a {type(result).__name__}")
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != count:
        raise GradingError(f"{what} must return {count} tensors, got {type(result).__name__}")
    return list(result)


def _same_structure(student, reference, names, what):
    try:
        got = canonical(student)
    except TypeError as error:
        raise GradingError(f"{what}: {error}") from None
    want = canonical(reference)
    for name, g, w, s, r in zip(names, got, want, student, reference):
        if tuple(s.shape) != tuple(r.shape):
            raise GradingError(f"{what}: {name} has shape {tuple(s.shape)}, expected {tuple(r.shape)}")
        if g != w:
            for problem in CHECKS["differences"](layer_list(s), layer_list(r), f"{what}: {name}"):
                raise GradingError(problem)
            raise GradingError(f"{what}: {name} is computed from the wrong tensors (layers wired differently)")


def _weighted_layers(model):
    """Layers with weights, in the order the computation applies them."""
    seen, result = set(), []
    for layer in model.layers:
        if layer.weights and id(layer) not in seen:
            seen.add(id(layer))
            result.append(layer)
    return result


def _concat_swapped(model):
    """True when the student concatenated [skip, upsampled] rather than [upsampled, skip]."""
    for layer in model.layers:
        if type(layer).__name__ == "Concatenate":
            first = layer._inbound_nodes[0].input_tensors[0]
            return type(first._keras_history[0]).__name__ == "InputLayer"
    return False


def _same_outputs(student_model, reference_model, what, skip_channels=None):
    """Copy the student's weights into the reference network and compare outputs."""
    mine, theirs = _weighted_layers(student_model), _weighted_layers(reference_model)
    if len(mine) != len(theirs):
        raise GradingError(f"{what}: {len(mine)} layers with weights, expected {len(theirs)}")
    swapped = _concat_swapped(student_model)
    for index, (source, target) in enumerate(zip(mine, theirs)):
        weights = [np.array(w) for w in source.get_weights()]
        if swapped and index == 1 and skip_channels:
            # [skip, up] instead of [up, skip]: the same network with input channels permuted.
            kernel = weights[0]
            weights[0] = np.concatenate([kernel[:, :, skip_channels:], kernel[:, :, :skip_channels]], axis=2)
        if [w.shape for w in weights] != [w.shape for w in target.get_weights()]:
            raise GradingError(f"{what}: weights of layer {index + 1} have the wrong shape")
        target.set_weights(weights)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((2,) + tuple(t.shape[1:])).astype("float32") for t in student_model.inputs]
    if len(inputs) == 1:
        inputs = inputs[0]
    got = student_model(inputs, training=False)
    want = reference_model(inputs, training=False)
    got, want = (got if isinstance(got, (list, tuple)) else [got]), (want if isinstance(want, (list, tuple)) else [want])
    for g, w in zip(got, want):
        if not np.allclose(np.asarray(g), np.asarray(w), atol=1e-4, rtol=1e-4):
            raise GradingError(f"{what}: outputs differ from the expected computation")


def _check_conv_block(student, shape, n_filters, dropout_prob, max_pooling):
    what = f"conv_block(n_filters={n_filters}, dropout_prob={dropout_prob}, max_pooling={max_pooling}) on {shape}"
    inputs = tf.keras.Input(shape)
    result = _outputs(_call(student, what, inputs, n_filters=n_filters, dropout_prob=dropout_prob,
                            max_pooling=max_pooling), what, 2)
    ref_inputs = tf.keras.Input(shape)
    reference = list(reference_conv_block(ref_inputs, n_filters, dropout_prob, max_pooling))
    _same_structure(result, reference, ("next_layer", "skip_connection"), what)
    _same_outputs(tf.keras.Model(inputs, result), tf.keras.Model(ref_inputs, reference), what)


def _check_upsampling_block(student, expansive_shape, contractive_shape, n_filters):
    what = f"upsampling_block(n_filters={n_filters}) on {expansive_shape} and {contractive_shape}"
    expansive, contractive = tf.keras.Input(expansive_shape), tf.keras.Input(contractive_shape)
    result = _outputs(_call(student, what, expansive, contractive, n_filters=n_filters), what, 1)
    ref_inputs = [tf.keras.Input(expansive_shape), tf.keras.Input(contractive_shape)]
    reference = [reference_upsampling_block(*ref_inputs, n_filters=n_filters)]
    _same_structure(result, reference, ("output",), what)
    _same_outputs(tf.keras.Model([expansive, contractive], result), tf.keras.Model(ref_inputs, reference), what,
                  skip_channels=contractive_shape[-1])


@contextmanager
def _reference_blocks(namespace):
    """Let the student's unet_model call the reference blocks, then restore theirs."""
    saved = {name: namespace.get(name) for name in ("conv_block", "upsampling_block")}
    namespace["conv_block"] = reference_conv_block
    namespace["upsampling_block"] = reference_upsampling_block
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def _check_unet(student, namespace, input_size, n_filters, n_classes):
    what = f"unet_model(input_size={input_size}, n_filters={n_filters}, n_classes={n_classes})"
    with _reference_blocks(namespace):
        model = _call(student, what, input_size, n_filters=n_filters, n_classes=n_classes)
    if not isinstance(model, tf.keras.Model):
        raise GradingError(f"{what} must return a tf.keras.Model, got {type(model).__name__}")
    reference = reference_unet_model(input_size, n_filters, n_classes)
    if model.count_params() != reference.count_params():
        raise GradingError(f"{what}: {model.count_params():,} parameters, expected {reference.count_params():,}")
    _same_structure([model.output], [reference.output], ("output",), what)
    return model


# ---------------------------------------------------------------------------------------
# The graded checks, one per autograded cell
# ---------------------------------------------------------------------------------------

def _function(namespace, name):
    function = namespace.get(name)
    if not callable(function):
        raise GradingError(f"{name} is not defined: run its cell (and keep its name)")
    return function


def conv_block_defaults(namespace):
    student = _function(namespace, "conv_block")
    _check_conv_block(student, (96, 128, 3), 32, 0, True)
    _check_conv_block(student, (12, 16, 256), 512, 0.3, False)


def conv_block_arguments(namespace):
    student = _function(namespace, "conv_block")
    for shape, n_filters, dropout_prob, max_pooling in (
        ((64, 80, 5), 16, 0, True), ((32, 48, 7), 64, 0.25, False), ((40, 40, 2), 8, 0.5, True),
        ((96, 128, 3), 32, 0, False), ((20, 24, 1), 4, 0.1, True),
    ):
        _check_conv_block(student, shape, n_filters, dropout_prob, max_pooling)
    # Each call must build new layers: nothing may be cached between calls.
    first = tf.keras.Input((8, 8, 3))
    a, _ = student(first, n_filters=4)
    b, _ = student(tf.keras.Input((8, 8, 3)), n_filters=4)
    if a._keras_history[0] is b._keras_history[0]:
        raise GradingError("conv_block returns layers shared between calls: build new layers on each call")


def upsampling_block_defaults(namespace):
    student = _function(namespace, "upsampling_block")
    _check_upsampling_block(student, (12, 16, 256), (24, 32, 128), 64)
    _check_upsampling_block(student, (48, 64, 64), (96, 128, 32), 32)


def upsampling_block_arguments(namespace):
    student = _function(namespace, "upsampling_block")
    for expansive, contractive, n_filters in (
        ((5, 7, 3), (10, 14, 6), 4), ((8, 8, 32), (16, 16, 16), 16), ((3, 4, 10), (6, 8, 2), 7),
    ):
        _check_upsampling_block(student, expansive, contractive, n_filters)


def unet_model_defaults(namespace):
    model = _check_unet(_function(namespace, "unet_model"), namespace, (96, 128, 3), 32, 23)
    if model.count_params() != 8_640_471:
        raise GradingError(f"unet_model(): {model.count_params():,} parameters, expected 8,640,471")


def unet_model_arguments(namespace):
    student = _function(namespace, "unet_model")
    first = _check_unet(student, namespace, (64, 96, 4), 8, 5)
    _check_unet(student, namespace, (32, 48, 1), 4, 2)
    again = _check_unet(student, namespace, (64, 96, 4), 8, 5)
    if again is first or {id(layer) for layer in again.layers} & {id(layer) for layer in first.layers}:
        raise GradingError("unet_model returns a model built before: build a new model on each call")


CHECKS_BY_NAME = {f.__name__: f for f in (conv_block_defaults, conv_block_arguments, upsampling_block_defaults,
                                           upsampling_block_arguments, unet_model_defaults, unet_model_arguments)}


def grade(check, namespace, points):
    """Run one graded check against the notebook's namespace; returns the points earned.

    Returning the score, instead of raising, keeps tracebacks (and with them lines of this
    file) out of the graded notebook and the student's feedback.
    """
    try:
        with warnings.catch_warnings():
            # Anything written to stderr would cost the cell its points, even when it passes.
            warnings.simplefilter("ignore")
            CHECKS_BY_NAME[check](namespace)
    except GradingError as failure:
        print(f"{check}: failed: {failure}")
        return 0
    except BaseException as error:  # noqa: BLE001 - whatever the student's code did
        print(f"{check}: could not be graded: {type(error).__name__}: {error}")
        return 0
    print(f"{check}: passed")
    return points
