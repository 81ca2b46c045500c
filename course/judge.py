"""The judge: scores graded cells from evidence, in the nbgrader process, never in a kernel.

Two nbgrader preprocessors, configured in nbgrader_config.py around Execute:

- `Challenge` (before Execute) draws fresh argument values for each graded cell
  (challenges.py) and writes them into the cell's hidden line, which asks the kernel
  (unet_evidence.py) to describe what the student's function builds for them;
- `Judge` (after Execute) reads that description, checks it (evidence_format.py), turns it
  into layer specifications through a whitelist (specs.py), compares them with the reference
  solution (reference.py, plain data), runs both networks (network.py, NumPy), and replaces
  the cell's outputs with the verdict: a message in the student's terms and the points.
  It needs no TensorFlow.

Whatever the kernel printed or returned in a graded cell is discarded, so only evidence
that is right for arguments drawn at grading time earns points.
"""

from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor

from . import challenges, evidence_format, network, reference
from .evidence_format import EvidenceInvalid
from .layout import EXERCISES
from .specs import Problem, canonical, layers_to, spec_graph

FUNCTION_OF = {cell: function for function, cells in EXERCISES.values() for cell in cells}
OUTPUT_NAMES = {"conv_block": ("next_layer", "skip_connection"), "upsampling_block": ("output",),
                "unet_model": ("output",)}
HIDDEN_CALL = '__import__("unet_evidence").record({function!r}, globals(), challenge={challenge!r})'


# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------

WORDS = {"filters": "filters", "kernel_size": "kernel size", "strides": "strides", "padding": "padding",
         "activation": "activation", "initializer": "kernel initializer", "bias_initializer": "bias initializer",
         "rate": "dropout rate", "pool_size": "pool size", "use_bias": "use_bias", "axis": "axis",
         "dilation_rate": "dilation rate", "groups": "groups", "n_filters": "n_filters",
         "dropout_prob": "dropout_prob", "max_pooling": "max_pooling"}
FREE = {"Conv2DTranspose": {"initializer"}}  # settings the exercises leave open


def _describe(spec):
    if spec["kind"] in ("conv_block", "upsampling_block"):
        return f"{spec['kind']} with n_filters={spec['n_filters']}"
    if "filters" in spec:
        return f"{spec['kind']} with {spec['filters']} filters"
    if "rate" in spec:
        return f"Dropout with rate {spec['rate']}"
    return spec["kind"]


def differences(got, expected, what):
    """The first way the layer list `got` differs from `expected`, in the student's terms."""
    for number, (g, e) in enumerate(zip(got, expected), start=1):
        label = "block" if e["kind"] in ("conv_block", "upsampling_block") else "layer"
        if g["kind"] != e["kind"]:
            return f"{what}, {label} {number}: expected {_describe(e)}, got {_describe(g)}"
        for key, value in e.items():
            if key != "kind" and g.get(key) != value:
                return (f"{what}, {label} {number} ({e['kind']}): expected {WORDS.get(key, key)} {value!r}, "
                        f"got {g.get(key)!r}")
    if len(got) != len(expected):
        listed = ", ".join(_describe(s) for s in got[:12]) or "no layers"
        return f"{what}: expected {len(expected)} layers, got {len(got)} ({listed})"
    return f"{what} is computed from the wrong tensors (the layers are wired differently)"


def _free(order):
    """Drop the settings the exercises leave open, e.g. the initializer of a 1x1 convolution."""
    result = []
    for spec, parents in order:
        spec = dict(spec)
        for key in FREE.get(spec["kind"], ()):
            spec.pop(key, None)
        if spec["kind"] == "Conv2D" and spec.get("kernel_size") == (1, 1):
            spec.pop("initializer", None)
        result.append((spec, parents))
    return result


def input_shapes(function, case):
    if function != "unet_model":
        return [tuple(shape) for shape in case["inputs"]]
    size = case["args"][0] if case.get("args") else case.get("kwargs", {}).get("input_size", (96, 128, 3))
    return [tuple(size)]


# ---------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------

def _call_text(function, case, shapes):
    arguments = [repr(a) for a in case.get("args", [])] + [f"{k}={v!r}" for k, v in case.get("kwargs", {}).items()]
    text = f"{function}({', '.join(arguments)})"
    if function != "unet_model":
        text += " on inputs of shape " + " and ".join(str(s) for s in shapes)
    return text


