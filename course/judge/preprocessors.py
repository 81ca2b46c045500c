"""The judge: scores graded cells from evidence, in the nbgrader process, never in a kernel.

Two nbgrader preprocessors, configured in nbgrader_config.py around Execute:

- `Challenge` (before Execute) draws fresh argument values and a secret for each graded
  cell (the assignment's challenges.py) and writes them into the cell's hidden line, with a
  fresh copy of the recorder (unet_evidence.py), which describes what the student's function
  builds for them and what that network computes with weights and inputs drawn from the secret;
- `Judge` (after Execute) reads that description, checks it (the assignment's
  evidence_format.py), turns it into layer specifications through a whitelist (specs.py),
  compares them with the reference solution (the assignment's reference.py, plain data), runs
  both networks (network.py, NumPy), checks the numbers the kernel reported against the
  described network, reads the student's cells for code that reaches into the grader
  (tamper.py: such a notebook goes to manual grading), and replaces the cell's outputs with
  the verdict: a message in the student's terms and the points.
  It needs no TensorFlow. Each notebook is judged in a child process with limits of its
  own (see "Judging under limits"), so that no evidence can exhaust nbgrader's process.

Whatever the kernel printed or returned in a graded cell is discarded, so only evidence
that is right for arguments drawn at grading time earns points.
"""

import math
import os

import numpy as np
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer

from .. import bounded
from ..assignment import EXERCISES, RELEASE, SOURCE, EvidenceInvalid, challenges, evidence_format, reference, shown
from . import manual_grading, network, specs, tamper
from .evidence import FAILURE as EVIDENCE_FAILURE
from .specs import Problem, canonical, layer_spec, layers_to, spec_graph

FUNCTION_OF = {cell: function for function, cells in EXERCISES.values() for cell in cells}
OUTPUT_NAMES = {"conv_block": ("next_layer", "skip_connection"), "upsampling_block": ("output",),
                "unet_model": ("output",)}
MAX_MESSAGE = 1000  # characters of a verdict's message: a few lines of feedback
LIMITS = "the evidence could not be judged within the grader's limits ({})"  # time or memory


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
        return f"{spec['kind']} with n_filters={_written(spec['n_filters'])}"
    if "filters" in spec:
        return f"{spec['kind']} with {_written(spec['filters'])} filters"
    if "rate" in spec:
        return f"Dropout with rate {spec['rate']}"
    return spec["kind"]


def _written(value):
    """A setting as a message writes it: 32, not '32' (unless it is long)."""
    return value if isinstance(value, (int, float)) and abs(value) < 10**12 else shown(value)


def differences(got, expected, what):
    """The first way the layer list `got` differs from `expected`, in the student's terms."""
    for number, (g, e) in enumerate(zip(got, expected), start=1):
        label = "block" if e["kind"] in ("conv_block", "upsampling_block") else "layer"
        if g["kind"] != e["kind"]:
            return f"{what}, {label} {number}: expected {_describe(e)}, got {_describe(g)}"
        for key, value in e.items():
            # Compared as canonical() compares them: 32.0 is not 32, nor True 1.
            if key != "kind" and repr(g.get(key)) != repr(value):
                return (f"{what}, {label} {number} ({e['kind']}): expected {WORDS.get(key, key)} {shown(value)}, "
                        f"got {shown(g.get(key))}")
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


WEIGHTED = network.WEIGHTED + network.BLOCKS  # what has weights of its own: layers and block calls


def _repeated(student, text_student, reference_graph, text_reference):
    """A weighted layer or block call the student applies to the same input more often than
    the reference does, or None. Digests (specs.canonical) cannot tell such copies apart:
    the same settings on the same input compute the same thing until their weights differ."""
    def counts(graph, text):
        found = {}
        for i in specs.reachable(*graph):
            if graph[0][i][0]["kind"] in WEIGHTED:
                found.setdefault(text(i), []).append(graph[0][i][0])
        return found

    allowed = {digest: len(found) for digest, found in counts(reference_graph, text_reference).items()}
    for digest, found in counts(student, text_student).items():
        if len(found) > allowed.get(digest, 0):
            return found[0]
    return None


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


