"""Public tests of the U-Net assignment, and the model inspection they are built on.

The tests describe a student's network layer by layer and compare it with what the
exercise asks for, so that a failure reads like "layer 2: expected Conv2D with 64 filters,
got 32" rather than a bare assertion. Equivalent spellings give the same description:
`Concatenate()` or `concatenate`, `kernel_size=3` or `(3, 3)`, `'he_normal'` or
`HeNormal()`, `MaxPool2D` or `MaxPooling2D`, a ReLU as the convolution's activation or as a
layer of its own.
"""

import functools
import sys

import tensorflow as tf

# ---------------------------------------------------------------------------------------
# Describing a network
# ---------------------------------------------------------------------------------------

_ACTIVATION_LAYERS = {"ReLU": "relu", "Softmax": "softmax"}


def _producer(tensor):
    """(operation, input tensors) of the layer that produced a symbolic Keras tensor."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        raise TypeError(f"expected a Keras tensor (the output of a layer), got {type(tensor).__name__}")
    operation, node_index = history[0], history[1]
    node = operation._inbound_nodes[node_index]
    return operation, list(node.input_tensors)


def _name(obj):
    return getattr(obj, "__name__", type(obj).__name__)


def layer_spec(operation):
    """The facts about one layer that decide what it computes, as a dict."""
    kind = type(operation).__name__
    spec = {"kind": kind}
    if kind in ("Conv2D", "Conv2DTranspose"):
        spec.update(filters=operation.filters, kernel_size=tuple(operation.kernel_size),
                    strides=tuple(operation.strides), padding=operation.padding,
                    activation=_name(operation.activation), initializer=_name(operation.kernel_initializer),
                    use_bias=operation.use_bias)
        # The exercises fix the initializer of the 3x3 convolutions only; a 1x1 convolution
        # computes the same with 'same' or 'valid' padding.
        if kind == "Conv2DTranspose" or spec["kernel_size"] == (1, 1):
            del spec["initializer"]
        if spec["kernel_size"] == (1, 1) and spec["strides"] == (1, 1):
            spec["padding"] = "same"
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        spec.update(pool_size=tuple(operation.pool_size), strides=tuple(operation.strides),
                    padding=operation.padding)
    elif kind == "Dropout":
        spec.update(rate=float(operation.rate))
    elif kind == "Concatenate":
        spec.update(axis=operation.axis)
    elif kind == "Activation":
        spec.update(activation=_name(operation.activation))
    return spec


def _merge_activation(spec, producer_spec):
    """Conv2D(activation=None) followed by ReLU() computes the same as Conv2D(activation='relu')."""
    if spec["kind"] in _ACTIVATION_LAYERS:
        activation = _ACTIVATION_LAYERS[spec["kind"]]
    elif spec["kind"] == "Activation":
        activation = spec["activation"]
    else:
        return None
    if producer_spec.get("activation") == "linear" and producer_spec["kind"].startswith("Conv"):
        return dict(producer_spec, activation=activation)
    return None


def trace(outputs):
    """The layers that compute `outputs` from the inputs, inputs first.

    Returns a list of (spec, [indices of the layers feeding it]); a layer that only applies
    an activation to a linear convolution is folded into that convolution.
    """
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    order, index_of = [], {}

    def visit(tensor):
        key = id(tensor)
        if key in index_of:
            return index_of[key]
        operation, inputs = _producer(tensor)
        parents = [visit(t) for t in inputs]
        spec = layer_spec(operation)
        if spec["kind"] == "Dropout" and spec["rate"] == 0 and len(parents) == 1:
            index_of[key] = parents[0]  # Dropout(0) passes its input through unchanged
            return parents[0]
        if spec["kind"] == "Concatenate":
            rank = len(tensor.shape)
            spec["axis"] = spec["axis"] % rank if spec["axis"] is not None else rank - 1
        if len(parents) == 1:
            merged = _merge_activation(spec, order[parents[0]][0])
            if merged is not None:
                index_of[key] = len(order)
                order.append((merged, order[parents[0]][1]))
                return index_of[key]
        index_of[key] = len(order)
        order.append((spec, parents))
        return index_of[key]

    ends = [visit(t) for t in outputs]
    return order, ends


def canonical(outputs):
    """One string per output that is equal for two networks exactly when they compute the
    same function of their inputs up to the order of concatenated channels."""
    order, ends = trace(outputs)
    memo = {}

    def text(i):
        if i not in memo:
            spec, parents = order[i]
            parts = [text(p) for p in parents]
            if spec["kind"] == "Concatenate":
                parts.sort()
            fields = ",".join(f"{k}={v}" for k, v in spec.items() if k != "kind")
            memo[i] = f"{spec['kind']}[{fields}]({';'.join(parts)})"
        return memo[i]

    return [text(i) for i in ends]


def layer_list(outputs):
    """The layers on the way to `outputs` (inputs excluded), in the order they are applied."""
    order, _ = trace(outputs)
    return [spec for spec, _ in order if spec["kind"] != "InputLayer"]


# ---------------------------------------------------------------------------------------
# Explaining differences in the student's terms
# ---------------------------------------------------------------------------------------

_WORDS = {
    "filters": "filters", "kernel_size": "kernel size", "strides": "strides", "padding": "padding",
    "activation": "activation", "initializer": "kernel initializer", "rate": "dropout rate",
    "pool_size": "pool size", "use_bias": "use_bias", "axis": "axis",
}


def conv(filters, kernel_size=(3, 3), activation="relu", initializer="HeNormal", strides=(1, 1)):
    return {"kind": "Conv2D", "filters": filters, "kernel_size": kernel_size, "strides": strides,
            "padding": "same", "activation": activation, "initializer": initializer, "use_bias": True}


def transposed_conv(filters):
    return {"kind": "Conv2DTranspose", "filters": filters, "kernel_size": (3, 3), "strides": (2, 2),
            "padding": "same", "activation": "linear", "use_bias": True}


def logits_conv(n_classes):
    return {"kind": "Conv2D", "filters": n_classes, "kernel_size": (1, 1), "strides": (1, 1),
            "padding": "same", "activation": "linear", "use_bias": True}


def max_pool():
    return {"kind": "MaxPooling2D", "pool_size": (2, 2), "strides": (2, 2), "padding": "valid"}


def dropout(rate):
    return {"kind": "Dropout", "rate": float(rate)}


def concatenate():
    return {"kind": "Concatenate", "axis": 3}


def _describe(spec):
    extra = ""
    if "filters" in spec:
        extra = f" with {spec['filters']} filters"
    elif "rate" in spec:
        extra = f" with rate {spec['rate']}"
    return spec["kind"] + extra


def differences(got, expected, what):
    """Sentences that say how the layer list `got` differs from `expected` (empty if equal)."""
    problems = []
    for number, (g, e) in enumerate(zip(got, expected), start=1):
        if g["kind"] != e["kind"]:
            problems.append(f"{what}, layer {number}: expected {_describe(e)}, got {_describe(g)}")
            break
        for key, value in e.items():
            if key != "kind" and g.get(key) != value:
                problems.append(f"{what}, layer {number} ({e['kind']}): expected {_WORDS.get(key, key)} "
                                f"{value!r}, got {g.get(key)!r}")
    if not problems and len(got) != len(expected):
        listed = ", ".join(_describe(s) for s in got) or "no layers"
        problems.append(f"{what}: expected {len(expected)} layers, got {len(got)} ({listed})")
    return problems


def _shape(tensor):
    return tuple(tensor.shape)


class CheckFailed(AssertionError):
    """A public test found something to fix; the message says what."""


def public_test(test):
    """Show a failed check as its message, without the frames of this module's internals."""
    @functools.wraps(test)
    def run(function):
        try:
            return test(function)
        except CheckFailed as failure:
            raise failure.with_traceback(None) from None
    return run


