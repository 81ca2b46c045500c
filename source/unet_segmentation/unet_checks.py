"""Public tests of the U-Net assignment, and the model inspection they are built on.

The tests describe a student's network layer by layer and compare it with what the
exercise asks for, so that a failure reads like "decoder block 1: expected 256 filters,
got 512" rather than a bare assertion. Equivalent spellings give the same description:
`Concatenate()` or `concatenate`, `kernel_size=3` or `(3, 3)`, `'he_normal'` or
`HeNormal()`, `MaxPool2D` or `MaxPooling2D`, a ReLU as the convolution's activation or as a
layer of its own, layers called one by one or through a `Sequential`. Activations are judged
by the values they compute, not by their name.

Once a function passes at the sizes the U-Net uses, it is called again with other arguments,
so that a value written where an argument belongs (`Dropout(0.3)`, 23 classes) shows, and
then with only the arguments that have no default, as the graded cells call it too: a
missing or different default shows here rather than as points lost.

When the student's code raises, the message names the function that raised and shows the
student's own line (the innermost frame that is not TensorFlow, Keras or this module).
"""

import functools
import inspect
import linecache
import os
import re
import sys
import sysconfig

import numpy as np
import tensorflow as tf

# ---------------------------------------------------------------------------------------
# Describing a network
# ---------------------------------------------------------------------------------------

_ACTIVATION_LAYERS = {"ReLU": "relu", "Softmax": "softmax"}

# VarianceScaling(scale, mode, distribution) settings that are a named initializer.
_VARIANCE_SCALING = {
    (2.0, "fan_in", "truncated_normal"): "HeNormal", (2.0, "fan_in", "uniform"): "HeUniform",
    (1.0, "fan_avg", "truncated_normal"): "GlorotNormal", (1.0, "fan_avg", "uniform"): "GlorotUniform",
    (1.0, "fan_in", "truncated_normal"): "LecunNormal", (1.0, "fan_in", "uniform"): "LecunUniform",
}