def judge_case(function, case, asked, run=True, seed=None, number=0, structure_only=False):
    """None when the description is right for the asked case, else what is wrong; `run`:
    also run both networks and compare what they compute; `seed`: the grading run's secret,
    from which the kernel set the weights and drew the inputs of case `number` (whose real
    outputs must then be what the description computes); `structure_only`: a layer the judge
    does not know is accepted on structure alone (its numbers were checked elsewhere)."""
    shapes = input_shapes(function, asked)
    what = _call_text(function, asked, shapes)
    if "error" in case:
        return f"{what}: {case['error'][:600]}"
    names = OUTPUT_NAMES[function]
    if len(case["outputs"]) != len(names):
        return f"{what} must give {len(names)} output(s), got {len(case['outputs'])}"
    sources = []
    reference_graph = reference.network(function, asked)
    try:
        student = spec_graph(case, shapes, sources)
        stood_in = False
    except Problem as problem:
        # A layer the judge does not know (a Lambda, say) may still compute what the exercise
        # asks for: accepted when a known layer in its place makes the exercise's network, and
        # (checked below) the kernel's numbers, computed by the real layer, are that network's.
        case, sources = stand_ins_for_unknown(case, shapes, reference_graph), []
        if case is None or (seed is None and not structure_only):
            return f"{what}: {problem}"
        student, stood_in = spec_graph(case, shapes, sources), str(problem)
    student, reference_graph = (_free(student[0]), student[1]), (_free(reference_graph[0]), reference_graph[1])
    (got, text_student), (want, text_reference) = canonical(*student), canonical(*reference_graph)
    for name, g, w, s_end, r_end in zip(names, got, want, student[1], reference_graph[1]):
        if g != w:
            return f"{what}: " + differences(layers_to(student[0], s_end), layers_to(reference_graph[0], r_end), name)
    repeated = _repeated(student, text_student, reference_graph, text_reference)
    if repeated:
        return (f"{what}: {_describe(repeated)} is applied more than once to the same input. Each call has weights "
                "of its own, so the copies compute different things once trained: use the result of one call "
                "(a conv_block's skip connection is its second output)")
    if run and not stood_in:
        runnable = reference.expanded(*student)
        if runnable is None or not network.same_computation(runnable, reference.expanded(*reference_graph), shapes):
            return f"{what}: the network does not compute what the exercise asks for"
    if seed is not None:
        computed = case.get("computed")
        if not isinstance(computed, dict):
            return f"{what}: the network was not run on the grader's test inputs"
        if "error" in computed:
            return f"{what}: the network could not be run on the grader's test inputs: {str(computed['error'])[:400]}"
        if stood_in and not network.computes_as_reported(*student, sources, shapes, computed, seed, number):
            return (f"{what}: {stood_in.split(': use the Keras')[0]}; judged by what it computes instead, it does "
                    "not compute what the layer the exercise names there computes: use the Keras layers the "
                    "exercise names")
        if not network.computes_as_reported(*student, sources, shapes, computed, seed, number):
            return (f"{what}: on the grader's test inputs the network does not compute what its layers' settings "
                    "say (a layer or an activation of your own, or a setting the exercise does not use, changes "
                    "what it computes): use the Keras layers the exercise names")
        # In training mode (as `fit` runs it) too, where no dropout makes it random.
        if asked.get("graph") and not _drops(student) \
                and not network.same_reports(computed.get("training"), computed["outputs"]) \
                and not network.computes_as_reported(*student, sources, shapes, {"outputs": computed.get("training")},
                                                     seed, number):
            return (f"{what}: in training mode (as `fit` runs it) the network does not compute what it computes "
                    "when it predicts, nor what its layers' settings say: a layer of yours changes what it computes "
                    "while it trains; use the Keras layers the exercise names")
    return None


# What a layer the judge does not know may stand for, by its number of inputs: tried in its
# place, one assignment after another (at most MAX_STAND_INS), until the network is the exercise's.
KNOWN_IN_PLACE = {
    "many": [{"class": "Concatenate", "module": "keras.src.layers.merging.concatenate", "config": {"axis": -1}}],
    "one": [{"class": "ReLU", "module": "keras.src.layers.activations.relu", "config": {}, "relu": True},
            {"class": "Activation", "module": "keras.src.layers.core.activation", "config": {"activation": "linear"}}],
}
MAX_STAND_INS = 64


