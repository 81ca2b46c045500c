"""The judge in-process: evidence recorded from student code, verdicts and messages, and
evidence that was tampered with or made up."""

import json
import random
import sys

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course.assignment import SOURCE, NOTEBOOK
from course.judge import preprocessors as judge
from course.unet_segmentation import challenges

from fuzzing import mutate

sys.path.insert(0, str(SOURCE))
import unet_evidence  # noqa: E402

IMPORTS = ("import tensorflow as tf\n"
           "from tensorflow.keras.layers import Concatenate, Conv2D, Conv2DTranspose, Dropout, Input, MaxPooling2D\n")
REFERENCE = {cell.metadata["nbgrader"]["grade_id"]: cell.source
             for cell in nbformat.read(SOURCE / NOTEBOOK, as_version=4).cells
             if cell.metadata.get("nbgrader", {}).get("solution")}


def namespace(**edits):
    """The reference solution run in a fresh namespace, with (old, new) edits per function."""
    names = {}
    exec(IMPORTS, names)
    for function, source in REFERENCE.items():
        for old, new in edits.get(function, ()):
            assert old in source
            source = source.replace(old, new)
        exec(source, names)
    return names


def judged(names, grade_id):
    challenge = challenges.draw(grade_id)
    evidence = json.loads(json.dumps(unet_evidence.collect(judge.FUNCTION_OF[grade_id], names, challenge)))
    return judge.verdict(grade_id, challenge, evidence)


def test_the_reference_passes_every_graded_cell():
    names = namespace()
    for grade_id in judge.FUNCTION_OF:
        passed, message = judged(names, grade_id)
        assert passed, (grade_id, message)


@pytest.mark.parametrize("edits, grade_id, expected", [
    ({"conv_block": [('activation="relu"', 'activation="sigmoid"')]}, "grade_conv_block_arguments",
     "layer 1 (Conv2D): expected activation 'relu', got 'sigmoid'"),
    ({"conv_block": [('activation="relu"', 'activation=tf.nn.relu6')]}, "grade_conv_block_arguments",
     "layer 1 (Conv2D): expected activation 'relu', got 'relu6'"),
    ({"conv_block": [('kernel_initializer="he_normal")(inputs)', 'kernel_initializer="he_normal", trainable=False)(inputs)')]},
     "grade_conv_block_defaults", "layer 1 (Conv2D) is frozen (trainable=False)"),
    ({"upsampling_block": [('padding="same")(expansive_input)', 'padding="same", activation="relu")(expansive_input)')]},
     "grade_upsampling_block_defaults", "layer 1 (Conv2DTranspose): expected activation 'linear', got 'relu'"),
    ({"unet_model": [('Conv2D(n_classes, 1, padding="same")', 'Conv2D(n_classes, 1, padding="same", dilation_rate=2)')]},
     "grade_unet_model_arguments", "expected dilation rate (1, 1), got (2, 2)"),
    ({"conv_block": [('kernel_initializer="he_normal"', 'kernel_initializer="glorot_normal"')]},
     "grade_conv_block_arguments", "expected kernel initializer 'he_normal', got 'GlorotNormal()'"),
    ({"conv_block": [("Dropout(dropout_prob)", "Dropout(dropout_prob, noise_shape=(None, 1, 1, None))")]},
     "grade_conv_block_defaults", "sets noise_shape; the exercise does not use it"),
    ({"conv_block": [("Dropout(dropout_prob)(conv)", "tf.keras.layers.GaussianDropout(dropout_prob)(conv)")]},
     "grade_conv_block_defaults", "is a GaussianDropout (keras.src.layers.regularization.gaussian_dropout), "
                                  "which the grader does not know"),
])
def test_a_wrong_setting_fails_with_a_message_in_the_students_terms(edits, grade_id, expected):
    passed, message = judged(namespace(**edits), grade_id)
    assert not passed and expected in message, message
    assert "0x" not in message and "KerasTensor" not in message  # no object or tensor reprs


def test_a_stub_and_an_exception_are_reported():
    names = namespace(conv_block=[("    conv = Conv2D", "    raise ValueError('my bug')\n    conv = Conv2D")])
    passed, message = judged(names, "grade_conv_block_defaults")
    assert not passed and "conv_block raised ValueError: my bug" in message
    names = namespace(upsampling_block=[("    up = Conv2DTranspose", "    raise NotImplementedError()\n    up = Conv2DTranspose")])
    passed, message = judged(names, "grade_upsampling_block_defaults")
    assert not passed and message.endswith("upsampling_block is not implemented yet")


