"""Code that reaches into the grading machinery, found by reading the notebook's cells.

Points come from evidence of computation, collected in a kernel of its own where only the
code the graded functions need runs (evidence.py), so a cell of the student's own that
replaces the recorder earns nothing. The graded functions themselves still run there, and
Python code can reach the process's machinery (the modules it has loaded, its frames, the
garbage collector, the kernel's shell) and with it the recorder while it runs: that cannot
be prevented from inside; it can be seen from outside. This is the second line. Every cell a student could
have written (solution cells and cells of their own; locked cells hold the instructor's
source after nbgrader's OverwriteCells) is parsed here, never run, and what no exercise
needs is named: the notebook's graded cells then go to a person (manual grading, see
manual_grading.py) with those findings as the note.

What counts, each in the student's terms:
- imports of the interpreter's machinery (builtins, gc, inspect, ctypes, importlib, IPython
  beyond IPython.display) and of the recorder itself (unet_evidence);
- names that run code made of text or reach any namespace (exec, eval, compile, __import__,
  globals, vars, setattr, delattr, get_ipython) and attributes that lead to the loaded
  modules, frames, code objects or the shell's hooks (sys.modules, f_globals, __code__, …);
- getattr with a name computed at run time, and text that names one of those attributes;
- changes to an attribute of an imported module or class (`tf.keras.layers.Conv2D.call = …`;
  display settings such as `plt.rcParams[...]` and `os.environ[...]` are not);
- magics other than the everyday ones (%time, %timeit, %matplotlib, %%capture, …).

The submission's own Python files are read the same way (`module_files`): the evidence kernel
imports one when the graded functions need it, and its code then runs there.

Reading is bounded (`bounded_findings`): a cell over MAX_CELL_CHARS is not read, and the whole
notebook is read in a child under limits of memory and CPU time (Python's parser needs about
475 MB per MB of a long list literal; IPython re-tokenizes a whole cell once per magic line).
What cannot be read within them is itself a finding, naming the cell: a person reads it.
"""

import ast
import stat

from .. import bounded

MACHINERY = {"builtins", "gc", "ctypes", "importlib", "unet_evidence", "runpy", "code", "codeop", "sysconfig",
             "site", "imp"}
IPYTHON = {"IPython", "IPython.display", "IPython.core.display"}  # display helpers: fine
NAMES = {"exec", "eval", "compile", "__import__", "globals", "vars", "setattr", "delattr", "get_ipython",
         "__builtins__", "breakpoint"}
ATTRIBUTES = {"modules", "_getframe", "_current_frames", "settrace", "setprofile", "addaudithook", "monitoring",
              "meta_path", "path_hooks", "path_importer_cache", "f_back", "f_globals", "f_locals", "f_builtins",
              "f_code", "gi_frame", "tb_frame", "cr_frame", "ag_frame", "walk_stack", "extract_stack",
              "format_stack", "currentframe", "__code__", "__globals__", "__closure__", "__builtins__",
              "__subclasses__", "__bases__", "__base__", "__mro__", "__import__", "__loader__", "__spec__",
              "__defaults__", "__kwdefaults__", "__setattr__", "__getattribute__", "__delattr__", "attrgetter",
              "methodcaller", "get_ipython", "InteractiveShell", "display_pub", "displayhook", "excepthook",
              "input_transformers_cleanup", "input_transformers_post", "ast_transformers", "user_ns",
              "user_global_ns", "history_manager"}
INSPECT = {"signature", "getsource", "getdoc", "Parameter", "Signature", "isclass", "isfunction", "getfullargspec"}
GRADING = ("GRADING", "NBGRADER")  # what tells code it is being graded: no exercise's function needs it
LINE_MAGICS = {"time", "timeit", "matplotlib", "who", "whos", "who_ls", "pwd", "ls", "cd", "env", "pip", "conda",
               "history", "capture", "pinfo", "pinfo2", "psearch", "precision", "debug", "reset", "prun",
               "lsmagic", "magic", "autoreload"}
ARGUMENT_MAGICS = {"config": "InlineBackend", "load_ext": "autoreload"}  # allowed with these arguments only
CELL_MAGICS = {"time", "timeit", "capture", "prun", "bash", "sh", "writefile", "html", "markdown", "latex", "svg",
               "javascript"}  # the bodies of the first three are read as code too
