"""Hidden tests run where no later cell can read them back.

A cell's source, as the kernel receives it, stays in the kernel: in `In` and `_ih`, in the
history manager, in `linecache` (IPython registers every cell there for its tracebacks). A
later cell that prints any of them would put the hidden call, with the arguments drawn at
grading time and the nonce, into the student's feedback. So the code between nbgrader's
hidden-test markers is not sent as part of its cell: the cell's visible code goes as the
code to execute, and the hidden code as a user expression of the same request, which the
kernel evaluates with `eval` after the code has run without error (as the same cell would
have reached it), in the notebook's namespace, keeping no copy. What it displays is an
output of that cell as before, and so is the error it raises; the notebook file keeps the
cell's whole source.
"""

import re

from nbformat.v4 import new_output

BEGIN = "BEGIN HIDDEN TESTS"
_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END) HIDDEN TESTS\s*$")


def split_hidden(source):
    """(visible code, hidden code) of a cell's source; hidden is None when the cell has no
    complete hidden region (then the whole source runs as it is)."""
    visible, hidden, inside, found = [], [], False, False
    for line in source.splitlines():
        marker = _MARKER.match(line)
        if marker and marker[1] == "BEGIN" and not inside:
            inside = found = True
        elif marker and marker[1] == "END" and inside:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            visible.append(line)
    if not found or inside:
        return source, None
    return "\n".join(visible), "\n".join(hidden)


def hidden_expression(code):
    """An expression that runs `code` in the notebook's namespace; compiled under a name that
    IPython never registers, so that tracebacks and linecache hold none of it."""
    return f"exec(compile({code!r}, '<hidden test>', 'exec'), globals())"


class HiddenTestsOutOfHistory:
    """Mixed into an nbclient-based Execute: each cell's hidden region runs as a user
    expression of the cell's own execute request."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or BEGIN not in cell.source:
            return super().preprocess_cell(cell, resources, index)
        visible, hidden = split_hidden(cell.source)
        if hidden is None:
            return super().preprocess_cell(cell, resources, index)
        whole, client = cell.source, self.kc
        send = client.execute

        def execute(code, **options):
            expressions = dict(options.pop("user_expressions", None) or {}, hidden_test=hidden_expression(hidden))
            return send(code, user_expressions=expressions, **options)

        cell.source, client.execute = visible, execute
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = whole
            if client.execute is execute:
                del client.execute  # the class's own method again

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        # An error in the hidden code comes back in the reply, not as an output: show it
        # where the cell's own error would have been.
        found = ((exec_reply or {}).get("content", {}).get("user_expressions") or {}).get("hidden_test")
        if isinstance(found, dict) and found.get("status") == "error":
            cell.outputs.append(new_output("error", ename=str(found.get("ename", "Error")),
                                           evalue=str(found.get("evalue", ""))[:2000],
                                           traceback=[str(line)[:2000] for line in found.get("traceback", [])[:50]]))
        return await super()._check_raise_for_error(cell, cell_index, exec_reply)
