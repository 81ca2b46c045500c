"""The judge's verdicts in graded notebooks, and the kind of mistake each names.

The judge (judge/preprocessors.py) writes one verdict per graded cell into the autograded notebook:
"passed: ..." or "failed: <the call>: <what is wrong>". A kind is that message without what
belongs to one student (the arguments drawn, the layer's number, the value they wrote), so
that the same mistake made by many students is counted once per student and exercise:
"next_layer: Conv2D with the wrong kernel initializer (expected 'he_normal')".
"""

import re

from ..assignment import EXERCISES, exercise_of

GRADED = {cell for _, cells in EXERCISES.values() for cell in cells}
_SETTING = re.compile(r"^(?P<what>\w+), (?:layer|block) \d+ \((?P<kind>\w+)\): expected (?P<rest>.+), got (?P<got>.+)$")
_LAYER = re.compile(r"^(?P<what>\w+), (?:layer|block) \d+: expected (?P<expected>.+), got (?P<got>.+)$")
_COUNT = re.compile(r"^(?P<what>\w+): expected (?P<expected>\d+) layers, got (?P<got>\d+)")
_WIRED = re.compile(r"^(?P<what>\w+) is computed from the wrong tensors")
_SETTINGS = ("kernel initializer", "bias initializer", "kernel size", "dropout rate", "pool size", "dilation rate",
             "filters", "strides", "padding", "activation", "use_bias", "axis", "groups", "n_filters",
             "dropout_prob", "max_pooling")


def verdicts(notebook):
    """{grade_id: (passed, message)} of the graded cells of an autograded notebook (its JSON)."""
    found = {}
    for cell in notebook.get("cells", []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id not in GRADED:
            continue
        text = "".join("".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
                       for o in cell.get("outputs", []) if o.get("output_type") == "stream").strip()
        if text.startswith("passed:"):
            found[grade_id] = (True, text[len("passed:"):].strip())
        elif text.startswith("failed:"):
            found[grade_id] = (False, text[len("failed:"):].strip())
        else:
            found[grade_id] = (False, "no verdict (the cell did not run)")
    return found


def _plain(description):
    """'Conv2D with 64 filters' -> 'Conv2D'; 'Dropout with rate 0.3' -> 'Dropout'."""
    return re.sub(r" with (rate )?[\w.=]+( filters)?$", "", description.strip())


def kind_of(message):
    """The kind of mistake a failed verdict names, in the student's terms."""
    # The call comes first: "conv_block(n_filters=48) on inputs of shape (...): <problem>".
    problem = message
    head = re.match(r"^\w+\(.*?\)(?: on inputs of shape [^:]*)?: ", message)
    if head:
        problem = message[head.end():]
    if problem.startswith("no valid evidence"):
        if "not implemented" in problem:
            return "not implemented"
        return "no valid evidence: " + re.sub(r"\(.*?\)|'[^']*'|\d+", "…", problem.split(":", 1)[-1].strip())[:80]
    if "is not implemented yet" in problem:
        return "not implemented"
    if "does not compute what the exercise asks for" in problem:
        return "right layers, but it computes something else"
    if "does not compute what its layers' settings say" in problem:
        return "right layer names, but the real network computes something else (a layer or activation of its own)"
    if "is applied more than once to the same input" in problem:
        return f"{_plain(problem.split(' is applied', 1)[0])} computed twice from the same input (weights of its own each)"
    if "could not be run on the grader's test inputs" in problem:
        return "the network cannot be run on test inputs"
    match = _SETTING.match(problem)
    if match:
        rest = match["rest"]
        setting = next((s for s in _SETTINGS if rest.startswith(s + " ")), None)
        if setting:
            return f"{match['what']}: {match['kind']} with the wrong {setting} (expected {rest[len(setting) + 1:]})"
    match = _LAYER.match(problem)
    if match:
        return f"{match['what']}: {_plain(match['got'])} where {_plain(match['expected'])} belongs"
    match = _COUNT.match(problem)
    if match:
        more = int(match["got"]) > int(match["expected"])
        return f"{match['what']}: {'extra' if more else 'missing'} layers"
    match = _WIRED.match(problem)
    if match:
        return f"{match['what']}: layers wired to the wrong tensors (a skip connection or input)"
    error = re.match(r"^(\w+(?:Error|Exception|Failed))\b", problem)
    if error:
        return f"raises {error.group(1)}"
    return re.sub(r"\d+", "…", problem)[:100]


def mistakes(verdicts_by_student):
    """{exercise: {kind: [students]}}, each student counted once per kind and exercise."""
    found = {number: {} for number in EXERCISES}
    for student, cells in verdicts_by_student.items():
        for grade_id, (passed, message) in cells.items():
            if not passed:
                students = found[exercise_of(grade_id)].setdefault(kind_of(message), [])
                if student not in students:
                    students.append(student)
    return {number: dict(sorted(kinds.items(), key=lambda item: (-len(item[1]), item[0])))
            for number, kinds in found.items()}
