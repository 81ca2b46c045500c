"""From evidence (untrusted plain data) to layer specifications the judge can compare.

Every node of the evidence is checked against a whitelist: known Keras layer classes, and
for each the settings the judge knows. A class or setting it does not know is named as a
problem, never passed. Activations are judged by the values they compute on a probe,
initializers by the values they draw; their names do not count. Only an initializer other
than the usual ones makes the judge draw values, and so import Keras.
"""

import hashlib
import math

import numpy as np

from ..assignment import EvidenceInvalid, shown

PROBE = np.array([-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0, 8.0])  # 8: beyond relu6's cap


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


ACTIVATIONS = {  # name -> what it computes on PROBE
    "linear": PROBE, "relu": np.maximum(PROBE, 0), "sigmoid": 1 / (1 + np.exp(-PROBE)), "tanh": np.tanh(PROBE),
    "softplus": np.log1p(np.exp(PROBE)), "elu": np.where(PROBE > 0, PROBE, np.expm1(PROBE)),
    "exponential": np.exp(PROBE), "softmax": _softmax(PROBE), "relu6": np.clip(PROBE, 0, 6),
    "leaky_relu": np.where(PROBE > 0, PROBE, 0.2 * PROBE), "gelu": None, "swish": PROBE / (1 + np.exp(-PROBE)),
}
ACTIVATIONS = {k: v for k, v in ACTIVATIONS.items() if v is not None}

KERAS_LAYERS = "keras.src.layers."
KERAS_OPS = {"keras.src.ops.numpy": {"Concatenate"}}  # operations that compute what a known layer does
COMMON = {"name", "trainable", "dtype"}
CONV = {"filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation", "use_bias",
        "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
        "activity_regularizer", "kernel_constraint", "bias_constraint"}
SETTINGS = {  # layer class -> settings the judge knows
    "Conv2D": CONV | {"groups"},
    "Conv2DTranspose": CONV | {"output_padding"},
    "MaxPooling2D": {"pool_size", "strides", "padding", "data_format"},
    "AveragePooling2D": {"pool_size", "strides", "padding", "data_format"},
    "Dropout": {"rate", "seed", "noise_shape"},
    "Concatenate": {"axis"},
    "Add": set(),
    "UpSampling2D": {"size", "data_format", "interpolation"},
    "ReLU": {"max_value", "negative_slope", "threshold"},
    "Activation": {"activation"},
    "LeakyReLU": {"negative_slope"},
    "ELU": {"alpha"},
    "Softmax": {"axis"},
}
ELEMENTWISE = {"ReLU", "Activation", "LeakyReLU", "ELU", "Softmax"}
BLOCKS = {"conv_block": {"n_filters", "dropout_prob", "max_pooling"}, "upsampling_block": {"n_filters"}}
NONE_ONLY = {"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
             "bias_constraint", "noise_shape", "output_padding"}

INITIALIZERS = {  # class -> settings the judge knows
    "HeNormal": {"seed"}, "HeUniform": {"seed"}, "GlorotNormal": {"seed"}, "GlorotUniform": {"seed"},
    "LecunNormal": {"seed"}, "LecunUniform": {"seed"}, "Zeros": set(), "Ones": set(), "Constant": {"value"},
    "RandomNormal": {"mean", "stddev", "seed"}, "RandomUniform": {"minval", "maxval", "seed"},
    "TruncatedNormal": {"mean", "stddev", "seed"}, "Orthogonal": {"gain", "seed"},
    "VarianceScaling": {"scale", "mode", "distribution", "seed"},
}
INITIALIZER_EXTRAS = {"input_axes", "output_axes"}  # newer Keras; only None is known
NAMED_INITIALIZERS = {"he_normal": ("HeNormal", {}), "glorot_uniform": ("GlorotUniform", {}), "zeros": ("Zeros", {})}


class Problem(Exception):
    """Something in the evidence the judge cannot accept; the message is for the student."""


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------

def _ints(value, what, length=2):
    if isinstance(value, bool):
        raise Problem(f"{what} must be a number or a pair of numbers, got {shown(value)}")
    if isinstance(value, int):
        return (value,) * length
    if isinstance(value, list) and len(value) == length and all(isinstance(v, int) and not isinstance(v, bool)
                                                                 for v in value):
        return tuple(value)
    raise Problem(f"{what} must be a number or a pair of numbers, got {shown(value)}")


