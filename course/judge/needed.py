"""What of a notebook the evidence kernel runs (evidence.py), read from its cells, never run.

Every cell a student could write (solution cells and cells of their own) runs whole, in the
notebook's order, as it runs when the student trains the network: what such a cell does to
the functions, their helpers or the modules they use (redefining them after their graded
cells, a setup function that fills a dictionary, a magic whose body defines them, a patched
Keras class) is what the evidence kernel records too. Of the instructor's cells (locked:
nbgrader's OverwriteCells restores them), only the statements that bind what those cells
need run, found statement by statement from the graded functions' names:

- a top-level statement that binds a needed name (`def`, `class`, `import`, an assignment,
  a `for` or `with` target, `del`) is needed, and so are the names it reads; so is one that
  binds names no reading can tell (`from module import *`, `%run file.py`, `%%writefile`);
- so is, in a student's cell, a statement that changes a needed name's object by that name
  (an attribute or item set, a method of an object that is not a module called, the object
  given to a call), and every statement before such a statement in its cell (they must run
  for it to run).

So no data is read, nothing is trained and no test runs there (the data and training cells
are the instructor's), and the kernel need not be told it is being graded. What a student's
cells do beyond that still runs, but cannot act while the recorder runs: the evidence run
undoes signal handlers, timers and trace functions, refuses audit hooks, and records nothing
while a thread of the notebook's runs or once the recorder was changed (unet_evidence.replay).
Where the notebook builds the network it trains (the assignment's TRAINING_CELL), the U-Net is
built once more with the student's own blocks (["assemble"]).
"""

import ast

from .tamper import _python, _root

#: a step of the evidence run: ["code", cell number, [[line, text], ...]] or ["record", grade_id]


def _targets(node):
    """Names bound and objects changed (their root names) by an assignment target."""
    if isinstance(node, ast.Name):
        return {node.id}, set()
    if isinstance(node, (ast.Tuple, ast.List)):
        bound, changed = set(), set()
        for element in node.elts:
            b, c = _targets(element)
            bound |= b
            changed |= c
        return bound, changed
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    if isinstance(node, (ast.Attribute, ast.Subscript)):
        root = _root(node)
        return set(), {root} if root else set()
    return set(), set()


def _object_root(node):
    """The name whose object `node` is a part of (attributes and items only), or None."""
    node = node.value
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class _Statement(ast.NodeVisitor):
    """What one top-level statement binds, changes and reads, as the notebook's namespace
    sees it (function and class bodies read names, but bind and change nothing until called)."""

    def __init__(self, node):
        self.binds, self.changes, self.reads, self.star = set(), set(), set(), False
        self.uses = set()  # objects whose methods it calls, or parts of which it gives to a call
        self.imports = set()  # names it binds to modules and what they export
        self.visit(node)
        for body in _magic_bodies(node):  # `%%time`, `%%capture`, `%time`: their code runs here
            for inner in body:
                self.visit(inner)

    def _bound(self, target):
        bound, changed = _targets(target)
        self.binds |= bound
        self.changes |= changed

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            self.reads.add(node.id)
        elif isinstance(node.ctx, ast.Del):
            self.binds.add(node.id)

    def _definition(self, node):
        self.binds.add(node.name)
        self.reads |= _free(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_Lambda(self, node):
        self.reads |= _free(node)

    def visit_Import(self, node):
        for alias in node.names:
            self.binds.add(alias.asname or alias.name.split(".")[0])
            self.imports.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node):
        for alias in node.names:
            if alias.name == "*":
                self.star = True
            else:
                self.binds.add(alias.asname or alias.name)
                self.imports.add(alias.asname or alias.name)

    def visit_Assign(self, node):
        for target in node.targets:
            self._bound(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._bound(node.target)
        self.generic_visit(node)

    visit_AnnAssign = visit_AugAssign

    def visit_NamedExpr(self, node):
        self._bound(node.target)
        self.generic_visit(node)

    def visit_For(self, node):
        self._bound(node.target)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_withitem(self, node):
        if node.optional_vars is not None:
            self._bound(node.optional_vars)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node):
        if node.name:
            self.binds.add(node.name)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._bound(target)
        self.generic_visit(node)

    def visit_Call(self, node):
        # `%run file.py` binds what the file defines, `%%writefile mod.py` makes a module to
        # import: neither can be read, so both run whenever anything is needed.
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("run_line_magic", "run_cell_magic") \
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in ("run", "writefile"):
            self.star = True
        # A method called on an object, or a part of it given to a call, may change it; a
        # module's functions (`np.zeros(...)`, `su.browse_frames(...)`) are called all the time
        # and change their module only when given the module itself (`setattr(tf, ...)`).
        root = _object_root(node.func) if isinstance(node.func, (ast.Attribute, ast.Subscript)) else None
        if root:  # a method of the object a name holds (not of what a call returns)
            self.uses.add(root)
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            value = argument.value if isinstance(argument, ast.Starred) else argument
            if isinstance(value, ast.Name):
                self.changes.add(value.id)
            elif isinstance(value, (ast.Attribute, ast.Subscript)) and _root(value):
                self.uses.add(_root(value))
        self.generic_visit(node)

    def visit_comprehension(self, node):
        self.generic_visit(node)  # its target is its own (Python 3), its walrus is not


