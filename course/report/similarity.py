"""Which submissions are suspiciously alike: every pair of students' code, part by part.

The parts are the three functions and, together, every other code cell a student could
have written (a pasted helper cell shared by two students makes them a pair).

Each part is normalised first (Python's own parser): comments, docstrings and formatting
go; local names, and those a cell assigns, become v1, v2... in order of first use; keyword arguments are sorted;
quotes and spacing are what `ast.unparse` writes. What stays is what a copy keeps: the
layers, their settings and how they are wired. The normalised code is fingerprinted by
winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003: every 20-character passage hashed,
the smallest hash of each 9 in a row kept), with a hash of our own, so that a class gives the
same pairs in every run.

What everyone may share counts for nothing, as MOSS (`-b` base code, `-m`) and JPlag do it:
- every passage of the base code (the release's whole notebook and the reference
  solution) is removed;
- a fingerprint that more than half of the class holds is common knowledge and dropped;
- every other fingerprint weighs by how rare it is, ln(N / holders), in units of a passage
  only two students have: in a class of 100, an idiom forty students chose weighs 0.25.
Two students are similar when most of their weight is shared (THRESHOLD), or most of their
other cells' (PART_THRESHOLD: a pasted cell), with enough evidence either way. One function
alike is not enough: there are few ways to write each, and independent students meet. Calibrated on
classes of independent solutions written like real ones, with planted copies
(tests/realistic_class.py; tests/report/test_similarity.py prints the figures).
"""

import ast
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from copydetect.utils import winnow

FUNCTIONS = ("conv_block", "upsampling_block", "unet_model")
OTHER = "other cells"  # every other code cell a student could write, one after another
PARTS = FUNCTIONS + (OTHER,)
NOISE, GUARANTEE = 20, 28  # k-gram length and the length of a match always found (characters)
WINDOW = GUARANTEE - NOISE + 1
COMMON_SHARE = 0.5  # a fingerprint held by more than this share of the class says nothing
THRESHOLD = 0.7  # share of the two students' weight in common
PART_THRESHOLD = 0.85  # the same, in the other cells alone
MIN_SHARED = 8  # fingerprints in common, at least: tiny differences say nothing
MIN_EVIDENCE = 5.0  # their weight, at least: as much as five passages only the two share
STRONG = 0.85  # pairs at least this alike join groups
# Characters of one part that are parsed: Python's parser needs about 475 MB per MB of a long
# list literal, and the report reads every student's code in one process. A part over this
# (a hundred times a long solution) is not compared: no honest part comes near it.
MAX_SOURCE_CHARS = 200_000


class _Canonical(ast.NodeTransformer):
    """Local names in order of first use, keywords sorted, docstrings dropped."""

    def __init__(self):
        self.names = {}

    def _name(self, name):
        if name not in self.names:
            self.names[name] = f"v{len(self.names) + 1}"
        return self.names[name]

    def visit_FunctionDef(self, node):
        for argument in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
            argument.arg = self._name(argument.arg)
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None),
                                                                           ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
        self.generic_visit(node)
        return node

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store) or node.id in self.names:
            node.id = self._name(node.id)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        node.keywords.sort(key=lambda keyword: keyword.arg or "")
        return node


def normalise(source):
    """The normalised text of `source`, or '' when it is not Python or is over MAX_SOURCE_CHARS."""
    if len(source) > MAX_SOURCE_CHARS:
        return ""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return ""
    # Function names are kept (they are the exercise's), everything local renamed; so are the
    # names a cell assigns outside functions (a copied cell with its variables renamed).
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            name = node.name
            _Canonical().visit(node)
            node.name = name
    cell = _Canonical()
    for statement in tree.body:
        if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            cell.visit(statement)
    try:
        return ast.unparse(tree)
    except (ValueError, RecursionError):
        return ""


_BASE = 1_000_003
_POWERS = np.array([pow(_BASE, NOISE - 1 - i, 2**64) for i in range(NOISE)], dtype=np.uint64)


