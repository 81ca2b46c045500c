"""Checks a submission before nbgrader sees it, so that one broken notebook cannot abort the
grading of a whole class.

nbgrader aborts its whole run on a duplicated `grade_id` (a copied test cell) or on corrupt
nbgrader metadata. Here the submission is read as plain JSON, and its graded cells are
matched with the source notebook: the first cell carrying a known `grade_id` gets the
source's metadata back, later copies and cells with metadata that nbgrader cannot read
become ordinary cells, and deleted cells come back from the release. The repaired copy is what gets graded; the submitted file is never
touched. Any bytes give a status: a notebook that cannot be read is refused with a reason,
never an exception for the class. Student code is also scanned for changes to modules the
grading relied on before the judge existed; since student code can no longer set a score,
what the scan finds is only an advisory note for the instructor.
"""

import ast
import json
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass, field

import nbformat

from pathlib import Path

from .. import bounded
from ..assignment import NOTEBOOK, RELEASE, SOURCE
from ..layout import printable, walk

# Modules whose attributes a student cell must not replace: the grading relies on them.
GUARDED = {"numpy", "tensorflow", "keras", "runpy", "builtins", "sys", "importlib", "unet_checks",
           "segmentation_utils", "os", "io", "types", "inspect", "nbformat", "pathlib", "warnings"}
