"""The judge has bounds: its work grows linearly with the evidence, the evidence has caps,
and each notebook is judged in a child process whose memory and time are limited, so no
evidence can stop the grading of a class (issue 16: an Add()([x, x]) chain of 30 layers
once took the nbgrader process past 100 GB)."""

import asyncio
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time

import nbformat
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_notebook, new_output

from course.assignment import SOURCE
from course.judge import preprocessors as judge, specs
from course.unet_segmentation import challenges, evidence_format, reference
from course.unet_segmentation.evidence_format import MAX_BYTES, MAX_DEPTH, MAX_EDGES, MAX_STRING, MIME

from fuzzing import mutate

ROOT = SOURCE.parent.parent
sys.path.insert(0, str(SOURCE))  # unet_evidence, imported (with TensorFlow) where evidence is recorded
ADD_CHAIN = '''
def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    x = inputs
    for _ in range(LAYERS):
        x = tf.keras.layers.Add()([x, x])
    return x, x
'''


# ---------------------------------------------------------------------------------------
# Evidence recorded from real Keras code (TensorFlow is imported only by the tests that need it)
# ---------------------------------------------------------------------------------------

def _recorded(names, grade_id):
    import unet_evidence

    challenge = challenges.draw(grade_id)
    evidence = unet_evidence.collect(judge.FUNCTION_OF[grade_id], names, challenge)
    return challenge, json.loads(json.dumps(evidence))  # as nbgrader reads it from the notebook


@pytest.fixture(scope="module")
def reference_evidence():
    """{grade_id: (challenge, evidence)} of the reference solution, for every graded cell."""
    from test_judge import namespace

    names = namespace()
    return {grade_id: _recorded(names, grade_id) for grade_id in judge.FUNCTION_OF}


def _add_chain(layers):
    names = {}
    exec("import tensorflow as tf\n" + ADD_CHAIN.replace("LAYERS", str(layers)), names)
    return _recorded(names, "grade_conv_block_arguments")


def _as_evidence(function, challenge):
    """The reference's evidence for `challenge`, written as plain data in the format of
    unet_evidence.py (test_the_plain_reference_evidence_passes checks it)."""
    cases = []
    for asked in challenge["cases"]:
        order, ends = reference.network(function, asked)
        shapes = judge.input_shapes(function, asked)
        cases.append({"nodes": [_node(spec, parents, number, shapes) for number, (spec, parents) in enumerate(order)],
                      "outputs": ends})
    return {"version": 1, "function": function, "nonce": challenge["nonce"], "cases": cases}


def _initializer(name):
    return {"module": "keras.initializers", "class_name": {"he_normal": "HeNormal", "glorot_uniform": "GlorotUniform",
                                                           "zeros": "Zeros"}[name],
            "config": {} if name == "zeros" else {"seed": None}, "registered_name": None}


def _node(spec, parents, number, shapes):
    kind = spec["kind"]
    if kind == "InputLayer":
        return {"class": "Input", "position": spec["position"], "shape": [None, *shapes[spec["position"]]],
                "id": number}
    if kind == "Output":
        return {"class": "Output", "of": parents[0], "index": spec["index"], "inputs": parents, "id": number}
    node = {"inputs": parents, "weights": [], "trainable": True, "id": number, "shapes": [[None, 8, 8, 4]]}
    if kind in ("conv_block", "upsampling_block"):
        return dict(node, **{"class": "BlockCall", "module": "unet_evidence",
                             "config": {"block": kind, **{k: v for k, v in spec.items() if k != "kind"}}})
    config = {"name": f"layer_{number}", "trainable": True, "dtype": "float32"}
    if kind.startswith("Conv"):
        config.update({key: list(value) if isinstance(value, tuple) else value for key, value in spec.items()
                       if key not in ("kind", "activation", "initializer", "bias_initializer")})
        config.update(activation=spec["activation"], kernel_initializer=_initializer(spec["initializer"]),
                      bias_initializer=_initializer(spec["bias_initializer"]))
        node["activation_probe"] = [float(v) for v in specs.ACTIVATIONS[spec["activation"]]]
    else:
        config.update({key: list(value) if isinstance(value, tuple) else value for key, value in spec.items()
                       if key != "kind"})
    module = {"Conv2D": "convolutional.conv2d", "Conv2DTranspose": "convolutional.conv2d_transpose",
              "MaxPooling2D": "pooling.max_pooling2d", "Dropout": "regularization.dropout",
              "Concatenate": "merging.concatenate"}[kind]
    return dict(node, **{"class": kind, "module": specs.KERAS_LAYERS + module, "config": config})


