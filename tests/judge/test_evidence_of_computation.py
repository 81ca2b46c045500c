"""Evidence of computation: the kernel runs the student's real network with weights and
inputs drawn from the grading run's secret, and the judge checks the numbers against what
the described network computes (course/judge/network.py). A layer must compute what its
settings say: right names with a wrong computation get no points."""

import copy
import json

import pytest

from course.judge import preprocessors as judge, network
from course.unet_segmentation import challenges
from test_judge import REFERENCE, judged, namespace, unet_evidence

COMPUTES_OTHERWISE = "the network does not compute what its layers' settings say"
FAKE_CONV = '''
class Conv2D(tf.keras.layers.Conv2D):
    def call(self, x):
        return tf.keras.ops.zeros_like(super().call(x))
Conv2D.__module__, Conv2D.__name__, Conv2D.__qualname__ = tf.keras.layers.Conv2D.__module__, "Conv2D", "Conv2D"
'''
PROBE_AWARE = '''
def relu(x):  # ReLU on the recorder's probe, a sigmoid on everything else
    return tf.nn.relu(x) if tuple(x.shape) == (1, 8) else tf.sigmoid(x)
'''


@pytest.mark.parametrize("names, grade_id, expected", [
    (lambda: _prelude_and(FAKE_CONV, "conv_block"), "grade_conv_block_arguments",
     "layer 1 (Conv2D) is a layer class of your own"),
    (lambda: _prelude_and(PROBE_AWARE, "conv_block", ('activation="relu"', "activation=relu")),
     "grade_conv_block_arguments", COMPUTES_OTHERWISE),
    (lambda: namespace(conv_block=[('activation="relu"', "activation=tf.keras.layers.ReLU(threshold=0.2)")]),
     "grade_conv_block_arguments", COMPUTES_OTHERWISE),
    (lambda: namespace(conv_block=[('activation="relu"', "activation=tf.keras.layers.ReLU(max_value=8.5)")]),
     "grade_conv_block_arguments", COMPUTES_OTHERWISE),
    (lambda: namespace(conv_block=[('activation="relu", ', ""),
                                   ("(inputs)\n", "(inputs)\n    conv = tf.keras.layers.ReLU(max_value=8.5)(conv)\n")]),
     "grade_conv_block_arguments", "expected activation 'relu', got 'ReLU(max_value=8.5)'"),
    (lambda: namespace(conv_block=[("MaxPooling2D(pool_size=(2, 2))",
                                    'MaxPooling2D(pool_size=(2, 2), data_format="channels_first")')]),
     "grade_conv_block_arguments", "uses data_format 'channels_first'; keep channels_last"),
    (lambda: namespace(upsampling_block=[("Concatenate(axis=3)([up, contractive_input])",
                                          "tf.keras.layers.Lambda(lambda t: tf.keras.ops.concatenate([t[0], 0 * t[1]], axis=3))([up, contractive_input])")]),
     "grade_upsampling_block_arguments", "Lambda"),
])
def test_right_names_with_a_wrong_computation_fail(names, grade_id, expected):
    passed, message = judged(names(), grade_id)
    assert not passed and expected in message, message


def test_one_layer_object_called_twice_is_named():
    """Where the channels allow it, Keras accepts a layer called twice: one set of weights."""
    names = namespace(conv_block=[
        ('    conv = Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")(inputs)\n'
         '    conv = Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")(conv)\n',
         '    layer = Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")\n'
         '    conv = layer(layer(inputs))\n')])
    challenge = challenges.draw("grade_conv_block_arguments")
    for case in challenge["cases"]:
        case["inputs"][0][-1] = case["kwargs"]["n_filters"]
    evidence = json.loads(json.dumps(unet_evidence.collect("conv_block", names, challenge)))
    passed, message = judge.verdict("grade_conv_block_arguments", challenge, evidence)
    assert not passed and "layer object is called at two places" in message, message


