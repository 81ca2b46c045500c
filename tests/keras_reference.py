"""The reference solution built with Keras, as the source notebook's solution writes it: the
oracle against which tests check the judge's plain-data reference (course/unet_segmentation/reference.py)
and its NumPy interpreter (course/judge/network.py). The judge itself never imports this."""

import tensorflow as tf
import unet_evidence  # the released recorder (tests put the source folder on sys.path)

layers = tf.keras.layers


def _conv(filters, kernel_size=3):
    return layers.Conv2D(filters, kernel_size, activation="relu", padding="same", kernel_initializer="he_normal")


def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    x = _conv(n_filters)(inputs)
    x = _conv(n_filters)(x)
    if dropout_prob > 0:
        x = layers.Dropout(dropout_prob)(x)
    skip_connection = x
    next_layer = layers.MaxPooling2D(2)(x) if max_pooling else x
    return next_layer, skip_connection


def upsampling_block(expansive_input, contractive_input, n_filters=32):
    up = layers.Conv2DTranspose(n_filters, 3, strides=2, padding="same")(expansive_input)
    x = layers.Concatenate(axis=3)([up, contractive_input])
    x = _conv(n_filters)(x)
    return _conv(n_filters)(x)


def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23, blocks=None):
    encode, decode = blocks or (conv_block, upsampling_block)
    inputs = layers.Input(input_size)
    skips, x = [], inputs
    for level in range(5):
        x, skip = encode(x, n_filters * 2**level, 0.3 if level >= 3 else 0, level < 4)
        skips.append(skip)
    for level in (3, 2, 1, 0):
        x = decode(x, skips[level], n_filters * 2**level)
    x = _conv(n_filters)(x)
    return tf.keras.Model(inputs, layers.Conv2D(n_classes, 1, padding="same")(x))


FUNCTIONS = {"conv_block": conv_block, "upsampling_block": upsampling_block, "unet_model": unet_model}


def described(function, case):
    """The evidence the released recorder gives for the Keras reference on one case (for
    unet_model with the recording stand-ins in place of the blocks, as in a graded kernel)."""
    if function == "unet_model":
        blocks = (unet_evidence.stand_in_conv_block, unet_evidence.stand_in_upsampling_block)
        model = unet_model(*case.get("args", []), **case.get("kwargs", {}), blocks=blocks)
        return unet_evidence.describe(model.inputs, model.outputs)
    inputs = [tf.keras.Input(shape) for shape in case["inputs"]]
    outputs = FUNCTIONS[function](*inputs, **case.get("kwargs", {}))
    return unet_evidence.describe(inputs, list(outputs) if isinstance(outputs, tuple) else [outputs])


def run(order, ends, inputs, weights):
    """What Keras computes for the network (order, ends), blocks expanded, with `weights`
    {node index: (kernel, bias)}."""
    tensors, weighted = [], {}
    for index, (spec, parents) in enumerate(order):
        xs = [tensors[p] for p in parents]
        kind = spec["kind"]
        if kind == "InputLayer":
            tensor = tf.keras.Input(inputs[spec["position"]].shape[1:])
        elif kind in ("Conv2D", "Conv2DTranspose"):
            options = dict(strides=spec["strides"], padding=spec["padding"], dilation_rate=spec["dilation_rate"],
                           activation=spec["activation"], use_bias=spec["use_bias"])
            layer = getattr(layers, kind)(spec["filters"], spec["kernel_size"], **options)
            tensor, weighted[index] = layer(xs[0]), layer
        elif kind == "MaxPooling2D":
            tensor = layers.MaxPooling2D(spec["pool_size"], spec["strides"], spec["padding"])(xs[0])
        elif kind == "Dropout":
            tensor = layers.Dropout(spec["rate"])(xs[0])
        elif kind == "Concatenate":
            tensor = layers.Concatenate(axis=spec["axis"])(xs)
        else:
            raise ValueError(kind)
        tensors.append(tensor)
    model = tf.keras.Model([tensors[i] for i, (s, _) in enumerate(order) if s["kind"] == "InputLayer"],
                           [tensors[e] for e in ends])
    for index, layer in weighted.items():
        layer.set_weights([w for w in weights[index] if w is not None])
    outputs = model([x.astype("float32") for x in inputs], training=False)
    return [outputs] if not isinstance(outputs, (list, tuple)) else list(outputs)