def _without_secret(challenge):
    """A challenge judged by structure alone: plain data written here cannot hold what a
    real network computes for the grader's secret (tests/judge/test_evidence_of_computation.py),
    nor the U-Net built with a notebook's own blocks (test_judge.py records that from real code)."""
    challenge.pop("seed")
    challenge.pop("assemble", None)
    return challenge


def test_the_plain_reference_evidence_passes():
    for grade_id, function in judge.FUNCTION_OF.items():
        challenge = _without_secret(challenges.draw(grade_id))
        passed, message = judge.verdict(grade_id, challenge, _as_evidence(function, challenge))
        assert passed, (grade_id, message)


# ---------------------------------------------------------------------------------------
# (a) An Add chain is judged in linear time and memory
# ---------------------------------------------------------------------------------------

MEASURED = r'''
import json, resource, sys, time
def peak_kb():  # this process's own peak (VmHWM); ru_maxrss also counts the parent it was forked from
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
# A judge that expands the chain into a tree ends here in MemoryError, not in the machine's swap.
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from course.judge import preprocessors as judge
challenge, evidence = json.load(open(sys.argv[1]))
before = peak_kb()
start = time.perf_counter()
passed, message = judge.verdict("grade_conv_block_arguments", challenge, evidence)
seconds = time.perf_counter() - start
grown = peak_kb() - before
print(json.dumps({"passed": passed, "message": message, "seconds": seconds, "grown_kb": grown}))
'''