def _cut(text, limit=80):
    """A name from the evidence, as a message may quote it."""
    text = str(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _number(value, what):
    # A whole number too large for a float is no rate either (math.isfinite would overflow).
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or abs(value) > 1e300
            or not math.isfinite(value)):
        raise Problem(f"{what} must be a number, got {shown(value)}")
    return float(value)


def activation_of(probe, what):
    """The name of the activation that computes `probe`, judged by its values."""
    if isinstance(probe, dict):
        raise Problem(f"{what}: the activation could not be evaluated ({str(probe.get('error'))[:120]})")
    if not isinstance(probe, list) or len(probe) != len(PROBE):
        raise Problem(f"{what}: the activation was not described")
    try:
        values = np.array([float(v) for v in probe])
    except (TypeError, ValueError):
        raise Problem(f"{what}: the activation gives values that are not numbers") from None
    for name, expected in ACTIVATIONS.items():
        if np.allclose(values, expected, atol=1e-4, rtol=1e-4):
            return name
    return "an activation the grader does not know"


_INITIALIZER_CACHE = {}


def initializer_of(config, what):
    """A label for what an initializer draws: 'he_normal' for HeNormal() and for
    VarianceScaling(2.0, 'fan_in', 'truncated_normal') alike."""
    if isinstance(config, str):
        if config not in NAMED_INITIALIZERS:
            raise Problem(f"{what}: initializer {shown(config)} is not one the grader knows")
        name, settings = NAMED_INITIALIZERS[config]
    elif isinstance(config, dict) and isinstance(config.get("class_name"), str) and isinstance(config.get("config", {}), dict):
        name, settings = config["class_name"], dict(config.get("config") or {})
    else:
        raise Problem(f"{what}: the initializer is not one the grader knows")
    if name not in INITIALIZERS:
        raise Problem(f"{what}: initializer {shown(name)} is not one the grader knows")
    for key in list(settings):
        if key in INITIALIZER_EXTRAS and settings[key] is None:
            del settings[key]
        elif key not in INITIALIZERS[name]:
            raise Problem(f"{what}: initializer setting {shown(key)} is not one the grader knows")
    settings.pop("seed", None)
    for key, value in settings.items():
        if not (isinstance(value, str) and len(value) < 40) and not isinstance(value, (int, float)):
            raise Problem(f"{what}: initializer setting {shown(key)} has an unexpected value")
    for label, known in NAMED_INITIALIZERS.items():
        if (name, settings) == known:  # the usual spellings need no draw (and no Keras)
            return label
    key = (name, tuple(sorted(settings.items())))
    if key not in _INITIALIZER_CACHE:
        _INITIALIZER_CACHE[key] = _draw(name, settings, what)
    drawn = _INITIALIZER_CACHE[key]
    for label, (known, known_settings) in NAMED_INITIALIZERS.items():
        if np.allclose(drawn, _draw_cached(known, known_settings), atol=1e-6):
            return label
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in sorted(settings.items()))})"


def _draw_cached(name, settings):
    key = (name, tuple(sorted(settings.items())))
    if key not in _INITIALIZER_CACHE:
        _INITIALIZER_CACHE[key] = _draw(name, settings, name)
    return _INITIALIZER_CACHE[key]


def _draw(name, settings, what):
    import keras

    try:
        initializer = getattr(keras.initializers, name)(**settings, **({"seed": 1234} if "seed" in INITIALIZERS[name] else {}))
        return np.asarray(initializer((3, 3, 8, 16)))
    except Exception as error:  # bad values in the settings
        raise Problem(f"{what}: initializer {name} cannot be built ({type(error).__name__})") from None


# ---------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------

def _common(config, node, what):
    if config.get("trainable", True) is not True or node.get("trainable", True) is not True:
        raise Problem(f"{what} is frozen (trainable=False): its weights would never learn")
    if any(isinstance(w, list) and len(w) == 2 and w[1] is False for w in node.get("weights", [])):
        raise Problem(f"{what} has frozen weights: they would never learn")
    dtype = config.get("dtype")
    name = dtype.get("config", {}) if isinstance(dtype, dict) else dtype  # a DTypePolicy's config, or a name
    name = name.get("name") if isinstance(name, dict) else name
    if name not in (None, "float32"):
        raise Problem(f"{what} computes in {shown(name)}; keep the default float32")