MUTATORS = {"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "__delitem__"}
DYNAMIC_CODE = {"exec", "eval", "compile", "__import__", "setattr", "delattr"}


@dataclass
class Preflight:
    notebook: object = None  # the nbformat notebook to grade (check_submission), or None
    text: bytes = b""  # the notebook to grade, as JSON (read_submission), or empty
    problem: str = ""  # why it cannot be graded
    repairs: list = field(default_factory=list)
    advisories: list = field(default_factory=list)


def source_metadata():
    """grade_id -> nbgrader metadata of the cells of the source notebook."""
    notebook = nbformat.read(SOURCE / NOTEBOOK, as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: dict(cell.metadata["nbgrader"])
            for cell in notebook.cells if "nbgrader" in cell.metadata}


MAX_NOTEBOOK_BYTES = 50 * 2**20
MAX_ADVISORIES = 20  # notes of one notebook, each of at most 200 characters


def _readable(meta):
    return (isinstance(meta, dict) and meta.get("schema_version") == 3 and isinstance(meta.get("grade_id"), str)
            and all(isinstance(meta.get(k, False), bool) for k in ("grade", "solution", "locked", "task")))


def _grade_id(meta):
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def repair_metadata(raw_cells, known):
    """Give each known graded cell its source metadata once; strip the rest. Returns notes."""
    seen, notes = set(), []
    for index, cell in enumerate(raw_cells):
        if not isinstance(cell.get("metadata", {}), dict):
            notes.append(f"cell {index + 1}: unreadable cell metadata removed")
            cell["metadata"] = {}
        if "nbgrader" not in cell.get("metadata", {}):
            continue
        meta = cell["metadata"]["nbgrader"]
        grade_id = _grade_id(meta)
        if grade_id in known and grade_id not in seen:
            if not _readable(meta) or any(meta.get(k) != v for k, v in known[grade_id].items() if k != "checksum"):
                notes.append(f"cell {index + 1}: nbgrader metadata of {grade_id!r} restored from the source")
            cell["metadata"]["nbgrader"] = dict(known[grade_id])
            seen.add(grade_id)
            continue
        if grade_id in seen:
            notes.append(f"cell {index + 1}: a copy of {grade_id!r} (duplicate grade_id) was made an ordinary cell")
        elif grade_id in known or not _readable(meta):
            notes.append(f"cell {index + 1}: unreadable nbgrader metadata removed")
        else:
            notes.append(f"cell {index + 1}: unknown graded cell {grade_id!r} was made an ordinary cell")
        del cell["metadata"]["nbgrader"]
    return notes


def release_cells():
    """The release notebook's cells that carry nbgrader metadata, in order, as plain dicts."""
    notebook = json.loads((RELEASE / NOTEBOOK).read_text())
    return [cell for cell in notebook["cells"] if "nbgrader" in cell.get("metadata", {})]


def restore_deleted_cells(raw_cells, template):
    """Put back, from the release, every nbgrader cell the student deleted: after the cell that
    precedes it in the release. (nbgrader's own add_missing_cells crashes when that cell is not
    a graded one.) Returns notes."""
    def grade_id(cell):
        return _grade_id(cell.get("metadata", {}).get("nbgrader"))

    notes = []
    for position, cell in enumerate(template):
        wanted = grade_id(cell)
        present = [grade_id(c) for c in raw_cells]
        if wanted in present:
            continue
        earlier = [grade_id(c) for c in template[:position]]
        anchor = max((present.index(g) for g in earlier if g in present), default=-1)
        raw_cells.insert(anchor + 1, json.loads(json.dumps(cell)))
        notes.append(f"deleted cell {wanted!r} restored from the release")
    return notes


def _module_aliases(tree):
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for name in node.names:
                aliases[name.asname or name.name.split(".")[0]] = name.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for name in node.names:
                aliases.setdefault(name.asname or name.name, node.module.split(".")[0])
    return aliases


def _root_name(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def scan_code(source, aliases):
    """Reasons why `source` may tamper with the grading (empty when it looks honest)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []  # it will fail to run; nothing to tamper with
    except RecursionError:  # the kernel's recursion limit may be higher
        return ["nests its code too deeply to be scanned"]
    reasons = []
    known = {**{m: m for m in GUARDED}, **{k: v for k, v in aliases.items() if v in GUARDED}}
    known.update({"np": "numpy", "tf": "tensorflow"})
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                root = _root_name(target)
                if root in known:
                    reasons.append(f"changes {ast.unparse(target)} (line {node.lineno})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DYNAMIC_CODE:
            reasons.append(f"calls {node.func.id}() (line {node.lineno})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            called = ast.unparse(node.func)
            if _root_name(node.func) in known and node.func.attr in MUTATORS and (
                    "environ" in called or "modules" in called):
                reasons.append(f"calls {called}() (line {node.lineno})")
            elif called in ("os.putenv", "os.unsetenv"):
                reasons.append(f"calls {called}() (line {node.lineno})")
        if isinstance(node, ast.Name) and node.id == "__builtins__":
            reasons.append(f"uses __builtins__ (line {node.lineno})")
    return reasons


def refused_entries(folder):
    """Entries of a submission folder that are not regular files or folders: links, pipes,
    devices and sockets, by name. They are never followed nor copied."""
    refused = []
    for path in walk(folder):
        try:
            mode = path.lstat().st_mode
        except OSError as error:  # a path longer than the system allows, say
            refused.append(f"{printable(path.relative_to(folder))} ({error.strerror.lower()})")
            continue
        if stat.S_ISLNK(mode):
            refused.append(f"{printable(path.relative_to(folder))} (a symbolic link)")
        elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            refused.append(f"{printable(path.relative_to(folder))} (not a regular file)")
    return refused


def _cells_problem(raw, name):
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        return f"invalid notebook: {name} has no list of cells"
    for number, cell in enumerate(raw["cells"], start=1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            return f"invalid notebook: cell {number} of {name} has no type"
        source = cell.get("source", "")
        if not (isinstance(source, str) or (isinstance(source, list) and all(isinstance(s, str) for s in source))):
            return f"invalid notebook: cell {number} of {name} has no readable source"
    return ""


def check_submission(path, known=None, progress=None):
    """Read and repair the notebook at `path` and scan its code, in this process; never raises,
    whatever the bytes. `progress(number)` is told before code cell `number` is scanned.
    Grading reads notebooks with read_submission, which bounds the work."""
    template = release_cells()
    try:
        checked = _repaired(Path(path), known, template)
    except Exception as error:  # noqa: BLE001 - any bytes must give a status
        return Preflight(problem=f"invalid notebook: {Path(path).name} cannot be read ({type(error).__name__})")
    if checked.notebook is not None:
        checked.advisories = advisories(checked.notebook, template, progress)
    return checked


def _repaired(path, known, template):
    known = known if known is not None else source_metadata()
    mode = path.lstat().st_mode
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        return Preflight(problem=f"invalid notebook: {path.name} is {kind}")
    if path.lstat().st_size > MAX_NOTEBOOK_BYTES:
        return Preflight(problem=f"invalid notebook: {path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return Preflight(problem=f"invalid notebook: {path.name} is not valid JSON ({str(error)[:120]})")
    problem = _cells_problem(raw, path.name)
    if problem:
        return Preflight(problem=problem)
    repairs = repair_metadata(raw["cells"], known)
    repairs += restore_deleted_cells(raw["cells"], template)
    _strip(raw)
    try:
        with warnings.catch_warnings():  # a copied cell repeats its cell id: nbformat renames it
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(json.dumps(raw), as_version=4)
            nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several types
        return Preflight(problem=f"invalid notebook: {path.name} cannot be read as a notebook ({str(error)[:120]})")
    return Preflight(notebook=notebook, repairs=repairs)


CELL_METADATA = {"nbgrader", "tags", "editable", "deletable", "trusted", "collapsed", "scrolled", "jupyter"}
NOTEBOOK_METADATA = {"kernelspec", "language_info"}


def _strip(raw):
    """What grading never reads goes: outputs (nbgrader's ClearOutput drops them before the
    kernel runs) and metadata other than nbgrader's and the editor's. What is left is the
    student's code and text; nested metadata would cost the square of its depth once written
    with nbformat's indentation."""
    for cell in raw["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {k: v for k, v in cell["metadata"].items() if k in CELL_METADATA}
    if isinstance(raw.get("metadata"), dict):
        raw["metadata"] = {k: v for k, v in raw["metadata"].items() if k in NOTEBOOK_METADATA}


def advisories(notebook, template, progress=None):
    """The advisory notes of a repaired notebook's student code: "code cell N: changes ...";
    `template`: the release's graded cells (release_cells)."""
    # Copies of the course's own cells (a copied test cell, say) are not student code.
    provided = {"".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                for cell in template}
    # Numbered by place among the notebook's code cells, as an instructor counts them.
    code = [(number, c.source)
            for number, c in enumerate((c for c in notebook.cells if c.cell_type == "code"), start=1)
            if not c.metadata.get("nbgrader", {}).get("locked") and c.source not in provided]
    aliases = {}
    for number, source in code:
        if progress:
            progress(number)
        try:
            aliases.update(_module_aliases(ast.parse(source)))
        except (SyntaxError, ValueError, RecursionError):
            pass
    found = []
    for number, source in code:
        if progress:
            progress(number)
        try:
            reasons = scan_code(source, aliases)
        except (ValueError, RecursionError) as error:  # ast.unparse of a 5,000-digit number, say
            reasons = [f"could not be scanned ({type(error).__name__})"]
        found += [f"code cell {number}: {reason[:200]}" for reason in reasons[:MAX_ADVISORIES]]
        if len(found) >= MAX_ADVISORIES:
            return found[:MAX_ADVISORIES]
    return found


# ---------------------------------------------------------------------------------------
# Bounded: what `course grade` runs
# ---------------------------------------------------------------------------------------
# Reading a notebook costs memory far beyond its size: json.loads of a list of 12 million
# floats takes 400 MB, and Python's parser about 475 MB per MB of a long list literal. So
# the notebook is read, repaired and scanned in a child process with limits of its own, and
# `course grade`, which holds the whole class, only ever holds each repaired notebook's bytes.

MEMORY = 1 << 30  # bytes of data the reading child may add to what it was forked with
SECONDS = 60  # of CPU time and of wall-clock time: a 50 MB notebook is read in a few


def read_submission(path, known=None, memory=MEMORY, seconds=SECONDS):
    """check_submission(path, known) in a child process under `memory` and `seconds`; the
    repaired notebook comes back as bytes (`text`), never as objects. A notebook that cannot
    be read and repaired within the limits is refused, naming them; one whose code cannot be
    scanned within them is graded, with an advisory naming the cell."""
    path = Path(path)
    if not bounded.available():
        checked = check_submission(path, known)
        checked.text = nbformat.writes(checked.notebook).encode() if checked.notebook is not None else b""
        checked.notebook = None
        return checked
    known = known if known is not None else source_metadata()
    template = release_cells()

    def work(send, out):
        try:
            checked = _repaired(path, known, template)
        except MemoryError:
            raise  # the child's limit: said as such
        except Exception as error:  # noqa: BLE001 - any bytes must give a status
            checked = Preflight(problem=f"invalid notebook: {path.name} cannot be read ({type(error).__name__})")
        if checked.notebook is None:
            send({"problem": checked.problem})
            return
        data = nbformat.writes(checked.notebook).encode()
        if len(data) > MAX_NOTEBOOK_BYTES:  # what is left, indented, grows with its nesting
            send({"problem": f"invalid notebook: {path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB once "
                             f"written as a notebook ({len(data) / 2**20:,.0f} MB: its metadata are nested deep)"})
            return
        while data:
            data = data[os.write(out, data):]
        send({"repairs": checked.repairs})
        send({"advisories": advisories(checked.notebook, template, lambda number: send({"scanning": number}))})

    with tempfile.TemporaryFile() as out:
        child = bounded.in_child(work, out.fileno(), memory=memory, seconds=seconds)
        said = {key: value for message in child.messages for key, value in message.items()}
        limit = child.limit(memory, seconds)
        if "problem" in said:
            return Preflight(problem=said["problem"])
        if "repairs" not in said:
            why = f"within the grader's limits ({limit})" if child.stopped in ("time", "memory") else f"({limit})"
            return Preflight(problem=f"invalid notebook: {path.name} could not be read and repaired {why}")
        out.seek(0)
        checked = Preflight(text=out.read(), repairs=said["repairs"], advisories=said.get("advisories", []))
    if "advisories" not in said:
        cell = f"code cell {said['scanning']}" if "scanning" in said else "the code"
        checked.advisories = [f"{cell} could not be scanned within the grader's limits ({limit}); "
                              "the judge reads it again under limits of its own"]
    return checked
