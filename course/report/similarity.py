"""Which submissions are suspiciously alike: every pair of students' code, part by part.

The parts are the three functions and, together, every other code cell a student could
have written (a pasted helper cell shared by two students makes them a pair).

Each function is normalised first (Python's own parser): comments, docstrings and
formatting go; local names become v1, v2... in order of first use; keyword arguments are
sorted; quotes and spacing are what `ast.unparse` writes. What stays is what a copy keeps:
the layers, their settings and how they are wired. The normalised code is fingerprinted
by winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003) with copydetect's
implementation; fingerprints of the reference solution and of the release's stubs are
removed first, since every correct submission shares those. Two students are similar when
most of what is left is shared.
"""

import ast
import itertools
from dataclasses import dataclass

from copydetect.utils import get_document_fingerprints

FUNCTIONS = ("conv_block", "upsampling_block", "unet_model")
OTHER = "other cells"  # every other code cell a student could write, one after another
PARTS = FUNCTIONS + (OTHER,)
NOISE, GUARANTEE = 20, 28  # k-gram length and the length of a match always found (characters)
THRESHOLD = 0.6  # share of fingerprints in common (over both students' fingerprints)
MIN_SHARED = 12  # fingerprints in common, at least: tiny differences say nothing


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
    """The normalised text of `source`, or '' when it is not Python."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return ""
    # Function names are kept (they are the exercise's), everything local renamed.
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            name = node.name
            _Canonical().visit(node)
            node.name = name
    try:
        return ast.unparse(tree)
    except (ValueError, RecursionError):
        return ""


def fingerprints(source, boilerplate=()):
    """Winnowed fingerprints of the normalised `source`, without those in `boilerplate`."""
    text = normalise(source)
    if len(text) < GUARANTEE:
        return set()
    hashes, _ = get_document_fingerprints(text, NOISE, GUARANTEE - NOISE + 1)
    return {int(h) for h in hashes} - set(boilerplate)


@dataclass
class Pair:
    a: str
    b: str
    score: float  # fingerprints in common over all of the two students' fingerprints
    shared: int
    by_function: dict  # part (PARTS) -> share in common (or None when neither has any)


def similar_pairs(code, base_sources, threshold=THRESHOLD, min_shared=MIN_SHARED):
    """Pairs of students whose code is alike. `code`: {student: {part: source}} (PARTS);
    `base_sources`: code everyone may share (the reference solution, the stubs)."""
    boilerplate = set()
    for source in base_sources:
        boilerplate |= fingerprints(source)
    prints = {student: {f: {(f, h) for h in fingerprints(functions.get(f, ""), boilerplate)} for f in PARTS}
              for student, functions in code.items()}
    union = {student: set().union(*by_function.values()) for student, by_function in prints.items()}
    # Only students who share a fingerprint are compared (an inverted index).
    holders = {}
    for student, hashes in union.items():
        for h in hashes:
            holders.setdefault(h, []).append(student)
    candidates = set()
    common = max(20, len(code) // 4)  # a fingerprint a quarter of the class has is boilerplate too
    for students in holders.values():
        if len(students) <= common:
            candidates.update(itertools.combinations(sorted(students), 2))
    pairs = []
    for a, b in candidates:
        shared = len(union[a] & union[b])
        total = len(union[a] | union[b])
        if shared >= min_shared and shared / total >= threshold:
            by_function = {}
            for f in PARTS:
                both = prints[a][f] | prints[b][f]
                by_function[f] = len(prints[a][f] & prints[b][f]) / len(both) if both else None
            pairs.append(Pair(a, b, shared / total, shared, by_function))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def clusters(pairs):
    """Groups of students joined by similar pairs (connected components), largest first."""
    parent = {}

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
