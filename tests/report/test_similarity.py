"""Similar submissions on classes written like real ones (tests/realistic_class.py): every
planted copy found, independent solutions almost never paired, the same pairs in every run,
and what everyone shares (the release, the class's common idioms) worth nothing."""

import random
import subprocess
import sys

import pytest

from course.layout import ROOT
from course.report.class_report import base_code, marked
from course.report.similarity import OTHER, clusters, compare, fingerprint_places, normalise
from realistic_class import COMMON_CELLS, HELPER, independent_class, planted_copies

SEEDS = (0, 1, 2)
FALSE_PAIRS = 0.02  # the goal: under 2% of the pairs of independent students


def _class(seed):
    students = independent_class(101, seed=seed)
    copies, planted = planted_copies(students, random.Random(seed + 1))
    return dict(students, **copies), planted


@pytest.mark.parametrize("seed", SEEDS)
def test_every_planted_copy_is_found_and_few_independent_pairs(seed):
    code, planted = _class(seed)
    comparison = compare(code, base_code())
    found = {frozenset((p.a, p.b)) for p in comparison.pairs}
    missed = [how for a, b, how in planted if frozenset((a, b)) not in found]
    assert not missed, missed
    copies = {frozenset((a, b)) for a, b, _ in planted}
    independent = len(found - copies) / (comparison.students * (comparison.students - 1) / 2)
    print(f"\nseed {seed}: {len(planted)} planted copies found; {len(found - copies)} independent pairs listed "
          f"({independent:.2%} of all pairs, goal under {FALSE_PAIRS:.0%}); {comparison.compared} pairs compared; "
          f"{comparison.common} fingerprints common knowledge")
    assert independent < FALSE_PAIRS
    # The planted copies rank above every independent pair.
    ranks = [index for index, p in enumerate(comparison.pairs) if frozenset((p.a, p.b)) in copies]
    assert max(ranks) < len(copies) + 3, ranks


def test_no_large_group_of_independent_students():
    """The failure this replaced: one group of nearly the whole class, joined by what all share."""
    code, _ = _class(0)
    groups = clusters(compare(code, base_code()).pairs)
    assert max(map(len, groups)) <= 3, groups


def test_a_pasted_helper_cell_makes_a_pair_whatever_the_functions():
    code, planted = _class(1)
    (original, copy, _), = [entry for entry in planted if entry[2] == "helper"]
    pair = next(p for p in compare(code, base_code()).pairs if {p.a, p.b} == {original, copy})
    assert pair.by_function[OTHER] > 0.85 and max(pair.by_function[f] or 0 for f in ("unet_model",)) < 1
    assert HELPER.splitlines()[0] in code[original][OTHER]


def test_what_the_whole_class_shares_counts_for_nothing():
    """The original course's cells, which most students kept, pair nobody on their own."""
    code = {f"s{n}": {OTHER: "\n\n".join(COMMON_CELLS).format(n=7, epochs=10, batch=32)} for n in range(30)}
    assert compare(code, base_code()).pairs == []


def test_cells_renamed_outside_functions_are_the_same_cells():
    assert normalise("unet = unet_model()\nunet.summary()") == normalise("m = unet_model()\nm.summary()")
    assert normalise("import numpy as np\nprint(np.pi)") != normalise("import numpy as xp\nprint(xp.e)")


def test_the_same_pairs_in_every_run():
    """Fingerprints are hashed by the course, not by Python's hash of a string, which changes
    from one process to the next."""
    script = ("import random, sys; sys.path[:0] = ['tests']\n"
              "from course.report.class_report import base_code\nfrom course.report.similarity import compare\n"
              "from realistic_class import independent_class, planted_copies\n"
              "students = independent_class(60, seed=5); copies, _ = planted_copies(students, random.Random(6))\n"
              "print(sorted((p.a, p.b, round(p.score, 6)) for p in compare(dict(students, **copies), base_code()).pairs))")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")}
    assert len(runs) == 1 and runs.pop().startswith("[(")


def test_the_side_by_side_marks_the_passages_in_common():
    shared = "def helper(model):\n    return sorted(layer.name.upper() for layer in model.layers if layer.trainable)\n"
    mine = shared + "\nresult = helper(unet_model())\nprint(len(result), 'layers can learn')\n"
    theirs = shared + "\nfor index in range(3):\n    print(index * index + 17)\n"
    common = set(fingerprint_places(normalise(mine))) & set(fingerprint_places(normalise(theirs)))
    shown = marked(theirs, common)
    assert shown.startswith("<mark>def helper(v1):") and "v1.layers" in shown.split("</mark>")[0]
    assert "17" in shown.rsplit("</mark>", 1)[-1]  # what only they wrote is not marked
    assert marked("x = (", set()) == "x = ("  # not Python: shown as it is


@pytest.mark.parametrize("others", [0, 3, 18])
def test_a_copy_is_found_in_a_class_of_any_size(others):
    """The evidence needed is counted in passages only the two share, whatever the class size."""
    code, planted = _class(2)
    original, copy, _ = planted[0]
    small = {original: code[original], copy: code[copy],
             **{name: code[name] for name in [n for n in sorted(code) if n.startswith("student")
                                               and n not in {a for a, _, _ in planted}][:others]}}
    pairs = compare(small, base_code()).pairs
    assert {frozenset((p.a, p.b)) for p in pairs} == {frozenset((original, copy))}


def test_a_class_of_one_or_none_has_no_pairs():
    code, _ = _class(0)
    for size in (0, 1):
        comparison = compare(dict(list(code.items())[:size]), base_code())
        assert comparison.pairs == [] and comparison.students == size


def test_a_part_too_large_to_parse_is_not_parsed(monkeypatch):
    """A 1 MB list literal would cost the report's process about 475 MB to parse: over
    MAX_SOURCE_CHARS a part is neither parsed nor compared."""
    import ast

    from course.report import similarity

    literal = "x = [" + "0," * 500_000 + "]"
    assert len(literal) > similarity.MAX_SOURCE_CHARS
    parsed = []
    real = ast.parse
    monkeypatch.setattr(similarity.ast, "parse", lambda source, *a, **k: parsed.append(len(source)) or real(source))
    assert normalise(literal) == "" and parsed == []
    assert normalise("x = [" + "0," * 1000 + "]").startswith("v1 = [0, 0")  # a small one is read
    assert parsed == [2006]
