"""The judge's reference (plain data) and its NumPy interpreter agree with Keras: the
reference describes the networks the Keras solution builds, and the interpreter computes
what Keras computes."""

import sys

import numpy as np
import pytest

from course.assignment import SOURCE
from course.judge import network
from course.judge.preprocessors import FUNCTION_OF, input_shapes
from course.judge.specs import canonical, layers_to, spec_graph
from course.unet_segmentation import challenges, reference

sys.path.insert(0, str(SOURCE))
import keras_reference  # noqa: E402


@pytest.mark.parametrize("grade_id", sorted(FUNCTION_OF))
def test_the_reference_describes_the_networks_the_keras_solution_builds(grade_id):
    function = FUNCTION_OF[grade_id]
    for _ in range(3 if function == "unet_model" else 8):
        for case in challenges.draw(grade_id)["cases"]:
            shapes = input_shapes(function, case)
            want = spec_graph(keras_reference.described(function, case), shapes)
            got = reference.network(function, case)
            assert canonical(*got)[0] == canonical(*want)[0], case
            for got_end, want_end in zip(got[1], want[1]):
                assert layers_to(got[0], got_end) == layers_to(want[0], want_end), case


def _random_weights(graph, inputs, rng):
    """The outputs of `graph` on `inputs`, and {index: (kernel, bias)} of every weighted
    layer, drawn as the network runs."""
    order, weights = graph[0], {}

    def weights_of(index, spec, values):
        kernel, bias = network.random_weights(spec, values[order[index][1][0]].shape[-1], rng)
        weights[index] = (kernel.astype("float32"), None if bias is None else bias.astype("float32"))
        return weights[index]

    return network.run(*graph, inputs, weights_of), weights


def _layer(kind, **settings):
    return dict(reference.relu_conv(5) if kind == "Conv2D" else reference.up_conv(5), **settings)


HAND_MADE = [  # (name, layer, input shape): settings the reference does not use, for the interpreter
    ("conv valid stride 2", _layer("Conv2D", padding="valid", strides=(2, 2)), (9, 8, 3)),
    ("conv same stride 2 odd", _layer("Conv2D", strides=(2, 2)), (7, 9, 2)),
    ("conv dilated", _layer("Conv2D", dilation_rate=(2, 2)), (8, 8, 2)),
    ("conv 5x3 linear no bias", _layer("Conv2D", kernel_size=(5, 3), activation="linear", use_bias=False), (6, 7, 2)),
    ("transposed valid", _layer("Conv2DTranspose", padding="valid"), (3, 4, 2)),
    ("transposed 2x2", _layer("Conv2DTranspose", kernel_size=(2, 2)), (3, 4, 2)),
    ("transposed 4x4 stride 3", _layer("Conv2DTranspose", kernel_size=(4, 4), strides=(3, 3)), (3, 2, 2)),
    ("transposed 1x1 stride 2", _layer("Conv2DTranspose", kernel_size=(1, 1)), (3, 3, 2)),
    ("transposed stride 1 relu", _layer("Conv2DTranspose", strides=(1, 1), activation="relu"), (4, 4, 2)),
    ("pool 3 stride 2", dict(reference.POOL, pool_size=(3, 3)), (7, 8, 2)),
]


def _cases():
    for name, spec, shape in HAND_MADE:
        yield name, ([({"kind": "InputLayer", "position": 0}, []), (spec, [0])], [1]), [shape]
    for grade_id in ("grade_conv_block_arguments", "grade_upsampling_block_arguments", "grade_unet_model_arguments"):
        function = FUNCTION_OF[grade_id]
        for case in challenges.draw(grade_id)["cases"]:
            yield grade_id, reference.expanded(*reference.network(function, case)), input_shapes(function, case)


@pytest.mark.parametrize("name, graph, shapes", list(_cases()), ids=lambda v: v if isinstance(v, str) else "")
def test_the_interpreter_computes_what_keras_computes(name, graph, shapes):
    rng = np.random.default_rng(1)
    inputs = [rng.standard_normal((2, *shape)).astype("float32") for shape in shapes]
    mine, weights = _random_weights(graph, inputs, rng)
    theirs = keras_reference.run(*graph, inputs, weights)
    for a, b in zip(mine, theirs):
        b = np.asarray(b)
        assert a.shape == b.shape, name
        assert np.allclose(a, b, atol=1e-3, rtol=1e-3), (name, float(np.abs(a - b).max()))


def _unet(case):
    return reference.expanded(*reference.network("unet_model", case))


def test_a_swapped_concatenation_computes_the_same_and_a_different_layer_does_not():
    case = challenges.draw("grade_unet_model_arguments")["cases"][0]
    shapes = input_shapes("unet_model", case)
    order, ends = _unet(case)
    swapped = [(spec, parents[::-1] if spec["kind"] == "Concatenate" else parents) for spec, parents in order]
    assert network.same_computation((swapped, ends), (order, ends), shapes)
    last = max(i for i, (spec, _) in enumerate(order) if spec["kind"] == "Conv2D" and spec["kernel_size"] == (3, 3))
    changed = list(order)
    changed[last] = (dict(order[last][0], activation="linear"), order[last][1])
    assert not network.same_computation((changed, ends), (order, ends), shapes)
    rewired = list(order)
    rewired[last] = (order[last][0], [order[last][1][0] - 1])  # one layer earlier
    assert not network.same_computation((rewired, ends), (order, ends), shapes)


def test_the_judge_imports_no_tensorflow(tmp_path):
    """The nbgrader process pays for no TensorFlow import: the kernel's is the only one."""
    import json
    import subprocess

    from test_judge import namespace

    import unet_evidence

    names = namespace()
    drawn = {grade_id: challenges.draw(grade_id) for grade_id in FUNCTION_OF}
    evidence = {grade_id: unet_evidence.collect(FUNCTION_OF[grade_id], names, challenge)
                for grade_id, challenge in drawn.items()}
    (tmp_path / "case.json").write_text(json.dumps({"drawn": drawn, "evidence": evidence}))
    script = ("import json, sys\n"
              "from course.judge.preprocessors import verdict\n"
              f"case = json.load(open({str(tmp_path / 'case.json')!r}))\n"
              "for grade_id, challenge in case['drawn'].items():\n"
              "    passed, message = verdict(grade_id, challenge, case['evidence'][grade_id])\n"
              "    assert passed, message\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=str(SOURCE.parent.parent), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]", result.stdout


def test_a_layer_whose_result_is_never_used_is_not_run():
    """Conv2D then a ReLU layer leaves the linear Conv2D behind in the folded graph."""
    case = challenges.draw("grade_conv_block_arguments")["cases"][0]
    order, ends = reference.network("conv_block", case)
    unused = [(dict(order[1][0], activation="linear"), order[1][1])]
    padded = order[:1] + unused + [(spec, [p + 1 if p >= 1 else p for p in parents]) for spec, parents in order[1:]]
    assert network.same_computation((padded, [e + 1 for e in ends]), (order, ends), input_shapes("conv_block", case))
