"""Running a network given as layer specifications (course/judge/specs.py), in NumPy.

The judge runs a student's network and the reference with the same weights and compares
what they compute; and it runs the student's network as described, with the weights the
kernel set from the grading run's secret, to check what the kernel says the real network
computed (`computes_as_reported`). It only runs networks whose specifications already match the
reference's up to the order of concatenated channels, so it needs only the layers the
exercises use; each follows Keras's definition (padding, strides, the transposed
convolution's output size). No TensorFlow: the judge stays light.
"""

import math

import numpy as np

from .specs import canonical, reachable

ACTIVATIONS = {"linear": lambda x: x, "relu": lambda x: np.maximum(x, 0)}
WEIGHTED = ("Conv2D", "Conv2DTranspose")
BLOCKS = ("conv_block", "upsampling_block")  # block calls, as unet_model's stand-ins compute them


class CannotRun(Exception):
    """A layer or setting this interpreter does not implement."""


def _same_padding(size, kernel, stride):
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, strides, padding, dilation):
    kh, kw = kernel.shape[:2]
    (sh, sw), (dh, dw) = strides, dilation
    span_h, span_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    if padding == "same":
        x = np.pad(x, ((0, 0), _same_padding(x.shape[1], span_h, sh), _same_padding(x.shape[2], span_w, sw), (0, 0)))
    elif padding != "valid":
        raise CannotRun(f"padding {padding!r}")
    out_h, out_w = (x.shape[1] - span_h) // sh + 1, (x.shape[2] - span_w) // sw + 1
    out = np.zeros((x.shape[0], out_h, out_w, kernel.shape[3]), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i * dh:i * dh + (out_h - 1) * sh + 1:sh, j * dw:j * dw + (out_w - 1) * sw + 1:sw, :]
            out += patch @ kernel[i, j]
    return out


def conv2d_transpose(x, kernel, strides, padding):
    """Keras's Conv2DTranspose (dilation 1): each input pixel scatters the kernel, times its
    value, at `strides` steps; 'same' keeps size x strides, cropped as TensorFlow does."""
    kh, kw = kernel.shape[:2]
    (sh, sw), (h, w) = strides, x.shape[1:3]
    full = np.zeros((x.shape[0], (h - 1) * sh + max(kh, sh), (w - 1) * sw + max(kw, sw), kernel.shape[2]))
    for i in range(kh):
        for j in range(kw):
            full[:, i:i + (h - 1) * sh + 1:sh, j:j + (w - 1) * sw + 1:sw, :] += x @ kernel[i, j].T
    if padding == "valid":
        return full
    if padding != "same":
        raise CannotRun(f"padding {padding!r}")
    top, left = max(kh - sh, 0) // 2, max(kw - sw, 0) // 2
    return full[:, top:top + h * sh, left:left + w * sw, :]


def max_pool(x, pool, strides, padding):
    if padding != "valid":
        raise CannotRun(f"pooling padding {padding!r}")
    (ph, pw), (sh, sw) = pool, strides
    out_h, out_w = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    return np.max([x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw, :]
                   for i in range(ph) for j in range(pw)], axis=0)


