"""environment.yml (conda) and requirements.txt (pip) pin the same packages, and the
installed environment matches them."""

import re
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip().lstrip("- ").strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([\w.]+)", line)
            assert match, f"not pinned with ==: {line!r}"
            pins[match[1].lower()] = match[2]
    return pins


def requirements():
    return _pins((ROOT / "requirements.txt").read_text().splitlines())


def conda_pip_section():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    section = []
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        section.append(line)
    return _pins(section)


def test_both_files_pin_the_same_packages_and_versions():
    assert requirements() == conda_pip_section()


def test_the_course_dependencies_are_all_there():
    names = set(requirements())
    assert {"tensorflow-cpu", "nbgrader", "jupyterlab", "matplotlib", "numpy", "pillow", "tqdm",
            "pytest"} <= names


def test_conda_environment_uses_python_3_11():
    assert re.search(r"^\s*- python=3\.11\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_installed_versions_match_the_pins():
    assert sys.version_info[:2] == (3, 11)
    for name, version in requirements().items():
        assert metadata.version(name) == version, name


def test_nbformat_imports_without_compiling_a_grammar():
    """The Makefile removes rfc3987-syntax (see UNUSED_SLOW_IMPORTS there): jsonschema, which
    nbformat imports, would import it and spend over a second compiling its grammar in every
    nbgrader process."""
    import importlib.util

    assert importlib.util.find_spec("rfc3987_syntax") is None
    assert "rfc3987-syntax" in (ROOT / "Makefile").read_text()


def test_ci_runs_the_readme_test_command():
    command = [line for line in (ROOT / ".ci/run").read_text().splitlines()
               if line.strip() and not line.startswith(("#", "set ", "cd "))][-1]
    assert command in (ROOT / "README.md").read_text()