@pytest.mark.parametrize("layers", [30, 60, 390])  # 390: as many as MAX_NODES allows
def test_an_add_chain_is_judged_quickly_in_little_memory_and_fails(layers, tmp_path):
    """Each Add()([x, x]) doubles the paths through the network: 2**390 of them at 390 layers.
    Judged in a fresh process, whose peak memory (VmHWM) is read before and after."""
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(_add_chain(layers)))
    result = subprocess.run([sys.executable, "-c", MEASURED, str(path)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout)
    assert not measured["passed"]
    assert "next_layer, layer 1: expected Conv2D with" in measured["message"], measured["message"]
    assert measured["message"].endswith("filters, got Add")
    # Measured: 3 ms at 30 layers, 32 ms at 390, memory not measurably grown (before issue 16:
    # 5 s and 1.6 GB at 24 layers, MemoryError under 6 GiB at 30).
    assert measured["seconds"] < 1.0, measured
    assert measured["grown_kb"] < 50_000, measured


def test_canonical_work_is_linear_in_the_size_of_a_shared_graph():
    """A diamond chain of 390 layers (each the concatenation of the one before, twice) gives
    one fixed-size digest per node, and a change at the bottom changes the top's."""
    order = [({"kind": "InputLayer", "position": 0}, [])]
    for _ in range(390):
        order.append(({"kind": "Concatenate", "axis": 3}, [len(order) - 1, len(order) - 1]))
    start = time.perf_counter()
    (top,), text = specs.canonical(order, [len(order) - 1])
    assert time.perf_counter() - start < 0.5
    assert len(top) == 16 and all(len(text(i)) == 16 for i in range(len(order)))
    changed = [({"kind": "InputLayer", "position": 1}, [])] + order[1:]
    assert specs.canonical(changed, [len(order) - 1])[0] != [top]


def test_canonical_tells_apart_what_the_judge_must_and_nothing_else():
    """Equal exactly for the same network up to the order of concatenated channels."""
    def network(first, second, kind="Concatenate", **settings):
        order = [({"kind": "InputLayer", "position": 0}, []), ({"kind": "InputLayer", "position": 1}, []),
                 ({"kind": kind, "axis": 3, **settings}, [first, second])]
        return specs.canonical(order, [2])[0]

    assert network(0, 1) == network(1, 0)  # channels concatenated in either order
    assert network(0, 1, "Add") != network(1, 0, "Add")  # only concatenations are taken in any order
    assert network(0, 1, "Add") != network(0, 0, "Add")
    assert network(0, 1) != network(0, 0)
    assert network(0, 1, "Add") == network(0, 1, "Add")
    assert network(0, 1, filters=32) != network(0, 1, filters="32")  # types count, as they must
    assert network(0, 1, kernel_size=(3, 3)) != network(0, 1, kernel_size=[3, 3])
    assert network(0, 1, filters=32) != network(0, 1, filters=32.0)


# ---------------------------------------------------------------------------------------
# (b) Caps on the evidence
# ---------------------------------------------------------------------------------------

def _plain_conv_block_evidence():
    """A conv_block challenge and its reference evidence, written as plain data."""
    challenge = _without_secret(challenges.draw("grade_conv_block_arguments"))
    return challenge, _as_evidence("conv_block", challenge)


def test_the_reference_evidence_is_far_below_every_cap(reference_evidence):
    """The caps leave a wide margin: the reference's evidence is 21-47 kB (most of it the
    numbers its network computed, at the U-Net's own sizes and in both modes), under a
    fortieth of the cap (estimated within about 10% of its JSON, without writing it out)."""
    for grade_id, (_, evidence) in reference_evidence.items():
        estimate, actual = evidence_format.size(evidence), len(json.dumps(evidence))
        assert 0.9 * actual <= estimate <= 1.25 * actual, (grade_id, estimate, actual)
        assert estimate < MAX_BYTES / 40, grade_id


def test_evidence_over_the_byte_cap_fails_with_its_size():
    challenge, evidence = _plain_conv_block_evidence()
    evidence["cases"][0]["nodes"][1]["config"]["notes"] = ["x" * 4000] * 600  # 2.4 MB
    start = time.perf_counter()
    passed, message = judge.verdict("grade_conv_block_arguments", challenge, evidence)
    assert time.perf_counter() - start < 0.5
    assert not passed
    assert message.startswith("no valid evidence: the description is too large (more than 2 MB;"), message


def test_measuring_a_huge_or_self_containing_value_stops_at_the_budget():
    """A list of ten million references to one text is 100 MB as JSON, but measuring it
    stops after the first 2 MB; a list inside itself (possible only in Python) ends too."""
    huge = ["0123456789"] * 10_000_000
    start = time.perf_counter()
    assert evidence_format.size({"cases": huge}) > MAX_BYTES
    loop = []
    loop.append(loop)
    with pytest.raises(evidence_format.EvidenceInvalid, match="nested more than"):
        evidence_format.size(loop)
    wide = [[0] * 1000] * 1000  # 4 MB of JSON: stops after half
    assert evidence_format.size(wide) > MAX_BYTES
    assert time.perf_counter() - start < 2  # about 0.1 s; measuring all of it would take far longer


@pytest.mark.parametrize("change, expected", [
    (lambda node: node["config"].update(name="c" * (MAX_STRING + 1)),
     f"a name or setting in the description is {MAX_STRING + 1:,} characters long (at most {MAX_STRING:,})"),
    (lambda node: node["config"].update(name=_nested(MAX_DEPTH)),
     f"the description is nested more than {MAX_DEPTH} levels deep"),
    (lambda node: node["config"].update(kernel_initializer={"class_name": "HeNormal", "config": {"seed": {1, 2}}}),
     "the description holds a set, which is not plain data"),
])
def test_a_text_too_long_nesting_too_deep_or_an_object_fails_with_a_message(change, expected):
    challenge, evidence = _plain_conv_block_evidence()
    change(evidence["cases"][0]["nodes"][1])
    passed, message = judge.verdict("grade_conv_block_arguments", challenge, evidence)
    assert not passed and message == f"no valid evidence: {expected}", message


def _nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def test_too_many_connections_fail_with_a_message():
    challenge, evidence = _plain_conv_block_evidence()
    case = evidence["cases"][0]
    adds = [{"class": "Add", "module": "keras.src.layers.merging.add", "config": {"name": f"add_{i}"},
             "inputs": [0] * 8, "weights": [], "trainable": True, "id": i} for i in range(1, 160)]
    case["nodes"] = case["nodes"][:1] + adds
    case["outputs"] = [159, 159]
    passed, message = judge.verdict("grade_conv_block_arguments", challenge, evidence)
    assert not passed
    assert message == (f"no valid evidence: the network has {159 * 8} connections between its layers "
                       f"(at most {MAX_EDGES})")


# ---------------------------------------------------------------------------------------
# (c) Each notebook is judged in a child process under limits
# ---------------------------------------------------------------------------------------

def _notebook(evidence_of):
    """A notebook with one graded cell per graded cell of the course, each with its evidence."""
    cells = []
    for grade_id, evidence in evidence_of.items():
        cell = new_code_cell("x = 1\nunet_evidence.record(...)",
                             metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": 2,
                                                    "solution": False, "locked": True}})
        cell.outputs = [new_output("display_data", data={MIME: evidence, "text/plain": "evidence"})]
        cells.append(cell)
    return nbformat.from_dict(new_notebook(cells=cells))