def stand_in(spec, xs, weights):
    """What unet_evidence.BlockCall computes for a block call (see its docstring)."""
    if spec["kind"] == "upsampling_block":
        up = np.repeat(np.repeat(xs[0], 2, axis=1), 2, axis=2)
        skip = xs[1].mean(axis=(1, 2), keepdims=True)
        return np.maximum(up @ weights[0] + skip @ weights[1], 0)
    x = np.maximum(xs[0] @ weights[0], 0)
    if spec["max_pooling"]:
        return x[:, :x.shape[1] // 2 * 2:2, :x.shape[2] // 2 * 2:2, :], x
    return x


def apply(spec, xs, weights):
    """One layer, at inference (dropout passes its input through, as Keras does then)."""
    kind = spec["kind"]
    if kind in BLOCKS:
        return stand_in(spec, xs, weights)
    if kind == "Output":
        if not isinstance(xs[0], tuple) or not 0 <= spec["index"] < len(xs[0]):
            raise CannotRun("an output of a block that has none")
        return xs[0][spec["index"]]
    if any(isinstance(x, tuple) for x in xs):
        raise CannotRun("a block call's outputs used as one tensor")
    if kind in WEIGHTED:
        kernel, bias = weights
        if kind == "Conv2D":
            if spec.get("groups", 1) != 1:
                raise CannotRun("grouped convolutions")
            y = conv2d(xs[0], kernel, spec["strides"], spec["padding"], spec["dilation_rate"])
        else:
            if spec["dilation_rate"] != (1, 1):
                raise CannotRun("dilated transposed convolutions")
            y = conv2d_transpose(xs[0], kernel, spec["strides"], spec["padding"])
        if spec["activation"] not in ACTIVATIONS:
            raise CannotRun(f"activation {spec['activation']!r}")
        return ACTIVATIONS[spec["activation"]](y + (bias if bias is not None else 0))
    if kind == "MaxPooling2D":
        return max_pool(xs[0], spec["pool_size"], spec["strides"], spec["padding"])
    if kind == "Dropout":
        return xs[0]
    if kind == "Concatenate":
        return np.concatenate(xs, axis=spec["axis"])
    raise CannotRun(f"a {kind} layer")


def kernel_shape(spec, in_channels):
    if spec["kind"] == "Conv2D":
        return (*spec["kernel_size"], in_channels, spec["filters"])
    return (*spec["kernel_size"], spec["filters"], in_channels)  # Conv2DTranspose


def random_weights(spec, in_channels, rng):
    """(kernel, bias) drawn at He's scale, so that activations neither vanish nor explode
    through the twenty-odd layers of a U-Net."""
    shape = kernel_shape(spec, in_channels)
    kernel = rng.standard_normal(shape) * math.sqrt(2 / (shape[0] * shape[1] * in_channels))
    return kernel, (rng.standard_normal(spec["filters"]) * 0.1 if spec["use_bias"] else None)


def run(order, ends, inputs, weights_of):
    """The outputs of the network (order, ends) on `inputs`; `weights_of(index, spec, values)`
    gives (kernel, bias) of each weighted layer, seeing the values computed so far."""
    needed = reachable(order, ends)  # a layer whose result is never used is not run
    values = []
    for index, (spec, parents) in enumerate(order):
        if index not in needed:
            values.append(None)
        elif spec["kind"] == "InputLayer":
            values.append(inputs[spec["position"]])
        else:
            weights = weights_of(index, spec, values) if spec["kind"] in WEIGHTED + BLOCKS else None
            values.append(apply(spec, [values[p] for p in parents], weights))
    return [values[e] for e in ends]


def _parts(order, index, text, values):
    """(canonical digest, width) of each concatenated part feeding layer `index`, or one
    anonymous part when its input is not a concatenation; `text(i)` is node i's digest
    (specs.canonical)."""
    parent = order[index][1][0]
    if order[parent][0]["kind"] != "Concatenate":
        return [(None, values[parent].shape[-1])]
    return [(text(p), values[p].shape[-1]) for p in order[parent][1]]


def _reordered(kernel, axis, wanted, got):
    """`kernel`, whose input channels come in the parts `wanted`, for input parts `got`."""
    starts, at = {}, 0
    for text, width in wanted:
        starts.setdefault(text, []).append((at, width))
        at += width
    pieces = []
    for text, width in got:
        if not starts.get(text):
            raise CannotRun("concatenated parts the reference does not have")
        start, want = starts[text].pop(0)
        if want != width:
            raise CannotRun("concatenated parts of other widths")
        pieces.append(np.take(kernel, range(start, start + width), axis=axis))
    return np.concatenate(pieces, axis=axis)


def same_computation(student, reference, shapes, seed=7):
    """Whether two networks, each (order, ends) with blocks expanded, compute the same outputs
    when the reference's weights are drawn at random and each of the student's layers gets
    the weights of the reference layer that computes the same thing (its input channels
    reordered where the student concatenated in the other order)."""
    rng = np.random.default_rng(seed)
    _, text_reference = canonical(*reference)
    _, text_student = canonical(*student)
    drawn = {}  # canonical digest of a layer -> [(kernel, bias, parts of its input)]

    def reference_weights(index, spec, values):
        wanted = _parts(reference[0], index, text_reference, values)
        kernel, bias = random_weights(spec, sum(w for _, w in wanted), rng)
        drawn.setdefault(text_reference(index), []).append((kernel, bias, wanted))
        return kernel, bias

    def student_weights(index, spec, values):
        if not drawn.get(text_student(index)):
            raise CannotRun("a layer the reference does not have")
        kernel, bias, wanted = drawn[text_student(index)].pop(0)
        got = _parts(student[0], index, text_student, values)
        if [t for t, _ in got] != [t for t, _ in wanted]:
            kernel = _reordered(kernel, 2 if spec["kind"] == "Conv2D" else 3, wanted, got)
        return kernel, bias

    inputs = [np.random.default_rng(3).standard_normal((1, *shape)) for shape in shapes]
    try:
        want = run(*reference, inputs, reference_weights)
        got = run(*student, inputs, student_weights)
    except (CannotRun, ValueError, IndexError):
        return False
    return len(got) == len(want) and all(a.shape == b.shape and np.allclose(a, b, atol=1e-6, rtol=1e-6)
                                         for a, b in zip(got, want))


# ---------------------------------------------------------------------------------------
# What the kernel reports its real network computed
# ---------------------------------------------------------------------------------------
# The kernel (unet_evidence.py) sets every weight and draws the test inputs with these
# three functions; they must stay as they are there.

SAMPLE = 256
BATCH = 2


def seeded(seed, case, node, index, shape):
    rng = np.random.default_rng([seed, case, node, index])
    fan_in = math.prod(shape[:-1]) if len(shape) > 1 else 0
    scale = math.sqrt(2 / fan_in) if fan_in else 0.1
    return (rng.standard_normal(tuple(shape)) * scale).astype(np.float32).astype(np.float64)


def test_input(seed, case, position, shape):
    rng = np.random.default_rng([seed, case, 10**6 + position])
    scales = 10 ** rng.uniform(-1, 1.5, (BATCH, *shape))
    return (rng.standard_normal((BATCH, *shape)) * scales).astype(np.float32).astype(np.float64)


def sample_places(seed, case, output, size):
    return np.random.default_rng([seed, case, 2 * 10**6 + output]).integers(0, size, min(size, SAMPLE))


def weight_shapes(spec, in_channels):
    """The shapes of a layer's weights, in the order Keras keeps them."""
    if spec["kind"] in WEIGHTED:
        shapes = [kernel_shape(spec, in_channels[0])]
        return shapes + [(spec["filters"],)] if spec["use_bias"] else shapes
    return [(channels, spec["n_filters"]) for channels in in_channels]  # a block call's mixes


def _agrees(report, values, places):
    """Whether a kernel's summary of one output (unet_evidence._summary) is what `values`
    are, within float32's rounding: its shape, its sum, sum of magnitudes and of squares,
    and its values at `places`."""
    if not isinstance(report, dict) or report.get("shape") != list(values.shape):
        return False
    try:
        got = np.array(report["sums"], dtype=np.float64)
        sample = np.array(report["sample"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):  # a value that is no number ('nan', say)
        return False
    flat = values.reshape(-1)
    total, magnitude, squares = flat.sum(), np.abs(flat).sum(), (flat * flat).sum()
    if got.shape != (3,) or sample.shape != places.shape or not np.all(np.isfinite(got)):
        return False
    scale = math.sqrt(squares / max(flat.size, 1))  # the typical size of a value
    return bool(abs(got[0] - total) <= 1e-3 * magnitude + 1e-6 and abs(got[1] - magnitude) <= 1e-3 * magnitude + 1e-6
                and abs(got[2] - squares) <= 2e-3 * squares + 1e-6
                and np.all(np.abs(sample - flat[places]) <= 1e-3 * np.abs(flat[places]) + 1e-3 * scale + 1e-6))


def computes_as_reported(order, ends, sources, shapes, computed, seed, case):
    """Whether the network (order, ends), whose entries come from the evidence nodes
    `sources`, run with the kernel's weights on the kernel's test inputs, computes what the
    kernel reports in `computed` (per output: shape, sums, values at drawn places)."""
    def weights_of(index, spec, values):
        channels = [values[p].shape[-1] for p in order[index][1]]
        weights = [seeded(seed, case, sources[index], k, shape) for k, shape in enumerate(weight_shapes(spec, channels))]
        if spec["kind"] in WEIGHTED:  # (kernel, bias), as apply takes them
            return weights[0], (weights[1] if len(weights) > 1 else None)
        return weights

    inputs = [test_input(seed, case, position, shape) for position, shape in enumerate(shapes)]
    try:
        results = run(order, ends, inputs, weights_of)
    except (CannotRun, ValueError, IndexError, AttributeError):
        return False
    reports = computed.get("outputs") if isinstance(computed, dict) else None
    if not isinstance(reports, list) or len(reports) != len(results):
        return False
    return all(not isinstance(values, tuple)
               and _agrees(report, values, sample_places(seed, case, number, values.size))
               for number, (report, values) in enumerate(zip(reports, results)))


def same_reports(first, second):
    """Whether two summaries of the same outputs (computed["outputs"], computed["training"])
    agree within float32's rounding: then what one is checked against holds for the other."""
    if not (isinstance(first, list) and isinstance(second, list) and len(first) == len(second)):
        return False
    for a, b in zip(first, second):
        try:
            if not (isinstance(a, dict) and isinstance(b, dict) and a.get("shape") == b.get("shape")):
                return False
            sums_a, sums_b = np.array(a["sums"], dtype=np.float64), np.array(b["sums"], dtype=np.float64)
            sample_a, sample_b = np.array(a["sample"], dtype=np.float64), np.array(b["sample"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            return False
        if sums_a.shape != (3,) or sums_b.shape != (3,) or sample_a.shape != sample_b.shape:
            return False
        if not (np.all(np.isfinite(sums_a)) and np.all(np.isfinite(sums_b))):
            return False
        magnitude, scale = abs(sums_a[1]), math.sqrt(abs(sums_a[2]) / max(math.prod(a["shape"]), 1))
        if not (abs(sums_a[0] - sums_b[0]) <= 1e-4 * magnitude + 1e-6 and abs(sums_a[1] - sums_b[1]) <= 1e-4 * magnitude + 1e-6
                and abs(sums_a[2] - sums_b[2]) <= 2e-4 * abs(sums_a[2]) + 1e-6
                and np.all(np.abs(sample_a - sample_b) <= 1e-4 * np.abs(sample_a) + 1e-4 * scale + 1e-6)):
            return False
    return True
