"""The catalogue of student code (tests/catalogue.py), every entry judged as grading judges it:
the kernel's recorder collects the evidence of each graded cell for a challenge drawn now,
and the judge gives the verdict. Here that runs without a kernel, in two processes, which
takes a second per entry instead of a graded kernel's ten; test_grading_holds.py grades the
entries whose kernel could make a difference (catalogue.END_TO_END) through `course grade`
and holds them to the same expectations."""

import multiprocessing

import pytest

import catalogue

REFERENCE = catalogue.Entry("reference", {})


def _judge_share(entries):
    """Judged in order in one process, the reference first and last: an entry that changed
    something shared in its process (a Keras class, a module) would show in the last one."""
    return [(entry.name, catalogue.judged_in_process(entry)) for entry in [REFERENCE, *entries, REFERENCE]]


@pytest.fixture(scope="module")
def judged():
    """{entry: (points, findings)} and the reference's judgement before and after the others,
    in each of two processes (both cores; and nothing of the student code stays in pytest's)."""
    shares = [catalogue.ENTRIES[n::2] for n in range(2)]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_judge_share, shares, chunksize=1)
    found = {name: result for share in results for name, result in share[1:-1]}
    return [result for share in results for result in (share[0][1], share[-1][1])], found


def test_the_reference_gets_full_marks_before_and_after_the_catalogue(judged):
    references, _ = judged
    assert references == [((10, 10, 10), [])] * 4


def test_every_wrong_implementation_loses_points_where_it_should(judged):
    _, found = judged
    problems = [(e.name, e.loses, found[e.name][0]) for e in catalogue.WRONG
                if any((found[e.name][0][n - 1] < 10) != (n in e.loses) for n in (1, 2, 3))]
    print(f"\ncatalogue: {len(catalogue.WRONG) - len(problems)} of {len(catalogue.WRONG)} wrong implementations caught")
    assert len(catalogue.WRONG) >= 30
    assert not problems


def test_every_equivalent_implementation_gets_full_marks(judged):
    _, found = judged
    missed = [(e.name, found[e.name]) for e in catalogue.EQUIVALENT if found[e.name][0] != (10, 10, 10)]
    print(f"\ncatalogue: {len(catalogue.EQUIVALENT) - len(missed)} of {len(catalogue.EQUIVALENT)} "
          "equivalent implementations got full marks")
    assert len(catalogue.EQUIVALENT) >= 12
    assert not missed


def test_no_catalogue_entry_is_mistaken_for_tampering(judged):
    """Real students' code, wrong or right, never goes to manual grading."""
    _, found = judged
    assert {name: findings for name, (_, findings) in found.items() if findings} == {}


def test_the_entries_graded_end_to_end_are_catalogue_entries_of_every_kind():
    chosen = [catalogue.BY_NAME[name] for name in catalogue.END_TO_END]
    assert len(set(catalogue.END_TO_END)) == len(catalogue.END_TO_END)
    assert {n for e in chosen for n in e.loses} == {1, 2, 3}
    assert any(not e.loses for e in chosen) and any(e.extra_cells for e in chosen)
    assert set(catalogue.BOTH_COMMANDS) <= set(catalogue.END_TO_END)
