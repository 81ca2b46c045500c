"""The public tests students run say what is wrong in their terms, and pass correct code."""

import functools
import itertools
import linecache
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "source", "unet_segmentation"))

import tensorflow as tf  # noqa: E402
import unet_checks  # noqa: E402
from catalogue import EQUIVALENT, REFERENCE, WRONG, edit  # noqa: E402

IMPORTS = ("import tensorflow as tf\nfrom tensorflow.keras.layers import Concatenate, Conv2D, Conv2DTranspose, "
           "Dropout, Input, MaxPooling2D\n")
_CELLS = itertools.count()
TESTS = {"conv_block": unet_checks.test_conv_block, "upsampling_block": unet_checks.test_upsampling_block,
         "unet_model": unet_checks.test_unet_model}


def define(*cells):
    """Run each source as a notebook cell of its own: compiled under a file name registered in
    linecache, as IPython does, so that line numbers count from the cell's first line."""
    namespace = {}
    exec(IMPORTS, namespace)
    for source in cells:
        if source.startswith(("%%capture", "%%time")):  # the cell's code runs as it is, with a timing or capture
            source = source.split("\n", 1)[1]
        filename = f"/tmp/ipykernel_0/cell_{next(_CELLS)}.py"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)
    return namespace


def reference():
    return define(*REFERENCE.values())


def with_cells(**sources):
    """The reference notebook with some exercise cells replaced."""
    return define(*(sources.get(name, source) for name, source in REFERENCE.items()))


def failure_of(function_name, namespace):
    with pytest.raises(unet_checks.CheckFailed) as failure:
        TESTS[function_name](namespace[function_name])
    return str(failure.value)


def line_of(source, text):
    """(number within the cell, stripped line) of the line of `source` that contains `text`."""
    [(number, line)] = [(n, line.strip()) for n, line in enumerate(source.splitlines(), 1) if text in line]
    return number, line


STUB = {
    "conv_block": "def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):\n"
                  "    raise NotImplementedError()",
    "upsampling_block": "def upsampling_block(expansive_input, contractive_input, n_filters=32):\n"
                        "    raise NotImplementedError()",
}


def test_reference_passes_every_public_test(capsys):
    ns = reference()
    unet_checks.test_conv_block(ns["conv_block"])
    unet_checks.test_upsampling_block(ns["upsampling_block"])
    unet_checks.test_unet_model(ns["unet_model"])
    assert capsys.readouterr().out.count("All tests passed") == 3


@pytest.mark.parametrize("replacements, message", [
    ([("Conv2D(n_filters,", "Conv2D(16,")], "next_layer, layers 1, 2 (Conv2D): expected 32 filters, got 16"),
    ([("Conv2D(n_filters, 3,", "Conv2D(n_filters, 5,", 1)], "layer 1 (Conv2D): expected kernel size (3, 3), got (5, 5)"),
    ([('padding="same"', 'padding="valid"')], "expected shape (None, 48, 64, 32), got (None, 46, 62, 32)"),
    ([(', kernel_initializer="he_normal"', "")], "expected kernel initializer 'HeNormal', got 'GlorotUniform'"),
    ([("Dropout(dropout_prob)", "Dropout(0.5)")], "layer 3 (Dropout): expected dropout rate 0.3, got 0.5"),
    ([("if max_pooling:", "if True:")], "with max_pooling=False, next_layer and skip_connection must be the same tensor"),
])
def test_conv_block_messages(replacements, message):
    ns = define(edit("conv_block", *replacements))
    with pytest.raises(unet_checks.CheckFailed) as failure:
        unet_checks.test_conv_block(ns["conv_block"])
    assert message in str(failure.value)


def test_stub_gets_a_message_not_a_traceback():
    ns = define(STUB["conv_block"])
    with pytest.raises(unet_checks.CheckFailed, match="conv_block is not implemented yet") as failure:
        unet_checks.test_conv_block(ns["conv_block"])
    assert failure.value.__traceback__ is not None and failure.value.__cause__ is None


def test_upsampling_without_skip_connection_is_explained():
    ns = define(edit("upsampling_block", ("Concatenate(axis=3)([up, contractive_input])", "up")))
    with pytest.raises(unet_checks.CheckFailed, match="expected Concatenate, got Conv2D"):
        unet_checks.test_upsampling_block(ns["upsampling_block"])


