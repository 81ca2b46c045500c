"""Evidence for the autograder: what your functions build, described as plain data.

While the notebook is graded, a second kernel runs your cells, with the notebook's own
definitions they need (it reads no data and trains nothing), and at each graded cell's place
calls `record` with argument values that the grader chooses at grading time.
`record` calls your function with them and describes the network it builds: every layer's
class and settings, what its activation computes, and how the layers are wired. The grader,
which runs outside your notebook, compares the description with what the exercise asks for
and writes the cell's score and a message.

The grader also sends a secret number. From it `record` sets every weight of the network it
described and draws test inputs, runs the network as training and prediction run it (your
real layers, in a compiled graph, in inference and in training mode) and reports a sample of
what it computes; the grader computes the same from the description and from the exercise's
solution, so a layer must compute what its settings say.

For `unet_model`, your `conv_block` and `upsampling_block` run stand-ins while it runs
(through any name, alias, decorator or `functools.partial`): they record how your network
uses the blocks, so a mistake in a block costs only that block's exercise. Each stand-in
computes a simple function of its inputs with weights of its own, so the numbers of a U-Net
can be checked too. Then `unet_model()` is built once more with your own blocks, the network
the notebook trains: it must build, and each block call must be the exercise's block.

`record` builds and runs your network in float32, whatever number format your notebook trains in.
"""

import contextlib
import inspect
import io
import math
import os
import signal
from functools import partial
import sys
import threading
import traceback
import types

import numpy as np
import tensorflow as tf

MIME = "application/vnd.unet-evidence+json"
VERSION = 1
# Values on which every activation is evaluated: the grader judges activations by what they
# compute, not by their names.
PROBE = [-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0, 8.0]
MAX_NODES = 400
BATCH = 2  # test inputs per case: a layer that mixes the images of a batch shows
SAMPLE = 256  # output values reported per output, at places drawn from the secret
FUNCTIONS = ("conv_block", "upsampling_block", "unet_model")


class EvidenceError(Exception):
    """The function's result cannot be described; the message says why."""


# ---------------------------------------------------------------------------------------
# Plain data
# ---------------------------------------------------------------------------------------

def _plain(value, depth=0):
    """`value` as JSON-safe data; objects become {"object": class name}."""
    if depth > 8:
        return {"object": "too deeply nested"}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value[:64]]
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())[:64]}
    return {"object": type(value).__name__}


def _probe(function):
    """What an elementwise function computes on PROBE, or the reason it cannot be evaluated."""
    try:
        values = np.asarray(function(tf.constant([PROBE], dtype=tf.float32)), dtype=np.float64).reshape(-1)
        return [round(float(v), 6) if math.isfinite(v) else str(v) for v in values]
    except Exception as error:  # a student's activation may be anything
        return {"error": f"{type(error).__name__}: {error}"[:200]}


# ---------------------------------------------------------------------------------------
# Describing a network
# ---------------------------------------------------------------------------------------

class _Graph:
    """Nodes in the order they are first needed: inputs first, outputs last."""

    def __init__(self, inputs):
        self.nodes, self.ids = [], {}
        self.layers = {}  # node id -> the layer object of that node, for its weights
        for position, tensor in enumerate(inputs):
            self.ids[id(tensor)] = self._add({"class": "Input", "position": position, "shape": _shape(tensor)})

    def _add(self, node):
        if len(self.nodes) >= MAX_NODES:
            raise EvidenceError(f"the network has more than {MAX_NODES} layers")
        node["id"] = len(self.nodes)
        self.nodes.append(node)
        return node["id"]

    def tensor(self, tensor, bound=None):
        """Node id of the tensor; `bound` maps tensors of a nested model to outer node ids."""
        bound = bound or {}
        if id(tensor) in bound:
            return bound[id(tensor)]
        if id(tensor) in self.ids:
            return self.ids[id(tensor)]
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            raise EvidenceError(f"expected a Keras tensor (the output of a layer), got {type(tensor).__name__}")
        operation, node_index, tensor_index = history[0], history[1], history[2]
        node = operation._inbound_nodes[node_index]
        if not node.input_tensors:
            raise EvidenceError("the network uses an input that is not one of the function's arguments")
        parents = [self.tensor(t, bound) for t in node.input_tensors]
        if isinstance(operation, tf.keras.Model):
            outputs = self._nested(operation, parents)
            self.ids[id(tensor)] = outputs[tensor_index]
            return outputs[tensor_index]
        key = (id(operation), node_index, tuple(parents))  # a nested model may be called twice
        if key not in self.ids:
            self.ids[key] = self._add(_layer(operation, parents, _shapes(node.output_tensors)))
            self.layers[self.ids[key]] = operation
        result = self.ids[key]
        if len(node.output_tensors) > 1:
            result = self._add({"class": "Output", "of": result, "index": int(tensor_index),
                                "shape": _shape(tensor), "inputs": [result]})
        if bound:
            bound[id(tensor)] = result
        else:
            self.ids[id(tensor)] = result
        return result

    def _nested(self, model, parents):
        """Expand a model used as a layer (a Sequential, say) into its layers."""
        if isinstance(model, tf.keras.Sequential):
            current = parents[0]
            for layer in model.layers:
                if isinstance(layer, tf.keras.Model):
                    current = self._nested(layer, [current])[0]
                else:
                    current = self._add(_layer(layer, [current], None))
                    self.layers[current] = layer
            return [current]
        inner = list(model.inputs)
        if len(inner) != len(parents):
            raise EvidenceError(f"a nested model takes {len(inner)} inputs, called with {len(parents)}")
        bound = {id(t): p for t, p in zip(inner, parents)}
        return [self.tensor(t, bound) for t in model.outputs]