def _verdicts(nb):
    return {cell.metadata["nbgrader"]["grade_id"]: (cell.outputs[0]["text"], cell.outputs[1]["data"]["text/plain"])
            for cell in nb.cells}


def _rss_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def _judged(reference_evidence, **limits):
    nb = _notebook({grade_id: evidence for grade_id, (_, evidence) in reference_evidence.items()})
    drawn = {grade_id: challenge for grade_id, (challenge, _) in reference_evidence.items()}
    logger = logging.getLogger("test_judge_bounds")
    judge.Judge(log=logger, **limits).preprocess(nb, {"unet_challenges": drawn})
    return _verdicts(nb)


def test_a_child_out_of_memory_killed_or_overrunning_costs_only_its_cell(reference_evidence, monkeypatch, caplog):
    """One cell allocates without end, one is killed by a signal (as the kernel's OOM killer
    would), one never ends: each scores 0 with a message saying why, and the cells after them
    are still judged (in a new child); the test's own process does not grow."""
    real = judge.verdict

    def verdict(grade_id, challenge, evidence):
        if grade_id == "grade_conv_block_arguments":
            hog = []
            while True:
                hog.append(np.ones(8 << 20, dtype=np.uint8))  # written, so really used
        if grade_id == "grade_upsampling_block_defaults":
            os.kill(os.getpid(), signal.SIGKILL)
        if grade_id == "grade_unet_model_defaults":
            time.sleep(60)
        return real(grade_id, challenge, evidence)

    monkeypatch.setattr(judge, "verdict", verdict)
    before = _rss_kb()
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="test_judge_bounds"):
        verdicts = _judged(reference_evidence, memory_mb=256, seconds=3)
    assert time.monotonic() - start < 20
    assert _rss_kb() - before < 100_000  # the 256 MB were the child's
    limits = "failed: the evidence could not be judged within the grader's limits ({})\n"
    assert verdicts["grade_conv_block_arguments"] == (limits.format("memory"), "0")
    assert verdicts["grade_upsampling_block_defaults"] == (limits.format("memory"), "0")
    assert verdicts["grade_unet_model_defaults"] == (limits.format("time"), "0")
    for grade_id in ("grade_conv_block_defaults", "grade_upsampling_block_arguments", "grade_unet_model_arguments"):
        text, points = verdicts[grade_id]
        assert text.startswith("passed:") and points == "2", (grade_id, text)
    warned = [record.getMessage() for record in caplog.records]
    assert warned == ["judging grade_conv_block_arguments failed: it ran out of memory",
                      "judging grade_upsampling_block_defaults failed: the judging process was killed by SIGKILL",
                      "judging grade_unet_model_defaults failed: the judging process took more than 3 s on one "
                      "cell and was stopped"], warned


def test_judging_in_a_child_gives_the_verdicts_judging_in_process_gives(reference_evidence):
    isolated = _judged(reference_evidence)
    assert all(text.startswith("passed:") and points == "2" for text, points in isolated.values()), isolated
    assert isolated == _judged(reference_evidence, isolated=False)