def _free(node):
    """The names a function, lambda or class reads from the notebook's namespace: what its
    decorators, defaults and bases read, and what its body reads but does not bind itself."""
    outer, body = [], []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = node.args
        outer += [*getattr(node, "decorator_list", []), *arguments.defaults, *(d for d in arguments.kw_defaults if d)]
        outer += [a.annotation for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs] if a.annotation]
        body = node.body if isinstance(node.body, list) else [node.body]
        local = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                 arguments.vararg, arguments.kwarg] if a}
    else:  # a class: its body runs at once, its methods when called
        outer += [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        body, local = node.body, set()
    declared = set()
    for statement in body:
        for child in ast.walk(statement):
            if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                local.add(child.id)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                local |= {a.asname or a.name.split(".")[0] for a in child.names}
            elif isinstance(child, ast.Global):
                declared |= set(child.names)
    reads = set()
    for part in outer:
        reads |= {n.id for n in ast.walk(part) if isinstance(n, ast.Name)}
    for statement in body:
        reads |= {n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                  and (n.id not in local or n.id in declared)}
    return reads | declared


TIMING_MAGICS = {"run_cell_magic": ("time", "capture", "timeit"), "run_line_magic": ("time", "timeit")}


def _magic_bodies(node):
    """The statements of the code a timing or capturing magic runs (`%%time` on a cell), parsed."""
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in TIMING_MAGICS):
        return []
    args = node.value.args
    if not (args and isinstance(args[0], ast.Constant) and args[0].value in TIMING_MAGICS[node.value.func.attr]):
        return []
    code = args[-1] if node.value.func.attr == "run_cell_magic" else (args[1] if len(args) > 1 else None)
    if not (isinstance(code, ast.Constant) and isinstance(code.value, str)):
        return []
    try:
        return [ast.parse(_python(code.value)).body]
    except (SyntaxError, ValueError):
        return []


def _statements(cells):
    """(cell number, statement node, what it does, whether it may change objects) of every
    top-level statement of the code cells (cell number, source, written by a student)."""
    found = []
    for number, source, writable in cells:
        python = _python(source)
        try:
            tree = ast.parse(python)
        except (SyntaxError, ValueError):  # the kernel cannot run it either
            continue
        for node in tree.body:
            found.append((number, node, _Statement(node), writable, python))
    return found


def plan(cells, graded, functions, trained_at=None):
    """The steps of the evidence run (see evidence.py): `cells` (number, source, writable) in
    the notebook's order, `graded` {cell number: grade_id} where each graded cell's evidence is
    collected, `functions` the names the graded cells call, `trained_at` the number of the
    cell that builds the network the notebook trains (the U-Net with the student's own blocks
    is built there: ["assemble"]), if any."""
    statements = _statements([cell for cell in cells if cell[0] not in graded])
    end = max([*graded, trained_at if trained_at is not None else -1])
    statements = [s for s in statements if s[0] < end]
    imported = set().union(*(what.imports for _, _, what, _, _ in statements))
    needed = set(functions)
    # Every statement of a cell a student could write runs, as in the notebook. What else is
    # needed is read from the statements that matter to the functions (they bind or change a
    # needed name) and, in a student's cell, from the statements before them, which must run
    # for them to run. Of the instructor's cells, only the statements that bind what is needed.
    def matters(what, writable):
        return bool(what.binds & needed or what.star or (writable and _changes(what, imported) & needed))

    contributing, changed = set(), True
    while changed:
        changed = False
        last = {}
        for index, (number, _, what, writable, _) in enumerate(statements):
            if matters(what, writable):
                last[number] = index
        for index, (number, _, what, writable, _) in enumerate(statements):
            if index in contributing or index > last.get(number, -1) or not (writable or matters(what, writable)):
                continue
            contributing.add(index)
            grown = needed | what.reads | what.binds | (_changes(what, imported) if writable else set())
            needed, changed = grown, changed or grown != needed
    chosen = contributing | {index for index, statement in enumerate(statements) if statement[3]}
    steps = []
    by_cell = {}
    for index in sorted(chosen):
        number, node, _, _, python = statements[index]
        by_cell.setdefault(number, []).append((node, python))
    for number in sorted(set(by_cell) | set(graded) | ({trained_at} if trained_at is not None else set())):
        if number in by_cell:
            steps.append(["code", number, _placed(by_cell[number], statements, number)])
        if number in graded:
            steps.append(["record", graded[number]])
        if number == trained_at:
            steps.append(["assemble"])
    return steps


def _changes(what, imported):
    """The names whose objects a statement changes: attributes and items it sets, objects given
    to a call, and methods called on objects that are not modules."""
    return what.changes | (what.uses - imported)


def _placed(chosen, statements, number):
    """[[line, text]] of the chosen statements of one cell: each with its own lines of the
    cell, or rewritten (ast.unparse) where a line holds a statement that is not chosen too."""
    others = {line for cell, node, _, _, _ in statements if cell == number and all(node is not c for c, _ in chosen)
              for line in range(_first_line(node), (node.end_lineno or node.lineno) + 1)}
    placed, taken = [], 0
    for node, python in chosen:
        first, last = _first_line(node), node.end_lineno or node.lineno
        lines = python.splitlines()[first - 1:last]
        if others & set(range(first, last + 1)) or node.col_offset != 0:
            text = ast.unparse(node)
        else:
            text = "\n".join(lines)
        first = max(first, taken + 1)
        placed.append([first, text])
        taken = first + len(text.splitlines()) - 1
    return placed


def _first_line(node):
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])