def test_unet_softmax_is_explained():
    ns = reference()
    wrong = define(edit("unet_model", ('Conv2D(n_classes, 1, padding="same")',
                                       'Conv2D(n_classes, 1, padding="same", activation="softmax")')))
    wrong.update(conv_block=ns["conv_block"], upsampling_block=ns["upsampling_block"])
    with pytest.raises(unet_checks.CheckFailed, match="must output logits"):
        unet_checks.test_unet_model(wrong["unet_model"])


# --- 1. the function that is still a stub is named -------------------------------------

@pytest.mark.parametrize("stub, exercise", [("upsampling_block", 2), ("conv_block", 1)])
def test_unet_model_names_the_block_that_is_still_a_stub(stub, exercise):
    message = failure_of("unet_model", with_cells(**{stub: STUB[stub]}))
    assert message == (f"unet_model calls {stub}, which is not implemented yet: finish exercise {exercise} "
                       f"({stub}) first, then run this test again")


# --- 2. an error shows the student's own line -------------------------------------------

def test_error_inside_keras_shows_the_students_line():
    source = edit("conv_block", ('padding="same"', 'padding="smae"', 1))
    message = failure_of("conv_block", define(source))
    number, line = line_of(source, '"smae"')
    assert message.startswith("conv_block raised ValueError: The `padding` argument must be")
    assert f"\n  at line {number} of your cell: `{line}`\n" in message
    assert "when the test called conv_block(a tensor of shape (None, 96, 128, 3), n_filters=32)" in message
    assert "Traceback" not in message and "site-packages" not in message and len(message.splitlines()) == 3


def test_error_in_the_students_own_code_shows_their_line():
    source = edit("conv_block", ("(inputs)\n", "(inputs, foo)\n", 1))
    message = failure_of("conv_block", define(source))
    number, line = line_of(source, "(inputs, foo)")
    assert message.startswith("conv_block raised NameError: name 'foo' is not defined\n")
    assert f"at line {number} of your cell: `{line}`" in message


def test_error_in_a_block_names_the_block_and_the_line_of_unet_model_that_called_it():
    source = edit("unet_model", ("upsampling_block(ublock8, cblock1[1], n_filters)",
                                 "upsampling_block(ublock8, cblock1[0], n_filters)"))
    message = failure_of("unet_model", with_cells(unet_model=source))
    block_line = line_of(REFERENCE["upsampling_block"], "Concatenate(axis=3)")
    caller_line = line_of(source, "ublock8, cblock1[0]")
    assert message.startswith("unet_model calls upsampling_block, which raised ValueError: A `Concatenate` layer "
                              "requires inputs with matching shapes")
    assert "at line {} of your upsampling_block cell: `{}`".format(*block_line) in message
    assert "called from line {} of your unet_model cell: `{}`".format(*caller_line) in message


# --- 3. U-Net problems by block ---------------------------------------------------------

@pytest.mark.parametrize("replacements, message", [
    ([("cblock4[1], n_filters * 8)", "cblock4[1], n_filters * 16)")], "decoder block 1: expected 256 filters, got 512"),
    ([("(ublock9)", "(ublock9)\n    conv9 = ublock9")],
     "the convolution before the head: expected a 3x3 Conv2D with 32 filters and ReLU after decoder block 4, got none"),
    ([(", dropout_prob=0.3)", ")")], "encoder block 4: expected dropout 0.3, got none"),
    ([(", dropout_prob=0.3, max_pooling=False", ", max_pooling=False")], "encoder block 5: expected dropout 0.3, got none"),
    ([("Conv2D(n_classes, 1,", "Conv2D(n_classes - 1, 1,")], "the head (1x1 convolution): expected 23 filters, got 22"),
    ([("conv_block(cblock2[0], n_filters * 4)", "conv_block(cblock2[0], n_filters * 4, dropout_prob=0.3)")],
     "encoder block 3: expected no dropout, got dropout 0.3"),
    ([('Conv2D(n_classes, 1, padding="same")', 'Conv2D(n_classes, 1, padding="same", use_bias=False)')],
     "the head (1x1 convolution): expected use_bias True, got False"),
    ([("inputs = Input(input_size)", "inputs = Input((96, 128, 1))")],
     "the model's input: expected shape (None, 96, 128, 3), got (None, 96, 128, 1)"),
    ([('n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")(ublock9)',
       'n_filters, 3, padding="same", kernel_initializer="he_normal")(ublock9)')],
     "the convolution before the head: expected activation relu, got no activation"),
])
def test_unet_problems_are_reported_by_block(replacements, message):
    found = failure_of("unet_model", with_cells(unet_model=edit("unet_model", *replacements)))
    assert f"\n  - {message}" in found
    assert "parameters" not in found  # the block says it: no parameter count as well