def stand_ins_for_unknown(case, shapes, reference_graph):
    """`case` with each weightless layer the judge does not know replaced by a known layer, so
    that the network is the reference's up to the order of concatenated channels; None when
    no such replacement exists (or the unknown layers have weights, or are too many)."""
    from itertools import product

    unknown = []
    for node in case["nodes"]:
        if node["class"] in ("Input", "Output") or node.get("own") or node.get("weights"):
            continue
        try:
            layer_spec(node, "layer")
        except Problem:
            unknown.append(node)
    if not unknown or len(unknown) > 4 or any(node.get("weights") for node in unknown):
        return None
    choices = [KNOWN_IN_PLACE["many" if len(node["inputs"]) > 1 else "one"] for node in unknown]
    want = canonical(_free(reference_graph[0]), reference_graph[1])[0]
    for count, assignment in enumerate(product(*choices)):
        if count >= MAX_STAND_INS:
            return None
        nodes = {node["id"]: dict(node, **{k: v for k, v in known.items() if k != "relu"},
                                  activation_probe=_probe_of(known)) for node, known in zip(unknown, assignment)}
        candidate = dict(case, nodes=[nodes.get(node["id"], node) for node in case["nodes"]])
        try:
            graph = spec_graph(candidate, shapes)
        except Problem:
            continue
        if canonical(_free(graph[0]), graph[1])[0] == want:
            return candidate
    return None


def _probe_of(known):
    return [float(v) for v in (np.maximum(specs.PROBE, 0) if known.get("relu") else specs.PROBE)]


def _large(case):
    """Whether a block case is at the U-Net's own sizes (challenges: FIRST_LEVEL...)."""
    return any(math.prod(shape) > 10_000 for shape in case.get("inputs", []))


def _drops(graph):
    """Whether the network has a Dropout with a rate above 0 (in training mode it is random)."""
    return any(spec["kind"] == "Dropout" and spec.get("rate") != 0 for spec, _ in graph[0])


# ---------------------------------------------------------------------------------------
# The U-Net the notebook trains: unet_model() with the student's own blocks
# ---------------------------------------------------------------------------------------

DEFAULT_SIZE = (96, 128, 3)


def assembly_problems(challenge, evidence, passed):
    """{function: message} for the functions to blame when unet_model() at its defaults, built
    with the student's own blocks (the network the notebook trains), cannot be built or is not
    the exercise's U-Net. `passed`: the functions whose own graded cells passed; only they can
    lose points here, and only when unet_model is one of them (a wrong U-Net says nothing of
    the blocks). Empty when there is nothing to blame (or the evidence holds no such network:
    the unet_model cells then fail for that already)."""
    assembled = evidence.get("assembled") if isinstance(evidence, dict) else None
    if not challenge.get("assemble") or not isinstance(assembled, dict) or "unet_model" not in passed:
        return {}
    built = "unet_model() with your own conv_block and upsampling_block, the network the notebook trains"
    if "error" in assembled:
        # A block that breaks the U-Net alone (the other a stand-in) is to blame; when neither
        # does, what raised with both (and only when both blocks passed their own cells: a
        # wrong block may well break the other one's call).
        alone = {block: why for block, why in assembled["alone"].items() if why}
        if alone:
            found = {block: f"{built}, cannot be built: {str(why)[:700]}" for block, why in alone.items()}
        elif {"conv_block", "upsampling_block"} <= passed:
            found = {f: f"{built}, cannot be built: {str(assembled['error'])[:700]}" for f in assembled["blame"]}
        else:
            found = {}
        return {f: m for f, m in found.items() if f in passed}
    reference_graph = reference.expanded(*reference.network("unet_model", {"args": [], "kwargs": {}}))
    try:
        student = spec_graph(assembled, [DEFAULT_SIZE])
    except Problem as problem:
        substituted = stand_ins_for_unknown(assembled, [DEFAULT_SIZE], reference_graph)
        if substituted is None:
            student = None
            whole = str(problem)
        else:
            student = spec_graph(substituted, [DEFAULT_SIZE])
    found = {}
    for number, call in enumerate(assembled["calls"], start=1):
        block = call["block"]
        if block not in found:
            problem = _call_problem(assembled, call)
            if problem:
                found[block] = f"{built}: call {number} of {block}: {problem}"
    if not found and student is not None:
        got = canonical(_free(student[0]), student[1])[0]
        if got != canonical(_free(reference_graph[0]), reference_graph[1])[0]:
            found["unet_model"] = (f"{built}, is not the U-Net the exercise asks for, although with the grader's "
                                   "stand-ins for the blocks it is: does a block behave differently when called "
                                   "several times?")
        elif assembled.get("modes"):  # it is the exercise's U-Net, but computes otherwise as it trains
            found[assembled["modes"]] = (f"{built}, computes otherwise in a graph, as `fit` and `predict` run it, "
                                         f"than eagerly: a layer of {assembled['modes']} changes what it computes "
                                         "there; use the Keras layers the exercise names")
    elif not found:
        found["unet_model"] = f"{built}: {whole}"
    return {f: m for f, m in found.items() if f in passed}


