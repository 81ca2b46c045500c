"""The shape of valid evidence. Evidence comes from a student's kernel: it is checked here
field by field, with bounded sizes, before the judge looks at it. Nothing in it is ever
imported, unpickled or evaluated."""

MIME = "application/vnd.unet-evidence+json"
MAX_NODES = 400
MAX_INPUTS = 8


class EvidenceInvalid(Exception):
    """The evidence is missing, malformed or inconsistent; the message says how."""


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
    shapes = node.get("shapes", [])
    if not (isinstance(shapes, list) and len(shapes) <= 4 and all(_shape(s) for s in shapes)):
        raise EvidenceInvalid(f"node {number} has malformed shapes")


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
    if not (isinstance(outputs, list) and 1 <= len(outputs) <= 4
            and all(_is_int(o) and 0 <= o < len(nodes) for o in outputs)):
        raise EvidenceInvalid("a case has malformed outputs")
    inputs = [n for n in nodes if n["class"] == "Input"]
    expected = len(challenge_case.get("inputs", [])) or 1
    if sorted(n["position"] for n in inputs) != list(range(expected)):
        raise EvidenceInvalid(f"a case has {len(inputs)} inputs, expected {expected}")


def check(evidence, function, challenge):
    """Raise EvidenceInvalid unless `evidence` answers `challenge` for `function`."""
    if not isinstance(evidence, dict):
        raise EvidenceInvalid("the evidence is not a description")
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


def find(outputs):
    """The one evidence object among a cell's outputs."""
    found = [o["data"][MIME] for o in outputs
             if o.get("output_type") in ("display_data", "execute_result") and MIME in o.get("data", {})]
    if not found:
        raise EvidenceInvalid("the cell produced no evidence (did it run to the end?)")
    if len(found) > 1:
        raise EvidenceInvalid("the cell produced more than one piece of evidence")
    return found[0]
