"""The shape of valid evidence. Evidence comes from a student's kernel: it is checked here
field by field, with bounded sizes, before the judge looks at it. Nothing in it is ever
imported, unpickled or evaluated.

The bounds keep the judge's work small whatever a kernel sends: the evidence of the
reference solution is 11-30 kB per graded cell (of which up to 2 x 256 computed output
values per case), nested 8 levels deep, its longest text 47
characters, with at most 23 connections between 20 layers; a network of MAX_NODES ordinary
Keras layers in each of three cases (the most unet_evidence.py records) takes about 1.2 MB.
"""

MIME = "application/vnd.unet-evidence+json"
MAX_NODES = 400
MAX_INPUTS = 8
MAX_EDGES = 1200  # connections between layers in one case: 3 per layer on average
MAX_BYTES = 2_000_000  # the evidence of one cell, as JSON (about: see `size`)
MAX_DEPTH = 32  # levels of nesting; unet_evidence.py cuts settings off below 8 of their own
MAX_STRING = 4096  # characters of any one text: a layer's name, a setting, an error message
MAX_SAMPLE = 256  # output values a case reports per output (unet_evidence.SAMPLE)


class EvidenceInvalid(Exception):
    """The evidence is missing, malformed or inconsistent; the message says how."""


def shown(value, limit=60):
    """`value` as a message may quote it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _megabytes(count):
    return f"{count / 1e6:g} MB"


def _text_size(text):
    if len(text) > MAX_STRING:
        raise EvidenceInvalid(f"a name or setting in the description is {len(text):,} characters long "
                              f"(at most {MAX_STRING:,})")
    return len(text) + 2


def _scalar_size(value):
    if isinstance(value, str):
        return _text_size(value)
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 2  # about its digits, without writing them out
    if isinstance(value, float):
        return len(repr(value))
    raise EvidenceInvalid(f"the description holds a {type(value).__name__}, which is not plain data")


def size(evidence, budget=MAX_BYTES):
    """About how many bytes `evidence` (parsed JSON) takes as JSON, counted up to `budget` and
    no further: the walk stops as soon as it is over, so a huge (or, made in Python,
    self-containing) value costs no more than a large one. Raises EvidenceInvalid for a
    value nested too deeply, a text too long or something that is not plain data."""
    total, stack = 0, [(evidence, 1)]
    while stack and total <= budget:
        value, depth = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth > MAX_DEPTH:
                raise EvidenceInvalid(f"the description is nested more than {MAX_DEPTH} levels deep")
            total += 2 + (4 if isinstance(value, dict) else 2) * len(value)  # brackets, ", ", ": "
            if total > budget:
                break
            if isinstance(value, dict):
                for key, item in value.items():
                    total += _scalar_size(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        else:
            total += _scalar_size(value)
    return total


def check_size(evidence):
    """Raise EvidenceInvalid unless `evidence` is within the judge's bounds."""
    if size(evidence) > MAX_BYTES:
        raise EvidenceInvalid(f"the description is too large (more than {_megabytes(MAX_BYTES)}; the network the "
                              "exercise asks for is described in about 10 kB): does the function build far more "
                              "than the exercise asks for?")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _shape(value):
    return isinstance(value, list) and 1 <= len(value) <= 6 and all(v is None or (_is_int(v) and 0 <= v < 10**6)
                                                                    for v in value)


def _node(node, number):
    if not isinstance(node, dict) or node.get("id") != number:
        raise EvidenceInvalid(f"node {number} is malformed")
    kind = node.get("class")
    if not isinstance(kind, str) or len(kind) > 100:
        raise EvidenceInvalid(f"node {number} has no class")
    if kind == "Input":
        if not (_is_int(node.get("position")) and 0 <= node["position"] < MAX_INPUTS and _shape(node.get("shape"))):
            raise EvidenceInvalid(f"input node {number} is malformed")
        return
    inputs = node.get("inputs")
    if not (isinstance(inputs, list) and 1 <= len(inputs) <= MAX_INPUTS
            and all(_is_int(p) and 0 <= p < number for p in inputs)):
        raise EvidenceInvalid(f"node {number} has malformed inputs")
    if kind == "Output":
        if not (_is_int(node.get("index")) and 0 <= node["index"] < 4 and len(inputs) == 1):
            raise EvidenceInvalid(f"output node {number} is malformed")
        return
    if not isinstance(node.get("module"), str) or not isinstance(node.get("config"), dict):
        raise EvidenceInvalid(f"node {number} has no module or settings")
    own = node.get("own", [])
    if not (isinstance(own, list) and len(own) <= 4 and all(isinstance(o, str) and len(o) <= 40 for o in own)):
        raise EvidenceInvalid(f"node {number} says malformed things of its classes")
    shapes = node.get("shapes", [])
    if not (isinstance(shapes, list) and len(shapes) <= 4 and all(_shape(s) for s in shapes)):
        raise EvidenceInvalid(f"node {number} has malformed shapes")


def _number(value):
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) or (isinstance(value, str) and len(value) < 8)


def _computed(computed, outputs, in_graph):
    """What the kernel says the network computed: an error, or a summary per output."""
    if not isinstance(computed, dict):
        raise EvidenceInvalid("a case's computed outputs are malformed")
    if "error" in computed:
        if not isinstance(computed["error"], str):
            raise EvidenceInvalid("a case's computed outputs have a malformed error")
        return
    _reports(computed.get("outputs"), outputs)
    if in_graph:  # run as `predict` runs the network, and as `fit` does (training)
        _reports(computed.get("training"), outputs)