SHELL = {"run_line_magic", "run_cell_magic", "system", "getoutput"}  # what IPython turns magics into
CLASS_OF = ("type", "getattr", "vars")  # calls that return a class or a namespace to change
SETTINGS = {"rcParams", "options", "environ"}  # what notebooks set on imported modules: display settings
MAX_FINDINGS = 5  # per notebook: enough for the note
# Characters of one cell the reader reads: a hundred times a long solution cell. IPython's
# transformer costs (magic lines) x (the cell's length): 200 magic lines in 3 kB take 2 s.
MAX_CELL_CHARS = 100_000


def _python(source):
    """The cell as the kernel runs it: IPython's magics turned into Python, as IPython does."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except (RecursionError, MemoryError):
        raise  # limits of this process, not of the kernel's: read() names the cell
    except Exception:  # no IPython here, or a cell it cannot transform (nor can the kernel)
        return source


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _shown(node, limit=60):
    """The code of `node` as a note quotes it."""
    try:
        text = ast.unparse(node)
    except (ValueError, RecursionError):
        return "…"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _aliases(tree):
    """{name: module} of the modules an import statement binds in `tree`."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
    return found


def imported_names(sources, known=(), progress=None):
    """Names that reach an imported module or what comes from one, in all of `sources`: what
    import statements bind, and names given such a value (`L = tf.keras.layers`); `known`:
    such names from elsewhere; `progress(i)` is told before the i-th source is parsed."""
    trees = []
    for index, source in enumerate(sources):
        if progress:
            progress(index)
        if len(source) > MAX_CELL_CHARS:
            continue  # not read: findings() names it
        try:
            trees.append(ast.parse(_python(source)))
        except (SyntaxError, ValueError, RecursionError):
            continue
    names = set(known)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    for _ in range(3):  # aliases of aliases
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and _root(node.value) in names:
                    names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _bare_call(node, names):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names and not node.args