def test_unet_model_with_wrong_blocks_is_reported_by_block():
    found = failure_of("unet_model", with_cells(
        upsampling_block=edit("upsampling_block", ('strides=(2, 2), padding="same"',
                                                   'strides=(2, 2), padding="same", activation="relu"'))))
    assert found == ("unet_model needs work:\n"
                     "  - the Conv2DTranspose of every decoder block: expected no activation, got relu")


def test_parameter_count_is_the_last_resort():
    # Grouped convolutions change nothing the blocks describe: the count is all there is to say.
    source = edit("unet_model", ('kernel_initializer="he_normal")(ublock9)', 'kernel_initializer="he_normal", groups=2)(ublock9)'))
    found = failure_of("unet_model", with_cells(unet_model=source))
    assert found == "unet_model needs work:\n  - expected 8,640,471 parameters, got 8,635,863"


# --- 4. one line per distinct problem ---------------------------------------------------

def test_missing_he_normal_is_one_line_not_six():
    found = failure_of("conv_block", define(edit("conv_block", (', kernel_initializer="he_normal"', ""))))
    assert found == ("conv_block needs work:\n"
                     "  - layers 1, 2 (Conv2D): expected kernel initializer 'HeNormal', got 'GlorotUniform'")


def test_missing_he_normal_everywhere_is_one_line_for_the_whole_unet():
    no_he = (', kernel_initializer="he_normal"', "")
    found = failure_of("unet_model", with_cells(**{name: edit(name, no_he) for name in REFERENCE}))
    assert found == ("unet_model needs work:\n"
                     "  - every Conv2D before the head: expected kernel initializer 'HeNormal', got 'GlorotUniform'")


def test_a_mistake_in_conv_block_is_one_line_for_every_encoder_block():
    found = failure_of("unet_model", with_cells(conv_block=edit("conv_block", ('activation="relu"', 'activation="sigmoid"'))))
    assert found == "unet_model needs work:\n  - every encoder block: expected activation relu, got sigmoid"


# --- 5. no tensor reprs, and the catalogue's verdicts -------------------------------------

WRONG_BY_NAME = {entry.name: entry for entry in WRONG}


@functools.cache
def public_failures(entry_name):
    """{function: message of its failed public test} for a catalogue entry, unet_model included."""
    entry = WRONG_BY_NAME[entry_name]
    ns = with_cells(**entry.cells)
    failures = {}
    for name in dict.fromkeys([*entry.cells, "unet_model"]):
        try:
            TESTS[name](ns[name])
        except unet_checks.CheckFailed as failure:
            failures[name] = str(failure)
    return failures


@pytest.mark.parametrize("entry", WRONG, ids=lambda entry: entry.name)
def test_wrong_code_gets_messages_without_tensor_reprs(entry):
    text = "\n".join(public_failures(entry.name).values())
    assert "KerasTensor" not in text and "keras_tensor" not in text and "dtype=" not in text, text
    assert "Traceback" not in text


def test_tensor_reprs_are_described_by_shape():
    text = ("Received: inputs=<KerasTensor shape=(None, 48, 64, 32), dtype=float32, sparse=False, ragged=False, "
            "name=keras_tensor_7>")
    assert unet_checks.plain(text) == "Received: inputs=a tensor of shape (None, 48, 64, 32)"


def test_wrong_calls_are_described_by_shape():
    ns = define(edit("upsampling_block", ("strides=(2, 2)", "strides=(1, 1)")))
    found = failure_of("upsampling_block", ns)
    assert ("when the test called upsampling_block(a tensor of shape (None, 12, 16, 256), "
            "a tensor of shape (None, 24, 32, 128), n_filters=64)") in found


@pytest.mark.parametrize("entry", EQUIVALENT, ids=lambda entry: entry.name)
def test_equivalent_code_passes_the_public_tests(entry, capsys):
    first = [source for after, source in entry.extra_cells if after == "code_04"]  # cells right after the imports
    try:
        ns = define(*first, *(entry.cells.get(name, source) for name, source in REFERENCE.items()))
        names = list(dict.fromkeys([*entry.cells, "unet_model"]))
        for name in names:
            TESTS[name](ns[name])
    finally:  # a global precision policy set by the entry's cells stays in this process
        tf.keras.config.set_dtype_policy("float32")
    assert capsys.readouterr().out.count("All tests passed") == len(names)



# --- 6. what only the hidden grading used to catch ------------------------------------------

