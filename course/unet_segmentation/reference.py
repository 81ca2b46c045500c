"""The reference solution of the three exercises, as the layer specifications the judge
compares (course/judge/specs.py describes their format). Never released to students.

It is written like the solution, one function per exercise, but it builds plain data, not a
Keras model: the judge needs no TensorFlow, so grading pays for one TensorFlow import per
submission (the kernel's), not two. `tests/keras_reference.py` builds the same three
functions with Keras, and a test checks that both describe the same networks.
"""

def _conv(kind, filters, kernel_size, strides, activation, initializer):
    """A convolution's specification, its settings in the order course/judge/specs.py lists them
    (the judge's messages name the first setting that differs)."""
    spec = {"kind": kind, "filters": filters, "kernel_size": kernel_size, "strides": strides, "padding": "same",
            "dilation_rate": (1, 1), "use_bias": True, "activation": activation, "initializer": initializer,
            "bias_initializer": "zeros"}
    if kind == "Conv2D":
        spec["groups"] = 1
    return spec


def relu_conv(filters):
    return _conv("Conv2D", filters, (3, 3), (1, 1), "relu", "he_normal")


def up_conv(filters):
    return _conv("Conv2DTranspose", filters, (3, 3), (2, 2), "linear", "glorot_uniform")


def head(n_classes):
    return _conv("Conv2D", n_classes, (1, 1), (1, 1), "linear", "glorot_uniform")


POOL = {"kind": "MaxPooling2D", "pool_size": (2, 2), "strides": (2, 2), "padding": "valid"}


class Graph:
    """A network as a list of (spec, [parent indices]); a node is its index in the list."""

    def __init__(self, n_inputs):
        self.order = [({"kind": "InputLayer", "position": p}, []) for p in range(n_inputs)]

    def add(self, spec, *parents):
        self.order.append((spec, list(parents)))
        return len(self.order) - 1


def conv_block(graph, inputs, n_filters=32, dropout_prob=0, max_pooling=True):
    x = graph.add(relu_conv(n_filters), inputs)
    x = graph.add(relu_conv(n_filters), x)
    if dropout_prob > 0:
        x = graph.add({"kind": "Dropout", "rate": round(float(dropout_prob), 6)}, x)
    skip_connection = x
    next_layer = graph.add(POOL, x) if max_pooling else x
    return next_layer, skip_connection


def upsampling_block(graph, expansive_input, contractive_input, n_filters=32):
    up = graph.add(up_conv(n_filters), expansive_input)
    x = graph.add({"kind": "Concatenate", "axis": 3}, up, contractive_input)
    x = graph.add(relu_conv(n_filters), x)
    return graph.add(relu_conv(n_filters), x)


def block_calls(graph, x, n_filters=32, dropout_prob=0, max_pooling=True):
    """conv_block as the judge sees it inside unet_model: one call node and its outputs."""
    call = graph.add({"kind": "conv_block", "n_filters": n_filters, "dropout_prob": round(float(dropout_prob), 6),
                      "max_pooling": bool(max_pooling)}, x)
    if not max_pooling:
        return call, call  # one tensor, both outputs
    return graph.add({"kind": "Output", "index": 0}, call), graph.add({"kind": "Output", "index": 1}, call)


def upsampling_calls(graph, expansive_input, contractive_input, n_filters=32):
    return graph.add({"kind": "upsampling_block", "n_filters": n_filters}, expansive_input, contractive_input)


def unet_model(graph, inputs, input_size=(96, 128, 3), n_filters=32, n_classes=23,
               blocks=(block_calls, upsampling_calls)):
    """`blocks`: how a block is added, as a call node by default (unet_model is judged with
    the blocks it calls, not with how they are written)."""
    encode, decode = blocks
    skips, x = [], inputs
    for level in range(5):
        x, skip = encode(graph, x, n_filters * 2**level, 0.3 if level >= 3 else 0, level < 4)
        skips.append(skip)
    for level in (3, 2, 1, 0):
        x = decode(graph, x, skips[level], n_filters * 2**level)
    x = graph.add(relu_conv(n_filters), x)
    return graph.add(head(n_classes), x)


def network(function, case):
    """(order, ends) of the reference for one case of a challenge (course/unet_segmentation/challenges.py)."""
    if function == "unet_model":
        graph = Graph(1)
        return graph.order, [unet_model(graph, 0, *case.get("args", []), **case.get("kwargs", {}))]
    graph = Graph(len(case["inputs"]))
    build = {"conv_block": conv_block, "upsampling_block": upsampling_block}[function]
    outputs = build(graph, *range(len(case["inputs"])), **case.get("kwargs", {}))
    return graph.order, list(outputs) if isinstance(outputs, tuple) else [outputs]


def expanded(order, ends):
    """The same network with every block call replaced by the reference block's layers, so
    it can be run; None when a call node is used in a way no network can be."""
    graph, new = Graph(0), {}
    for number, (spec, parents) in enumerate(order):
        xs = [new[p] for p in parents]
        kind = spec["kind"]
        if kind == "conv_block":
            pair = conv_block(graph, xs[0], spec["n_filters"], spec["dropout_prob"], spec["max_pooling"])
            new[number] = pair if spec["max_pooling"] else pair[0]
        elif kind == "upsampling_block":
            new[number] = upsampling_block(graph, xs[0], xs[1], spec["n_filters"])
        elif kind == "Output":
            if not isinstance(xs[0], tuple) or not 0 <= spec["index"] < len(xs[0]):
                return None
            new[number] = xs[0][spec["index"]]
        elif any(isinstance(x, tuple) for x in xs):
            return None
        else:
            new[number] = graph.add(spec, *xs)
    if any(isinstance(new[e], tuple) for e in ends):
        return None
    return graph.order, [new[e] for e in ends]