class _Reader(ast.NodeVisitor):
    def __init__(self, imported, solution, modules):
        self.imported, self.solution, self.modules, self.found = imported, solution, modules, []

    def note(self, what):
        if what not in self.found:
            self.found.append(what)

    def visit_Import(self, node):
        for alias in node.names:
            self._module(alias.name)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._module(module)
        for alias in node.names:
            if alias.name in ATTRIBUTES or alias.name in NAMES or (module == "inspect" and alias.name not in INSPECT):
                self.note(f"imports {alias.name} from {module}")

    def _module(self, module):
        top = module.split(".")[0]
        if top in MACHINERY or (top == "IPython" and module not in IPYTHON):
            self.note(f"imports {module}")

    def visit_Compare(self, node):
        # `'name' in globals()` only asks whether a name is defined (a cache, say)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)) \
                and _bare_call(node.comparators[0], ("globals", "vars")):
            self.visit(node.left)
        else:
            self.generic_visit(node)

    def visit_Subscript(self, node):
        if _bare_call(node.value, ("globals", "vars")) and isinstance(node.slice, ast.Constant):
            self.visit(node.slice)  # globals()['x']: one name of the notebook's
        else:
            self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in NAMES:
            self.note(f"uses {node.id}")
        elif node.id == "getattr":
            self.note("uses getattr other than to call it")
        elif self.solution and node.id in GRADING:
            self.note(f"asks whether it is being graded ({node.id})")

    def visit_Attribute(self, node):
        value = node.value
        if node.attr in ATTRIBUTES:
            self.note(f"uses {_shown(node)}")
        elif node.attr == "__dict__" and _root(value) in self.imported:
            self.note(f"uses {_shown(node)}")
        elif isinstance(value, ast.Name) and self.modules.get(value.id) == "inspect" and node.attr not in INSPECT:
            self.note(f"uses {_shown(node)}")
        elif self.solution and node.attr in GRADING:
            self.note(f"asks whether it is being graded ({_shown(node)})")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            if node.value in ATTRIBUTES or "unet_evidence" in node.value:
                self.note(f"names {node.value[:40]!r}")
            elif self.solution and any(word in node.value for word in GRADING):
                self.note(f"asks whether it is being graded ({node.value[:40]!r})")

    def visit_Call(self, node):
        function = node.func
        if isinstance(function, ast.Name) and function.id == "getattr":
            if len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant) and _root(node.args[0]) in self.imported:
                self.note("uses getattr with a name computed as it runs")
            for argument in node.args + [k.value for k in node.keywords]:
                self.visit(argument)
            return
        if isinstance(function, ast.Name) and function.id == "vars" and node.args \
                and _root(node.args[0]) not in self.imported:
            for argument in node.args:  # vars(layer): an object's own settings
                self.visit(argument)
            return
        if isinstance(function, ast.Attribute) and function.attr == "get" and _bare_call(function.value, ("globals",)) \
                and node.args and isinstance(node.args[0], ast.Constant):
            for argument in node.args:  # globals().get('x')
                self.visit(argument)
            return
        shell = (isinstance(function, ast.Attribute) and function.attr in SHELL
                 and isinstance(function.value, ast.Call) and isinstance(function.value.func, ast.Name)
                 and function.value.func.id == "get_ipython")
        if shell:  # a magic, as IPython wrote it: judged by its name, its body read as code
            self._magic(function.attr, node.args)
            for argument in node.args[2:]:
                self.visit(argument)
            return
        self.generic_visit(node)

    def _magic(self, kind, args):
        if kind in ("system", "getoutput"):
            return  # a shell command: the sandbox bounds it, and no file can change the recorder
        name = args[0].value if args and isinstance(args[0], ast.Constant) else None
        line = args[1].value if len(args) > 1 and isinstance(args[1], ast.Constant) else ""
        name = str(name).lstrip("%")  # a cell magic below a cell's first line arrives as '%time'
        known = LINE_MAGICS if kind == "run_line_magic" else CELL_MAGICS
        allowed = name in known or (kind == "run_line_magic" and name in ARGUMENT_MAGICS
                                    and str(line).strip().startswith(ARGUMENT_MAGICS[name]))
        if not allowed:
            self.note(f"runs the magic %{'%' if kind == 'run_cell_magic' else ''}{name}")
        elif kind == "run_cell_magic" and name in ("time", "timeit", "capture") and len(args) > 2 \
                and isinstance(args[2], ast.Constant):
            self.found += [f for f in read(args[2].value, self.imported, self.solution) if f not in self.found]

    def _changed(self, target):
        if isinstance(target, (ast.Tuple, ast.List, ast.Starred)):
            for element in (target.elts if not isinstance(target, ast.Starred) else [target.value]):
                self._changed(element)
        elif isinstance(target, ast.Attribute):
            call = self._first_call(target)
            of_a_class = call is not None and isinstance(call.func, ast.Name) and call.func.id in CLASS_OF
            # `tf.get_logger().disabled = True` sets an attribute of what a function returned
            if (of_a_class or (_root(target) in self.imported and call is None)) \
                    and not SETTINGS & set((_dotted(target) or "").split(".")):
                self.note(f"changes {_shown(target)}")

    @staticmethod
    def _first_call(target):
        """The call nearest to `target` on its way down to a name, or None."""
        node = target.value
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return node if isinstance(node, ast.Call) else None

    def visit_Assign(self, node):
        for target in node.targets:
            self._changed(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._changed(node.target)
        self.generic_visit(node)

    visit_AnnAssign = visit_AugAssign

    def visit_Delete(self, node):
        for target in node.targets:
            self._changed(target)
        self.generic_visit(node)

    def visit_For(self, node):
        self._changed(node.target)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_comprehension(self, node):
        self._changed(node.target)
        self.generic_visit(node)

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None:
                self._changed(item.optional_vars)
        self.generic_visit(node)

    visit_AsyncWith = visit_With


def read(source, imported=frozenset(), solution=False):
    """What the cell's code does that no exercise needs, as short phrases; `imported`: names
    that reach imported modules (changing their attributes counts); `solution`: the cell is
    an exercise's, whose function has no reason to ask whether it is being graded."""
    try:
        tree = ast.parse(_python(source))
    except (SyntaxError, ValueError):
        return []  # a cell that does not parse fails when it runs: nothing of it runs
    except RecursionError:  # the kernel's recursion limit may be higher (sys.setrecursionlimit)
        return ["nests its code too deeply to be read"]
    reader = _Reader(set(imported), solution, _aliases(tree))
    try:
        reader.visit(tree)
    except RecursionError:
        return ["nests its code too deeply to be read"]
    return reader.found


def student_cells(nb):
    """(number, cell) of each code cell a student could have written."""
    for number, cell in enumerate(nb.cells, start=1):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or not (meta.get("locked") or meta.get("grade"))):
            yield number, cell


def _plain_text(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _instructors(nb):
    """The code of the notebook's locked and graded cells, without their hidden tests: a
    student's cell that is a copy of one (a graded cell copied, then made ordinary by the
    repair) is the instructor's code."""
    from ..sandbox.hidden_calls import split_hidden

    found = set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("locked") or meta.get("grade")) and not meta.get("solution"):
            found.update({_plain_text(cell.source), _plain_text(split_hidden(cell.source)[0])})
    return found