def test_evidence_for_other_arguments_or_another_run_is_refused():
    names = namespace()
    asked, other = challenges.draw("grade_conv_block_arguments"), challenges.draw("grade_conv_block_arguments")
    evidence = json.loads(json.dumps(unet_evidence.collect("conv_block", names, other)))
    passed, message = judge.verdict("grade_conv_block_arguments", asked, evidence)
    assert not passed and "not made for this grading run" in message
    evidence["nonce"] = asked["nonce"]  # right nonce, evidence for other arguments
    passed, message = judge.verdict("grade_conv_block_arguments", asked, evidence)
    assert not passed, message


def test_a_unet_with_a_wrong_block_still_passes_exercise_3():
    """unet_model is judged with the blocks it calls, not with how the blocks are written."""
    names = namespace(conv_block=[('activation="relu"', 'activation="tanh"')])
    assert not judged(names, "grade_conv_block_defaults")[0]
    assert judged(names, "grade_unet_model_defaults")[0] and judged(names, "grade_unet_model_arguments")[0]


_REFERENCE_NAMES = namespace()
_CHALLENGE = challenges.draw("grade_upsampling_block_arguments")
_EVIDENCE = json.loads(json.dumps(unet_evidence.collect("upsampling_block", _REFERENCE_NAMES, _CHALLENGE)))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 4))
def test_corrupted_evidence_is_judged_never_raises_and_never_passes_by_accident(seed, count):
    evidence = mutate(json.loads(json.dumps(_EVIDENCE)), random.Random(seed), count)
    passed, message = judge.verdict("grade_upsampling_block_arguments", _CHALLENGE, evidence)
    assert isinstance(message, str) and message
    if passed:  # only a change that leaves the description equivalent may pass
        assert evidence["nonce"] == _CHALLENGE["nonce"]


# --- the U-Net built with the student's own blocks (issue 31) ---------------------------------

def _assembled_evidence(names):
    challenge = challenges.draw("grade_unet_model_defaults")
    return challenge, json.loads(json.dumps(unet_evidence.collect("unet_model", names, challenge)))


def test_the_reference_u_net_built_with_its_own_blocks_is_the_exercises():
    challenge, evidence = _assembled_evidence(namespace())
    assembled = evidence["assembled"]
    assert "error" not in assembled and len(assembled["calls"]) == 9 and assembled["modes"] is None
    assert judge.assembly_problems(challenge, evidence, set(judge.FUNCTION_OF.values())) == {}


def test_a_u_net_with_its_own_blocks_is_judged_only_for_exercises_that_passed_their_own_cells():
    """A wrong conv_block (always pooling) breaks the upsampling blocks' calls in the U-Net:
    conv_block, which fails its own cells, is not blamed twice, nor upsampling_block at all."""
    names = namespace(conv_block=[("    if max_pooling:\n", "    if True:\n")])
    challenge, evidence = _assembled_evidence(names)
    assert "error" in evidence["assembled"]
    assert evidence["assembled"]["alone"]["upsampling_block"] is None
    assert judge.assembly_problems(challenge, evidence, {"upsampling_block", "unet_model"}) == {}


def test_the_u_net_with_its_own_blocks_is_part_of_the_evidence_format():
    challenge, evidence = _assembled_evidence(namespace())
    for broken in ({"error": "x", "blame": ["numpy"], "alone": {"conv_block": None, "upsampling_block": None}},
                   {"error": "x", "blame": ["conv_block"]}, "not a description",
                   dict(evidence["assembled"], calls=[{"block": "conv_block", "settings": {}, "inputs": [10**6],
                                                       "outputs": [1]}]),
                   dict(evidence["assembled"], modes="exec")):
        passed, message = judge.verdict("grade_unet_model_defaults", challenge, dict(evidence, assembled=broken))
        assert not passed and message.startswith("no valid evidence: ") and "U-Net built with your own blocks" in message, message
    missing = {key: value for key, value in evidence.items() if key != "assembled"}
    assert not judge.verdict("grade_unet_model_defaults", challenge, missing)[0]