def test_judging_works_in_a_process_with_threads_and_an_event_loop(reference_evidence, monkeypatch):
    """As in nbgrader's process: other threads hold locks and an asyncio loop, with a signal
    handler, runs while the judge forks; a signal the child gets does not reach the loop
    (through the loop's wake-up socket, which the child inherits)."""
    real = judge.verdict

    def verdict(grade_id, challenge, evidence):
        os.kill(os.getpid(), signal.SIGUSR1)  # in the child
        return real(grade_id, challenge, evidence)

    monkeypatch.setattr(judge, "verdict", verdict)
    lock, stop = threading.Lock(), threading.Event()

    def busy():
        while not stop.is_set():
            with lock:
                sum(range(1000))

    threads = [threading.Thread(target=busy, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    interrupted = []

    async def grade():
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, interrupted.append, "USR1")
        verdicts = _judged(reference_evidence)
        await asyncio.sleep(0.2)  # a spurious wake-up would arrive here
        return verdicts

    try:
        verdicts = asyncio.run(grade())
    finally:
        stop.set()
    assert all(text.startswith("passed:") for text, _ in verdicts.values()), verdicts
    assert interrupted == []


def test_initializer_draws_made_in_a_child_are_kept_for_the_next_notebook(monkeypatch):
    """An unusual initializer makes the child ask Keras what it draws (4-5 s, 0.2 GB); the
    parent keeps the draw, so that the next notebook's child needs no Keras for it."""
    draws = []

    def draw(name, settings, what):
        draws.append(name)
        return np.full((3, 3, 8, 16), float(len(name)), dtype=np.float32)

    monkeypatch.setattr(specs, "_draw", draw)
    monkeypatch.setattr(specs, "_INITIALIZER_CACHE", {})
    challenge, evidence = _plain_conv_block_evidence()
    for case in evidence["cases"]:
        case["nodes"][1]["config"]["kernel_initializer"] = {"class_name": "GlorotNormal", "config": {"seed": None}}
    nb = _notebook({"grade_conv_block_arguments": evidence})
    judge.Judge().preprocess(nb, {"unet_challenges": {"grade_conv_block_arguments": challenge}})
    text = nb.cells[0].outputs[0]["text"]
    assert "expected kernel initializer 'he_normal', got 'GlorotNormal()'" in text, text
    assert draws == []  # drawn in the child, not here
    assert specs._INITIALIZER_CACHE[("GlorotNormal", ())].dtype == np.float32
    assert {name for name, _ in specs._INITIALIZER_CACHE} == {"GlorotNormal", "HeNormal", "GlorotUniform", "Zeros"}
    assert specs.initializer_of({"class_name": "GlorotNormal", "config": {}}, "layer 1") == "GlorotNormal()"
    assert draws == []  # known from the child's draw


def test_without_a_child_process_the_judge_judges_in_process_and_says_so(reference_evidence, monkeypatch, caplog):
    def fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(judge.os, "fork", fork)
    with caplog.at_level(logging.WARNING, logger="test_judge_bounds"):
        verdicts = _judged(reference_evidence)
    assert all(text.startswith("passed:") and points == "2" for text, points in verdicts.values()), verdicts
    assert len(caplog.records) == len(verdicts)
    assert "no judging process could be started ([Errno 11] Resource temporarily unavailable)" in caplog.text


# ---------------------------------------------------------------------------------------
# (d) Random evidence graphs never make the judge raise, and each is judged quickly
# ---------------------------------------------------------------------------------------

INITIALIZERS = ["he_normal", "glorot_uniform", "zeros", "glorot_normal", "", _initializer("he_normal"),
                {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.05, "seed": None}},
                {"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_in",
                                                             "distribution": "truncated_normal", "seed": 3}},
                {"class_name": "Constant", "config": {"value": 10**400 // 10**300}}, {"class_name": "Nope"},
                {"class_name": "HeNormal", "config": {"seed": None, "extra": 1}}]
PLAUSIBLE = {  # setting -> values a student's layer might have, right, wrong and odd
    "filters": [1, 2, 3, 8, 0, -1, 10**20, 2.0, "8"], "kernel_size": [3, [3, 3], [1, 1], 1, [2, 2], [3, 3, 3]],
    "strides": [1, [1, 1], [2, 2], 2, [0, 0]], "padding": ["same", "valid", "SAME", "causal"],
    "data_format": ["channels_last", "channels_first", None], "dilation_rate": [1, [1, 1], [2, 2]],
    "activation": ["relu", "linear", None], "use_bias": [True, False, 1], "kernel_initializer": INITIALIZERS,
    "bias_initializer": INITIALIZERS, "groups": [1, 2], "pool_size": [2, [2, 2], 3, [1, 1]],
    "rate": [0, 0.3, 0.5, 1.5, -1, 10**400, float("inf")], "axis": [-1, 3, 0, 1.5, 10**30],
    "size": [2, [2, 2]], "interpolation": ["nearest", "bilinear"], "name": ["conv2d", ""],
    "trainable": [True, False], "seed": [None, 1], "negative_slope": [0.2, 0.0], "max_value": [None, 6.0],
    "threshold": [0.0], "alpha": [1.0], "output_padding": [None, [1, 1]], "noise_shape": [None, [None, 1, 1, None]],
    "dtype": ["float32", "float16", {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}],
    "n_filters": [2, 4, "4", 2.0, -1, 10**400], "dropout_prob": [0, 0.3, "x", 10**400], "max_pooling": [True, 1, None],
    "block": ["conv_block", "upsampling_block", "x", ["conv_block"]],
}
CLEAN = {  # setting -> values the judge accepts
    "filters": [2, 3, 8], "kernel_size": [3, [3, 3], 1, [2, 2]], "strides": [1, [2, 2]], "padding": ["same", "valid"],
    "data_format": ["channels_last"], "dilation_rate": [1], "activation": ["relu", "linear"], "use_bias": [True],
    "kernel_initializer": ["he_normal", "glorot_uniform", _initializer("he_normal")], "bias_initializer": ["zeros"],
    "groups": [1], "pool_size": [2, [2, 2]], "rate": [0, 0.3], "axis": [-1, 3], "size": [2],
    "interpolation": ["nearest"], "name": ["layer"], "trainable": [True], "seed": [None], "negative_slope": [0.2],
    "max_value": [None], "threshold": [0.0], "alpha": [1.0], "dtype": ["float32"],
    **{key: [None] for key in specs.NONE_ONLY},
}
CLEAN_KINDS = ["Conv2D", "Conv2DTranspose", "MaxPooling2D", "Dropout", "Concatenate", "Add", "ReLU", "UpSampling2D"]
PROBES = [[float(v) for v in values] for values in specs.ACTIVATIONS.values()] + [[1.0] * 3, {"error": "bad"}, None]
KINDS = sorted(specs.SETTINGS) + ["Output", "BlockCall", "Lambda", "Conv3D"]  # an "Input" comes from mutate


def _random_json(rng, depth=0):
    choice = rng.randrange(9 if depth < 4 else 6)
    if choice < 6:
        return rng.choice([None, True, False, 0, -1, 3, 2.5, float("nan"), "", "relu", 10**25, 10**400, [], {}])
    if choice < 8:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["class_name", "config", "name", "value", "x"]): _random_json(rng, depth + 1)
            for _ in range(rng.randrange(4))}


