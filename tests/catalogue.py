"""Student code of the kind students really write, with the verdict each must get.

Each entry replaces the code of one or more exercise cells of the release (and may add
cells). `loses` names the exercises that must lose points; every other exercise must get
full marks. Wrong entries come first, then equivalent correct ones (`loses` empty).
"""

from dataclasses import dataclass, field

import nbformat

from course.assignment import NOTEBOOK, SOURCE


def _reference():
    cells = {}
    for cell in nbformat.read(SOURCE / NOTEBOOK, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            lines = [line for line in cell.source.splitlines() if "SOLUTION" not in line]
            cells[meta["grade_id"]] = "\n".join(lines)
    return cells


REFERENCE = _reference()
EXERCISE_OF = {"conv_block": 1, "upsampling_block": 2, "unet_model": 3}


def edit(function, *replacements):
    """The reference code of `function` with (old, new[, count]) replacements applied."""
    source = REFERENCE[function]
    for old, new, *count in replacements:
        assert old in source, f"{function}: {old!r} not in the reference"
        source = source.replace(old, new, *count)
    return source


@dataclass
class Entry:
    name: str
    cells: dict  # function name -> new source of its cell
    loses: tuple = ()  # exercises that must lose points
    extra_cells: list = field(default_factory=list)  # (after grade_id, source)


CONV = 'Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")'
POOL = "MaxPooling2D(pool_size=(2, 2))(conv)"


ZERO_CONV = '''class Conv2D(tf.keras.layers.Conv2D):
    """Outputs zeros, under Keras's own module and class name."""
    __module__ = tf.keras.layers.Conv2D.__module__

    def call(self, inputs):
        return tf.keras.ops.zeros_like(super().call(inputs))


'''
PROBE_AWARE = '''def relu(x):
    """ReLU on a tensor of the recorder's probe's shape, a sigmoid on everything else."""
    return tf.nn.relu(x) if tuple(x.shape) == (1, 8) else tf.sigmoid(x)


'''


EAGER_ONLY = '''def _eager_only_conv(filters):
    """Keras's own Conv2D, whose instance convolves when run eagerly and outputs zeros in a graph."""
    made = [Conv2D(filters, 3, activation="relu", padding="same", kernel_initializer="he_normal")]
    convolve = made[0].call

    def call(inputs, *args, **kwargs):
        out = convolve(inputs, *args, **kwargs)
        return out if tf.executing_eagerly() else tf.zeros_like(out)

    made[0].call = call
    return made[0]


'''
LOGGED = '''def logged(function):
    """Prints each call: a decorator without functools.wraps."""
    def wrapper(*args, **kwargs):
        print("calling", function.__name__)
        return function(*args, **kwargs)
    return wrapper


'''


def wrong(name, function, *replacements):
    return Entry(name, {function: edit(function, *replacements)}, loses=(EXERCISE_OF[function],))


def same(name, function, *replacements, extra_cells=()):
    return Entry(name, {function: edit(function, *replacements)}, extra_cells=list(extra_cells))


WRONG = [
    # --- exercise 1: conv_block ---------------------------------------------------------
    wrong("conv_kernel_5x5", "conv_block", ("Conv2D(n_filters, 3,", "Conv2D(n_filters, 5,", 1)),
    wrong("conv_no_activation", "conv_block", ('activation="relu", ', "")),
    wrong("conv_sigmoid", "conv_block", ('activation="relu"', 'activation="sigmoid"')),
    wrong("conv_padding_valid", "conv_block", ('padding="same"', 'padding="valid"')),
    wrong("conv_no_initializer", "conv_block", (', kernel_initializer="he_normal"', "")),
    wrong("conv_glorot_initializer", "conv_block", ('"he_normal"', '"glorot_normal"', 1)),
    wrong("conv_dropout_hard_coded", "conv_block", ("Dropout(dropout_prob)", "Dropout(0.3)")),
    wrong("conv_dropout_before_convs", "conv_block",
          (f"    conv = {CONV}(inputs)\n", "    if dropout_prob > 0:\n        inputs = Dropout(dropout_prob)(inputs)\n"
                                          f"    conv = {CONV}(inputs)\n"),
          ("    if dropout_prob > 0:\n        conv = Dropout(dropout_prob)(conv)\n", "")),
    wrong("conv_skip_after_pooling", "conv_block",
          ("    skip_connection = conv\n", ""), ("    return next_layer, skip_connection",
                                                 "    skip_connection = next_layer\n    return next_layer, skip_connection")),
    wrong("conv_always_pools", "conv_block", ("if max_pooling:", "if True:")),
    wrong("conv_never_pools", "conv_block", ("if max_pooling:", "if False:")),
    wrong("conv_filters_hard_coded", "conv_block", ("Conv2D(n_filters,", "Conv2D(32,")),
    wrong("conv_outputs_swapped", "conv_block", ("return next_layer, skip_connection", "return skip_connection, next_layer")),
    wrong("conv_one_convolution", "conv_block", (f"    conv = {CONV}(conv)\n", "")),
    wrong("conv_three_convolutions", "conv_block", (f"    conv = {CONV}(conv)\n", f"    conv = {CONV}(conv)\n" * 2)),
    wrong("conv_pool_3x3_stride_2", "conv_block", (POOL, 'MaxPooling2D(3, strides=2, padding="same")(conv)')),
    wrong("conv_average_pooling", "conv_block", (POOL, "tf.keras.layers.AveragePooling2D(2)(conv)")),
    wrong("conv_frozen_layers", "conv_block", ('kernel_initializer="he_normal")(conv)',
                                               'kernel_initializer="he_normal", trainable=False)(conv)')),
    wrong("conv_sigmoid_named_relu", "conv_block", ("    conv = Conv2D", "    def relu(x):\n        return tf.sigmoid(x)\n"
                                                                      "    conv = Conv2D", 1),
          ('activation="relu"', "activation=relu")),
    wrong("conv_dilated", "conv_block", ('kernel_initializer="he_normal")(inputs)',
                                         'kernel_initializer="he_normal", dilation_rate=2)(inputs)')),
    # --- exercise 2: upsampling_block -------------------------------------------------------
    wrong("up_kernel_2x2", "upsampling_block", ("Conv2DTranspose(n_filters, 3,", "Conv2DTranspose(n_filters, 2,")),
    wrong("up_no_stride", "upsampling_block", ("strides=(2, 2)", "strides=(1, 1)")),
    wrong("up_upsampling2d", "upsampling_block",
          ('Conv2DTranspose(n_filters, 3, strides=(2, 2), padding="same")(expansive_input)',
           "tf.keras.layers.UpSampling2D(2)(expansive_input)")),
    wrong("up_no_skip_connection", "upsampling_block", ("Concatenate(axis=3)([up, contractive_input])", "up")),
    wrong("up_filters_hard_coded", "upsampling_block", ("(n_filters,", "(32,")),
    wrong("up_conv_without_activation", "upsampling_block", ('activation="relu", ', "")),
    wrong("up_transposed_with_relu", "upsampling_block", ('strides=(2, 2), padding="same"',
                                                          'strides=(2, 2), padding="same", activation="relu"')),
    wrong("up_one_convolution", "upsampling_block", (f"    conv = {CONV}(conv)\n", "")),
    wrong("up_add_instead_of_concatenate", "upsampling_block",
          ("Concatenate(axis=3)([up, contractive_input])", "tf.keras.layers.Add()([up, contractive_input])")),
    # --- exercise 3: unet_model -------------------------------------------------------------
    wrong("unet_softmax_on_logits", "unet_model", ('Conv2D(n_classes, 1, padding="same")',
                                                   'Conv2D(n_classes, 1, padding="same", activation="softmax")')),
    wrong("unet_wrong_skip_level", "unet_model", ("upsampling_block(ublock8, cblock1[1], n_filters)",
                                                  "upsampling_block(ublock8, cblock1[0], n_filters)")),
    wrong("unet_decoder_filters_not_halved", "unet_model", ("cblock3[1], n_filters * 4", "cblock3[1], n_filters * 8"),
          ("cblock2[1], n_filters * 2", "cblock2[1], n_filters * 8"), ("cblock1[1], n_filters)", "cblock1[1], n_filters * 8)")),
    wrong("unet_no_dropout", "unet_model", (", dropout_prob=0.3", "")),
    wrong("unet_dropout_in_wrong_blocks", "unet_model", ("conv_block(cblock2[0], n_filters * 4)",
                                                         "conv_block(cblock2[0], n_filters * 4, dropout_prob=0.3)"),
          ("conv_block(cblock3[0], n_filters * 8, dropout_prob=0.3)", "conv_block(cblock3[0], n_filters * 8)")),
    wrong("unet_classes_hard_coded", "unet_model", ("Conv2D(n_classes, 1,", "Conv2D(23, 1,")),
    wrong("unet_filters_hard_coded", "unet_model", ("n_filters * 16", "512"), ("n_filters * 8", "256"),
          ("n_filters * 4", "128"), ("n_filters * 2", "64"), ("cblock1 = conv_block(inputs, n_filters)",
                                                              "cblock1 = conv_block(inputs, 32)")),
    wrong("unet_input_size_hard_coded", "unet_model", ("inputs = Input(input_size)", "inputs = Input((96, 128, 3))")),
    wrong("unet_no_head_convolution", "unet_model", ("(ublock9)", "(ublock9)\n    conv9 = ublock9")),
    wrong("unet_head_3x3_logits", "unet_model", ("Conv2D(n_classes, 1,", "Conv2D(n_classes, 3,")),
    wrong("unet_dilated_head", "unet_model", ('Conv2D(n_classes, 1, padding="same")',
                                              'Conv2D(n_classes, 1, padding="same", dilation_rate=2)')),
    wrong("unet_frozen_head", "unet_model", ('Conv2D(n_classes, 1, padding="same")',
                                             'Conv2D(n_classes, 1, padding="same", trainable=False)')),
    wrong("unet_bottleneck_pooled", "unet_model", ("dropout_prob=0.3, max_pooling=False", "dropout_prob=0.3")),
    Entry("unet_cached_model", {"unet_model": edit("unet_model", ("    inputs = Input(input_size)\n",
                                                                  "    global _CACHED\n    if '_CACHED' in globals():\n"
                                                                  "        return _CACHED\n    inputs = Input(input_size)\n"),
                                                   ("    return model", "    _CACHED = model\n    return model"))},
          loses=(3,)),
    # --- defaults: the graded cells also call each function with its first arguments only --
    wrong("conv_default_64_filters", "conv_block", ("n_filters=32,", "n_filters=64,")),
    wrong("upsampling_default_16_filters", "upsampling_block", ("n_filters=32", "n_filters=16", 1)),
    wrong("unet_no_default_input_size", "unet_model", ("def unet_model(input_size=(96, 128, 3),",
                                                       "def unet_model(input_size,")),
    wrong("unet_float_filters", "unet_model", ("n_filters * 8)", "n_filters * 8.0)")),
    # --- right names, wrong computation: only what the real network computes counts --------
    Entry("conv_zero_conv2d_subclass", {"conv_block": ZERO_CONV + edit("conv_block")}, loses=(1, 2, 3)),
    Entry("conv_probe_aware_activation", {"conv_block": PROBE_AWARE + edit("conv_block", ('activation="relu"', "activation=relu"))},
          loses=(1,)),
    wrong("conv_relu_threshold", "conv_block", ('activation="relu"', "activation=tf.keras.layers.ReLU(threshold=0.2)")),
    wrong("conv_relu_layers_capped", "conv_block", ('activation="relu", ', ""),
          ("(inputs)\n", "(inputs)\n    conv = tf.keras.layers.ReLU(max_value=8.5)(conv)\n"),
          ("(conv)\n    if dropout_prob", "(conv)\n    conv = tf.keras.layers.ReLU(max_value=8.5)(conv)\n    if dropout_prob")),
    wrong("conv_pool_channels_first", "conv_block", (POOL, 'MaxPooling2D(2, data_format="channels_first")(conv)')),
    wrong("unet_skip_from_a_copy_of_the_block", "unet_model", ("upsampling_block(ublock8, cblock1[1], n_filters)",
                                                               "upsampling_block(ublock8, conv_block(inputs, n_filters)[1], n_filters)")),

    # --- issue 31: what only the network the notebook trains shows ---------------------
    Entry("conv_convolves_only_eagerly", {"conv_block": EAGER_ONLY + edit("conv_block", (CONV, "_eager_only_conv(n_filters)"))},
          loses=(1,)),
    Entry("blocks_drop_relu_at_the_unets_sizes", {
        "conv_block": edit("conv_block", ("    conv = Conv2D", "    act = 'relu' if inputs.shape[1] <= 24 and n_filters <= 24 "
                                          "else None\n    conv = Conv2D", 1), ('activation="relu"', "activation=act")),
        "upsampling_block": edit("upsampling_block", ("    up = Conv2DTranspose", "    act = 'relu' if n_filters <= 24 and "
                                                      "expansive_input.shape[1] <= 12 else None\n    up = Conv2DTranspose"),
                                 ('activation="relu"', "activation=act"))}, loses=(1, 2)),
    Entry("blocks_with_fixed_layer_names", {
        "conv_block": edit("conv_block", (CONV, CONV.replace(")", ', name="enc_a")'), 1),
                           (CONV, CONV.replace(")", ', name="enc_b")'), 1)),
        "upsampling_block": edit("upsampling_block", ("strides=(2, 2),", 'strides=(2, 2), name="dec_up",'))}, loses=(1, 2)),
    wrong("up_returns_a_one_tuple", "upsampling_block", ("    return conv", "    return conv,")),
    wrong("up_lambda_adds_instead", "upsampling_block", ("Concatenate(axis=3)([up, contractive_input])",
                                                       "tf.keras.layers.Lambda(lambda t: tf.concat([t[0], t[1] + 1.0], "
                                                       "axis=-1))([up, contractive_input])")),
    Entry("blocks_redefined_after_their_graded_cells", {"unet_model": REFERENCE["unet_model"]}, loses=(1, 2),
          extra_cells=[("grade_unet_model_arguments", "%%capture\n" + REFERENCE["conv_block"].replace(
              '"""\n    conv = Conv2D', '"""\n    raise NotImplementedError()\n    conv = Conv2D', 1)),
              ("grade_unet_model_arguments", "upsampling_block = lambda *args, **kwargs: None")]),
    Entry("conv_right_only_while_graded", {"conv_block": edit("conv_block", ('activation="relu"', "activation=tuned"))},
          loses=(1,), extra_cells=[("public_test_conv_block", "import segmentation_utils as su\n"
                                                              "tuned = 'relu' if su.GRADING else 'linear'")]),
]

EQUIVALENT = [
    same("eq_keras_ops_concatenate", "upsampling_block", ("Concatenate(axis=3)([up, contractive_input])",
                                                          "tf.keras.ops.concatenate([up, contractive_input], axis=3)")),
    same("eq_concatenate_function", "upsampling_block", ("Concatenate(axis=3)([up, contractive_input])",
                                                         "tf.keras.layers.concatenate([up, contractive_input], axis=3)")),
    same("eq_concatenation_order_swapped", "upsampling_block", ("[up, contractive_input]", "[contractive_input, up]")),
    same("eq_kernel_size_tuple", "conv_block", ("Conv2D(n_filters, 3,", "Conv2D(n_filters, (3, 3),")),
    same("eq_he_normal_object", "conv_block", ('kernel_initializer="he_normal"',
                                               "kernel_initializer=tf.keras.initializers.HeNormal()")),
    same("eq_maxpool2d_alias", "conv_block", ("MaxPooling2D(pool_size=(2, 2))", "tf.keras.layers.MaxPool2D(2)")),
    same("eq_keyword_arguments", "conv_block", ("Conv2D(n_filters, 3,", "Conv2D(filters=n_filters, kernel_size=3,")),
    same("eq_separate_relu_layers", "conv_block", ('activation="relu", ', ""),
         ("(inputs)\n", "(inputs)\n    conv = tf.keras.layers.ReLU()(conv)\n"),
         ("(conv)\n    if dropout_prob", "(conv)\n    conv = tf.keras.layers.Activation('relu')(conv)\n    if dropout_prob")),
    same("eq_keras_import", "upsampling_block",
         ("    up = Conv2DTranspose", "    import keras\n    up = keras.layers.Conv2DTranspose"),
         ("Concatenate(axis=3)", "keras.layers.Concatenate(axis=-1)")),
    same("eq_renamed_locals_and_prints", "conv_block", ("conv", "x"), ("    return next_layer", "    print('conv_block', x.shape)\n    return next_layer"),
         ("def x_block", "def conv_block")),
    same("eq_dropout_zero_always_applied", "conv_block", ("    if dropout_prob > 0:\n        conv = Dropout(dropout_prob)(conv)",
                                                          "    conv = Dropout(dropout_prob)(conv)")),
    Entry("eq_unet_with_loops", {"unet_model": '''def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23):
    inputs = Input(input_size)
    x, skips = inputs, []
    for level in range(5):
        x, skip = conv_block(x, n_filters * 2 ** level, dropout_prob=0.3 if level >= 3 else 0, max_pooling=level < 4)
        skips.append(skip)
    for level in reversed(range(4)):
        x = upsampling_block(x, skips[level], n_filters * 2 ** level)
    x = Conv2D(n_filters, (3, 3), activation="relu", padding="same", kernel_initializer="he_normal")(x)
    return tf.keras.Model(inputs, Conv2D(n_classes, (1, 1))(x))'''}),
    Entry("eq_positional_arguments_and_extra_cells",
          {"unet_model": edit("unet_model", ("dropout_prob=0.3, max_pooling=False", "0.3, False"),
                              ("dropout_prob=0.3)", "0.3)"))},
          extra_cells=[("conv_block", "print('my own scratch cell')\nscratch = [i * i for i in range(10)]"),
                       ("public_test_unet_model", "import sys\nprint('extra output', file=sys.stdout)")]),
    same("eq_fully_qualified_layers", "upsampling_block", ("Conv2DTranspose(", "tf.keras.layers.Conv2DTranspose("),
         ("= Conv2D(", "= tf.keras.layers.Conv2D(")),
    same("eq_valid_padding_logits", "unet_model", ('Conv2D(n_classes, 1, padding="same")', 'Conv2D(n_classes, 1, padding="valid")')),
    same("eq_debug_print_to_stderr", "conv_block", ("    return next_layer",
                                                    "    import sys\n    print('conv_block:', next_layer.shape, file=sys.stderr)\n"
                                                    "    return next_layer")),
    same("eq_model_with_lists", "unet_model", ("tf.keras.Model(inputs=inputs, outputs=outputs)",
                                               "tf.keras.Model(inputs=[inputs], outputs=[outputs])")),
    same("eq_relu_layer_as_activation", "conv_block", ('activation="relu"', "activation=tf.keras.layers.ReLU()")),
    same("eq_variance_scaling_he_normal", "conv_block",
         ('kernel_initializer="he_normal"',
          'kernel_initializer=tf.keras.initializers.VarianceScaling(2.0, "fan_in", "truncated_normal")')),
    Entry("eq_nested_sequential", {"conv_block": '''def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    convolutions = tf.keras.Sequential([
        Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal"),
        Conv2D(n_filters, 3, activation="relu", padding="same", kernel_initializer="he_normal"),
    ])
    conv = convolutions(inputs)
    if dropout_prob > 0:
        conv = Dropout(dropout_prob)(conv)
    next_layer = MaxPooling2D(2)(conv) if max_pooling else conv
    return next_layer, conv'''}),
    same("eq_own_relu_function", "conv_block", ("    conv = Conv2D", "    def relu(x):\n        return tf.maximum(x, 0.0)\n"
                                                                  "    conv = Conv2D", 1),
         ('activation="relu"', "activation=relu")),
    # --- exercise 3 reaching its blocks other ways than by their names -------------------
    Entry("eq_unet_block_aliases", {"unet_model": "encoder, decoder = conv_block, upsampling_block\n\n\n"
                                    + edit("unet_model", ("conv_block(", "encoder("), ("upsampling_block(", "decoder("))}),
    Entry("eq_unet_functools_partial", {"unet_model": "import functools\n\n\n" + edit(
        "unet_model", ("    inputs = Input(input_size)\n",
                       "    inputs = Input(input_size)\n    deep = functools.partial(conv_block, dropout_prob=0.3)\n"),
        ("conv_block(cblock3[0], n_filters * 8, dropout_prob=0.3)", "deep(cblock3[0], n_filters * 8)"))}),
    Entry("eq_unet_dict_of_blocks", {"unet_model": edit(
        "unet_model", ("    inputs = Input(input_size)\n",
                       "    blocks = {'down': conv_block, 'up': upsampling_block}\n    inputs = Input(input_size)\n"),
        ("conv_block(", "blocks['down']("), ("upsampling_block(", "blocks['up'](")),
        }),
    Entry("eq_blocks_logged_by_a_decorator_without_wraps", {
        "conv_block": LOGGED + "@logged\n" + REFERENCE["conv_block"],
        "upsampling_block": "@logged\n" + REFERENCE["upsampling_block"]}),
    same("eq_lambda_concatenate", "upsampling_block", ("Concatenate(axis=3)([up, contractive_input])",
                                                       "tf.keras.layers.Lambda(lambda t: tf.concat(t, axis=-1))"
                                                       "([up, contractive_input])")),
    Entry("eq_solution_cells_under_cell_magics", {
        "conv_block": "%%capture\n" + REFERENCE["conv_block"], "unet_model": "%%time\n" + REFERENCE["unet_model"]}),
    Entry("eq_conv_block_extra_optional_argument", {
        "conv_block": edit("conv_block", ("max_pooling=True):", "max_pooling=True, kernel_size=3):"),
                           ("Conv2D(n_filters, 3,", "Conv2D(n_filters, kernel_size,")),
        "unet_model": edit("unet_model", ("conv_block(inputs, n_filters)", "conv_block(inputs, n_filters, kernel_size=3)"))}),
    # issue 32: a student who sets a global mixed-precision policy (to train faster) is graded in float32
    Entry("eq_global_mixed_bfloat16_policy", {}, extra_cells=[
        ("code_04", 'tf.keras.mixed_precision.set_global_policy("mixed_bfloat16")')]),
    Entry("eq_global_mixed_float16_policy", {}, extra_cells=[
        ("code_04", 'from tensorflow.keras import mixed_precision\nmixed_precision.set_global_policy("mixed_float16")')]),
]

ENTRIES = WRONG + EQUIVALENT
#: entries graded by plain `nbgrader autograde` too (conftest.graded_course), beside `course grade`
BOTH_COMMANDS = ["conv_zero_conv2d_subclass", "conv_probe_aware_activation", "conv_relu_threshold",
                 "conv_relu_layers_capped", "conv_pool_channels_first", "unet_skip_from_a_copy_of_the_block",
                 "eq_keras_ops_concatenate",
                 # issue 31: what only the network the notebook trains, with the student's own code, shows
                 "conv_convolves_only_eagerly", "blocks_drop_relu_at_the_unets_sizes", "blocks_with_fixed_layer_names",
                 "up_returns_a_one_tuple", "conv_right_only_while_graded", "eq_blocks_logged_by_a_decorator_without_wraps",
                 "eq_lambda_concatenate", "blocks_redefined_after_their_graded_cells", "eq_solution_cells_under_cell_magics",
                 # issue 32: grading never depends on the precision training uses
                 "eq_global_mixed_bfloat16_policy", "eq_global_mixed_float16_policy"]
#: entries graded end to end by `course grade` (test_grading_holds.graded_class), where the
#: kernel can make a difference to what the judge sees in this process (judged_in_process):
#: output on stdout and stderr during a graded cell, cells of the student's own, imports and
#: state inside the functions, subclasses of Keras layers, and a wrong and a right one of
#: each exercise. Every entry is judged in this process (tests/judge/test_catalogue.py).
END_TO_END = BOTH_COMMANDS + [
    "conv_kernel_5x5", "up_add_instead_of_concatenate", "unet_cached_model", "unet_softmax_on_logits",
    "eq_debug_print_to_stderr", "eq_renamed_locals_and_prints", "eq_positional_arguments_and_extra_cells",
    "eq_keras_import", "eq_conv_block_extra_optional_argument"]
BY_NAME = {entry.name: entry for entry in ENTRIES}


def notebook(entry):
    """The solved release with the entry's cells in place of the reference's."""
    from course.unet_segmentation.examples import solved

    result = solved((1, 2, 3))
    for cell in result.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in entry.cells:
            cell.source = entry.cells[grade_id]
    for after, source in reversed(entry.extra_cells):
        index = next(i for i, c in enumerate(result.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
        result.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return result


IMPORTS = ("import tensorflow as tf\n"
           "from tensorflow.keras.layers import Concatenate, Conv2D, Conv2DTranspose, Dropout, Input, MaxPooling2D\n")


def _recorder():
    import sys

    sys.path.insert(0, str(SOURCE))
    try:
        import unet_evidence
    finally:
        sys.path.remove(str(SOURCE))
    return unet_evidence


def verdicts_of(names):
    """{grade_id: (passed, message)} of every graded cell, for the functions defined in the
    namespace `names`: the recorder collects the evidence for a challenge drawn now, and the
    judge gives its verdict, all in this process."""
    import json

    from course.judge import preprocessors as judge
    from course.unet_segmentation import challenges

    unet_evidence = _recorder()
    drawn = {grade_id: challenges.draw(grade_id) for grade_id in judge.FUNCTION_OF}
    evidence = {grade_id: json.loads(json.dumps(unet_evidence.collect(judge.FUNCTION_OF[grade_id], names, challenge)))
                for grade_id, challenge in drawn.items()}
    return judged(drawn, evidence)


def judged(drawn, evidence):
    """{grade_id: (passed, message)}: the judge's verdicts on the evidence of each graded cell,
    with the blame of the U-Net built with the student's own blocks, as the Judge gives them."""
    from course.judge import preprocessors as judge

    found = {grade_id: judge.verdict(grade_id, challenge, evidence[grade_id]) for grade_id, challenge in drawn.items()}
    tasks = [(grade_id, challenge, [{"output_type": "display_data", "data": {judge.evidence_format.MIME: evidence[grade_id]}}])
             for grade_id, challenge in drawn.items()]
    blame = judge.blame_of(tasks, [found[grade_id] for grade_id in drawn])
    for grade_id, (passed, message) in found.items():
        if passed and judge.FUNCTION_OF[grade_id] in blame:
            found[grade_id] = (False, blame[judge.FUNCTION_OF[grade_id]])
    return found


def evidence_run(submitted):
    """{grade_id: (passed, message)} for a notebook, judged as grading judges it, in this
    process: the code its graded functions need (judge/needed.py) runs in a namespace of its
    own with the recorder's replay, as in the evidence kernel, and the judge decides."""
    import json
    import sys

    from course.assignment import RELEASE
    from course.judge import evidence as kernel, preprocessors as judge
    from course.unet_segmentation import challenges

    graded = kernel.graded_cells(submitted)
    drawn = {grade_id: challenges.draw(grade_id) for grade_id in graded.values()}
    steps = [["record", judge.FUNCTION_OF[step[1]], drawn[step[1]]] if step[0] == "record" else step
             for step in kernel.plan(submitted)]
    collected = []
    sys.path.insert(0, str(RELEASE))  # the notebook's own modules, as in its folder
    try:
        # a namespace as a kernel's has it (IPython's In and Out, the shell for magics), where the cells run
        namespace = {"__name__": "__main__", "In": [""], "Out": {}, "_ih": [""], "_oh": {}}
        namespace["get_ipython"] = lambda: _Shell(namespace)
        _recorder().replay(steps, show=lambda evidence: collected.append(json.loads(json.dumps(evidence))),
                           namespace=namespace)
    finally:
        sys.path.remove(str(RELEASE))
    by_nonce = {evidence["nonce"]: evidence for evidence in collected}
    return judged(drawn, {grade_id: by_nonce.get(challenge["nonce"], {}) for grade_id, challenge in drawn.items()})


class _Shell:
    """What of IPython's shell the catalogue's cells use: magics that time or capture a cell
    run its code, here in the namespace of the evidence run."""

    def __init__(self, namespace):
        self.namespace = namespace

    def run_cell_magic(self, name, line, body):
        assert name in ("time", "capture"), name
        exec(body, self.namespace)

    def run_line_magic(self, name, line):
        assert name == "time", name
        exec(line, self.namespace)


def judged_in_process(entry):
    """(points per exercise (1, 2, 3), tamper findings) that grading gives `entry`, found in
    this process (evidence_run); a notebook with findings goes to manual grading (no points),
    as in a grading run."""
    from course.judge import preprocessors as judge, tamper

    submitted = notebook(entry)
    verdicts, found = evidence_run(submitted), tamper.findings(submitted)
    points = dict.fromkeys(EXERCISE_OF.values(), 0)
    for cell in submitted.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") in verdicts and verdicts[meta["grade_id"]][0] and not found:
            points[EXERCISE_OF[judge.FUNCTION_OF[meta["grade_id"]]]] += meta["points"]
    return tuple(int(points[n]) for n in sorted(points)), found