def test_a_fake_layer_fails_by_its_numbers_even_if_its_class_passed_for_keras(monkeypatch):
    """Two defences: were the class check fooled, the numbers still give it away."""
    monkeypatch.setattr(unet_evidence, "_own_classes", lambda operation: [])
    passed, message = judged(_prelude_and(FAKE_CONV, "conv_block"), "grade_conv_block_arguments")
    assert not passed and COMPUTES_OTHERWISE in message, message


def test_merging_with_keras_ops_concatenate_is_the_same_model():
    names = namespace(upsampling_block=[("Concatenate(axis=3)([up, contractive_input])",
                                         "tf.keras.ops.concatenate([up, contractive_input], axis=3)")])
    for grade_id in ("grade_upsampling_block_defaults", "grade_upsampling_block_arguments"):
        assert judged(names, grade_id)[0]


def test_every_graded_cell_of_the_reference_passes_for_many_secrets():
    """float32 in the kernel against float64 in the judge: the tolerance holds."""
    names = namespace()
    for _ in range(8):
        for grade_id in judge.FUNCTION_OF:
            passed, message = judged(names, grade_id)
            assert passed, (grade_id, message)


def _recorded(grade_id):
    challenge = challenges.draw(grade_id)
    evidence = unet_evidence.collect(judge.FUNCTION_OF[grade_id], namespace(), challenge)
    return challenge, json.loads(json.dumps(evidence))


@pytest.mark.parametrize("grade_id", ["grade_conv_block_arguments", "grade_unet_model_arguments"])
def test_a_right_description_with_made_up_numbers_fails(grade_id):
    """What a forged recorder would send: the right layers, numbers that are not theirs."""
    challenge, evidence = _recorded(grade_id)
    assert judge.verdict(grade_id, challenge, evidence)[0]
    forged = []
    missing = copy.deepcopy(evidence)
    del missing["cases"][0]["computed"]
    forged.append(missing)
    nudged = copy.deepcopy(evidence)
    sample = nudged["cases"][-1]["computed"]["outputs"][0]["sample"]
    sample[max(range(len(sample)), key=lambda i: abs(sample[i]))] *= 1.01  # its largest value, 1% off
    forged.append(nudged)
    other_secret = dict(challenge, seed=challenge["seed"] + 1)  # numbers computed for another secret
    forged.append(json.loads(json.dumps(unet_evidence.collect(judge.FUNCTION_OF[grade_id], namespace(), other_secret))))
    zeros = copy.deepcopy(evidence)
    for output in zeros["cases"][0]["computed"]["outputs"]:
        output.update(sums=[0.0, 0.0, 0.0], sample=[0.0] * len(output["sample"]))
    forged.append(zeros)
    for evidence in forged:
        passed, message = judge.verdict(grade_id, challenge, evidence)
        assert not passed, message


def test_an_error_while_running_is_reported_in_the_students_terms():
    challenge, evidence = _recorded("grade_conv_block_defaults")
    evidence["cases"][1]["computed"] = {"error": "InvalidArgumentError: my layer broke"}
    passed, message = judge.verdict("grade_conv_block_defaults", challenge, evidence)
    assert not passed and "could not be run on the grader's test inputs: InvalidArgumentError: my layer broke" in message


def test_kernel_and_judge_draw_the_same_weights_and_inputs():
    for args in [(5, 0, 3, 0, (3, 3, 4, 8)), (2**61, 2, 399, 1, (8,)), (7, 1, 10**6, 0, (2, 5))]:
        assert (unet_evidence.seeded(*args) == network.seeded(*args)).all()
    assert (unet_evidence.test_input(9, 1, 0, (4, 6, 2)) == network.test_input(9, 1, 0, (4, 6, 2))).all()
    assert (unet_evidence.sample_places(9, 1, 0, 1000) == network.sample_places(9, 1, 0, 1000)).all()
    assert unet_evidence.SAMPLE == network.SAMPLE and unet_evidence.BATCH == network.BATCH