def kgram_hashes(text):
    """The hash of every NOISE-character passage of `text`, in order: a polynomial hash of its
    characters (deterministic, unlike Python's hash of a string)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = len(codes) - NOISE + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    hashes = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset, power in enumerate(_POWERS):
            hashes += codes[offset:offset + count] * power
    return hashes


def fingerprints(source, boilerplate=frozenset()):
    """Winnowed fingerprints of the normalised `source`, without those in `boilerplate`."""
    return set(fingerprint_places(normalise(source), boilerplate))


def fingerprint_places(text, boilerplate=frozenset()):
    """{fingerprint: [character offsets]} of normalised `text`, without those in `boilerplate`."""
    if len(text) < GUARANTEE:
        return {}
    hashes = kgram_hashes(text)
    places = {}
    for index in winnow(hashes, WINDOW, remove_duplicates=False)[1]:
        value = int(hashes[index])
        if value not in boilerplate:
            places.setdefault(value, []).append(int(index))
    return places


def base_passages(sources):
    """Every passage's hash of the code everyone may share (all of them, not only the winnowed:
    a student's passage equal to one of the base is the base's whatever winnowing picks)."""
    found = set()
    for source in sources:
        found.update(int(h) for h in kgram_hashes(normalise(source)))
    return frozenset(found)


@dataclass
class Pair:
    a: str
    b: str
    score: float  # weight in common over the weight of both students' fingerprints
    shared: int  # fingerprints in common
    by_function: dict  # part (PARTS) -> share of its weight in common (None when neither has any)
    evidence: float = 0.0  # the weight in common
    common: dict = field(default_factory=dict, repr=False)  # part -> the fingerprints in common

    @property
    def strong(self):
        return self.score >= STRONG or any((share or 0) >= STRONG for share in self.by_function.values())


@dataclass
class Comparison:
    """What the comparison of a class found, and how much it looked at."""
    pairs: list  # similar pairs, most evidence first
    students: int
    compared: int  # pairs that share at least one fingerprint that is not common knowledge
    common: int  # fingerprints dropped as common knowledge (held by more than `most` students)
    most: int


def compare(code, base_sources, threshold=THRESHOLD, part_threshold=PART_THRESHOLD, min_shared=MIN_SHARED,
            min_evidence=MIN_EVIDENCE):
    """Compare every pair of students. `code`: {student: {part: source}} (PARTS);
    `base_sources`: code everyone may share (the release's notebook, the reference solution)."""
    if len(code) < 2:
        return Comparison([], len(code), 0, 0, 0)
    base = base_passages(base_sources)
    prints = {student: {part: {(part, h) for h in fingerprints(parts.get(part, ""), base)} for part in PARTS}
              for student, parts in code.items()}
    holders = {}
    for student, by_part in prints.items():
        for hashes in by_part.values():
            for h in hashes:
                holders.setdefault(h, []).append(student)
    size = len(code)
    most = max(2, math.floor(COMMON_SHARE * size))
    # ln(N / holders), in units of a passage only two students share (so that the evidence
    # needed means the same in a class of 20 and of 1,000): 1 for those, less for the others.
    unit = math.log((size + 1) / 2)
    weight = {h: math.log((size + 1) / len(who)) / unit for h, who in holders.items() if len(who) <= most}
    common = len(holders) - len(weight)
    kept = {student: {part: {h for h in hashes if h in weight} for part, hashes in by_part.items()}
            for student, by_part in prints.items()}
    union = {student: set().union(*by_part.values()) for student, by_part in kept.items()}
    candidates = set()
    for h in weight:  # only students who share a fingerprint are compared (an inverted index)
        candidates.update(itertools.combinations(sorted(holders[h]), 2))
    pairs = []
    for a, b in candidates:
        both = union[a] & union[b]
        if len(both) < min_shared:
            continue
        evidence = sum(weight[h] for h in both)
        score = evidence / sum(weight[h] for h in union[a] | union[b])
        by_function, common_parts, alike_part = {}, {}, False
        for part in PARTS:
            mine, theirs = kept[a][part], kept[b][part]
            together = mine | theirs
            shared = mine & theirs
            by_function[part] = sum(weight[h] for h in shared) / sum(weight[h] for h in together) if together else None
            common_parts[part] = frozenset(h for _, h in shared)
            alike_part |= (part == OTHER and bool(shared) and len(shared) >= min_shared
                           and sum(weight[h] for h in shared) >= min_evidence and by_function[part] >= part_threshold)
        if (score >= threshold and evidence >= min_evidence) or alike_part:
            pairs.append(Pair(a, b, score, len(both), by_function, evidence, common_parts))
    pairs.sort(key=lambda p: (-max([p.score] + [s or 0 for s in p.by_function.values()]), -p.evidence, p.a, p.b))
    return Comparison(pairs, size, len(candidates), common, most)


def similar_pairs(code, base_sources, **limits):
    """The similar pairs of `compare`, most alike first."""
    return compare(code, base_sources, **limits).pairs


def clusters(pairs):
    """Groups of students joined by strong pairs (connected components), largest first: a
    weaker pair between two groups does not merge them."""
    parent = {}
    pairs = [pair for pair in pairs if pair.strong]

    def root(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        parent[root(pair.a)] = root(pair.b)
    groups = {}
    for student in parent:
        groups.setdefault(root(student), []).append(student)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))