def _call_problem(assembled, call):
    """What is wrong with one block call of the assembled U-Net, judged as the block's own
    graded cells judge it (structure only), or None."""
    nodes = assembled["nodes"]
    ids, stack = set(), list(call["outputs"])
    while stack:
        number = stack.pop()
        if number in ids or number in call["inputs"]:
            continue
        if nodes[number]["class"] == "Input":
            return "it uses a tensor that is not one of its inputs"
        ids.add(number)
        stack.extend(nodes[number]["inputs"])
    renumbered, shapes = {}, []
    part = []
    for position, number in enumerate(call["inputs"]):
        node = nodes[number]
        shape = node.get("shape") if node["class"] in ("Input", "Output") else (node.get("shapes") or [[None]])[0]
        renumbered[number] = len(part)
        shapes.append(list(shape[1:]))
        part.append({"id": len(part), "class": "Input", "position": position, "shape": list(shape)})
    for number in sorted(ids):
        node = dict(nodes[number], id=len(part), inputs=[renumbered[i] for i in nodes[number]["inputs"]])
        renumbered[number] = len(part)
        part.append(node)
    case = {"nodes": part, "outputs": [renumbered[o] for o in call["outputs"]]}
    settings = {k: v for k, v in call["settings"].items() if k in ("n_filters", "dropout_prob", "max_pooling")}
    return judge_case(call["block"], case, {"inputs": shapes, "kwargs": settings}, run=False, structure_only=True)


def verdict(grade_id, challenge, evidence):
    """(passed, message) for one graded cell."""
    passed, message = _verdict(grade_id, challenge, evidence)
    return passed, message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"


def _verdict(grade_id, challenge, evidence):
    function = FUNCTION_OF[grade_id]
    try:
        evidence_format.check(evidence, function, challenge)
    except EvidenceInvalid as invalid:
        return False, f"no valid evidence: {invalid}"
    if "error" in evidence:
        return False, str(evidence["error"])[:300]
    for index, (case, asked) in enumerate(zip(evidence["cases"], challenge["cases"])):
        # The full-size U-Net (8.6 million weights) is judged by its structure; one small U-Net
        # of the arguments cell is run (in NumPy). Blocks are small: every case is run beside
        # the reference, but for those at the U-Net's own sizes, whose numbers are checked
        # against the description alone (a tenth of a second each).
        run = (function != "unet_model" and not _large(asked)) or (bool(asked.get("args")) and index == 0)
        try:
            problem = judge_case(function, case, asked, run, challenge.get("seed"), index)
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
    """Draws fresh arguments and a secret for each graded cell (before Execute), and takes the
    recorder's call out of the cell: the notebook's kernel never sees them. The evidence is
    collected in a kernel of its own (evidence.py)."""

    def preprocess(self, nb, resources):
        drawn = resources.setdefault("unet_challenges", {})
        for cell, grade_id in _graded_cells(nb):
            drawn[grade_id] = challenges.draw(grade_id)
            cell.source = "\n".join(line for line in cell.source.splitlines() if "unet_evidence" not in line)
        return nb, resources