def _producer(tensor):
    """(operation, input tensors, output index, node) of the layer that produced a Keras tensor."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        raise TypeError(f"expected a Keras tensor (the output of a layer), got {type(tensor).__name__}")
    operation, node_index, tensor_index = history[0], history[1], history[2]
    node = operation._inbound_nodes[node_index]
    return operation, list(node.input_tensors), tensor_index, node


def _name(obj):
    return getattr(obj, "__name__", type(obj).__name__)


# Activations are judged by what they compute on these values (the last one tells ReLU from
# ReLU6), not by their name: a function named `relu` that computes a sigmoid is no ReLU.
_PROBE = (-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0, 8.0)
_COMPUTED = {"relu": tuple(max(v, 0.0) for v in _PROBE), "linear": _PROBE}
_CLAIMS = {"relu": "ReLU", "linear": "its input"}


def _computes(activation):
    """'relu' or 'linear' when `activation` computes that on the probe values, else None
    (also when it cannot be evaluated on them)."""
    try:
        values = activation(tf.constant(_PROBE, shape=(1, 1, 1, len(_PROBE))))
        values = tf.reshape(tf.cast(values, tf.float32), [-1]).numpy().tolist()
    except Exception:  # an activation that takes no tensor of this kind: its name speaks
        return None
    for name, expected in _COMPUTED.items():
        if len(values) == len(expected) and all(abs(v - e) <= 1e-4 * (1 + abs(e)) for v, e in zip(values, expected)):
            return name
    return None


def _impostor(name):
    """The description of an activation named `name` ('relu' or 'linear') that computes something else."""
    return f"a function named {name} that computes something other than {_CLAIMS[name]}"


def _activation_name(activation):
    """'relu' for anything that computes ReLU (the relu function, a ReLU() layer, a function of
    the student's), 'linear' for the identity; otherwise the activation's name."""
    name = _name(activation)
    if name == "ReLU" and (getattr(activation, "max_value", None) is not None
                           or getattr(activation, "negative_slope", 0) or getattr(activation, "threshold", 0)):
        return "ReLU(max_value={}, negative_slope={}, threshold={})".format(
            activation.max_value, activation.negative_slope, activation.threshold)
    name = _ACTIVATION_LAYERS.get(name, name)
    computed = _computes(activation)
    if computed is not None:
        return computed
    return _impostor(name) if name in _CLAIMS else name


def _trainable(operation):
    """False when the layer or one of its weights is frozen."""
    return bool(operation.trainable) and all(getattr(w, "trainable", True) for w in operation.weights)


def _initializer_name(initializer):
    """The initializer's usual name: VarianceScaling(2.0, 'fan_in', 'truncated_normal') is HeNormal."""
    if getattr(tf.keras.initializers, type(initializer).__name__, None) is not type(initializer):
        return f"an initializer class of your own named {type(initializer).__name__}"
    try:
        settings = (float(initializer.scale), initializer.mode, initializer.distribution)
    except (AttributeError, TypeError, ValueError):
        return _name(initializer)
    return _VARIANCE_SCALING.get(settings, _name(initializer))


def _concatenates(layer, inputs):
    """Whether the layer (a Lambda) joins its inputs along the channels, as Concatenate()
    does: tried on random inputs of their shapes."""
    rng = np.random.default_rng(0)
    values = [rng.standard_normal([1, *[d or 1 for d in t.shape[1:]]]).astype("float32") for t in inputs]
    try:
        got = np.asarray(layer(values))
    except Exception:  # noqa: BLE001 - it does something else: described as the Lambda it is
        return False
    expected = np.concatenate(values, axis=-1)
    return got.shape == expected.shape and np.allclose(got, expected)


def layer_spec(operation):
    """The facts about one layer that decide what it computes, as a dict."""
    kind = type(operation).__name__
    keras_class = getattr(tf.keras.layers, kind, None)
    if isinstance(keras_class, type) and type(operation) is not keras_class \
            and not type(operation).__module__.startswith("keras.src.ops"):
        # Grading runs every layer and checks what it computes, not what it is called.
        return {"kind": f"a layer class of your own named {kind}"}
    spec = {"kind": kind}
    if kind in ("Conv2D", "Conv2DTranspose"):
        spec.update(filters=operation.filters, kernel_size=tuple(operation.kernel_size),
                    strides=tuple(operation.strides), padding=operation.padding,
                    dilation_rate=tuple(operation.dilation_rate),
                    activation=_activation_name(operation.activation),
                    initializer=_initializer_name(operation.kernel_initializer), use_bias=operation.use_bias,
                    trainable=_trainable(operation))
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
        spec.update(activation=_activation_name(operation.activation))
    elif kind in _ACTIVATION_LAYERS:
        spec.update(activation=_activation_name(operation))
    return spec


def _merge_activation(spec, producer_spec):
    """Conv2D(activation=None) followed by ReLU() computes the same as Conv2D(activation='relu')."""
    if spec["kind"] != "Activation" and spec["kind"] not in _ACTIVATION_LAYERS:
        return None
    if producer_spec.get("activation") == "linear" and producer_spec["kind"].startswith("Conv"):
        return dict(producer_spec, activation=spec["activation"])
    return None


def _nested_graph(operation):
    """(inner inputs, inner outputs) of a Sequential or functional model used as a layer, else None."""
    if not isinstance(operation, tf.keras.Model):
        return None
    try:
        inputs, outputs = operation.inputs, operation.outputs
    except (AttributeError, ValueError):
        return None
    if not inputs or not outputs:
        return None
    return tf.nest.flatten(inputs), tf.nest.flatten(outputs)


def trace(outputs):
    """The layers that compute `outputs` from the inputs, inputs first.

    Returns a list of (spec, [indices of the layers feeding it]); a layer that only applies
    an activation to a linear convolution is folded into that convolution, and the layers
    of a Sequential (or functional model) called as a layer are listed one by one.
    """
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    order, index_of, scopes = [], {}, {}

    def visit(tensor, scope):
        # `scope` maps the inputs of a nested model (by id) to the outer tensors they stand for.
        while scope is not None and id(tensor) in scope["alias"]:
            tensor, scope = scope["alias"][id(tensor)]
        key = (id(tensor), id(scope))
        if key in index_of:
            return index_of[key]
        operation, inputs, output_index, node = _producer(tensor)
        nested = _nested_graph(operation)
        if nested is not None and len(nested[0]) == len(inputs) and output_index < len(nested[1]):
            inner_key = (id(node), id(scope))
            if inner_key not in scopes:
                scopes[inner_key] = {"alias": {id(t): (outer, scope) for t, outer in zip(nested[0], inputs)},
                                     "keep": (node, nested, inputs)}
            index_of[key] = visit(nested[1][output_index], scopes[inner_key])
            return index_of[key]
        parents = [visit(t, scope) for t in inputs]
        spec = layer_spec(operation)
        if spec["kind"] == "Dropout" and spec["rate"] == 0 and len(parents) == 1:
            index_of[key] = parents[0]  # Dropout(0) passes its input through unchanged
            return parents[0]
        if spec["kind"] == "Lambda" and len(inputs) > 1 and _concatenates(operation, inputs):
            spec = {"kind": "Concatenate", "axis": -1}  # a Lambda is judged by what it computes
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

    ends = [visit(t, None) for t in outputs]
    # Drop what no output depends on: the linear convolution an activation layer was folded into.
    needed, stack = set(), list(ends)
    while stack:
        i = stack.pop()
        if i not in needed:
            needed.add(i)
            stack.extend(order[i][1])
    renumber, kept = {}, []
    for i, (spec, parents) in enumerate(order):
        if i in needed:
            renumber[i] = len(kept)
            kept.append((spec, [renumber[p] for p in parents]))
    return kept, [renumber[i] for i in ends]


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
# Expected layers
# ---------------------------------------------------------------------------------------

def conv(filters, kernel_size=(3, 3), activation="relu", initializer="HeNormal", strides=(1, 1)):
    return {"kind": "Conv2D", "filters": filters, "kernel_size": kernel_size, "strides": strides,
            "padding": "same", "dilation_rate": (1, 1), "activation": activation, "initializer": initializer,
            "use_bias": True, "trainable": True}


def transposed_conv(filters):
    return {"kind": "Conv2DTranspose", "filters": filters, "kernel_size": (3, 3), "strides": (2, 2),
            "padding": "same", "dilation_rate": (1, 1), "activation": "linear", "use_bias": True, "trainable": True}


def logits_conv(n_classes):
    return {"kind": "Conv2D", "filters": n_classes, "kernel_size": (1, 1), "strides": (1, 1),
            "padding": "same", "dilation_rate": (1, 1), "activation": "linear", "use_bias": True, "trainable": True}


def max_pool():
    return {"kind": "MaxPooling2D", "pool_size": (2, 2), "strides": (2, 2), "padding": "valid"}


def dropout(rate):
    return {"kind": "Dropout", "rate": float(rate)}


def concatenate():
    return {"kind": "Concatenate", "axis": 3}


# ---------------------------------------------------------------------------------------
# Explaining differences in the student's terms
# ---------------------------------------------------------------------------------------

_WORDS = {
    "filters": "filters", "kernel_size": "kernel size", "strides": "strides", "padding": "padding",
    "activation": "activation", "initializer": "kernel initializer", "rate": "dropout rate",
    "pool_size": "pool size", "use_bias": "use_bias", "axis": "axis", "dilation_rate": "dilation rate",
}


def _phrase(key, expected, got):
    """'expected ..., got ...' for one setting of a layer."""
    if key == "filters":
        return f"expected {expected} filters, got {got}"
    if key == "trainable" and expected and not got:
        return "its weights are frozen (trainable=False); the network must be able to learn them"
    if key == "activation":
        if expected == "relu" and got == _impostor("relu"):
            return "the activation computes something other than ReLU"
        want = "no activation" if expected == "linear" else f"activation {expected}"
        return f"expected {want}, got {'no activation' if got in ('linear', None) else got}"
    return f"expected {_WORDS.get(key, key)} {expected!r}, got {got!r}"


def _setting_problems(got, expected, ignore=()):
    """[(key, sentence)] for each setting of layer `got` that differs from layer `expected`."""
    return [(key, _phrase(key, value, got.get(key))) for key, value in expected.items()
            if key != "kind" and key not in ignore and got.get(key) != value]


def _describe(spec):
    extra = ""
    if "filters" in spec:
        extra = f" with {spec['filters']} filters"
    elif "rate" in spec:
        extra = f" with rate {spec['rate']}"
    return spec["kind"] + extra


def _numbers(noun, numbers):
    numbers = sorted(set(numbers))
    return f"{noun}s {', '.join(map(str, numbers))}" if len(numbers) > 1 else f"{noun} {numbers[0]}"


def _keyed_layer_problems(got, expected, what):
    """layer_problems, each with the setting it is about ('kind' or 'count' for the layers themselves)."""
    problems = []
    for number, (g, e) in enumerate(zip(got, expected), start=1):
        if g["kind"] != e["kind"]:
            problems.append(("kind", (what, number, None, f"expected {_describe(e)}, got {_describe(g)}")))
            break
        problems += [(key, (what, number, e["kind"], sentence)) for key, sentence in _setting_problems(g, e)]
    if not problems and len(got) != len(expected):
        listed = ", ".join(_describe(s) for s in got) or "no layers"
        problems.append(("count", (what, None, None, f"expected {len(expected)} layers, got {len(got)} ({listed})")))
    return problems


def layer_problems(got, expected, what):
    """How the layer list `got` differs from `expected`, as (what, layer number, kind, sentence)
    items; the number and kind are None for a problem of the whole list."""
    return [problem for _, problem in _keyed_layer_problems(got, expected, what)]


def render_layer_problems(problems):
    """One line per distinct problem: the same sentence for several layers, or for the same
    layers of several calls, is said once ("layers 1, 2 (Conv2D): ...")."""
    groups = {}
    for what, number, kind, sentence in problems:
        if number is None:
            groups.setdefault((what, None, sentence), [])
        else:
            groups.setdefault((None, kind, sentence), []).append((what, number))
    lines = []
    for (what, kind, sentence), where in groups.items():
        if not where:
            lines.append(f"{what}: {sentence}")
            continue
        contexts = list(dict.fromkeys(w for w, _ in where))
        layers = _numbers("layer", [n for _, n in where]) + (f" ({kind})" if kind else "")
        lines.append(f"{contexts[0]}, {layers}: {sentence}" if len(contexts) == 1 else f"{layers}: {sentence}")
    return lines


def differences(got, expected, what):
    """Sentences that say how the layer list `got` differs from `expected` (empty if equal)."""
    return render_layer_problems(layer_problems(got, expected, what))


# --- The U-Net, block by block ----------------------------------------------------------

_UP_KINDS = ("Conv2DTranspose", "UpSampling2D", "Resizing")
_POOL_KINDS = ("MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AveragePool2D")
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth"}
_COUNTS = {1: "one", 2: "two", 3: "three"}


def _role(spec, parents):
    kind = spec["kind"]
    if kind in _UP_KINDS:
        return "up"
    if kind == "Conv2D":
        return "conv"
    if "Dropout" in kind:
        return "dropout"
    if kind in _POOL_KINDS:
        return "pool"
    if kind == "Concatenate" or len(parents) > 1:
        return "join"
    return "other"


def encoder_block(level, n_filters=32):
    """The expected layers of encoder block `level` (1 to 5)."""
    filters = n_filters * 2 ** (level - 1)
    return ([conv(filters), conv(filters)] + ([dropout(0.3)] if level >= 4 else [])
            + ([max_pool()] if level < 5 else []))


def decoder_block(level, n_filters=32):
    """The expected layers of decoder block `level` (1 to 4): filters halve from 256 to 32."""
    filters = n_filters * 2 ** (4 - level)
    return [transposed_conv(filters), concatenate(), conv(filters), conv(filters)]


def block_problems(got, expected, bottleneck=False):
    """How one block's layers differ from the expected ones, as (part or None, sentence)."""
    problems = []
    want = next(s["filters"] for s, _ in expected if "filters" in s)
    got_filters = [s["filters"] for s, _ in got if "filters" in s]
    same_filters = len(set(got_filters)) == 1
    if same_filters and got_filters[0] != want:
        problems.append((None, f"expected {want} filters, got {got_filters[0]}"))
    ignore = ("filters",) if same_filters else ()
    have = {role: [s for s, r in got if r == role] for role in ("up", "join", "conv", "dropout", "pool", "other")}
    need = {role: [s for s, r in expected if r == role] for role in have}
    counts_differ = False

    if need["up"]:
        if not have["up"]:
            problems.append((None, "expected a 3x3 Conv2DTranspose with strides 2 to double height and width, "
                                   "got none"))
        elif have["up"][0]["kind"] != "Conv2DTranspose":
            problems.append((None, f"expected a Conv2DTranspose to upsample, got {have['up'][0]['kind']}"))
        else:
            problems += [("the Conv2DTranspose", s) for _, s in
                         _setting_problems(have["up"][0], need["up"][0], ignore)]
        counts_differ |= len(have["up"]) != 1
    if need["join"]:
        if not have["join"]:
            problems.append((None, "expected a Concatenate joining the upsampled tensor with the skip "
                                   "connection, got none"))
        elif have["join"][0]["kind"] != "Concatenate":
            problems.append((None, f"expected Concatenate to join the upsampled tensor with the skip "
                                   f"connection, got {have['join'][0]['kind']}"))
        else:
            problems += [("the Concatenate", s) for _, s in _setting_problems(have["join"][0], need["join"][0])]
        counts_differ |= len(have["join"]) != 1

    convs, wanted = have["conv"], need["conv"]
    if len(convs) != len(wanted):
        counts_differ = True
        after = " after the concatenation" if need["join"] else ""
        count = _COUNTS.get(len(wanted), str(len(wanted)))
        problems.append((None, f"expected {count} 3x3 convolutions (Conv2D){after}, got {len(convs)}"))
    per_conv = [[s for _, s in _setting_problems(g, e, ignore)] for g, e in zip(convs, wanted)]
    for sentence in dict.fromkeys(s for sentences in per_conv for s in sentences):
        which = [i for i, sentences in enumerate(per_conv, 1) if sentence in sentences]
        if len(which) == len(per_conv):
            problems.append((None, sentence))
        else:
            problems += [(f"the {_ORDINALS.get(i, str(i) + 'th')} convolution", sentence) for i in which]

    if need["dropout"] and not have["dropout"]:
        problems.append((None, f"expected dropout {need['dropout'][0]['rate']}, got none"))
    elif have["dropout"] and not need["dropout"]:
        rate = have["dropout"][0].get("rate")
        problems.append((None, f"expected no dropout, got dropout {rate}" if rate is not None
                         else f"expected no dropout, got {have['dropout'][0]['kind']}"))
    elif have["dropout"]:
        g, e = have["dropout"][0], need["dropout"][0]
        if g["kind"] != e["kind"]:
            problems.append((None, f"expected Dropout, got {g['kind']}"))
        elif g["rate"] != e["rate"]:
            problems.append((None, f"expected dropout {e['rate']}, got {g['rate']}"))
    counts_differ |= len(have["dropout"]) != len(need["dropout"])

    if need["pool"] and not have["pool"]:
        problems.append((None, "expected 2x2 max pooling at the end, got none"))
    elif have["pool"] and not need["pool"]:
        problems.append((None, f"expected no pooling (the bottleneck keeps its size), got {have['pool'][0]['kind']}"
                         if bottleneck else f"expected no pooling, got {have['pool'][0]['kind']}"))
    elif have["pool"]:
        g, e = have["pool"][0], need["pool"][0]
        if g["kind"] != e["kind"]:
            problems.append((None, f"expected MaxPooling2D, got {g['kind']}"))
        else:
            problems += [("the max pooling", s) for _, s in _setting_problems(g, e)]
    counts_differ |= len(have["pool"]) != len(need["pool"])

    if have["other"]:
        kinds = ", ".join(s["kind"] for s in have["other"])
        problems.append((None, f"unexpected layer{'s' if len(have['other']) > 1 else ''} {kinds}"))
    elif not counts_differ and [r for _, r in got] != [r for _, r in expected]:
        problems.append((None, "expected the layers in the order {}, got {}".format(
            ", ".join(s["kind"] for s, _ in expected), ", ".join(s["kind"] for s, _ in got))))
    return problems


class _UNetWalk:
    """The traced U-Net cut into encoder blocks (each ends at its pooling), decoder blocks
    (each starts at its upsampling layer) and the two convolutions after the last block."""

    def __init__(self, output, n_filters=32, n_classes=23):
        self.n_filters, self.n_classes = n_filters, n_classes
        self.order, _ = trace(output)
        layers = [i for i, (spec, _) in enumerate(self.order) if spec["kind"] != "InputLayer"]
        roles = [self._role(i) for i in layers]
        starts = [n for n, r in enumerate(roles) if r == "up"] or [n for n, r in enumerate(roles) if r == "join"]
        first = starts[0] if starts else len(layers)
        self.encoder = []
        block = []
        for i in layers[:first]:
            block.append(i)
            if self._role(i) == "pool":
                self.encoder.append(block)
                block = []
        if block or not self.encoder:
            self.encoder.append(block)
        self.decoder = [layers[a:b] for a, b in zip(starts, starts[1:] + [len(layers)])]
        self.tail = []
        if self.decoder:
            # The last decoder block is as long as the others; what follows it is the tail.
            length = len(self.decoder[-2]) if len(self.decoder) > 1 else len(decoder_block(1))
            self.decoder[-1], self.tail = self.decoder[-1][:length], self.decoder[-1][length:]
        self.where = {}
        for scope, blocks in (("encoder", self.encoder), ("decoder", self.decoder)):
            for number, block in enumerate(blocks, 1):
                for position, i in enumerate(block, 1):
                    self.where[i] = ((scope, number), position, len(block))

    def _role(self, i):
        spec, parents = self.order[i]
        return _role(spec, parents)

    def _pairs(self, block):
        return [(self.order[i][0], self._role(i)) for i in block]

    def describe(self, i):
        """Where layer `i` sits, in the student's terms."""
        spec = self.order[i][0]
        if spec["kind"] == "InputLayer":
            return "the model's input"
        if i not in self.where:
            return f"a {spec['kind']} outside the blocks"
        scope, position, length = self.where[i]
        name = _scope_name(scope)
        return f"the output of {name}" if position == length else f"layer {position} ({spec['kind']}) of {name}"

    def problems(self):
        """(scope, part or None, sentence) for each difference from the assignment's U-Net."""
        problems = []
        if len(self.encoder) != 5:
            problems.append((("the encoder",), None, f"expected 5 encoder blocks (4 ending in 2x2 max pooling, "
                                                      f"then the bottleneck without), got {len(self.encoder)}"))
        for level, block in enumerate(self.encoder[:5], 1):
            expected = [(s, _role(s, [])) for s in encoder_block(level, self.n_filters)]
            problems += [(("encoder", level), part, sentence)
                         for part, sentence in block_problems(self._pairs(block), expected, bottleneck=level == 5)]
        if len(self.decoder) != 4:
            problems.append((("the decoder",), None, f"expected 4 decoder blocks (4 calls of upsampling_block), "
                                                      f"got {len(self.decoder)}"))
        for level, block in enumerate(self.decoder[:4], 1):
            expected = [(s, _role(s, [0, 1] if s["kind"] == "Concatenate" else [])) for s in
                        decoder_block(level, self.n_filters)]
            scope = ("decoder", level)
            problems += [(scope, part, sentence) for part, sentence in block_problems(self._pairs(block), expected)]
            problems += [(scope, None, sentence) for sentence in self._wiring(level, block)]
        problems += self._tail_problems()
        return problems

    def _wiring(self, level, block):
        """The decoder block must upsample the previous block's output and join the skip connection."""
        problems = []
        previous = self.decoder[level - 2] if level > 1 else (self.encoder[-1] if self.encoder else [])
        up = next((i for i in block if self._role(i) == "up"), None)
        if up is not None and previous and self.order[up][1] and self.order[up][1][0] != previous[-1]:
            source = f"decoder block {level - 1}" if level > 1 else "encoder block 5 (the bottleneck)"
            problems.append(f"expected to upsample the output of {source}, got {self.describe(self.order[up][1][0])}")
        join = next((i for i in block if self._role(i) == "join"), None)
        skip_level = 5 - level
        if join is not None and skip_level <= len(self.encoder):
            skip_block = [i for i in self.encoder[skip_level - 1] if self._role(i) != "pool"]
            parents = self.order[join][1]
            if skip_block and skip_block[-1] not in parents:
                others = [p for p in parents if p != up] or parents
                problems.append(f"expected to concatenate the skip connection of encoder block {skip_level} (its "
                                f"output before pooling), got {' and '.join(self.describe(p) for p in others)}")
        return problems

    def _tail_problems(self):
        head = logits_conv(self.n_classes)
        last_block = f"decoder block {len(self.decoder)}" if self.decoder else "the encoder"
        before = ("the convolution before the head",)
        if not self.tail:
            return [(("the head (1x1 convolution)",), None,
                     f"expected a 3x3 Conv2D with {self.n_filters} filters and ReLU, then a 1x1 Conv2D with "
                     f"{self.n_classes} filters and no activation, after {last_block}; got nothing after it")]
        problems = []
        *middle, last = self.tail
        if not middle:
            problems.append((before, None, f"expected a 3x3 Conv2D with {self.n_filters} filters and ReLU after "
                                           f"{last_block}, got none (the 1x1 head follows {last_block} directly)"))
        elif len(middle) > 1:
            listed = ", ".join(_describe(self.order[i][0]) for i in middle)
            problems.append((before, None, f"expected one 3x3 Conv2D with {self.n_filters} filters between "
                                           f"{last_block} and the head, got {len(middle)} layers ({listed})"))
        elif self.order[middle[0]][0]["kind"] != "Conv2D":
            problems.append((before, None, f"expected Conv2D with {self.n_filters} filters, "
                                           f"got {_describe(self.order[middle[0]][0])}"))
        else:
            problems += [(before, None, s) for _, s in _setting_problems(self.order[middle[0]][0],
                                                                         conv(self.n_filters))]
        spec = self.order[last][0]
        scope = ("the head (1x1 convolution)",)
        if spec["kind"] != "Conv2D":
            problems.append((scope, None, f"expected a 1x1 Conv2D with {self.n_classes} filters at the end, "
                                          f"got {_describe(spec)}"))
            return problems
        for key, sentence in _setting_problems(spec, head):
            if key == "activation":
                sentence = (f"expected no activation (the model must output logits: the loss applies the "
                            f"softmax), got {spec['activation']}")
            problems.append((scope, None, sentence))
        return problems


def _scope_name(scope):
    if scope[0] in ("encoder", "decoder"):
        return f"{scope[0]} block {scope[1]}"
    return scope[0]


def render_unet_problems(problems, n_encoder, n_decoder):
    """One line per distinct problem, naming every block that has it ("encoder blocks 4, 5: ...",
    "every decoder block: ...", "every Conv2D before the head: ...")."""
    groups = {}
    for scope, part, sentence in problems:
        groups.setdefault((part, sentence), []).append(scope)
    lines = []
    for (part, sentence), scopes in groups.items():
        scopes = list(dict.fromkeys(scopes))
        encoder = [s[1] for s in scopes if s[0] == "encoder"]
        decoder = [s[1] for s in scopes if s[0] == "decoder"]
        others = [s[0] for s in scopes if s[0] not in ("encoder", "decoder")]
        if (part is None and len(encoder) == n_encoder > 1 and len(decoder) == n_decoder > 1
                and others == ["the convolution before the head"]):
            where = "every Conv2D before the head"
        else:
            names = []
            for noun, numbers, total in (("encoder block", encoder, n_encoder), ("decoder block", decoder, n_decoder)):
                if numbers:
                    names.append(f"every {noun}" if len(numbers) == total > 1 else _numbers(noun, numbers))
            names += others
            where = " and ".join(names)
        lines.append(f"{part + ' of ' if part else ''}{where}: {sentence}")
    return lines


def unet_problems(output, n_filters=32, n_classes=23):
    """Lines that say how the network computing `output` differs from the assignment's U-Net."""
    walk = _UNetWalk(output, n_filters, n_classes)
    return render_unet_problems(walk.problems(), len(walk.encoder), len(walk.decoder))


# ---------------------------------------------------------------------------------------
# Messages without Keras internals
# ---------------------------------------------------------------------------------------

_TENSOR_REPRS = [
    (re.compile(r"""['"]?<KerasTensor shape=(\([^)]*\))[^>]*>['"]?"""), r"a tensor of shape \1"),
    (re.compile(r"<tf\.Tensor '[^']*' shape=(\([^)]*\))[^>]*>"), r"a tensor of shape \1"),
    (re.compile(r"""\bTensor\("[^"]*", shape=(\([^)]*\))[^)]*\)"""), r"a tensor of shape \1"),
    (re.compile(r"<KerasTensor[^>]*>"), "a tensor"),
]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text):
    """`text` with tensor reprs replaced by 'a tensor of shape (...)'."""
    for pattern, replacement in _TENSOR_REPRS:
        text = pattern.sub(replacement, text)
    return text


