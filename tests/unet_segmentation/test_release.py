"""release/ is what nbgrader generates from source/, and holds no solution and no hidden test."""

import re
import shutil

import nbformat
import pytest

from course.assignment import ASSIGNMENT, NOTEBOOK, RELEASE, SOURCE
from course.layout import nbgrader

from course_helpers import ROOT, copy_course

SECRETS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "course/reference", "course/unet_segmentation",
           "reference.py", "judge.py", "course.judge", "preprocessors.py")


def solution_lines():
    """The non-trivial lines of the reference solution: the code between the solution markers."""
    lines = []
    for cell in nbformat.read(SOURCE / NOTEBOOK, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line:
                inside = True
            elif "END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                lines.append(line.strip())
    return lines


def test_source_has_solutions_and_hidden_tests():
    """Guards the next tests: they would pass vacuously on a source without secrets."""
    text = (SOURCE / NOTEBOOK).read_text()
    assert text.count("BEGIN SOLUTION") == 3
    assert text.count("BEGIN HIDDEN TESTS") == 6
    assert len(solution_lines()) >= 20


@pytest.mark.parametrize("path", sorted(p.relative_to(RELEASE) for p in RELEASE.rglob("*") if p.is_file()),
                         ids=str)
def test_release_holds_no_secret(path):
    data = (RELEASE / path).read_bytes()
    if path.suffix == ".png":
        return
    text = data.decode()
    for secret in SECRETS:
        assert secret not in text, f"{path}: {secret}"


def test_release_holds_no_solution_code():
    released = "\n".join(cell.source for cell in nbformat.read(RELEASE / NOTEBOOK, as_version=4).cells)
    leaked = [line for line in solution_lines() if line in released]
    assert not leaked, leaked


def test_release_shows_stubs_for_the_three_exercises():
    notebook = nbformat.read(RELEASE / NOTEBOOK, as_version=4)
    stubs = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("solution")]
    assert [cell.metadata.nbgrader.grade_id for cell in stubs] == ["conv_block", "upsampling_block", "unet_model"]
    for cell in stubs:
        assert "raise NotImplementedError()" in cell.source
        assert re.search(r"^def \w+\(", cell.source, re.M)


def test_release_notebook_has_no_outputs():
    for notebook in (SOURCE / NOTEBOOK, RELEASE / NOTEBOOK):
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, notebook


def _comparable(notebook_path):
    notebook = nbformat.read(notebook_path, as_version=4)
    for cell in notebook.cells:
        cell.pop("id", None)
    return notebook


def test_release_equals_a_fresh_generate_assignment(tmp_path):
    course = copy_course(tmp_path)
    shutil.rmtree(course / "release")
    nbgrader("generate_assignment", ASSIGNMENT, root=course, capture=True)
    fresh = course / "release" / ASSIGNMENT
    committed = sorted(p.relative_to(RELEASE) for p in RELEASE.rglob("*") if p.is_file())
    assert committed == sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()), \
        "release/ is out of date: run `python -m course release`"
    for path in committed:
        if path.suffix == ".ipynb":
            assert _comparable(RELEASE / path) == _comparable(fresh / path), \
                f"{path} is out of date: run `python -m course release`"
        else:
            assert (RELEASE / path).read_bytes() == (fresh / path).read_bytes(), path


def test_readme_says_how_to_regenerate_the_release():
    assert "python -m course release" in (ROOT / "README.md").read_text()