# Found by a red-team helper: what inference alone never shows.
ZERO_HE_NORMAL = '''
class HeNormal(tf.keras.initializers.HeNormal):
    def __call__(self, shape, dtype=None, **kwargs):
        return tf.zeros(shape, dtype or "float32")
'''
TRAINS_TO_ZERO = '''
class Conv2D(tf.keras.layers.Conv2D):
    __module__ = "keras.src.layers.convolutional.conv2d"
    def call(self, inputs, training=None):
        out = super().call(inputs)
        return out if not training else tf.zeros_like(out)
'''
ZERO_MODEL = '''
class UNet(tf.keras.Model):
    def call(self, inputs, training=None, mask=None):
        return tf.zeros_like(super().call(inputs))
'''


def _prelude_and(prelude, function, *edits):
    """The reference, with `function` defined again, after `prelude` and with `edits`."""
    names = namespace()
    exec(prelude, names)
    source = REFERENCE[function]
    for old, new in edits:
        assert old in source
        source = source.replace(old, new)
    exec(source, names)
    return names


@pytest.mark.parametrize("names, grade_id, expected", [
    (lambda: _prelude_and(ZERO_HE_NORMAL, "conv_block", ('kernel_initializer="he_normal"', "kernel_initializer=HeNormal()")),
     "grade_conv_block_arguments", "its kernel initializer is a class of your own, not Keras's"),
    (lambda: _prelude_and(TRAINS_TO_ZERO, "conv_block"), "grade_conv_block_defaults",
     "layer 1 (Conv2D) is a layer class of your own, not Keras's"),
    (lambda: _prelude_and(ZERO_MODEL, "unet_model", ("model = tf.keras.Model(", "model = UNet(")),
     "grade_unet_model_defaults", "unet_model returns a model class of your own (UNet)"),
    (lambda: namespace(
        conv_block=[("max_pooling=True):", "max_pooling=True, lazy=False):"),
                    ("    conv = Conv2D(n_filters, 3, activation=\"relu\", padding=\"same\", kernel_initializer=\"he_normal\")(inputs)",
                     "    if lazy:\n        return MaxPooling2D()(inputs), inputs\n"
                     "    conv = Conv2D(n_filters, 3, activation=\"relu\", padding=\"same\", kernel_initializer=\"he_normal\")(inputs)")],
        unet_model=[("conv_block(cblock1[0], n_filters * 2)", "conv_block(cblock1[0], n_filters * 2, lazy=True)")]),
     "grade_unet_model_arguments", "unet_model calls conv_block with lazy=True, an argument the exercise's conv_block"),
])
def test_what_only_training_or_real_use_would_show_fails(names, grade_id, expected):
    passed, message = judged(names(), grade_id)
    assert not passed and expected in message, message


def test_the_recorder_computes_in_float32_whatever_precision_the_notebook_set():
    """A student may set a mixed-precision policy, or float16 as Keras's default float type, to
    train faster: while the recorder runs, the student's functions make float32 layers and
    inputs, and afterwards the notebook's settings are as it left them (issue 32)."""
    import tensorflow as tf

    names = namespace()
    seen, conv_block = [], names["conv_block"]

    def watched(*args, **kwargs):
        seen.append((tf.keras.config.dtype_policy().name, tf.keras.config.floatx()))
        return conv_block(*args, **kwargs)

    names["conv_block"] = watched
    tf.keras.config.set_floatx("float16")
    tf.keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        for _ in range(4):  # before the floatx was pinned, about one secret in ten failed
            for grade_id in ("grade_conv_block_arguments", "grade_unet_model_arguments"):
                passed, message = judged(names, grade_id)
                assert passed, (grade_id, message)
        assert (tf.keras.config.dtype_policy().name, tf.keras.config.floatx()) == ("mixed_bfloat16", "float16")
    finally:
        tf.keras.config.set_floatx("float32")
        tf.keras.config.set_dtype_policy("float32")
    assert seen and set(seen) == {("float32", "float32")}