def layer_spec(node, what):
    """The normalized specification of one evidence node (a layer)."""
    kind, module, config = node.get("class"), node.get("module"), node.get("config")
    if not isinstance(config, dict):
        raise Problem(f"{what}: its settings could not be read")
    if "error" in config and len(config) == 1:
        raise Problem(f"{what} ({kind}) has no settings the grader can read")
    if kind == "BlockCall" and module == "unet_evidence":
        block = config.get("block")
        if not isinstance(block, str) or block not in BLOCKS or set(config) - {"block"} != BLOCKS[block]:
            raise Problem(f"{what}: a block call was not described properly")
        spec = {"kind": block, "n_filters": config["n_filters"]}
        if block == "conv_block":
            spec.update(dropout_prob=round(_number(config["dropout_prob"], "dropout_prob"), 6),
                        max_pooling=bool(config["max_pooling"]))
        return spec
    own = node.get("own")
    if own:  # grading runs the network as it predicts: how a class of one's own trains is never seen
        own = [str(part)[:40] for part in own[:3]] if isinstance(own, list) else ["layer"]
        if "layer" in own:
            raise Problem(f"{what} ({_cut(kind)}) is a layer class of your own, not Keras's: use Keras's own "
                          "layers, as the exercise does")
        raise Problem(f"{what} ({_cut(kind)}): its {' and '.join(own)} is a class of your own, not Keras's: use "
                      "Keras's own initializers, as the exercise does")
    known_module = isinstance(module, str) and (module.startswith(KERAS_LAYERS) or kind in KERAS_OPS.get(module, ()))
    if not known_module or kind not in SETTINGS:
        raise Problem(f"{what} is a {_cut(kind)} ({_cut(module)}), which the grader does not know: "
                      "use the Keras layers the exercise names")
    unknown = set(config) - SETTINGS[kind] - COMMON
    if unknown:
        raise Problem(f"{what} ({kind}) has the setting {shown(sorted(unknown)[0])}, which the grader does not know")
    _common(config, node, f"{what} ({kind})")
    for key in NONE_ONLY & set(config):
        if config[key] is not None:
            raise Problem(f"{what} ({kind}) sets {key}; the exercise does not use it")
    spec = {"kind": kind}
    if kind in ("Conv2D", "Conv2DTranspose"):
        if config.get("data_format", "channels_last") != "channels_last":
            raise Problem(f"{what} ({kind}) uses data_format {shown(config.get('data_format'))}; keep channels_last")
        spec.update(filters=config.get("filters"), kernel_size=_ints(config.get("kernel_size"), "kernel_size"),
                    strides=_ints(config.get("strides", 1), "strides"), padding=str(config.get("padding")).lower(),
                    dilation_rate=_ints(config.get("dilation_rate", 1), "dilation_rate"),
                    use_bias=config.get("use_bias", True),
                    activation=activation_of(node.get("activation_probe"), f"{what} ({kind})"),
                    initializer=initializer_of(config.get("kernel_initializer"), f"{what} ({kind})"),
                    bias_initializer=initializer_of(config.get("bias_initializer", "zeros"), f"{what} ({kind})"))
        if kind == "Conv2D":
            spec["groups"] = config.get("groups", 1)
        if spec["kernel_size"] == (1, 1) and spec["strides"] == (1, 1):
            spec["padding"] = "same"  # a 1x1 convolution computes the same with either padding
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        if config.get("data_format", "channels_last") != "channels_last":
            raise Problem(f"{what} ({kind}) uses data_format {shown(config.get('data_format'))}; keep channels_last")
        pool = _ints(config.get("pool_size"), "pool_size")
        strides = config.get("strides")
        spec.update(pool_size=pool, strides=pool if strides is None else _ints(strides, "strides"),
                    padding=str(config.get("padding")).lower())
    elif kind == "Dropout":
        spec["rate"] = round(_number(config.get("rate"), "rate"), 6)
    elif kind == "Concatenate":
        spec["axis"] = config.get("axis", -1)
    elif kind == "UpSampling2D":
        spec.update(size=_ints(config.get("size"), "size"), interpolation=config.get("interpolation"))
    elif kind in ELEMENTWISE:
        activation = activation_of(node.get("activation_probe"), f"{what} ({kind})")
        if kind == "ReLU":  # a cap or a threshold the probe may not reach still counts
            hidden = {key: config.get(key) for key in ("max_value", "threshold") if config.get(key) not in (None, 0, 0.0)}
            if hidden:
                activation = "ReLU(" + ", ".join(f"{key}={shown(value)}" for key, value in hidden.items()) + ")"
        spec = {"kind": "Activation", "activation": activation}
    return spec