def _label(number, cell):
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return f"cell {number}" + (f" ({grade_id})" if grade_id else "")


def _size(source):
    lines = source.count("\n") + 1
    return f"{len(source.encode('utf-8', 'replace')) / 1000:,.0f} kB in {lines:,} line{'s' * (lines != 1)}"


MAX_FILES = 20  # Python files of a submission read beside its cells


def module_files(folder, *shipped_in):
    """[(name, text)] of the submission's own Python files in `folder` (at its top and one
    level down, regular files only, never followed links), leaving out the course's own
    files as they are in any of the folders `shipped_in` (the assignment's source and
    release): code the evidence kernel may import, which a student could write. A file too
    large to read, or not text, comes with None in place of its text."""
    import os
    from pathlib import Path

    found = []
    for path in sorted(Path(folder).glob("*.py")) + sorted(Path(folder).glob("*/*.py")):
        if len(found) >= MAX_FILES:
            break
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue
            name = str(path.relative_to(folder))
            if info.st_size > MAX_CELL_CHARS:
                found.append((name, None))
                continue
            data = path.read_bytes()
            if any(_same_file(Path(origin) / name, data) for origin in shipped_in):
                continue
            found.append((name, data.decode("utf-8")))
        except (OSError, UnicodeDecodeError):
            found.append((str(path.name), None))
    return found


def _same_file(path, data):
    try:
        return path.is_file() and not path.is_symlink() and path.read_bytes() == data
    except OSError:
        return False


def findings(nb, progress=None, files=()):
    """["cell N (conv_block): uses sys.modules", …]: what the student's cells do that reaches
    into the grading machinery, at most MAX_FINDINGS; `progress(number)` is told the number of
    each cell before it is read."""
    code = [(number, cell) for number, cell in enumerate(nb.cells, start=1) if cell.cell_type == "code"]
    imported = imported_names([cell.source for _, cell in code],
                              progress=progress and (lambda index: progress(code[index][0])))
    instructors = _instructors(nb)
    found = []
    for number, cell in student_cells(nb):
        if _plain_text(cell.source) in instructors:
            continue
        if progress:
            progress(number)
        solution = bool(cell.metadata.get("nbgrader", {}).get("solution"))
        if len(cell.source) > MAX_CELL_CHARS:
            found.append(f"{_label(number, cell)}: is too large to be read by the grader ({_size(cell.source)}; "
                         f"it reads up to {MAX_CELL_CHARS // 1000} kB of a cell)")
        else:
            found += [f"{_label(number, cell)}: {what}" for what in read(cell.source, imported, solution)]
        if len(found) >= MAX_FINDINGS:
            return found[:MAX_FINDINGS]
    if progress and files:
        progress(len(nb.cells) + 1)
    for name, text in files:  # the submission's own modules: what the evidence kernel may import
        if text is None:
            found.append(f"file {name}: could not be read by the grader (too large or not text)")
        else:
            found += [f"file {name}: {what}" for what in read(text, imported, solution=True)]
        if len(found) >= MAX_FINDINGS:
            return found[:MAX_FINDINGS]
    return found


UNREAD = ("could not be read by the grader", "is too large to be read by the grader", "too deeply to be read")


def unread(finding):
    """Whether `finding` says that code could not be read (rather than what it does)."""
    return any(words in finding for words in UNREAD)


def bounded_findings(nb, memory, seconds, files=()):
    """findings(nb, files=files), read in a child process with `memory` bytes and `seconds` of
    CPU and wall-clock time: a notebook whose code cannot be read within them has that as its
    finding, naming the cell being read and why. Read in this process where no child can be had."""
    def work(send, notebook):
        send({"found": findings(notebook, progress=lambda number: send({"reading": number}), files=files)})

    _python("")  # IPython's transformer imported here, once, not in every child (0.1 s each)
    try:
        child = bounded.in_child(work, nb, memory=memory, seconds=seconds)
    except OSError:
        return findings(nb, files=files)
    if child.finished:
        return child.messages[-1]["found"]
    reading = [m["reading"] for m in child.messages if "reading" in m]
    limit = child.limit(memory, seconds)
    if child.stopped == "error" or not reading:
        return [f"the notebook's code could not be read by the grader ({child.why})"]
    number = reading[-1]
    if number > len(nb.cells):
        return [f"the notebook's Python files could not be read by the grader within its limit of {limit}"]
    cell = nb.cells[number - 1]
    return [f"{_label(number, cell)}: could not be read by the grader within its limit of {limit} (the cell has "
            f"{_size(cell.source)})"]
