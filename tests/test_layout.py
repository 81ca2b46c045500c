"""The layout shows the design: each package of `course/` imports on its own, imports only
what its docstring allows, and no module imports itself back; the README's table lists what
`course/` holds."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_helpers import ROOT

COURSE = ROOT / "course"
PACKAGES = sorted(p.name for p in COURSE.iterdir() if (p / "__init__.py").is_file())
#: package (or top-level module) -> what of the course it may import
ALLOWED = {
    "layout": set(),
    "bounded": set(),
    "unet_segmentation": {"layout"},
    "assignment": {"unet_segmentation"},
    "sandbox": {"layout", "assignment"},
    "judge": {"layout", "bounded", "assignment", "sandbox"},
    "deadline": {"assignment"},
    "lms": {"layout", "assignment", "deadline", "grading"},
    "hub": {"layout"},
    "grading": {"layout", "bounded", "assignment", "sandbox", "deadline"},
    "report": {"layout", "assignment"},
    "exchange": {"layout"},
    "__main__": {"layout", "assignment", "grading", "report", "unet_segmentation", "deadline", "lms", "hub"},
}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path):
    """The course modules `path` imports (at any depth of its code: lazy imports count)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "course" or target.startswith("course."):
                # `from course.judge import network` imports course.judge.network
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if _exists(candidate) else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("course."))
    return found - {name}


def _exists(module):
    relative = Path(*module.split("."))
    return (ROOT / relative).with_suffix(".py").is_file() or (ROOT / relative / "__init__.py").is_file()


def graph():
    return {module_name(p): imports_of(p) for p in sorted(COURSE.rglob("*.py"))}


def part_of(module):
    """The package or top-level module of course that `module` belongs to."""
    return module.split(".")[1] if module != "course" else "course"


def test_every_package_has_a_docstring_that_says_what_it_may_import():
    for package in PACKAGES:
        doc = ast.get_docstring(ast.parse((COURSE / package / "__init__.py").read_text())) or ""
        assert len(doc.splitlines()) >= 3, f"course/{package}/__init__.py: say in a few lines what it does"
        assert "May import" in doc, f"course/{package}/__init__.py: say what the package may import"


def test_packages_import_only_what_they_may():
    wrong = []
    for module, targets in graph().items():
        if module == "course":
            continue
        part = part_of(module)
        allowed = ALLOWED[part] | {part}
        wrong += [f"{module} imports {target}" for target in sorted(targets) if part_of(target) not in allowed]
    assert not wrong, "imports across the layout the packages' docstrings forbid:\n" + "\n".join(wrong)


def test_the_engine_reaches_the_assignment_only_through_course_assignment():
    engine = [m for m in graph() if part_of(m) in ("judge", "sandbox", "grading", "report")]
    named = [f"{m} imports {t}" for m in engine for t in graph()[m] if part_of(t) == "unet_segmentation"]
    assert not named, named


def test_no_import_cycles():
    edges = graph()
    state, path = {}, []

    def visit(module):
        state[module] = "open"
        path.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)


@pytest.mark.parametrize("package", PACKAGES + ["layout", "bounded", "assignment", "__main__"])
def test_each_package_imports_on_its_own_in_a_fresh_interpreter(package):
    modules = [module_name(p) for p in sorted((COURSE / package).rglob("*.py"))] if package in PACKAGES \
        else [f"course.{package}"]
    run = subprocess.run([sys.executable, "-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)",
                          *modules], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"course/{package} does not import on its own:\n{run.stderr[-2000:]}"


def test_readme_layout_table_matches_the_course_folder():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `course/([a-z_]+(?:\.py)?)/?` \|", readme, flags=re.M))
    present = {p.name for p in COURSE.iterdir() if p.name != "__pycache__" and p.name != "__init__.py"}
    assert listed == present, f"README's layout table lists {sorted(listed ^ present)} wrongly " \
                              f"(course/ holds {sorted(present)})"


def test_tests_mirror_the_packages():
    tests = ROOT / "tests"
    missing = [p for p in PACKAGES if not (tests / p).is_dir()]
    assert not missing, f"tests/ has no folder for course/{missing}"