def _shape(tensor):
    return [None if d is None else int(d) for d in tensor.shape]


def _shapes(tensors):
    return [_shape(t) for t in tensors]


def _keras_class(obj, *modules):
    """Whether `obj` is an instance of a class Keras itself exports, not of a subclass: only
    inference is run here, and a subclass may compute otherwise when it trains."""
    cls = type(obj)
    return any(getattr(module, cls.__name__, None) is cls for module in modules)


def _own_classes(operation):
    """What of a layer is of a class of the student's own: 'layer', 'kernel initializer'..."""
    from keras.src.ops import numpy as keras_numpy

    own = []
    if not (isinstance(operation, BlockCall) or _keras_class(operation, tf.keras.layers, keras_numpy)):
        own.append("layer")
    for part in ("kernel_initializer", "bias_initializer"):
        initializer = getattr(operation, part, None)
        if initializer is not None and not _keras_class(initializer, tf.keras.initializers):
            own.append(part.replace("_", " "))
    return own


def _layer(operation, parents, output_shapes):
    node = {"class": type(operation).__name__, "module": type(operation).__module__, "inputs": parents}
    try:
        node["config"] = _plain(operation.get_config())
    except Exception as error:  # an operation without a configuration
        node["config"] = {"error": f"{type(error).__name__}: {error}"[:200]}
    activation = getattr(operation, "activation", None)
    if callable(activation):
        node["activation_probe"] = _probe(activation)
    elif type(operation).__name__ in ("ReLU", "LeakyReLU", "ELU", "Softmax"):
        node["activation_probe"] = _probe(operation)
    node["weights"] = [[list(map(int, w.shape)), bool(w.trainable)] for w in getattr(operation, "weights", [])]
    node["trainable"] = bool(getattr(operation, "trainable", True))
    own = _own_classes(operation)
    if own:
        node["own"] = own
    if output_shapes is not None:
        node["shapes"] = output_shapes
    return node


def describe(inputs, outputs, graph=None):
    """{"nodes": [...], "outputs": [node ids]}: the network from `inputs` to `outputs`."""
    graph = graph or _Graph(inputs)
    ends = [graph.tensor(t) for t in outputs]
    return {"nodes": graph.nodes, "outputs": ends, "output_shapes": _shapes(outputs)}


# ---------------------------------------------------------------------------------------
# What the network computes
# ---------------------------------------------------------------------------------------
# The grader computes the same numbers from the same secret (course/judge/network.py): these
# three functions must stay as they are there.

def seeded(seed, case, node, index, shape):
    """Weight `index` of the layer at node `node`: normal values at He's scale for its fan-in
    (the product of all but its last dimension), 0.1 for a vector such as a bias."""
    rng = np.random.default_rng([seed, case, node, index])
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else 0
    scale = math.sqrt(2 / fan_in) if fan_in else 0.1
    return (rng.standard_normal(tuple(shape)) * scale).astype(np.float32)


def test_input(seed, case, position, shape):
    """The test images for input `position`: normal values, each at a scale of its own
    between 0.1 and 30, so that a cap or a threshold hidden in an activation shows."""
    rng = np.random.default_rng([seed, case, 10**6 + position])
    scales = 10 ** rng.uniform(-1, 1.5, (BATCH, *shape))
    return (rng.standard_normal((BATCH, *shape)) * scales).astype(np.float32)


def sample_places(seed, case, output, size):
    return np.random.default_rng([seed, case, 2 * 10**6 + output]).integers(0, size, min(size, SAMPLE))


def _summary(values, seed, case, output):
    values = np.asarray(values, dtype=np.float64)
    flat = values.reshape(-1)
    return {"shape": list(values.shape),
            "sums": [_plain(flat.sum()), _plain(np.abs(flat).sum()), _plain((flat * flat).sum())],
            "sample": [_plain(v) for v in flat[sample_places(seed, case, output, flat.size)]]}


def computed(graph, inputs, outputs, seed, case, in_graph=False):
    """Set each layer's weights from the secret, run the network on test inputs and
    summarise its outputs; `in_graph`: as the notebook trains and predicts (see below)."""
    done = set()
    for node in sorted(graph.layers):
        layer = graph.layers[node]
        if id(layer) in done and getattr(layer, "weights", None):
            raise EvidenceError(f"one {type(layer).__name__} layer object is called at two places, so both share "
                                "its weights: create a new layer for each call")
        done.add(id(layer))
        for index, weight in enumerate(getattr(layer, "weights", [])):
            weight.assign(seeded(seed, case, node, index, [int(d) for d in weight.shape]))
    model = tf.keras.Model(inputs, outputs)
    values = [test_input(seed, case, p, [int(d) for d in t.shape[1:]]) for p, t in enumerate(inputs)]
    if not in_graph:
        return {"outputs": [_summary(r, seed, case, i) for i, r in enumerate(_listed(model(values, training=False)))]}
    # As the notebook trains and predicts: in a graph (as `predict` and `fit` run the network,
    # where what a layer computes may differ from what it computes eagerly), in inference mode
    # and in training mode, one graph for both.
    results, trained = in_a_graph(_both_modes(model), values)
    return {"outputs": [_summary(r, seed, case, i) for i, r in enumerate(_listed(results))],
            "training": [_summary(r, seed, case, i) for i, r in enumerate(_listed(trained))]}


