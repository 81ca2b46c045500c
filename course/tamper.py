"""Code that reaches into the grading machinery, found by reading the notebook's cells.

Points come from evidence of computation, and the recorder comes fresh with each hidden
call (judge.HIDDEN_CALL), so replacing it earns nothing. Code in a kernel can still reach
the process's machinery (the modules it has loaded, its frames, the garbage collector, the
kernel's shell) and with it the recorder while it runs. Short of a second kernel, that
cannot be prevented from inside; it can be seen from outside. Every cell a student could
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
"""

import ast

MACHINERY = {"builtins", "gc", "inspect", "ctypes", "importlib", "unet_evidence", "runpy", "code", "codeop",
             "types", "sysconfig", "site", "imp"}
NAMES = {"exec", "eval", "compile", "__import__", "globals", "vars", "setattr", "delattr", "get_ipython",
         "__builtins__", "breakpoint"}
ATTRIBUTES = {"modules", "_getframe", "settrace", "setprofile", "addaudithook", "meta_path", "path_hooks",
              "path_importer_cache", "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "gi_frame",
              "tb_frame", "cr_frame", "ag_frame", "__code__", "__globals__", "__closure__", "__builtins__",
              "__dict__", "__subclasses__", "__bases__", "__base__", "__mro__", "__import__", "__loader__",
              "__spec__", "__defaults__", "__kwdefaults__", "display_pub", "displayhook", "excepthook",
              "input_transformers_cleanup", "input_transformers_post", "ast_transformers", "user_ns",
              "user_global_ns", "history_manager"}
LINE_MAGICS = {"time", "timeit", "matplotlib", "who", "whos", "pwd", "ls", "pip", "conda", "history", "capture"}
CELL_MAGICS = {"time", "timeit", "capture"}  # their bodies are read too
SHELL = {"run_line_magic", "run_cell_magic", "system", "getoutput"}  # what IPython turns magics into
SETTINGS = {"rcParams", "options", "environ"}  # what notebooks set on imported modules: display settings
MAX_FINDINGS = 5  # per notebook: enough for the note


def _python(source):
    """The cell as the kernel runs it: IPython's magics turned into Python, as IPython does."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # no IPython here, or a cell it cannot transform: read it as it is
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


def imported_names(sources):
    """Names that import statements bind, in all of `sources`: modules and what comes from them."""
    names = set()
    for source in sources:
        try:
            tree = ast.parse(_python(source))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


class _Reader(ast.NodeVisitor):
    def __init__(self, imported):
        self.imported, self.found = imported, []

    def note(self, what):
        if what not in self.found:
            self.found.append(what)

    def visit_Import(self, node):
        for alias in node.names:
            self._module(alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._module(module)
        for alias in node.names:
            if alias.name in ATTRIBUTES or alias.name in NAMES:
                self.note(f"imports {alias.name} from {module}")
        self.generic_visit(node)

    def _module(self, module):
        top = module.split(".")[0]
        if top in MACHINERY or (top == "IPython" and module != "IPython.display"):
            self.note(f"imports {module}")

    def visit_Compare(self, node):
        # `'name' in globals()` only asks whether a name is defined (a cache, say)
        asks = (len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)) and isinstance(node.left, ast.Constant)
                and isinstance(node.comparators[0], ast.Call) and isinstance(node.comparators[0].func, ast.Name)
                and node.comparators[0].func.id in ("globals", "vars") and not node.comparators[0].args)
        if not asks:
            self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in NAMES:
            self.note(f"uses {node.id}")

    def visit_Attribute(self, node):
        if node.attr in ATTRIBUTES:
            self.note(f"uses {_shown(node)}")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and (node.value in ATTRIBUTES or "unet_evidence" in node.value):
            self.note(f"names {node.value[:40]!r}")

    def visit_Call(self, node):
        function = node.func
        if isinstance(function, ast.Name) and function.id == "getattr" and len(node.args) >= 2 \
                and not isinstance(node.args[1], ast.Constant):
            self.note("uses getattr with a name computed as it runs")
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
        name = args[0].value if args and isinstance(args[0], ast.Constant) else None
        if kind in ("system", "getoutput"):
            return  # a shell command: the sandbox bounds it, and no file can change the recorder
        known = LINE_MAGICS if kind == "run_line_magic" else CELL_MAGICS
        name = str(name).lstrip("%")  # a cell magic below a cell's first line arrives as '%time'
        if name not in known:
            self.note(f"runs the magic %{'%' if kind == 'run_cell_magic' else ''}{name}")
        elif kind == "run_cell_magic" and len(args) > 2 and isinstance(args[2], ast.Constant):
            self.found += [f for f in read(args[2].value, self.imported) if f not in self.found]

    def _changed(self, target):
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._changed(element)
        elif isinstance(target, ast.Attribute) and _root(target) in self.imported:
            if not SETTINGS & set((_dotted(target) or "").split(".")):
                self.note(f"changes {_shown(target)}")

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


def read(source, imported=frozenset()):
    """What the cell's code does that no exercise needs, as short phrases; `imported`: names
    the notebook's imports bind (changing their attributes counts)."""
    try:
        tree = ast.parse(_python(source))
    except (SyntaxError, ValueError, RecursionError):
        return []  # a cell that does not parse fails when it runs: nothing of it runs
    reader = _Reader(set(imported))
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


def findings(nb):
    """["cell N (conv_block): uses sys.modules", …]: what the student's cells do that reaches
    into the grading machinery, at most MAX_FINDINGS."""
    imported = imported_names(cell.source for cell in nb.cells if cell.cell_type == "code")
    found = []
    for number, cell in student_cells(nb):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        label = f"cell {number}" + (f" ({grade_id})" if grade_id else "")
        found += [f"{label}: {what}" for what in read(cell.source, imported)]
        if len(found) >= MAX_FINDINGS:
            return found[:MAX_FINDINGS]
    return found