def _folded(spec, producer):
    """Conv2D(activation=None) then an activation layer computes a Conv2D with that activation."""
    if spec["kind"] == "Activation" and producer["kind"].startswith("Conv") and producer["activation"] == "linear":
        return dict(producer, activation=spec["activation"])
    return None


def spec_graph(case, input_shapes, sources=None):
    """(order, ends): the network as [(spec, [parent indices])], with activation layers folded
    into the convolution before them and Dropout(0) dropped; `ends` index the outputs.
    `sources`, a list, receives for each entry of `order` the evidence node whose layer holds
    its weights (the convolution's, for an activation folded into it)."""
    nodes = case["nodes"]
    sources = [] if sources is None else sources
    order, index, layers = [], {}, 0  # layers: how many of `order` are not inputs
    for node in nodes:
        number = node["id"]
        what = f"layer {layers + 1}"
        if node["class"] == "Input":
            position = node["position"]
            if node["shape"] != [None] + list(input_shapes[position]):
                raise Problem(f"the network's input has shape {node['shape']}, expected "
                              f"{[None] + list(input_shapes[position])}")
            index[number] = len(order)
            order.append(({"kind": "InputLayer", "position": position}, []))
            sources.append(number)
            continue
        parents = [index[p] for p in node["inputs"]]
        if node["class"] == "Output":
            spec = {"kind": "Output", "index": node["index"]}
            source = order[parents[0]][0]
            if source["kind"] == "conv_block" and not source["max_pooling"]:
                index[number] = parents[0]  # one tensor, both outputs
                continue
        else:
            spec = layer_spec(node, what)
        if spec["kind"] == "Dropout" and spec["rate"] == 0 and len(parents) == 1:
            index[number] = parents[0]
            continue
        if spec["kind"] == "Concatenate" and isinstance(spec["axis"], int):
            rank = len(node.get("shapes", [[None] * 4])[0])
            spec["axis"] = spec["axis"] % rank
        source = number
        if len(parents) == 1:
            merged = _folded(spec, order[parents[0]][0])
            if merged is not None:
                spec, parents, source = merged, order[parents[0]][1], sources[parents[0]]
        index[number] = len(order)
        order.append((spec, parents))
        sources.append(source)
        layers += 1
    return order, [index[e] for e in case["outputs"]]


def _digest(spec, parents):
    """A node's digest from its kind, its settings and its parents' digests (in any order for
    a concatenation). repr tells types apart (32 from '32', (3, 3) from [3, 3]), and a
    128-bit BLAKE2 digest of it stands for the whole subnetwork: no two different
    subnetworks of the evidence share one, short of breaking BLAKE2."""
    if spec["kind"] == "Concatenate":
        parents = sorted(parents)
    fields = [(key, value) for key, value in sorted(spec.items()) if key != "kind"]
    text = repr((spec["kind"], fields, parents))
    return hashlib.blake2b(text.encode("utf-8", "backslashreplace"), digest_size=16).digest()


def canonical(order, ends):
    """One value per output, equal for two networks exactly when they compute the same
    function up to the order of concatenated channels, and `text(i)`, the same for node i.

    Each node gets a fixed-size digest of what it computes from the digests of its parents,
    so a layer used many times (Add()([x, x]) twenty times over) is looked at once: the
    work is linear in the size of the network, where writing the network out as a tree
    doubles with every such layer. Digests are comparable between calls: the student's
    and the reference's networks need no shared table."""
    digests = []
    for spec, parents in order:
        if any(not 0 <= p < len(digests) for p in parents):
            raise ValueError("a layer's input is not an earlier layer")
        digests.append(_digest(spec, [digests[p] for p in parents]))
    return [digests[i] for i in ends], digests.__getitem__


def reachable(order, ends):
    """The indices of the nodes that the nodes `ends` are computed from, themselves included."""
    needed, stack = set(), list(ends)
    while stack:
        i = stack.pop()
        if i not in needed:
            needed.add(i)
            stack.extend(order[i][1])
    return needed


def layers_to(order, end):
    """The layer specs on the way to node `end`, in the order they are applied (inputs excluded)."""
    return [order[i][0] for i in sorted(reachable(order, [end])) if order[i][0]["kind"] not in ("InputLayer", "Output")]


__all__ = ["Problem", "EvidenceInvalid", "spec_graph", "canonical", "layers_to", "reachable", "activation_of", "initializer_of"]