class Judge(NbGraderPreprocessor):
    """Replaces each graded cell's outputs with the verdict on its evidence (after Execute)."""

    isolated = Bool(True, help="Judge each notebook's graded cells in a child process under the limits "
                               "below, so that no evidence can exhaust the nbgrader process").tag(config=True)
    memory_mb = Integer(1536, help="Memory (MiB) the judging child may write beyond what it was forked "
                                   "with (RLIMIT_DATA); judging a notebook takes a few, importing Keras "
                                   "for an unusual initializer about 200").tag(config=True)
    seconds = Integer(60, help="Seconds the judge may take on one graded cell (wall clock); it takes "
                               "about 0.1 s for a whole notebook, 5-10 s when it imports Keras").tag(config=True)
    reading_seconds = Integer(20, help="Seconds (CPU and wall clock) the tamper reader may take on one notebook's "
                                       "code, in a child under memory_mb; it takes about 0.1 s. A notebook it "
                                       "cannot read within them goes to manual grading").tag(config=True)

    def preprocess(self, nb, resources):
        drawn = resources.get("unet_challenges", {})
        cells = list(_graded_cells(nb))
        tasks = [(grade_id, drawn.get(grade_id), cell.get("outputs", [])) for cell, grade_id in cells]
        if self.isolated and bounded.available():
            results, blame = judge_isolated(tasks, self.memory_mb << 20, self.seconds)
            found = tamper.bounded_findings(nb, self.memory_mb << 20, self.reading_seconds, files=self._files(resources))
        else:
            results = [judge_cell(*task) for task in tasks]
            blame = blame_of(tasks, results)
            found = tamper.findings(nb, files=self._files(resources))
        manual = resources.setdefault(manual_grading.KEY, {})
        missing = resources.get(EVIDENCE_FAILURE)
        for (cell, grade_id), (passed, message, failure) in zip(cells, results):
            if failure:  # the judge's failure, not the student's: the instructor should know
                self.log.warning("judging %s failed: %s", grade_id, failure)
            if missing and not cell.get("outputs"):
                message = f"no valid evidence: {missing}"
            elif passed and FUNCTION_OF[grade_id] in blame:
                passed, message = False, blame[FUNCTION_OF[grade_id]]
            if found:
                manual[grade_id] = manual_note(found)  # for the gradebook: the same in every run
                passed, message = False, manual_message(found, passed, message)
            _write_verdict(cell, passed, message)
        return nb, resources


    @staticmethod
    def _files(resources):
        """The submission's own Python files, beside its notebook (tamper.module_files)."""
        folder = (resources or {}).get("metadata", {}).get("path")
        return tamper.module_files(folder, SOURCE, RELEASE) if folder else []


def manual_note(found):
    """Why a cell was sent to manual grading: what the judge found in the notebook."""
    why = ("the grader could not read all of the notebook's code to check that it leaves the grading alone"
           if all(tamper.unread(finding) for finding in found)
           else "the notebook reaches into the grading machinery, which no exercise needs")
    return f"sent to manual grading (0 points until an instructor grades it): {why}: {'; '.join(found)}."


def manual_message(found, passed, message):
    """The verdict of a cell sent to manual grading: why, and what the judge made of its evidence."""
    return f"{manual_note(found)} The judge's verdict on its evidence was: {'passed' if passed else 'failed'}: {message}"


def _write_verdict(cell, passed, message):
    score = cell.metadata["nbgrader"].get("points", 0) if passed else 0
    text = f"{'passed' if passed else 'failed'}: {message}\n"
    cell.outputs = [new_output("stream", name="stdout", text=text),
                    new_output("execute_result", data={"text/plain": f"{score:g}"},
                               execution_count=cell.get("execution_count"))]
    # The hidden call with its arguments goes; the gradebook keeps the cell's source.
    cell.source = "\n".join(line for line in cell.source.splitlines() if "unet_evidence" not in line)


def judge_cell(grade_id, challenge, outputs):
    """(passed, message, failure) for one graded cell: `failure` says, for the instructor's
    log, how the judge itself failed, and is None when it did not."""
    try:
        if challenge is None:
            raise EvidenceInvalid("the grader drew no arguments for this cell (is Challenge configured?)")
        return (*verdict(grade_id, challenge, evidence_format.find(outputs)), None)
    except EvidenceInvalid as invalid:
        return False, f"no valid evidence: {invalid}", None
    except MemoryError:
        return False, LIMITS.format("memory"), "it ran out of memory"
    except Exception as error:  # never let one notebook stop the class
        return False, f"the evidence could not be judged ({type(error).__name__})", repr(error)[:500]