# WRONG entries that pass every public test (only the hidden grading catches them), with why.
PASS_PUBLICLY = {
    "conv_convolves_only_eagerly": "the public tests read how the blocks are built; only grading runs them in a "
                                   "graph, as `fit` does, where its Conv2D computes zeros",
    "blocks_redefined_after_their_graded_cells": "the public tests run before the stubs replace the blocks; grading "
                                                 "grades them again where the notebook builds the network it trains",
}


@pytest.mark.parametrize("entry", WRONG, ids=lambda entry: entry.name)
def test_wrong_code_fails_a_public_test_unless_listed(entry):
    failures = public_failures(entry.name)
    if entry.name in PASS_PUBLICLY:
        assert not failures, f"{entry.name} now fails publicly: remove it from PASS_PUBLICLY"
    else:
        assert failures, f"{entry.name} passes every public test"


@pytest.mark.parametrize("entry_name, function, message", [
    ("conv_dilated", "conv_block", "layer 1 (Conv2D): expected dilation rate (1, 1), got (2, 2)"),
    ("conv_dilated", "unet_model", "the first convolution of every encoder block: expected dilation rate (1, 1), got (2, 2)"),
    ("unet_dilated_head", "unet_model", "the head (1x1 convolution): expected dilation rate (1, 1), got (2, 2)"),
    ("conv_frozen_layers", "conv_block",
     "layer 2 (Conv2D): its weights are frozen (trainable=False); the network must be able to learn them"),
    ("unet_frozen_head", "unet_model",
     "the head (1x1 convolution): its weights are frozen (trainable=False); the network must be able to learn them"),
    ("conv_sigmoid_named_relu", "conv_block", "layers 1, 2 (Conv2D): the activation computes something other than ReLU"),
    ("conv_sigmoid_named_relu", "unet_model", "every encoder block: the activation computes something other than ReLU"),
    ("conv_dropout_hard_coded", "conv_block", "with dropout_prob=0.2, layer 3 (Dropout): expected dropout rate 0.2, got 0.3"),
    ("unet_classes_hard_coded", "unet_model", "with n_classes=5: the head (1x1 convolution): expected 5 filters, got 23"),
    ("unet_filters_hard_coded", "unet_model", "with n_filters=8: encoder block 1: expected 8 filters, got 32"),
    ("unet_input_size_hard_coded", "unet_model",
     "with input_size=(64, 96, 3): the model's input: expected shape (None, 64, 96, 3), got (None, 96, 128, 3) "
     "(make it Input(input_size))"),
    ("conv_default_64_filters", "conv_block",
     "conv_block(inputs) with its defaults, layers 1, 2 (Conv2D): expected 32 filters, got 64"),
    ("upsampling_default_16_filters", "upsampling_block",
     "upsampling_block(expansive_input, contractive_input) with its defaults, layer 1 (Conv2DTranspose): "
     "expected 32 filters, got 16"),
    ("unet_no_default_input_size", "unet_model",
     "input_size has no default: the graded cells also call unet_model(), so give it the default the exercise "
     "shows, input_size=(96, 128, 3)"),
    ("conv_zero_conv2d_subclass", "conv_block",
     "next_layer, layer 1: expected Conv2D with 32 filters, got a layer class of your own named Conv2D"),
    ("unet_cached_model", "unet_model",
     "with input_size=(64, 96, 3), n_filters=8, n_classes=5: unet_model returned the model of its first call "
     "again; it must build a new model from its arguments on every call"),
])
def test_newly_caught_mistakes_are_explained(entry_name, function, message):
    found = public_failures(entry_name).get(function)
    assert found is not None, f"{entry_name} passes test_{function}"
    assert f"\n  - {message}" in found.split("needs work:", 1)[-1] + "\n", found


def test_hard_coded_values_are_one_line_each():
    assert public_failures("unet_classes_hard_coded")["unet_model"] == (
        "unet_model needs work:\n  - with n_classes=5: the head (1x1 convolution): expected 5 filters, got 23")
    assert public_failures("conv_dropout_hard_coded")["conv_block"] == (
        "conv_block needs work:\n  - with dropout_prob=0.2, layer 3 (Dropout): expected dropout rate 0.2, got 0.3")


def test_other_arguments_are_tried_only_once_the_first_pass():
    # Filters written as 32 already fail at the U-Net's sizes: no second line for n_filters=16.
    found = public_failures("conv_filters_hard_coded")["conv_block"]
    assert found == ("conv_block needs work:\n"
                     "  - with dropout_prob=0.3, max_pooling=False, layers 1, 2 (Conv2D): expected 512 filters, got 32")