def _reports(reports, outputs):
    if not (isinstance(reports, list) and len(reports) == outputs):
        raise EvidenceInvalid("a case's computed outputs do not match its outputs")
    for report in reports:
        if not (isinstance(report, dict) and _shape(report.get("shape"))
                and isinstance(report.get("sums"), list) and len(report["sums"]) == 3
                and isinstance(report.get("sample"), list) and len(report["sample"]) <= MAX_SAMPLE
                and all(_number(v) for v in report["sums"] + report["sample"])):
            raise EvidenceInvalid("a case's computed output is malformed")


def check_case(case, challenge_case):
    """Raise EvidenceInvalid unless `case` is a well-formed description for `challenge_case`."""
    if not isinstance(case, dict):
        raise EvidenceInvalid("a case is not a description")
    if "error" in case:
        if not isinstance(case["error"], str):
            raise EvidenceInvalid("a case has a malformed error")
        return
    nodes, outputs = case.get("nodes"), case.get("outputs")
    if not (isinstance(nodes, list) and 1 <= len(nodes) <= MAX_NODES):
        raise EvidenceInvalid("a case has no list of layers")
    for number, node in enumerate(nodes):
        _node(node, number)
    edges = sum(len(node.get("inputs", ())) for node in nodes)
    if edges > MAX_EDGES:
        raise EvidenceInvalid(f"the network has {edges} connections between its layers (at most {MAX_EDGES})")
    if not (isinstance(outputs, list) and 1 <= len(outputs) <= 4
            and all(_is_int(o) and 0 <= o < len(nodes) for o in outputs)):
        raise EvidenceInvalid("a case has malformed outputs")
    if "computed" in case:
        _computed(case["computed"], len(outputs), bool(challenge_case.get("graph")))
    inputs = [n for n in nodes if n["class"] == "Input"]
    expected = len(challenge_case.get("inputs", [])) or 1
    if sorted(n["position"] for n in inputs) != list(range(expected)):
        raise EvidenceInvalid(f"a case has {len(inputs)} inputs, expected {expected}")


def check(evidence, function, challenge):
    """Raise EvidenceInvalid unless `evidence` answers `challenge` for `function`."""
    if not isinstance(evidence, dict):
        raise EvidenceInvalid("the evidence is not a description")
    check_size(evidence)  # before anything else looks at it
    if evidence.get("function") != function:
        raise EvidenceInvalid(f"the evidence is not about {function}")
    if evidence.get("nonce") != challenge["nonce"]:
        raise EvidenceInvalid("the evidence was not made for this grading run")
    if "error" in evidence:
        return
    cases = evidence.get("cases")
    if not isinstance(cases, list) or len(cases) != len(challenge["cases"]):
        raise EvidenceInvalid("the evidence does not describe every case the grader asked for")
    for case, asked in zip(cases, challenge["cases"]):
        check_case(case, asked)
    if challenge.get("assemble"):
        _assembled(evidence.get("assembled"))


BLOCKS = ("conv_block", "upsampling_block")
MAX_CALLS = 32  # block calls of a U-Net (it makes 9)


def _assembled(assembled):
    """The U-Net built with the student's own blocks: an error and whose code is to blame, or
    its description and where each block call sits in it."""
    if not isinstance(assembled, dict):
        raise EvidenceInvalid("the U-Net built with your own blocks is not described")
    if "error" in assembled:
        blame, alone = assembled.get("blame"), assembled.get("alone")
        if not (isinstance(assembled["error"], str) and isinstance(blame, list) and 1 <= len(blame) <= 3
                and all(b in BLOCKS + ("unet_model",) for b in blame)
                and isinstance(alone, dict) and set(alone) == set(BLOCKS)
                and all(v is None or isinstance(v, str) for v in alone.values())):
            raise EvidenceInvalid("the U-Net built with your own blocks has a malformed error")
        return
    check_case(assembled, {"inputs": [None]})
    if not (assembled.get("modes") is None or assembled["modes"] in BLOCKS + ("unet_model",)):
        raise EvidenceInvalid("the U-Net built with your own blocks has a malformed comparison of its modes")
    calls, count = assembled.get("calls"), len(assembled["nodes"])
    if not (isinstance(calls, list) and len(calls) <= MAX_CALLS):
        raise EvidenceInvalid("the block calls of the U-Net built with your own blocks are malformed")
    for call in calls:
        if not (isinstance(call, dict) and call.get("block") in BLOCKS and isinstance(call.get("settings"), dict)
                and all(isinstance(call.get(k), list) and 1 <= len(call[k]) <= 2
                        and all(_is_int(i) and 0 <= i < count for i in call[k]) for k in ("inputs", "outputs"))):
            raise EvidenceInvalid("a block call of the U-Net built with your own blocks is malformed")


def find(outputs):
    """The one evidence object among a cell's outputs."""
    if not isinstance(outputs, list):
        raise EvidenceInvalid("the cell's outputs are malformed")
    found = [o["data"][MIME] for o in outputs
             if isinstance(o, dict) and o.get("output_type") in ("display_data", "execute_result")
             and isinstance(o.get("data"), dict) and MIME in o["data"]]
    if not found:
        raise EvidenceInvalid("the cell produced no evidence (did it run to the end?)")
    if len(found) > 1:
        raise EvidenceInvalid("the cell produced more than one piece of evidence")
    return found[0]
