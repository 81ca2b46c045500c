"""The public tests students run say what is wrong in their terms, and pass correct code."""

import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "source", "unet_segmentation"))

import unet_checks  # noqa: E402
from catalogue import REFERENCE, edit  # noqa: E402


def define(source):
    namespace = {}
    exec("import tensorflow as tf\nfrom tensorflow.keras.layers import Concatenate, Conv2D, Conv2DTranspose, "
         "Dropout, Input, MaxPooling2D\n" + source, namespace)
    return namespace


def reference():
    return define("\n\n".join(REFERENCE.values()))


def test_reference_passes_every_public_test(capsys):
    ns = reference()
    unet_checks.test_conv_block(ns["conv_block"])
    unet_checks.test_upsampling_block(ns["upsampling_block"])
    unet_checks.test_unet_model(ns["unet_model"])
    assert capsys.readouterr().out.count("All tests passed") == 3


@pytest.mark.parametrize("replacements, message", [
    ([("Conv2D(n_filters,", "Conv2D(16,")], "next_layer, layer 1 (Conv2D): expected filters 32, got 16"),
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
    ns = define("def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):\n"
                "    raise NotImplementedError()")
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