# bound before any notebook code runs
_DTYPES = (tf.keras.config.dtype_policy, tf.keras.config.set_dtype_policy, tf.keras.config.floatx,
           tf.keras.config.set_floatx)


@contextlib.contextmanager
def _in_float32():
    """Layers and inputs made within it compute in float32, whatever dtype policy or default
    float type the notebook set (a student may train in bfloat16 or float16): grading never
    depends on the precision."""
    get_policy, set_policy, get_floatx, set_floatx = _DTYPES
    before = get_policy(), get_floatx()
    set_floatx("float32")
    set_policy("float32")
    try:
        yield
    finally:
        set_floatx(before[1])
        set_policy(before[0])


def in_a_graph(step, values):
    """step(values) run once in a tf.function graph. Grappler's arithmetic rewriting is off
    while it runs: it flattens a tree of additions into one sum of its leaves, and a chain of
    `Add()([x, x])` layers has 2**layers of them (4.8 GB at 30 layers); the other rewrites
    keep what the graph computes, so what is recorded is what `fit` and `predict` compute."""
    before = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
    try:
        return tf.function(step, autograph=False)(values)
    finally:
        tf.config.optimizer.set_experimental_options({"arithmetic_optimization": before.get("arithmetic_optimization", True)})


def _inference(model):
    def step(values):
        return model(values, training=False)
    return step


def _both_modes(model):
    def step(values):
        return model(values, training=False), model(values, training=True)
    return step


def _listed(results):
    return [np.asarray(r) for r in results] if isinstance(results, (list, tuple)) else [np.asarray(results)]


# ---------------------------------------------------------------------------------------
# Stand-ins for the blocks while unet_model runs
# ---------------------------------------------------------------------------------------

class BlockCall(tf.keras.layers.Layer):
    """Records one call of a block. Its outputs have the shapes the exercise describes and
    are computed with weights of its own: a conv_block call gives relu(x @ W), subsampled by
    2 when it pools; an upsampling_block call gives relu(up(e) @ W1 + mean(c) @ W2), with `up`
    repeating each pixel 2x2 and `mean` over the skip tensor's pixels."""

    def __init__(self, block, settings, **kwargs):
        super().__init__(**kwargs)
        self.block, self.settings = block, settings

    def build(self, input_shape):
        shapes = input_shape if self.block == "upsampling_block" else [input_shape]
        self.mix = [self.add_weight(shape=(int(shape[-1]), self.settings["n_filters"]), initializer="zeros",
                                    trainable=False, name=f"mix{i}") for i, shape in enumerate(shapes)]

    def call(self, inputs):
        ops = tf.keras.ops
        if self.block == "upsampling_block":
            expansive, contractive = inputs
            up = ops.repeat(ops.repeat(expansive, 2, axis=1), 2, axis=2)
            skip = ops.mean(contractive, axis=(1, 2), keepdims=True)
            return ops.relu(ops.matmul(up, self.mix[0]) + ops.matmul(skip, self.mix[1]))
        x = ops.relu(ops.matmul(inputs, self.mix[0]))
        if self.settings["max_pooling"]:
            height, width = (x.shape[1] // 2) * 2, (x.shape[2] // 2) * 2
            return x[:, :height:2, :width:2, :], x
        return x

    def get_config(self):
        return {"block": self.block, **self.settings}


def _settings(block, **values):
    n_filters = values["n_filters"]
    if isinstance(n_filters, bool) or not isinstance(n_filters, (int, np.integer)):
        raise EvidenceError(f"unet_model calls {block} with n_filters={n_filters!r}: it must be a whole number "
                            "(an int), as Keras's layers refuse other types")
    return {"n_filters": int(n_filters), **{k: v for k, v in values.items() if k != "n_filters"}}


def stand_in_conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True, **_extra):
    settings = _settings("conv_block", n_filters=n_filters, dropout_prob=float(dropout_prob),
                         max_pooling=bool(max_pooling))
    result = BlockCall("conv_block", settings)(inputs)
    return tuple(result) if settings["max_pooling"] else (result, result)


def stand_in_upsampling_block(expansive_input, contractive_input, n_filters=32, **_extra):
    settings = _settings("upsampling_block", n_filters=n_filters)
    return BlockCall("upsampling_block", settings)([expansive_input, contractive_input])


STAND_INS = {"conv_block": stand_in_conv_block, "upsampling_block": stand_in_upsampling_block}
# The exercise's signatures: the stand-ins read the arguments of a call by these names.
PARAMETERS = {"conv_block": ("inputs", "n_filters", "dropout_prob", "max_pooling"),
              "upsampling_block": ("expansive_input", "contractive_input", "n_filters")}


_ACTIVE = {}  # block name -> the student's own signature, while unet_model is recorded
FORWARD = "_unet_evidence_forward"  # the name of the forwarding function in the notebook, meanwhile


def _exercise_arguments(name, signature, args, kwargs):
    """The arguments of a call of the student's block `name`, bound by the student's own
    signature (extra optional arguments allowed), by the exercise's names."""
    try:
        bound = signature.bind(*args, **kwargs).arguments
    except TypeError as error:
        raise EvidenceError(f"unet_model calls {name} with arguments its signature does not take: {error}") from None
    exercise, own = PARAMETERS[name], list(signature.parameters)
    known = {}
    for index, parameter in enumerate(own):  # a parameter renamed stands for the exercise's at its place
        meant = parameter if parameter in exercise else (
            exercise[index] if index < len(exercise) and exercise[index] not in own else None)
        if meant is not None and parameter in bound:
            known[meant] = bound[parameter]
        elif parameter in bound and not _as_default(signature.parameters[parameter], bound[parameter]):
            # The graded cells test the block without it: unet_model may not change the block with it.
            raise EvidenceError(f"unet_model calls {name} with {parameter}={_shown(bound[parameter])}, an argument "
                                f"the exercise's {name} does not have: the graded cells test {name} without it, "
                                "so call it as the exercise defines it")
    return known