def _report(problems, name):
    if problems:
        raise CheckFailed(f"{name} needs work:\n  - " + "\n  - ".join(problems))
    print(f"\033[92mAll tests passed for {name}.\033[0m")


def assert_implemented(function):
    """Fail with a clear message while `function` is still the stub of the release."""
    name = getattr(function, "__name__", "this function")
    if not callable(function):
        raise CheckFailed(f"{name} is not a function: run the cell that defines it")
    if "NotImplementedError" in getattr(getattr(function, "__code__", None), "co_names", ()):
        raise CheckFailed(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code")


def flag_stub(name, namespace):
    """Write to stderr while the function `name` is missing or still the release's stub.

    Graded cells call this: output on stderr makes nbgrader count the cell as failed, so
    Validate names the cell, without a traceback (which would show the cell's other lines).
    """
    function = namespace.get(name)
    if not callable(function):
        print(f"{name} is not defined: run the cell that defines it", file=sys.stderr)
    elif "NotImplementedError" in getattr(getattr(function, "__code__", None), "co_names", ()):
        print(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code",
              file=sys.stderr)


def _call(function, *args, **kwargs):
    """Call the student's function; a stub or a crash becomes a message, not a traceback."""
    assert_implemented(function)
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(f"{function.__name__} is not implemented yet (it raised NotImplementedError)") from None
    except Exception as error:
        raise CheckFailed(f"{function.__name__}{args[1:] if len(args) > 1 else ''} raised "
                          f"{type(error).__name__}: {error}") from error


def _pair(result, name):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{name} must return two tensors (next_layer, skip_connection), "
                          f"got {type(result).__name__}")
    return result


