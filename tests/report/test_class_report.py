"""The class report on a generated class whose answers are known: planted mistakes counted
right, planted copies found (renamed variables, reordered keyword arguments, changed
comments), independent solutions and copies of the reference never paired."""

import base64
import csv
import re

import pytest

import catalogue
from class_builder import make_class

from course.report.class_report import write_report
from course.report.mistakes import kind_of
from course.report.similarity import OTHER, clusters, normalise, similar_pairs

ORIGINAL = {
    "conv_block": '''def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    # two 3x3 convolutions, as in the paper
    layer = inputs
    for _ in range(2):
        layer = Conv2D(filters=n_filters, kernel_size=(3, 3), padding="same", activation="relu",
                       kernel_initializer="he_normal")(layer)
    if dropout_prob > 0:
        layer = Dropout(rate=dropout_prob)(layer)
    skip = layer
    pooled = MaxPooling2D(pool_size=(2, 2))(layer) if max_pooling else layer
    return pooled, skip
''',
    "upsampling_block": '''def upsampling_block(expansive_input, contractive_input, n_filters=32):
    up = Conv2DTranspose(filters=n_filters, kernel_size=(3, 3), strides=(2, 2), padding="same")(expansive_input)
    merged = Concatenate(axis=3)([up, contractive_input])
    for _ in range(2):
        merged = Conv2D(filters=n_filters, kernel_size=(3, 3), padding="same", activation="relu",
                        kernel_initializer="he_normal")(merged)
    return merged
''',
    "unet_model": next(e for e in catalogue.ENTRIES if e.name == "eq_unet_with_loops").cells["unet_model"],
}


def _renamed(code):
    renames = {"layer": "x", "skip": "skip_conn", "pooled": "out", "merged": "y", "up": "u", "skips": "saved",
               "level": "depth"}
    return {f: re.sub(r"\b(" + "|".join(renames) + r")\b", lambda m: renames[m.group(1)], s) for f, s in code.items()}


def _reordered(code):
    def swap(source):
        return source.replace('filters=n_filters, kernel_size=(3, 3), padding="same", activation="relu"',
                              'activation="relu", padding="same", kernel_size=(3, 3), filters=n_filters')
    return {f: swap(s) for f, s in code.items()}


def _recommented(code):
    return {f: s.replace("# two 3x3 convolutions, as in the paper", "# my own comment\n    # and another")
            .replace("):\n", '):\n    """Written by me."""\n\n', 1) for f, s in code.items()}


def _entry(name):
    return next(e for e in catalogue.ENTRIES if e.name == name).cells


MISTAKES = {"conv_glorot_initializer": 3, "conv_skip_after_pooling": 4, "up_transposed_with_relu": 2,
            "unet_softmax_on_logits": 1}
INDEPENDENT = ["eq_separate_relu_layers", "eq_nested_sequential", "eq_own_relu_function", "eq_keyword_arguments",
               "eq_relu_layer_as_activation", "eq_fully_qualified_layers"]
COPIES = ["original", "copy_renamed", "copy_reordered", "copy_recommented"]
# A helper cell two students share; their functions are the reference's, as everyone's may be.
HELPER = '''def show_batch(dataset, count=4, classes=23):
    """Plot the first pictures of a batch beside their masks, with a legend of the classes."""
    pictures, masks = next(iter(dataset.take(1)))
    figure, axes = plt.subplots(count, 2, figsize=(8, 3 * count))
    for row in range(count):
        axes[row, 0].imshow(pictures[row])
        axes[row, 1].imshow(masks[row, ..., 0], vmin=0, vmax=classes - 1, cmap="tab20")
        axes[row, 0].set_title(f"picture {row}")
        axes[row, 1].set_title(f"mask {row}: {len(np.unique(masks[row]))} classes")
    figure.tight_layout()
    return figure
'''
PASTED = ["pasted_helper_a", "pasted_helper_b"]
TAMPERER = "reaches_into_the_grader"


def class_code():
    code = {f"ref_{i}": {} for i in range(3)}
    for name, count in MISTAKES.items():
        code.update({f"{name}_{i}": _entry(name) for i in range(count)})
    code.update({name: _entry(name) for name in INDEPENDENT})
    code.update({"original": ORIGINAL, "copy_renamed": _renamed(ORIGINAL), "copy_reordered": _reordered(ORIGINAL),
                 "copy_recommented": _recommented(ORIGINAL)})
    code.update({name: {OTHER: HELPER} for name in PASTED})
    code[TAMPERER] = {OTHER: "import sys\nsys.modules['unet_evidence'].record = print"}
    return code


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    statuses = {"ref_0": ("graded (repaired)", "refused, not copied: evil (a symbolic link)", "31"),
                "ref_1": ("cell timed out", "over 300 s in grade_unet_model_defaults", "320")}
    root, db_url = make_class(tmp_path_factory.mktemp("report") / "course", class_code(), statuses)
    path = write_report(root, db_url)
    return root, path