@pytest.mark.parametrize("activation", ["lambda x: tf.maximum(x, 0.0)", "tf.nn.relu", "tf.keras.activations.relu"])
def test_anything_that_computes_relu_is_relu(activation, capsys):
    ns = define(edit("conv_block", ('activation="relu"', f"activation={activation}")))
    unet_checks.test_conv_block(ns["conv_block"])
    assert "All tests passed" in capsys.readouterr().out


@pytest.mark.parametrize("activation, message", [
    ('"relu6"', "layers 1, 2 (Conv2D): expected activation relu, got relu6"),
    ('"sigmoid"', "layers 1, 2 (Conv2D): expected activation relu, got sigmoid"),
])
def test_activations_that_are_not_relu_keep_their_name(activation, message):
    found = failure_of("conv_block", define(edit("conv_block", ('activation="relu"', f"activation={activation}"))))
    assert found == f"conv_block needs work:\n  - {message}"


def test_an_identity_named_otherwise_is_no_activation_and_linear_must_be_the_identity():
    source = edit("upsampling_block", ("    up = ", "    def linear(x):\n        return tf.sigmoid(x)\n    up = "),
                  ('strides=(2, 2), padding="same"', 'strides=(2, 2), padding="same", activation=linear'))
    assert failure_of("upsampling_block", define(source)) == (
        "upsampling_block needs work:\n  - upsampling_block, layer 1 (Conv2DTranspose): expected no activation, "
        "got a function named linear that computes something other than its input")
    identity = edit("upsampling_block", ('strides=(2, 2), padding="same"',
                                         'strides=(2, 2), padding="same", activation=lambda x: x'))
    unet_checks.test_upsampling_block(define(identity)["upsampling_block"])


def test_classes_of_the_students_own_are_named_as_grading_names_them():
    """Grading runs only inference, so it refuses an initializer or a model class of one's
    own (tests/judge/test_evidence_of_computation.py); the public tests say so first."""
    initializer = ("class HeNormal(tf.keras.initializers.HeNormal):\n    pass\n\n\n"
                   + edit("conv_block", ('kernel_initializer="he_normal"', "kernel_initializer=HeNormal()")))
    assert "an initializer class of your own named HeNormal" in failure_of("conv_block", with_cells(conv_block=initializer))
    model = ("class UNet(tf.keras.Model):\n    pass\n\n\n"
             + edit("unet_model", ("model = tf.keras.Model(", "model = UNet(")))
    assert "unet_model returns a model class of your own (UNet)" in failure_of("unet_model", with_cells(unet_model=model))


UNET_HEADER = "def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23):"


@pytest.mark.parametrize("header, builds", [
    (UNET_HEADER, 2),  # the defaults are the values of the first call: unet_model() is that call
    ("def unet_model(input_size=[96, 128, 3], n_filters=32, n_classes=23):", 3),
    ("def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23, *, extra=None):", 2),
    ("def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23, *extra):", 2),
])
def test_unet_model_is_called_by_default_unless_that_is_the_first_call(header, builds, capsys):
    """The public test calls unet_model() to check its defaults; when the signature's defaults
    are exactly the values it was first called with, that call would build the same 8.6
    million weights again, so it is not made."""
    ns = define("builds = []", *REFERENCE.values(),
                edit("unet_model", (UNET_HEADER, header + "\n    builds.append(1)")))
    unet_checks.test_unet_model(ns["unet_model"])
    assert "All tests passed" in capsys.readouterr().out
    assert len(ns["builds"]) == builds


def test_a_wrong_default_of_unet_model_is_still_caught():
    ns = define(*REFERENCE.values(), edit("unet_model", (UNET_HEADER, UNET_HEADER.replace("23", "22"))))
    assert failure_of("unet_model", ns) == (
        "unet_model needs work:\n  - unet_model() with its defaults: expected input (None, 96, 128, 3), output "
        "(None, 96, 128, 23) and 8,640,471 parameters, got input (None, 96, 128, 3), output (None, 96, 128, 22) "
        "and 8,640,438 parameters")
    wrapped = define(*REFERENCE.values(), "import functools\nunet_model = functools.wraps(unet_model)("
                     "functools.partial(unet_model, n_classes=22))")
    assert "unet_model() with its defaults" in failure_of("unet_model", wrapped)
    # Equal but not the same value: the call by default is made, and fails.
    floats = define(*REFERENCE.values(), edit("unet_model", ("input_size=(96, 128, 3)", "input_size=(96.0, 128, 3)")))
    assert "when the test called unet_model()" in failure_of("unet_model", floats)