def _forward(name, args, kwargs):
    """Where a block's forwarding code leads: the student's own block, watched, or the stand-in."""
    return (_watched_forward if name in _WATCH["originals"] else _active_forward)(name, args, kwargs)


def _active_forward(name, args, kwargs):
    """A call of the student's block `name`, made by unet_model, passed on to the stand-in by
    the exercise's names; what the student's defaults say does not count (the exercise's do)."""
    return STAND_INS[name](**_exercise_arguments(name, _ACTIVE[name], args, kwargs))


def _as_default(parameter, value):
    """Whether `value`, passed for an extra parameter, is what its default would be."""
    if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        return not value
    if parameter.default is inspect.Parameter.empty:
        return False
    try:
        return value is parameter.default or bool(value == parameter.default)
    except Exception:  # a comparison that raises (a tensor, say)
        return False


def _shown(value):
    text = repr(value) if isinstance(value, (int, float, str, bool, type(None), tuple, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:39] + "…"


class BlockBroken(Exception):
    """A block, called by unet_model, raised or returned what the exercise's block does not."""

    def __init__(self, block, message):
        super().__init__(message)
        self.block = block


_WATCH = {}  # while unet_model runs with the student's own blocks: their originals and calls


def _watched_forward(name, args, kwargs):
    """A call of the student's own block `name`, made by unet_model: run, and noted with
    its arguments and the tensors it takes and gives."""
    original = _WATCH["originals"][name]
    known = _exercise_arguments(name, _ACTIVE[name], args, kwargs)
    _WATCH["running"] = name  # what a graded cell's clock stops in, if it never returns
    try:
        result = original(*args, **kwargs)
        _WATCH["running"] = None
    except BlockBroken:
        raise
    except Exception as error:
        _WATCH["running"] = None
        line = _student_line(error)
        raise BlockBroken(name, f"{name} raised {type(error).__name__}: {error}"[:300]
                          + (f" ({line})" if line else "")) from None
    count = 2 if name == "conv_block" else 1
    if count == 1 and isinstance(result, (tuple, list)):
        raise BlockBroken(name, f"called by unet_model, {name} returns a {type(result).__name__} of {len(result)}, "
                                "not a tensor (a comma after `return conv`?): the next block would get that "
                                f"{type(result).__name__} as its input")
    try:
        outputs = _tensors(result, count, name)
        for tensor in outputs:
            if getattr(tensor, "_keras_history", None) is None:
                raise EvidenceError(f"{name} must return Keras tensors, got {type(tensor).__name__}")
    except EvidenceError as error:
        raise BlockBroken(name, f"called by unet_model, {error}") from None
    tensors = [known.get(p) for p in PARAMETERS[name] if p in ("inputs", "expansive_input", "contractive_input")]
    _WATCH["calls"].append({"block": name, "settings": {k: _plain(v) for k, v in known.items()
                                                       if getattr(v, "_keras_history", None) is None},
                            "inputs": tensors, "outputs": outputs})
    return result


def _innermost(function, namespace):
    """The notebook's own function that a block's name leads to: the function itself, or the
    one a wrapper (a decorator, with or without functools.wraps) calls, whose signature
    says how a call's arguments are meant. None when there is no such function."""
    seen, queue = set(), [function]
    while queue and len(seen) < 16:
        candidate = queue.pop(0)
        if id(candidate) in seen:
            continue
        seen.add(id(candidate))
        if isinstance(candidate, types.FunctionType) and candidate.__globals__ is namespace:
            try:
                parameters = inspect.signature(candidate).parameters.values()
            except (TypeError, ValueError):
                parameters = []
            if any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in parameters):
                return candidate
        for attribute in ("__wrapped__", "func"):  # functools.wraps, functools.partial
            inner = getattr(candidate, attribute, None) if isinstance(candidate, (types.FunctionType, partial)) else None
            queue += [inner] if inner is not None else []
        for cell in getattr(candidate, "__closure__", None) or ():
            try:
                queue.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
    return None


class _BlocksRecorded:
    """While unet_model runs, each of the student's block functions runs the stand-in (or,
    with `own`, itself, watched): the function object itself is changed, not the name bound
    to it, so aliases (`encoder = conv_block`), `functools.partial`, loops, dicts of the
    blocks and decorators reach the stand-ins too; everything is restored on the way out."""

    def __init__(self, namespace, own=()):
        self.namespace, self.saved, self.names, self.own = namespace, [], {}, set(own)

    def __enter__(self):
        # The forwarding code finds the recorder through the notebook's namespace: this
        # module is a fresh copy the grader loaded, which no import statement reaches.
        self.namespace[FORWARD] = _forward
        _WATCH.update(originals={}, calls=[])
        for name, stand_in in STAND_INS.items():
            found = self.namespace.get(name)
            function = _innermost(found, self.namespace)
            if function is None:  # missing, or not a function of the notebook: the name is replaced instead
                if name in self.own:
                    continue
                self.names[name] = found
                self.namespace[name] = stand_in
                continue
            if any(function is saved[0] for saved in self.saved):
                continue
            self.saved.append((function, function.__code__, function.__defaults__, function.__kwdefaults__))
            _ACTIVE[name] = inspect.signature(function)
            if name in self.own:
                original = types.FunctionType(function.__code__, function.__globals__, function.__name__,
                                              function.__defaults__, function.__closure__)
                original.__kwdefaults__ = function.__kwdefaults__
                _WATCH["originals"][name] = original
            function.__defaults__, function.__kwdefaults__ = None, None
            function.__code__ = _code_for(name, len(function.__code__.co_freevars))
        return self

    def __exit__(self, *_):
        for function, code, defaults, kwdefaults in self.saved:
            function.__code__, function.__defaults__, function.__kwdefaults__ = code, defaults, kwdefaults
        for name, value in self.names.items():
            if value is None:
                self.namespace.pop(name, None)
            else:
                self.namespace[name] = value
        self.namespace.pop(FORWARD, None)
        _ACTIVE.clear()
        return False