# ---------------------------------------------------------------------------------------
# Judging under limits
# ---------------------------------------------------------------------------------------
# The bounds on the evidence (the assignment's evidence_format.py) keep the judge's work
# small; as a second line of defence, a notebook's graded cells are judged in a child
# forked from nbgrader's process, under a memory and a CPU limit of its own, watched by a
# clock. A child that exceeds one costs the cell it was judging its points, never the
# nbgrader process its memory nor the rest of the class its grading. The child only
# computes and writes to a pipe: nbgrader's threads and event loop do not run in it, and
# it ends with os._exit.

KEPT_DRAWS = 16  # initializer draws a child sends back per cell (each about 25 kB as JSON)


def judge_isolated(tasks, memory, seconds):
    """(judge_cell(*task) for every task, and what blame_of finds then), in child processes:
    one per notebook, one more after each cell whose child died or overran, for the cells
    after it, and one for the blame."""
    results = []
    while len(results) < len(tasks):
        left = tasks[len(results):]
        try:
            # Each cell has `seconds` of its own: the clock starts again with each verdict.
            child = bounded.in_child(_judge_cells, left, memory=memory, seconds=seconds,
                                     cpu_seconds=seconds * len(left), renew="one cell")
        except OSError as error:  # no process to be had: judge here, within the evidence's caps
            note = f"no judging process could be started ({error}); judged in the nbgrader process"
            for task in left:
                passed, message, failure = judge_cell(*task)
                results.append((passed, message, failure or note))
            return results, blame_of(tasks, results)
        for message in child.messages:
            _keep_draws(message["draws"])
            results.append(tuple(message["verdict"]))
        if len(results) < len(tasks):  # the child stopped while judging this cell
            word = "time" if child.stopped == "time" else "memory"
            results.append((False, LIMITS.format(word), f"the judging process {child.why}"))
    try:
        child = bounded.in_child(_blame, tasks, results, memory=memory, seconds=seconds)
    except OSError:
        return results, blame_of(tasks, results)
    return results, (child.messages[0] if child.messages else {})


def _blame(send, tasks, results):
    send(blame_of(tasks, results))


def blame_of(tasks, results):
    """{function: message} from the U-Net built with the student's own blocks (assembly_problems),
    given the verdicts `results` of the cells `tasks`; empty when no cell asked for it or its
    evidence is not valid."""
    passed = {function for function in set(FUNCTION_OF.values())
              if all(result[0] for (grade_id, _, _), result in zip(tasks, results) if FUNCTION_OF[grade_id] == function)}
    for grade_id, challenge, outputs in tasks:
        if not (isinstance(challenge, dict) and challenge.get("assemble")):
            continue
        try:
            evidence = evidence_format.find(outputs)
            evidence_format.check(evidence, FUNCTION_OF[grade_id], challenge)
            return assembly_problems(challenge, evidence, passed)
        except EvidenceInvalid:
            return {}
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
            return {"unet_model": f"the U-Net built with your own blocks is malformed ({type(error).__name__})"}
    return {}


def _judge_cells(send, tasks):
    """In the child: judge the cells in order, one message each with the initializer draws it made."""
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")  # Keras, if an initializer needs it, without a thread pool
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    known = set(specs._INITIALIZER_CACHE)
    for task in tasks:
        result = judge_cell(*task)
        new = [(key, values) for key, values in specs._INITIALIZER_CACHE.items() if key not in known]
        known.update(specs._INITIALIZER_CACHE)
        drawn = [[name, [list(item) for item in settings], values.dtype.name, values.tolist()]
                 for (name, settings), values in new[:KEPT_DRAWS]]
        send({"verdict": result, "draws": drawn})


def _keep_draws(drawn):
    """Keep the initializer draws the child made (specs.initializer_of), so that the next
    notebook's child need not import Keras again for the same initializer."""
    for name, settings, dtype, values in drawn:
        if len(specs._INITIALIZER_CACHE) < 64:
            key = (name, tuple(tuple(item) for item in settings))
            specs._INITIALIZER_CACHE.setdefault(key, np.asarray(values, dtype=dtype))