def _csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_planted_mistakes_come_out_with_their_counts(report):
    _, path = report
    rows = _csv(path.parent / "mistakes.csv")
    by_students = {frozenset(r["who"].split()): r for r in rows}
    for name, count in MISTAKES.items():
        planted = frozenset(f"{name}_{i}" for i in range(count))
        assert planted in by_students, (name, rows)
        assert int(by_students[planted]["students"]) == count
    kinds = {r["mistake"] for r in rows}
    assert "next_layer: Conv2D with the wrong kernel initializer (expected 'he_normal')" in kinds, kinds
    assert any("Conv2DTranspose with the wrong activation" in k for k in kinds), kinds
    # nothing else was wrong in the class
    assert sum(int(r["students"]) for r in rows) == sum(MISTAKES.values()), rows


def test_planted_copies_are_found_and_nothing_else_is_paired(report):
    _, path = report
    pairs = _csv(path.parent / "similar_pairs.csv")
    paired = {frozenset((p["student_a"], p["student_b"])) for p in pairs}
    copies = {frozenset((a, b)) for i, a in enumerate(COPIES) for b in COPIES[i + 1:]}
    assert copies <= paired, pairs
    # Besides the copies, only students who handed in the very same wrong code (one planted
    # mistake, copied) may be paired; independent solutions and the reference never are.
    for pair in paired - copies:
        groups = {name.rsplit("_", 1)[0] for name in pair}
        assert len(groups) == 1 and (groups <= set(MISTAKES) or pair == frozenset(PASTED)), pair
    assert frozenset(PASTED) in paired, pairs  # the same helper cell, functions like everyone's
    pasted = next(p for p in pairs if {p["student_a"], p["student_b"]} == set(PASTED))
    assert float(pasted[OTHER]) > 0.9 and all(pasted[f] == "" for f in ("conv_block", "upsampling_block")), pasted
    alone = set(INDEPENDENT) | {f"ref_{i}" for i in range(3)} | {TAMPERER}
    assert not [pair for pair in paired - {frozenset(PASTED)} if pair & (alone | set(PASTED))], pairs
    page = path.read_text()
    assert "copy_renamed" in page and "Groups" in page


def test_the_report_is_one_page_with_embedded_figures_and_every_section(report):
    root, path = report
    page = path.read_text()
    for heading in ("1. Scores", "2. Common mistakes", "3. Grading health", "4. Similar submissions"):
        assert heading in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "http" not in page.replace("http-equiv", "")  # nothing to fetch: it opens offline
    assert "over 300 s in grade_unet_model_defaults" in page and "a symbolic link" in page
    scores = _csv(path.parent / "scores.csv")
    assert len(scores) == len(class_code())
    assert {r["student"]: r["total"] for r in scores}["ref_0"] == "30"


def test_cells_sent_to_manual_grading_are_listed_with_why_and_are_no_mistake(report):
    _, path = report
    rows = _csv(path.parent / "manual_grading.csv")
    assert [r["student"] for r in rows] == [TAMPERER]
    assert rows[0]["why"].startswith("cell 24: changes sys.modules['unet_evidence'].record; cell 24: uses sys.modules")
    assert len(rows[0]["cells"].split()) == 6, rows
    assert TAMPERER not in " ".join(r["who"] for r in _csv(path.parent / "mistakes.csv"))
    assert "Sent to manual grading" in path.read_text() and "uses sys.modules" in path.read_text()


def test_kinds_drop_what_belongs_to_one_student():
    one = kind_of("conv_block(n_filters=48, dropout_prob=0.1) on inputs of shape (1, 32, 32, 3): next_layer, "
                  "layer 2 (Conv2D): expected kernel size (3, 3), got (5, 5)")
    other = kind_of("conv_block() on inputs of shape (1, 96, 128, 3): next_layer, layer 1 (Conv2D): "
                    "expected kernel size (3, 3), got (7, 7)")
    assert one == other == "next_layer: Conv2D with the wrong kernel size (expected (3, 3))"
    assert kind_of("conv_block(): NotImplementedError: conv_block is not implemented yet") == "not implemented"


def test_normalising_forgets_names_comments_and_keyword_order():
    a = "def f(x, n):\n    # hi\n    y = Conv2D(filters=n, padding='same')(x)\n    return y\n"
    b = 'def f(inp, k):\n    """doc"""\n    out = Conv2D(padding="same", filters=k)(inp)  # there\n    return out\n'
    assert normalise(a) == normalise(b)
    assert normalise("def f(:") == ""


def test_copies_of_the_reference_are_not_similar():
    reference = catalogue.REFERENCE
    code = {f"s{i}": dict(reference) for i in range(5)}
    assert similar_pairs(code, list(reference.values())) == []
    assert clusters([]) == []


def test_late_submissions_are_counted_with_their_penalty(report, tmp_path):
    """`course grade` writes each late submission's lateness and penalty into
    grades_by_exercise.csv's `late` column; the report counts and lists them."""
    import shutil

    root = tmp_path / "course"
    shutil.copytree(report[0], root)
    with open(root / "grades_by_exercise.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["late"] = "1 day 2 h 5 min late, -6 points" if row["student"] == "ref_0" else ""
    with open(root / "grades_by_exercise.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    page = write_report(root, f"sqlite:///{root / 'gradebook.db'}").read_text()
    late = page.split("<h3>Late submissions</h3>", 1)[1].split("<h", 1)[0]
    assert f"1 of {len(rows)} submissions late" in late
    assert "<td>ref_0</td><td>1 day 2 h 5 min late, -6 points</td>" in late
    assert "No submission was late" in report[1].read_text()