def judge_case(function, case, asked, run=True):
    """None when the description is right for the asked case, else what is wrong; `run`:
    also run both networks and compare what they compute."""
    shapes = input_shapes(function, asked)
    what = _call_text(function, asked, shapes)
    if "error" in case:
        return f"{what}: {case['error']}"
    names = OUTPUT_NAMES[function]
    if len(case["outputs"]) != len(names):
        return f"{what} must give {len(names)} output(s), got {len(case['outputs'])}"
    try:
        student = spec_graph(case, shapes)
    except Problem as problem:
        return f"{what}: {problem}"
    reference_graph = reference.network(function, asked)
    student, reference_graph = (_free(student[0]), student[1]), (_free(reference_graph[0]), reference_graph[1])
    got, want = canonical(*student)[0], canonical(*reference_graph)[0]
    for name, g, w, s_end, r_end in zip(names, got, want, student[1], reference_graph[1]):
        if g != w:
            return f"{what}: " + differences(layers_to(student[0], s_end), layers_to(reference_graph[0], r_end), name)
    if run:
        runnable = reference.expanded(*student)
        if runnable is None or not network.same_computation(runnable, reference.expanded(*reference_graph), shapes):
            return f"{what}: the network does not compute what the exercise asks for"
    return None


def verdict(grade_id, challenge, evidence):
    """(passed, message) for one graded cell."""
    function = FUNCTION_OF[grade_id]
    try:
        evidence_format.check(evidence, function, challenge)
    except EvidenceInvalid as invalid:
        return False, f"no valid evidence: {invalid}"
    if "error" in evidence:
        return False, str(evidence["error"])[:300]
    for index, (case, asked) in enumerate(zip(evidence["cases"], challenge["cases"])):
        # The full-size U-Net (8.6 million weights) is judged by its structure; one small U-Net
        # of the arguments cell is run (in NumPy). Blocks are small: every case is run.
        run = function != "unet_model" or (bool(asked.get("args")) and index == 0)
        try:
            problem = judge_case(function, case, asked, run)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
            # evidence_format checks the structure; values of the wrong type deeper down
            # (a setting that is a list where a number belongs, say) end here.
            return False, f"no valid evidence: the description is malformed ({type(error).__name__})"
        if problem:
            return False, problem
    return True, f"{function}: right for {len(challenge['cases'])} set(s) of arguments drawn at grading time"


# ---------------------------------------------------------------------------------------
# The nbgrader preprocessors
# ---------------------------------------------------------------------------------------

def _graded_cells(nb):
    """(cell, grade_id) for each graded code cell of the three exercises."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and meta.get("grade_id") in FUNCTION_OF:
            yield cell, meta["grade_id"]


class Challenge(NbGraderPreprocessor):
    """Writes freshly drawn arguments into each graded cell's hidden call (before Execute)."""

    def preprocess(self, nb, resources):
        drawn = resources.setdefault("unet_challenges", {})
        for cell, grade_id in _graded_cells(nb):
            drawn[grade_id] = challenges.draw(grade_id)
            call = HIDDEN_CALL.format(function=FUNCTION_OF[grade_id], challenge=drawn[grade_id])
            lines = cell.source.splitlines()
            at = [i for i, line in enumerate(lines) if "unet_evidence" in line]
            if at:
                lines[at[0]:at[-1] + 1] = [call]  # inside the hidden-test markers
            else:
                lines.append(call)
            cell.source = "\n".join(lines)
        return nb, resources


class Judge(NbGraderPreprocessor):
    """Replaces each graded cell's outputs with the verdict on its evidence (after Execute)."""

    def preprocess(self, nb, resources):
        drawn = resources.get("unet_challenges", {})
        for cell, grade_id in _graded_cells(nb):
            points = cell.metadata["nbgrader"].get("points", 0)
            try:
                if grade_id not in drawn:
                    raise EvidenceInvalid("the grader drew no arguments for this cell (is Challenge configured?)")
                passed, message = verdict(grade_id, drawn[grade_id], evidence_format.find(cell.get("outputs", [])))
            except EvidenceInvalid as invalid:
                passed, message = False, f"no valid evidence: {invalid}"
            except Exception as error:  # never let one notebook stop the class
                self.log.warning("judging %s failed: %r", grade_id, error)
                passed, message = False, f"the evidence could not be judged ({type(error).__name__})"
            score = points if passed else 0
            text = f"{'passed' if passed else 'failed'}: {message}\n"
            cell.outputs = [new_output("stream", name="stdout", text=text),
                            new_output("execute_result", data={"text/plain": f"{score:g}"},
                                       execution_count=cell.get("execution_count"))]
            # The hidden call with its arguments goes; the gradebook keeps the cell's source.
            cell.source = "\n".join(line for line in cell.source.splitlines() if "unet_evidence" not in line)
        return nb, resources