class CheckFailed(AssertionError):
    """A public test found something to fix; the message says what."""

    def __init__(self, message):
        super().__init__(plain(str(message)))


def public_test(test):
    """Show a failed check as its message, without the frames of this module's internals."""
    @functools.wraps(test)
    def run(function):
        before = tf.keras.config.dtype_policy()
        tf.keras.config.set_dtype_policy("float32")  # the checks hold whatever precision training uses
        try:
            return test(function)
        except CheckFailed as failure:
            raise failure.with_traceback(None) from None
        finally:
            tf.keras.config.set_dtype_policy(before)
    return run


def _report(problems, name):
    if problems:
        raise CheckFailed(f"{name} needs work:\n  - " + "\n  - ".join(problems))
    print(f"\033[92mAll tests passed for {name}.\033[0m")


def _is_stub(function):
    return "NotImplementedError" in getattr(getattr(function, "__code__", None), "co_names", ())


def assert_implemented(function):
    """Fail with a clear message while `function` is still the stub of the release."""
    name = getattr(function, "__name__", "this function")
    if not callable(function):
        raise CheckFailed(f"{name} is not a function: run the cell that defines it")
    if _is_stub(function):
        raise CheckFailed(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code")


def flag_stub(name, namespace):
    """Write to stderr while the function `name` is missing or still the release's stub.

    Graded cells call this: output on stderr makes nbgrader count the cell as failed, so
    Validate names the cell, without a traceback (which would show the cell's other lines).
    """
    function = namespace.get(name)
    if not callable(function):
        print(f"{name} is not defined: run the cell that defines it", file=sys.stderr)
    elif _is_stub(function):
        print(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code",
              file=sys.stderr)


# --- Errors raised by the student's code ------------------------------------------------

EXERCISES = {"conv_block": 1, "upsampling_block": 2, "unet_model": 3}
_LIBRARY_FOLDERS = tuple(sorted({os.path.join(path, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")
                                 if (path := sysconfig.get_paths().get(key))}))
_THIS_FILE = os.path.abspath(__file__)


def _is_student_code(filename):
    """False for the frames of Python, TensorFlow, Keras, any installed package and this module."""
    if filename.startswith("<frozen") or os.path.abspath(filename) == _THIS_FILE:
        return False
    if filename.startswith(_LIBRARY_FOLDERS):
        return False
    return not any(part in filename for part in ("site-packages", "dist-packages"))


def _frames(traceback):
    frames = []
    while traceback is not None:
        frames.append((traceback.tb_frame, traceback.tb_lineno))
        traceback = traceback.tb_next
    return frames


def _function_of(frame):
    name = frame.f_code.co_name
    return {"<lambda>": "a lambda", "<module>": "your code"}.get(name, name)


def _source_line(frame, lineno):
    line = linecache.getline(frame.f_code.co_filename, lineno, frame.f_globals).strip()
    return f": `{line}`" if line else ""


def _error_text(error):
    """The gist of an exception's message: no Keras preamble, no argument dump, no tensor reprs."""
    text = _ANSI.sub("", str(error))
    text = text.split("Arguments received by", 1)[0]
    if text.startswith("Exception encountered when calling"):
        text = text.split("\n\n", 1)[-1]
    if "Error encountered:" in text:
        text = text.split("Error encountered:", 1)[1]
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    text = " ".join((paragraphs[0] if paragraphs else "").split())
    text = plain(text)
    return text if len(text) <= 300 else text[:297].rstrip() + "..."


def _describe_value(value):
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (str, bytes)):
        return f"a tensor of shape {tuple(value.shape)}"
    return repr(value)


def describe_call(name, args, kwargs):
    parts = [_describe_value(a) for a in args] + [f"{k}={_describe_value(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def explain_error(function, args, kwargs, error):
    """A short message for an exception raised while calling the student's `function`."""
    name = getattr(function, "__name__", "your function")
    frames = _frames(error.__traceback__)
    student = [(frame, line) for frame, line in frames if _is_student_code(frame.f_code.co_filename)]
    outer, inner = (student[0], student[-1]) if student else (None, None)
    raised_by_student = inner is not None and frames[-1][0] is inner[0]
    same_function = inner is not None and (inner is outer or inner[0].f_code.co_name == name)

    if isinstance(error, NotImplementedError) and raised_by_student:
        if same_function:
            return f"{name} is not implemented yet (it raised NotImplementedError)"
        culprit = _function_of(inner[0])
        if culprit in EXERCISES:
            todo = f"finish exercise {EXERCISES[culprit]} ({culprit}) first, then run this test again"
        else:
            todo = "replace its `raise NotImplementedError()` with your code"
        return f"{name} calls {culprit}, which is not implemented yet: {todo}"

    gist = _error_text(error)
    what = type(error).__name__ + (f": {gist}" if gist else "")
    call = describe_call(name, args, kwargs)
    if inner is None:
        return f"{name} raised {what}\n  when the test called {call}"
    frame, lineno = inner
    if same_function:
        lines = [f"{name} raised {what}", f"at line {lineno} of your cell{_source_line(frame, lineno)}"]
    else:
        culprit = _function_of(frame)
        cell = ("your cell" if frame.f_code.co_filename == outer[0].f_code.co_filename
                else f"your {culprit} cell")
        lines = [f"{name} calls {culprit}, which raised {what}",
                 f"at line {lineno} of {cell}{_source_line(frame, lineno)}",
                 f"called from line {outer[1]} of your {name} cell{_source_line(*outer)}"]
    lines.append(f"when the test called {call}")
    return "\n  ".join(lines)


def _call(function, *args, **kwargs):
    """Call the student's function; a stub or a crash becomes a message, not a traceback."""
    assert_implemented(function)
    try:
        return function(*args, **kwargs)
    except Exception as error:  # the student's code may raise anything
        message = explain_error(function, args, kwargs, error)
    raise CheckFailed(message)


def _pair(result, name):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise CheckFailed(f"{name} must return two tensors (next_layer, skip_connection), "
                          f"got {type(result).__name__}")
    return result


def _tensor(value, what):
    if getattr(value, "_keras_history", None) is None:
        raise CheckFailed(f"{what} must be the output of a Keras layer, got {type(value).__name__}")
    return value


def _shape(tensor):
    return tuple(tensor.shape)


# ---------------------------------------------------------------------------------------
# The public tests
# ---------------------------------------------------------------------------------------

def _other_arguments(arguments, *names):
    """'with n_filters=16, dropout_prob=0.2': the arguments named (all of them when none is)."""
    return "with " + ", ".join(f"{k}={v!r}" for k, v in arguments.items() if k in names or not names)


# A second set of arguments, checked once the first passes: it catches values written into the
# code where an argument belongs (Dropout(0.3) for Dropout(dropout_prob), 23 for n_classes) and
# a function that returns what it built before instead of building anew.
CONV_BLOCK_AGAIN = {"n_filters": 16, "dropout_prob": 0.2}
UNET_AGAIN = {"input_size": (64, 96, 3), "n_filters": 8, "n_classes": 5}
_ARGUMENT_OF_SETTING = {"filters": "n_filters", "rate": "dropout_prob"}


def _conv_block_again(conv_block):
    """Problems of conv_block with CONV_BLOCK_AGAIN on another input, each naming its argument."""
    n_filters, rate = CONV_BLOCK_AGAIN["n_filters"], CONV_BLOCK_AGAIN["dropout_prob"]
    inputs = tf.keras.Input((20, 24, 8))
    next_layer, skip = _pair(_call(conv_block, inputs, **CONV_BLOCK_AGAIN), "conv_block")
    _tensor(next_layer, "next_layer")
    _tensor(skip, "skip_connection")
    every = _other_arguments(CONV_BLOCK_AGAIN)
    problems = []
    for what, tensor, shape in (("next_layer", next_layer, (None, 10, 12, n_filters)),
                                ("skip_connection", skip, (None, 20, 24, n_filters))):
        if _shape(tensor) != shape:
            problems.append(f"{every}, {what}: expected shape {shape}, got {_shape(tensor)}")
    expected = [conv(n_filters), conv(n_filters), dropout(rate), max_pool()]
    found = [(_other_arguments(CONV_BLOCK_AGAIN, _ARGUMENT_OF_SETTING[key]) if key in _ARGUMENT_OF_SETTING
              else every, number, kind, sentence)
             for key, (_, number, kind, sentence) in _keyed_layer_problems(layer_list(next_layer), expected, every)]
    return problems + render_layer_problems(found)


# The defaults of the signatures the exercises give: the graded cells call each function with
# only the arguments listed first, so these defaults count as much as the code.
DEFAULTS = {
    "conv_block": (("inputs",), {"n_filters": 32, "dropout_prob": 0, "max_pooling": True}),
    "upsampling_block": (("expansive_input", "contractive_input"), {"n_filters": 32}),
    "unet_model": ((), {"input_size": (96, 128, 3), "n_filters": 32, "n_classes": 23}),
}


def default_problems(function, name):
    """Each argument of DEFAULTS[name] that has no default (a wrong default shows when the
    function is called by default: the graded cells judge what it builds, not the value)."""
    required, defaults = DEFAULTS[name]
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # not a plain function: the call itself will tell
        return []
    call = f"{name}({', '.join(required)})"
    problems = []
    for argument, expected in defaults.items():
        parameter = parameters.get(argument)
        if parameter is None or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue  # a missing argument failed the calls before
        if parameter.default is parameter.empty:
            problems.append(f"{argument} has no default: the graded cells also call {call}, so give it the "
                            f"default the exercise shows, {argument}={expected!r}")
    return problems


def _conv_block_by_default(conv_block):
    """conv_block called as the graded cells call it: with its inputs only."""
    next_layer, _ = _pair(_call(conv_block, tf.keras.Input((16, 24, 4))), "conv_block")
    found = layer_problems(layer_list(_tensor(next_layer, "next_layer")), [conv(32), conv(32), max_pool()],
                           "conv_block(inputs) with its defaults")
    return render_layer_problems(found)


def _upsampling_by_default(upsampling_block):
    """upsampling_block called with its two inputs only."""
    output = _call(upsampling_block, tf.keras.Input((6, 8, 16)), tf.keras.Input((12, 16, 8)))
    output = _tensor(output, "the output of upsampling_block")
    return differences(layer_list(output), [transposed_conv(32), concatenate(), conv(32), conv(32)],
                       "upsampling_block(expansive_input, contractive_input) with its defaults")


def _same_call_by_default(function, tested):
    """Whether calling `function` with no arguments is the call `function(*tested.values())`
    made before: a plain function whose parameters start with those of `tested`, each with
    exactly that value as its default (the same repr: 96.0 is not 96). Then the call by
    default need not be made again (for unet_model, a second network of 8.6 million weights)."""
    if type(function) is not type(_same_call_by_default) or hasattr(function, "__wrapped__"):
        return False
    try:
        parameters = list(inspect.signature(function, follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):
        return False
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if len(parameters) < len(tested) or any(p.default is p.empty and p.kind not in variadic for p in parameters):
        return False
    for parameter, (name, value) in zip(parameters, tested.items()):
        if (parameter.name != name or parameter.kind is not parameter.POSITIONAL_OR_KEYWORD
                or repr(parameter.default) != repr(value)):
            return False
    return True


def _unet_model_by_default(unet_model):
    """unet_model() with no arguments at all (unless that is the call the test made first)."""
    if _same_call_by_default(unet_model, DEFAULTS["unet_model"][1]):
        return []
    model = _call(unet_model)
    if not isinstance(model, tf.keras.Model) or len(model.outputs) != 1:
        return [f"unet_model(): must return a tf.keras.Model with one output, got {type(model).__name__}"]
    shapes = ([_shape(t) for t in model.inputs], _shape(model.outputs[0]), int(model.count_params()))
    expected = ([(None, 96, 128, 3)], (None, 96, 128, 23), UNET_PARAMETERS)
    if shapes != expected:
        return [f"unet_model() with its defaults: expected input {expected[0][0]}, output {expected[1]} and "
                f"{expected[2]:,} parameters, got input {', '.join(map(str, shapes[0]))}, output {shapes[1]} "
                f"and {shapes[2]:,} parameters"]
    return []


@public_test
def test_conv_block(conv_block):
    """conv_block at the sizes the U-Net uses: with pooling, and without pooling plus dropout;
    then, once those pass, with other arguments (CONV_BLOCK_AGAIN) on another input."""
    problems = []
    inputs = tf.keras.Input((96, 128, 3))
    next_layer, skip = _pair(_call(conv_block, inputs, n_filters=32), "conv_block")
    _tensor(next_layer, "next_layer")
    _tensor(skip, "skip_connection")
    if _shape(next_layer) != (None, 48, 64, 32):
        problems.append(f"next_layer: expected shape (None, 48, 64, 32), got {_shape(next_layer)}")
    if _shape(skip) != (None, 96, 128, 32):
        problems.append(f"skip_connection: expected shape (None, 96, 128, 32), got {_shape(skip)}")
    found = layer_problems(layer_list(next_layer), [conv(32), conv(32), max_pool()], "next_layer")
    said = {(number, sentence) for _, number, _, sentence in found}
    # The skip connection's layers are those of next_layer before pooling: say each problem once.
    found += [p for p in layer_problems(layer_list(skip), [conv(32), conv(32)],
                                        "skip_connection (the tensor before pooling)")
              if (p[1], p[3]) not in said]

    inputs = tf.keras.Input((12, 16, 256))
    next_layer, skip = _pair(_call(conv_block, inputs, 512, dropout_prob=0.3, max_pooling=False), "conv_block")
    _tensor(next_layer, "next_layer")
    expected = [conv(512), conv(512), dropout(0.3)]
    found += layer_problems(layer_list(next_layer), expected, "with dropout_prob=0.3, max_pooling=False")
    problems += render_layer_problems(found)
    if next_layer is not skip:
        problems.append("with max_pooling=False, next_layer and skip_connection must be the same tensor")
    if not problems:
        problems = _conv_block_again(conv_block)
    if not problems:
        problems = default_problems(conv_block, "conv_block") or _conv_block_by_default(conv_block)
    _report(problems, "conv_block")


@public_test
def test_upsampling_block(upsampling_block):
    """upsampling_block joining a 12x16 expansive input with a 24x32 skip connection."""
    expansive = tf.keras.Input((12, 16, 256))
    contractive = tf.keras.Input((24, 32, 128))
    output = _tensor(_call(upsampling_block, expansive, contractive, n_filters=64), "the output of upsampling_block")
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
    if not problems:
        problems = default_problems(upsampling_block, "upsampling_block") or _upsampling_by_default(upsampling_block)
    _report(problems, "upsampling_block")


UNET_PARAMETERS = 8_640_471


def _unet_model_again(unet_model, first):
    """Problems of unet_model with UNET_AGAIN (a small model), each naming its argument."""
    size, n_filters, n_classes = UNET_AGAIN["input_size"], UNET_AGAIN["n_filters"], UNET_AGAIN["n_classes"]
    model = _call(unet_model, size, n_filters=n_filters, n_classes=n_classes)
    every = _other_arguments(UNET_AGAIN)
    if not isinstance(model, tf.keras.Model) or len(model.outputs) != 1:
        return [f"{every}: unet_model must return a tf.keras.Model with one output, got {type(model).__name__}"]
    output = model.outputs[0]
    if model is first or output is first.outputs[0]:
        return [f"{every}: unet_model returned the model of its first call again; it must build a new model "
                f"from its arguments on every call"]
    problems = []
    if [_shape(t) for t in model.inputs] != [(None, *size)]:
        got = ", ".join(str(_shape(t)) for t in model.inputs)
        problems.append(f"{_other_arguments(UNET_AGAIN, 'input_size')}: the model's input: expected shape "
                        f"{(None, *size)}, got {got} (make it Input(input_size))")
    try:
        walk = _UNetWalk(output, n_filters, n_classes)
        groups = {}
        for scope, part, sentence in walk.problems():
            if "filters" in sentence:
                argument = "n_classes" if scope[0].startswith("the head") else "n_filters"
                groups.setdefault(_other_arguments(UNET_AGAIN, argument), []).append((scope, part, sentence))
            else:
                groups.setdefault(every, []).append((scope, part, sentence))
        for context, found in groups.items():
            problems += [f"{context}: {line}"
                         for line in render_unet_problems(found, len(walk.encoder), len(walk.decoder))]
    except Exception:  # a network too unusual to cut into blocks: the shapes still speak
        pass
    if _shape(output) != (None, *size[:2], n_classes) and not problems:
        problems.append(f"{every}: output: expected shape {(None, *size[:2], n_classes)}, got {_shape(output)}")
    return problems


@public_test
def test_unet_model(unet_model):
    """unet_model at its default arguments: shape, then each block, the last convolution and the head;
    then, once those pass, a small model with other arguments (UNET_AGAIN)."""
    model = _call(unet_model, (96, 128, 3), n_filters=32, n_classes=23)
    if not isinstance(model, tf.keras.Model):
        raise CheckFailed(f"unet_model must return a tf.keras.Model, got {type(model).__name__}")
    if type(model) not in (tf.keras.Model, tf.keras.Sequential) and type(model).__name__ != "Functional":
        raise CheckFailed(f"unet_model returns a model class of your own ({type(model).__name__}): return "
                          "tf.keras.Model(inputs, outputs), as the exercise does")
    if len(model.outputs) != 1:
        raise CheckFailed(f"unet_model must return a model with one output (the logits), got {len(model.outputs)}")
    output = model.outputs[0]
    problems = []
    if [_shape(t) for t in model.inputs] != [(None, 96, 128, 3)]:
        got = ", ".join(str(_shape(t)) for t in model.inputs)
        problems.append(f"the model's input: expected shape (None, 96, 128, 3), got {got} (make it Input(input_size))")
    if _shape(output) != (None, 96, 128, 23):
        problems.append(f"output: expected shape (None, 96, 128, 23), got {_shape(output)}")
    try:
        problems += unet_problems(output)
    except Exception:  # a network too unusual to cut into blocks: the shape and the count still speak
        pass
    count = int(model.count_params())
    if count != UNET_PARAMETERS and not problems:  # the last resort: nothing more specific to say
        problems.append(f"expected {UNET_PARAMETERS:,} parameters, got {count:,}")
    if not problems:
        problems = _unet_model_again(unet_model, model)
    if not problems:
        problems = default_problems(unet_model, "unet_model") or _unet_model_by_default(unet_model)
    _report(problems, "unet_model")