# ---------------------------------------------------------------------------------------
# The public tests
# ---------------------------------------------------------------------------------------

@public_test
def test_conv_block(conv_block):
    """conv_block at the sizes the U-Net uses: with pooling, and without pooling plus dropout."""
    problems = []
    inputs = tf.keras.Input((96, 128, 3))
    next_layer, skip = _pair(_call(conv_block, inputs, n_filters=32), "conv_block")
    if _shape(next_layer) != (None, 48, 64, 32):
        problems.append(f"next_layer: expected shape (None, 48, 64, 32), got {_shape(next_layer)}")
    if _shape(skip) != (None, 96, 128, 32):
        problems.append(f"skip_connection: expected shape (None, 96, 128, 32), got {_shape(skip)}")
    problems += differences(layer_list(next_layer), [conv(32), conv(32), max_pool()], "next_layer")
    problems += differences(layer_list(skip), [conv(32), conv(32)],
                            "skip_connection (the tensor before pooling)")

    inputs = tf.keras.Input((12, 16, 256))
    next_layer, skip = _pair(_call(conv_block, inputs, 512, dropout_prob=0.3, max_pooling=False), "conv_block")
    expected = [conv(512), conv(512), dropout(0.3)]
    problems += differences(layer_list(next_layer), expected, "with dropout_prob=0.3, max_pooling=False")
    if next_layer is not skip:
        problems.append("with max_pooling=False, next_layer and skip_connection must be the same tensor")
    _report(problems, "conv_block")


@public_test
def test_upsampling_block(upsampling_block):
    """upsampling_block joining a 12x16 expansive input with a 24x32 skip connection."""
    expansive = tf.keras.Input((12, 16, 256))
    contractive = tf.keras.Input((24, 32, 128))
    output = _call(upsampling_block, expansive, contractive, n_filters=64)
    problems = []
    if _shape(output) != (None, 24, 32, 64):
        problems.append(f"output: expected shape (None, 24, 32, 64), got {_shape(output)}")
    expected = [transposed_conv(64), concatenate(), conv(64), conv(64)]
    problems += differences(layer_list(output), expected, "upsampling_block")
    order, _ = trace(output)
    joins = [parents for spec, parents in order if spec["kind"] == "Concatenate"]
    if joins:
        kinds = sorted(order[p][0]["kind"] for p in joins[0])
        if kinds != ["Conv2DTranspose", "InputLayer"]:
            problems.append("the concatenation must join the transposed convolution's output with "
                            f"contractive_input, got {' and '.join(kinds)}")
    _report(problems, "upsampling_block")


UNET_PARAMETERS = 8_640_471


def unet_layer_kinds(n_filters=32, n_classes=23):
    """The layers of the assignment's U-Net, encoder to head (filters doubled per level)."""
    layers = []
    for level in range(5):
        filters = n_filters * 2**level
        layers += [conv(filters), conv(filters)]
        if level >= 3:
            layers.append(dropout(0.3))
        if level < 4:
            layers.append(max_pool())
    return layers


@public_test
def test_unet_model(unet_model):
    """unet_model at its default arguments: shape, parameter count, layers, logits."""
    model = _call(unet_model, (96, 128, 3), n_filters=32, n_classes=23)
    problems = []
    if not isinstance(model, tf.keras.Model):
        raise CheckFailed(f"unet_model must return a tf.keras.Model, got {type(model).__name__}")
    if _shape(model.output) != (None, 96, 128, 23):
        problems.append(f"output: expected shape (None, 96, 128, 23), got {_shape(model.output)}")
    count = int(model.count_params())
    if count != UNET_PARAMETERS:
        problems.append(f"expected {UNET_PARAMETERS:,} parameters, got {count:,}")
    layers = layer_list(model.output)
    kinds = [spec["kind"] for spec in layers]
    encoder = [spec for spec in layers[:kinds.index("Conv2DTranspose")]] if "Conv2DTranspose" in kinds else layers
    problems += differences(encoder, unet_layer_kinds(), "encoder")
    if kinds.count("Conv2DTranspose") != 4 or kinds.count("Concatenate") != 4:
        problems.append(f"decoder: expected 4 upsampling blocks (4 Conv2DTranspose and 4 Concatenate), "
                        f"got {kinds.count('Conv2DTranspose')} and {kinds.count('Concatenate')}")
    head = [conv(32), logits_conv(23)]
    problems += differences(layers[-2:], head, "output head (last two layers)")
    if layers and layers[-1].get("activation") not in (None, "linear"):
        problems.append(f"the last layer must output logits (no activation), got activation "
                        f"{layers[-1].get('activation')!r}")
    _report(problems, "unet_model")
