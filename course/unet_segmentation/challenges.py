"""Argument values for the graded cells, drawn fresh each time a notebook is graded.

They are in neither the release nor the notebook, so evidence can only be right if the
student's function builds the right network for arguments nobody could know beforehand,
and computes what the reference computes for weights and inputs drawn from a secret
nobody could know either.
The `defaults` cells call the functions without the arguments they test, so the defaults
of the signatures count too.
"""

import copy
import random
import secrets

_RANDOM = random.SystemRandom()


def _even(low, high):
    return 2 * _RANDOM.randint(low // 2, high // 2)


def _dropout():
    return _RANDOM.choice([0, round(_RANDOM.uniform(0.05, 0.6), 2)])


def _conv_case(n_filters=None, dropout_prob=None, max_pooling=None):
    kwargs = {"n_filters": n_filters if n_filters is not None else _RANDOM.randint(2, 24),
              "dropout_prob": dropout_prob if dropout_prob is not None else _dropout(),
              "max_pooling": max_pooling if max_pooling is not None else _RANDOM.random() < 0.5}
    return {"inputs": [[_even(4, 24), _even(4, 24), _RANDOM.randint(1, 6)]], "kwargs": kwargs}


def _up_case(n_filters=None):
    height, width = _RANDOM.randint(2, 12), _RANDOM.randint(2, 12)
    case = {"inputs": [[height, width, _RANDOM.randint(1, 12)], [2 * height, 2 * width, _RANDOM.randint(1, 12)]],
            "kwargs": {}}
    if n_filters is not None:
        case["kwargs"]["n_filters"] = n_filters
    return case


def _unet_case():
    size = [16 * _RANDOM.randint(1, 4), 16 * _RANDOM.randint(1, 4), _RANDOM.randint(1, 4)]
    return {"args": [size], "kwargs": {"n_filters": _RANDOM.randint(2, 6), "n_classes": _RANDOM.randint(2, 30)}}


# The sizes at which the U-Net calls the blocks (unet_model's defaults): its first level and
# its deepest, where the channels number hundreds. Each block is checked at one of each, beside
# the small sizes drawn above.
# These are run as the notebook trains and predicts with them: in a graph, in inference and in
# training mode ("graph"); the small ones and the U-Nets of stand-ins eagerly, in inference mode.
FIRST_LEVEL = {"inputs": [[96, 128, 3]], "kwargs": {}, "graph": True}
DEEPEST_LEVEL = {"inputs": [[6, 8, 256]], "kwargs": {"n_filters": 512, "dropout_prob": 0.3, "max_pooling": False},
                 "graph": True}
LAST_DECODER = {"inputs": [[48, 64, 64], [96, 128, 32]], "kwargs": {}, "graph": True}
FIRST_DECODER = {"inputs": [[6, 8, 512], [12, 16, 256]], "kwargs": {"n_filters": 256}, "graph": True}


def _cases(grade_id):
    if grade_id == "grade_conv_block_defaults":
        return [FIRST_LEVEL, {"inputs": _conv_case()["inputs"], "kwargs": {}},
                _conv_case(dropout_prob=round(_RANDOM.uniform(0.1, 0.5), 2), max_pooling=False)]
    if grade_id == "grade_conv_block_arguments":
        return [_conv_case(max_pooling=True), _conv_case(max_pooling=False, dropout_prob=0),
                _conv_case(dropout_prob=round(_RANDOM.uniform(0.05, 0.6), 2)), DEEPEST_LEVEL]
    if grade_id == "grade_upsampling_block_defaults":
        return [LAST_DECODER, _up_case(), _up_case(_RANDOM.randint(2, 24))]
    if grade_id == "grade_upsampling_block_arguments":
        return [_up_case(_RANDOM.randint(2, 24)) for _ in range(3)] + [FIRST_DECODER]
    if grade_id == "grade_unet_model_defaults":
        # eager: the U-Net the notebook trains is run in a graph against eagerly (unet_evidence.assembled)
        return [{"args": [], "kwargs": {}}]
    if grade_id == "grade_unet_model_arguments":
        return [_unet_case(), _unet_case()]
    raise KeyError(grade_id)


def draw(grade_id):
    """A new challenge for one graded cell: its cases, a nonce the evidence must echo, and the
    secret from which the kernel sets the network's weights and draws its test inputs."""
    challenge = {"nonce": secrets.token_hex(16), "seed": secrets.randbits(62), "cases": copy.deepcopy(_cases(grade_id))}
    if grade_id == "grade_unet_model_defaults":
        challenge["assemble"] = True  # unet_model() built with the student's own blocks too
    return challenge