def _random_config(rng, kind, clean):
    if clean:  # every setting the layer has, each with a value the judge accepts
        return {key: rng.choice(CLEAN[key]) for key in sorted(specs.SETTINGS[kind] | specs.COMMON)}
    if kind == "BlockCall":
        block = rng.choice(["conv_block", "upsampling_block", "other"])
        config = {"block": block, "n_filters": rng.choice([2, 4, 8, "4", 2.0])}
        if block == "conv_block" or rng.random() < 0.2:
            config.update(dropout_prob=rng.choice([0, 0.3, "x", 10**400]), max_pooling=rng.random() < 0.5)
        return config
    known = sorted(specs.SETTINGS.get(kind, set()) | specs.COMMON)
    keys = rng.sample(known, rng.randint(0, len(known))) + (["unknown"] if rng.random() < 0.1 else [])
    return {key: rng.choice(PLAUSIBLE[key]) if key in PLAUSIBLE and rng.random() < 0.85 else _random_json(rng)
            for key in keys}


def _random_case(rng, function, asked, size, fan_in, shared, clean):
    """A random DAG of `size` layers on the case's inputs: random kinds and settings, up to
    `fan_in` inputs each, with probability `shared` a layer that takes the one before it
    more than once (Add()([x, x]) and the like), and with probability `clean` one the judge
    accepts (a known Keras layer, every setting right), so that graphs reach its comparisons."""
    shapes = judge.input_shapes(function, asked)
    nodes = [{"class": "Input", "position": p, "shape": [None, *shape] if rng.random() < 0.95 else [None, 1],
              "id": p} for p, shape in enumerate(shapes)]
    for number in range(len(nodes), len(nodes) + size):
        tidy = rng.random() < clean
        kind = rng.choice(CLEAN_KINDS if tidy else KINDS)
        if rng.random() < shared:
            inputs = [number - 1] * rng.randint(2, fan_in + 1)  # Add()([x, x]) and the like
        else:
            inputs = [rng.randrange(number) for _ in range(rng.randint(1, fan_in))]
        if kind == "Output":
            nodes.append({"class": "Output", "of": inputs[0], "index": rng.randrange(3), "inputs": inputs[:1],
                          "id": number})
            continue
        if tidy:
            inputs = inputs[:8]
        module = "unet_evidence" if kind == "BlockCall" else specs.KERAS_LAYERS + rng.choice(["x", "merging.add"])
        node = {"class": kind, "module": module, "inputs": inputs, "config": _random_config(rng, kind, tidy),
                "weights": [] if tidy else rng.choice([[], [[[3, 3, 1, 2], True]], [[[1], False]]]),
                "trainable": tidy or rng.random() < 0.95,
                "shapes": [rng.choice([[None, 8, 8, 4], [None, 8, 8], [None, 4, 4, 4, 4]])], "id": number}
        if kind.startswith("Conv") or kind in specs.ELEMENTWISE:
            node["activation_probe"] = rng.choice(PROBES[:len(specs.ACTIVATIONS)] if tidy else PROBES)
        nodes.append(node)
    count = len(judge.OUTPUT_NAMES[function])
    top = len(nodes) - 1
    outputs = [top if rng.random() < 0.7 else rng.randrange(len(nodes)) for _ in range(count + (rng.random() < 0.05))]
    return {"nodes": nodes, "outputs": outputs}