def _code_for(name, free):
    """The forwarding code for block `name`, with `free` free variables (a function's code
    can only be replaced by code with as many as its closure has)."""
    names = ", ".join(f"_free{i}" for i in range(free))
    source = (f"def outer({names}):\n"
              f"    def block(*args, **kwargs):\n"
              + "".join(f"        _free{i}\n" for i in range(free))
              + f"        return {FORWARD}({name!r}, args, kwargs)\n"
              f"    return block\n")
    namespace = {}
    exec(compile(source, "<unet_evidence stand-in>", "exec"), namespace)
    return namespace["outer"](*range(free)).__code__


# ---------------------------------------------------------------------------------------
# Calling the student's function
# ---------------------------------------------------------------------------------------

def _student_line(error):
    """The last line of the notebook's own code in the traceback of `error`."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith(("<ipython-input", "<cell ")) or "ipykernel" in frame.filename:
            return f"line {frame.lineno}: {(frame.line or '').strip()}"[:200]
    return ""


def _tensors(result, count, what):
    if count == 1 and not isinstance(result, (tuple, list)):
        return [result]
    if not isinstance(result, (tuple, list)) or len(result) != count:
        raise EvidenceError(f"{what} must return {count} tensors, got {type(result).__name__}")
    return list(result)


def _case(function, name, case, namespace, seed=None, number=0):
    """The description of what `function` builds for one case; with a secret `seed`, also
    what it computes (see `computed`)."""
    kwargs = dict(case.get("kwargs", {}))
    if name == "unet_model":
        with _BlocksRecorded(namespace):
            model = function(*case.get("args", []), **kwargs)
        inputs, outputs = _model_ends(model)
    else:
        inputs = [tf.keras.Input(tuple(shape)) for shape in case.get("inputs", [])]
        outputs = _tensors(function(*inputs, **kwargs), 2 if name == "conv_block" else 1, name)
    graph = _Graph(inputs)
    evidence = describe(inputs, outputs, graph)
    if name == "unet_model":
        evidence["model"] = {"inputs": len(model.inputs), "outputs": len(model.outputs)}
    if seed is not None:
        try:
            evidence["computed"] = computed(graph, inputs, outputs, seed, number, bool(case.get("graph")))
        except EvidenceError as error:
            evidence["computed"] = {"error": str(error)}
        except Exception as error:  # the network was described but cannot be run
            line = _student_line(error)
            evidence["computed"] = {"error": f"{type(error).__name__}: {error}"[:300] + (f" ({line})" if line else "")}
    return evidence


def _model_ends(model):
    if not isinstance(model, tf.keras.Model):
        raise EvidenceError(f"unet_model must return a tf.keras.Model, got {type(model).__name__}")
    if not _keras_class(model, tf.keras, tf.keras.models) and type(model).__name__ != "Functional":
        raise EvidenceError(f"unet_model returns a model class of your own ({type(model).__name__}): return "
                            "tf.keras.Model(inputs, outputs), whose layers are what it computes")
    return list(model.inputs), list(model.outputs)


@_in_float32()
def assembled(function, namespace):
    """The U-Net that `unet_model()` builds at its defaults with the student's own blocks, as
    the notebook trains it: its description and each block call's place in it; or, when it
    cannot be built, why, whose code raised ("blame": the functions), and what each block
    alone does in it, the other a stand-in ("alone": {block: why it cannot be built, or None}):
    a block that breaks the U-Net on its own is to blame, not the one it broke."""
    found = _assembled(function, namespace, own=tuple(STAND_INS))
    if "error" in found:
        found["alone"] = {}
        for block in STAND_INS:  # why the U-Net cannot be built with that block alone, when the block is to blame
            alone = _assembled(function, namespace, own=(block,), describe_it=False)
            found["alone"][block] = alone["error"] if alone.get("blame") == [block] else None
    return found


def _assembled(function, namespace, own, describe_it=True):
    try:
        with _BlocksRecorded(namespace, own=own):
            model = function()
        inputs, outputs = _model_ends(model)
        if not describe_it:
            return {}
        graph = _Graph(inputs)
        evidence = describe(inputs, outputs, graph)
        calls = []
        for call in _WATCH["calls"]:
            if all(id(t) in graph.ids for t in call["outputs"] + call["inputs"]):
                calls.append({"block": call["block"], "settings": call["settings"],
                              "inputs": [graph.ids[id(t)] for t in call["inputs"]],
                              "outputs": [graph.ids[id(t)] for t in call["outputs"]]})
        evidence["calls"] = calls
        evidence["modes"] = _modes_agree(inputs, outputs, _WATCH["calls"])
        return evidence
    except BlockBroken as broken:
        return {"error": str(broken), "blame": [broken.block]}
    except EvidenceError as error:
        return {"error": str(error), "blame": ["unet_model"]}
    except Exception as error:  # raised by unet_model's own code or by Keras while it combines the blocks
        line = _student_line(error)
        message = f"unet_model() raised {type(error).__name__}: {error}"[:300] + (f" ({line})" if line else "")
        twice = _names_used_twice(_WATCH.get("calls", []))
        if twice:
            message = ("Keras refuses two layers of one name in a model, and a layer given a fixed name in a block "
                       "carries it in every call: " + "; ".join(f"{block} names {', '.join(names[:4])}"
                                                                for block, names in sorted(twice.items()))
                       + f". Let Keras name the layers ({type(error).__name__}: {str(error)[:120]})")
        return {"error": message[:1500], "blame": sorted(twice) or ["unet_model"]}
    finally:
        _WATCH.update(originals={}, calls=[])


def _modes_agree(inputs, outputs, calls):
    """The first block call (or "unet_model" for the network's own layers) whose outputs differ
    between an eager run and a graph (as `fit` and `predict` run the network), or None: what
    the notebook trains must compute what was checked."""
    watched = [(call["block"], tensor) for call in calls for tensor in call["outputs"]]
    watched += [("unet_model", tensor) for tensor in outputs]
    model = tf.keras.Model(inputs, [tensor for _, tensor in watched])
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((1, *[int(d) for d in inputs[0].shape[1:]])).astype(np.float32)]
    eager = _listed(model(values, training=False))
    graph = _listed(in_a_graph(_inference(model), values))
    for (owner, _), a, b in zip(watched, eager, graph):
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-3, atol=1e-3 * (float(np.abs(a).max()) + 1e-6)):
            return owner
    return None


def _names_used_twice(calls):
    """{block: the names} of the blocks whose layers carry a name that another layer of the
    network carries too (Keras refuses a model whose layers' names are not unique)."""
    owners = {}
    for call in calls:
        inputs = {id(t) for t in call["inputs"]}
        for layer in _layers_between(call["outputs"], inputs):
            owners.setdefault(getattr(layer, "name", None), []).append(call["block"])
    found = {}
    for name, blocks in owners.items():
        if isinstance(name, str) and len(blocks) > 1:
            for block in sorted(set(blocks)):
                found.setdefault(block, []).append(name[:40])
    return found


def _layers_between(outputs, inputs):
    """The layers that compute `outputs` from the tensors whose ids are `inputs`."""
    found, seen, queue = [], set(), list(outputs)
    while queue and len(seen) < MAX_NODES:
        tensor = queue.pop()
        history = getattr(tensor, "_keras_history", None)
        if id(tensor) in inputs or history is None or id(history[0]) in seen:
            continue
        seen.add(id(history[0]))
        found.append(history[0])
        queue += list(history[0]._inbound_nodes[history[1]].input_tensors)
    return found


@_in_float32()
def collect(name, namespace, challenge, assemble=True):
    """The evidence for one graded cell: a description per case, or what went wrong; with
    `assemble`, also the U-Net built now with the student's own blocks, when the challenge
    asks for it (the evidence run builds it where the notebook builds its network: replay)."""
    evidence = {"version": VERSION, "function": name, "nonce": challenge.get("nonce"), "cases": []}
    function = namespace.get(name)
    if name not in FUNCTIONS:
        evidence["error"] = f"unknown function {name!r}"
    elif not callable(function):
        evidence["error"] = f"{name} is not defined: run the cell that defines it"
    else:
        seed = challenge.get("seed")
        for number, case in enumerate(challenge.get("cases", [])):
            try:
                evidence["cases"].append(_case(function, name, case, namespace, seed, number))
            except NotImplementedError:
                evidence["cases"].append({"error": f"{name} is not implemented yet"})
            except EvidenceError as error:
                evidence["cases"].append({"error": str(error)})
            except Exception as error:  # whatever the student's code raised
                line = _student_line(error)
                evidence["cases"].append({"error": f"{name} raised {type(error).__name__}: {error}"[:300]
                                          + (f" ({line})" if line else "")})
        if assemble and challenge.get("assemble") and name == "unet_model":
            evidence["assembled"] = _timed_assembly(assembled, function, namespace)
    return evidence


DEFAULT_CHALLENGE = {  # used only when the notebook runs outside the grader
    "conv_block": {"cases": [{"inputs": [[96, 128, 3]], "kwargs": {}}]},
    "upsampling_block": {"cases": [{"inputs": [[12, 16, 256], [24, 32, 128]], "kwargs": {"n_filters": 64}}]},
    "unet_model": {"cases": [{"args": [], "kwargs": {}}]},
}


def record(name, namespace, challenge=None):
    """Describe what `name` builds for the grader's arguments, as one output of the cell."""
    from IPython.display import display

    challenge = challenge or DEFAULT_CHALLENGE.get(name, {})
    evidence = collect(name, namespace, challenge)
    sys.stdout.flush()
    display({MIME: evidence, "text/plain": f"evidence for {name}: {len(evidence['cases'])} case(s)"}, raw=True)


# ---------------------------------------------------------------------------------------
# The evidence run: the graded functions, out of reach of the rest of the notebook
# ---------------------------------------------------------------------------------------

def replay(steps, show=None, namespace=None):
    """What grading runs in a kernel of its own, started for the evidence alone: the
    notebook's code, cell by cell (steps ["code", cell number, [[line, text], ...], seconds]:
    every statement of the cells a student writes, and of the instructor's cells what the
    graded functions need; no data is read and nothing is trained); at each graded cell's
    place (["record", function, challenge, seconds]) the evidence for it; and where the
    notebook builds the network it trains (["assemble", seconds]) the graded cells again of a
    function defined anew since, and that U-Net, with the student's own blocks, added to the
    evidence of the cell that asks for it. Each piece of evidence is shown as one output as
    soon as it is recorded, and again when it changes (the grader keeps the last of each cell). Everything it uses is bound here, before any of the
    notebook's code runs, and this module is reached through no name that code can see.
    `show`: what receives each evidence, `namespace`: where the notebook's code runs (the
    grader's tests judge in their own process, with a namespace like a kernel's)."""
    import builtins
    import linecache

    from IPython import get_ipython

    if show is None:
        from IPython.display import display

        def show(evidence):
            sys.stdout.flush()
            display({MIME: evidence, "text/plain": f"evidence for {evidence['function']}"}, raw=True)

    shell = get_ipython()  # the notebook's code runs in the kernel's own namespace, as in a notebook
    if namespace is None:
        namespace = shell.user_ns if shell is not None else {"__name__": "__main__", "__builtins__": builtins}
    if shell is not None:  # this kernel's own: no audit hook of the notebook's may watch the recorder
        sys.addaudithook(_no_more_audit_hooks)
        _zmq_collector_running()
    run, cache, record, build = exec, linecache.cache, collect, assembled
    before, found, graded = _state(), {}, {}  # found: nonce -> evidence; graded: function -> (object, steps)
    assembled_at = None
    for step in steps:
        seconds = step[-1] if isinstance(step[-1], (int, float)) else 0
        if step[0] == "code":
            filename, text = f"<cell {step[1]}>", _placed(step[2])
            cache[filename] = (len(text), None, text.splitlines(True), filename)
            try:
                with _time_limit(seconds), _quiet(shell):
                    run(compile(text, filename, "exec"), namespace)
            except (Exception, SystemExit, _OutOfTime):  # as in the notebook, the rest of that cell is skipped
                pass
        elif step[0] == "record":
            with _quiet(shell):
                found[step[2].get("nonce")] = _guarded(before, step[1], step[2], seconds,
                                                       lambda: record(step[1], namespace, step[2], False))
            graded.setdefault(step[1], [namespace.get(step[1]), []])[1].append(step)
            show(found[step[2].get("nonce")])  # at once: a run cut short keeps what it recorded
        else:  # ["assemble", seconds]: where the notebook builds the network it trains
            assembled_at = seconds
            _as_trained(found, graded, namespace, before, record, build, seconds, show, shell)
    if assembled_at is None:  # the notebook builds no network: the functions as they stand at its end
        _as_trained(found, graded, namespace, before, record, build, seconds, show, shell)


class _quiet:
    """What the notebook's code prints or displays in the evidence kernel goes nowhere: only
    the evidence is the grader's (a cell that prints 50 MB costs the notebook's own kernel,
    not this one)."""

    def __init__(self, shell):
        self.shell = shell

    def __enter__(self):
        self.streams = contextlib.ExitStack()
        sink = io.TextIOWrapper(io.BufferedWriter(_Nowhere()), write_through=True)
        self.streams.enter_context(contextlib.redirect_stdout(sink))
        self.streams.enter_context(contextlib.redirect_stderr(sink))
        self.publisher = getattr(self.shell, "display_pub", None)
        if self.publisher is not None:
            self.publish = self.publisher.__dict__.get("publish")
            self.publisher.publish = lambda *args, **kwargs: None
        return self

    def __exit__(self, *_):
        if self.publisher is not None:
            if self.publish is None:
                self.publisher.__dict__.pop("publish", None)
            else:
                self.publisher.publish = self.publish
        self.streams.close()
        return False


class _Nowhere(io.RawIOBase):
    def writable(self):
        return True

    def write(self, data):
        return len(data)


def _as_trained(found, graded, namespace, before, record, build, seconds, show, shell=None):
    """Where the notebook builds the network it trains: the graded cells of a function the
    notebook defined anew since they were recorded are recorded again, with the function it
    trains; and the cell that asks for it gets the U-Net built with the student's own blocks.
    What changes is shown again: the grader keeps the last evidence of each cell."""
    for name, (graded_object, steps) in graded.items():
        # (a function its graded cells could not find stays as they found it: judged where they are)
        if graded_object is not None and namespace.get(name) is not graded_object:
            for step in steps:
                with _quiet(shell):
                    found[step[2].get("nonce")] = _guarded(before, name, step[2], step[3] if len(step) > 3 else 0,
                                                           lambda: record(name, namespace, step[2], False))
                if not step[2].get("assemble"):
                    show(found[step[2].get("nonce")])
    for steps in [steps for _, steps in graded.values()]:
        for step in steps:
            evidence = found[step[2].get("nonce")]
            if step[2].get("assemble"):
                if "error" not in evidence:
                    with _quiet(shell):
                        evidence = _with_assembled(evidence, before, seconds, build, namespace)
                show(evidence)


def _zmq_collector_running():
    """The kernel sends a large message (such as the evidence of a big network) without copying
    it, and zmq starts a thread the first time it does: started here, before the notebook's
    code runs, so that it is not taken for a thread the notebook left running."""
    try:
        from zmq.utils.garbage import gc

        if not gc.is_alive():
            gc.start()
    except Exception:  # noqa: BLE001 - another zmq: such a thread, if it comes, is named in the message
        pass


def _no_more_audit_hooks(event, args):
    """Installed before any of the notebook's code runs: an audit hook it adds (which could
    watch the recorder's every step) is refused, silently, as Python refuses one that raises."""
    if event == "sys.addaudithook":
        raise RuntimeError("no audit hooks in the evidence kernel")


def _guarded(before, name, challenge, seconds, work):
    """work()'s evidence, or evidence of why nothing could be recorded: the notebook's code
    left something running or changed the recorder (_left_running), before or meanwhile, or
    the function did not return in time."""
    problem = _left_running(before)
    if not problem:
        try:
            with _time_limit(seconds):
                evidence = work()
        except _OutOfTime:
            problem = f"{name} did not return within {seconds} s (the time a graded cell has)"
    problem = problem or _left_running(before)
    if problem:
        return {"version": VERSION, "function": name, "nonce": challenge.get("nonce"), "cases": [], "error": problem}
    return evidence


def _with_assembled(evidence, before, seconds, build, namespace):
    """`evidence` with the U-Net that unet_model() builds now with the student's own blocks."""
    function = namespace.get("unet_model")
    if not callable(function):
        evidence["assembled"] = {"error": "unet_model is not defined where the notebook builds the network it trains",
                                 "blame": ["unet_model"], "alone": dict.fromkeys(STAND_INS)}
        return evidence
    found = _guarded(before, "unet_model", evidence, seconds, lambda: {"assembled": _timed_assembly(build, function,
                                                                                                      namespace)})
    if "error" in found:
        return found
    evidence["assembled"] = found["assembled"]
    return evidence


def _timed_assembly(build, function, namespace):
    try:
        return build(function, namespace)
    except _OutOfTime:  # a block of the student's own never returned: its own cells say so
        signal.setitimer(signal.ITIMER_REAL, 0)
        running = _WATCH.get("running") or "unet_model"
        why = f"{running} did not return within the time a graded cell has"
        return {"error": why, "blame": [running], "alone": {block: why if block == running else None
                                                             for block in STAND_INS}}


_TIMERS = ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF")


class _OutOfTime(BaseException):
    """A graded function ran past the time a graded cell has."""


class _time_limit:
    """Raises _OutOfTime in what runs within it after `seconds` (0: no limit), and again every
    second after that: one graded cell's function that never returns costs that cell alone."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        if self.seconds:
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.seconds, 1.0)
        return self

    @staticmethod
    def _expired(number, frame):
        raise _OutOfTime()

    def __exit__(self, *_):
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def _state():
    """What of the process the code the graded functions need could leave behind to act while
    the recorder runs: its threads, signal handlers, and this module's own names."""
    handlers = {}
    for number in signal.valid_signals():
        try:
            handlers[number] = signal.getsignal(number)
        except (OSError, ValueError):
            pass
    return {"threads": set(sys._current_frames()), "handlers": handlers, "names": dict(globals())}


def _left_running(before):
    """Why nothing can be recorded now ('' when it can): the code of the notebook left a thread
    running or changed this module; signal handlers, timers and trace functions it set are
    undone first (nothing of the notebook may act while the recorder runs but the function it
    calls)."""
    _stop_other_processes()
    sys.settrace(None)
    sys.setprofile(None)
    for timer in _TIMERS:
        signal.setitimer(getattr(signal, timer), 0)
    for number, handler in before["handlers"].items():
        try:
            if signal.getsignal(number) is not handler and handler is not None:
                signal.signal(number, handler)
        except (OSError, ValueError, TypeError):
            pass
    names = globals()
    if set(names) != set(before["names"]) or any(names[k] is not v for k, v in before["names"].items()):
        return "the grader's recorder was changed by the notebook's code: nothing is recorded"
    frames = sys._current_frames()
    started = set(frames) - before["threads"]
    if started:
        named = {thread.ident: thread.name for thread in threading.enumerate()}
        where = ", ".join(f"{named.get(ident, 'a thread')} in {frames[ident].f_code.co_name} "
                          f"({os.path.basename(frames[ident].f_code.co_filename)})" for ident in sorted(started)[:3])
        return (f"the code your functions need (or the functions themselves) left {len(started)} thread(s) "
                f"running ({where}): grading records nothing while code of the notebook runs beside it")
    return ""


SANDBOX_USER = 65534  # the unprivileged user of the grader's sandbox (course/sandbox/launcher.py)


def _stop_other_processes():
    """In the grader's sandbox, every process the notebook's code started is killed: none may
    act on the kernel while the recorder runs, nor take the CPU the kernel's cgroup shares with
    it. Only there: as the sandbox's user, in a process namespace of its own (its first process
    is bubblewrap); the kernel's own processes and those that started it are older than it."""
    try:
        with open("/proc/1/comm") as first:
            sandboxed = os.getuid() == SANDBOX_USER and first.read().strip() == "bwrap"
        if not sandboxed:
            return
        mine = _started(os.getpid())
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid() and _started(int(entry)) > mine:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:  # ended meanwhile, or not the sandbox user's
                    pass
    except (OSError, ValueError):
        pass


def _started(pid):
    """When the process `pid` started (clock ticks since boot; -1 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def _placed(statements):
    """The text of a cell's statements, each at its own line of the cell."""
    lines = []
    for line, text in statements:
        lines += [""] * max(0, line - 1 - len(lines))
        lines += text.splitlines()
    return "\n".join(lines) + "\n"