def _odd_setting(evidence, rng):
    """One setting of one layer of `evidence` replaced by a value a student's layer might
    have, or by any JSON value (in place)."""
    layers = [node for case in evidence["cases"] for node in case["nodes"] if isinstance(node.get("config"), dict)]
    if layers:
        config = rng.choice(layers)["config"]
        key = rng.choice(sorted(config))
        config[key] = rng.choice(PLAUSIBLE[key]) if key in PLAUSIBLE and rng.random() < 0.8 else _random_json(rng)


def _draw_stand_in(name, settings, what):
    """What an initializer draws, without Keras: a fixed pattern per initializer."""
    seed = sum(map(ord, repr((name, sorted(settings.items())))))
    return np.random.default_rng(seed).standard_normal((3, 3, 8, 16))


@pytest.fixture
def no_keras(monkeypatch):
    """Unusual initializers are judged by stand-in draws, in a cache of their own."""
    monkeypatch.setattr(specs, "_draw", _draw_stand_in)
    monkeypatch.setattr(specs, "_INITIALIZER_CACHE", {})


# Without a secret, so that evidence written here reaches every structural check
# (test_judge.py mutates real evidence, computed outputs included).
CHALLENGES = {grade_id: _without_secret(challenges.draw(grade_id)) for grade_id in judge.FUNCTION_OF}


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1), grade_id=st.sampled_from(sorted(judge.FUNCTION_OF)),
       near_reference=st.booleans(), size=st.integers(0, evidence_format.MAX_NODES), fan_in=st.integers(1, 9),
       shared=st.sampled_from([0.0, 0.3, 0.9]), clean=st.sampled_from([0.0, 0.9, 1.0]), mutations=st.integers(0, 3))
def test_random_evidence_graphs_are_judged_quickly_and_never_raise(no_keras, seed, grade_id, near_reference, size,
                                                                    fan_in, shared, clean, mutations):
    """Random DAGs (random sizes, depths, fan-in, layers shared by many paths, settings of
    any type) and mutated reference evidence: every verdict is (bool, str), within 2 s."""
    rng = random.Random(seed)
    challenge, function = CHALLENGES[grade_id], judge.FUNCTION_OF[grade_id]
    if near_reference:  # the reference with odd settings, then places replaced, deleted or duplicated
        evidence = _as_evidence(function, challenge)
        for _ in range(rng.randrange(3)):
            _odd_setting(evidence, rng)
    else:
        cases = [_random_case(rng, function, asked, size, fan_in, shared, clean) for asked in challenge["cases"]]
        evidence = {"version": 1, "function": function, "nonce": challenge["nonce"], "cases": cases}
    if mutations:
        evidence = mutate(evidence, rng, mutations)
    start = time.perf_counter()
    result = judge.verdict(grade_id, challenge, evidence)
    assert time.perf_counter() - start < 2.0
    assert isinstance(result, tuple) and len(result) == 2
    passed, message = result
    assert isinstance(passed, bool) and isinstance(message, str) and message
    assert len(message) <= judge.MAX_MESSAGE
    if passed:
        assert near_reference and evidence.get("nonce") == challenge["nonce"]

