"""What a graded kernel sends back, bounded as it arrives, before the grader holds it.

nbgrader keeps every output of a notebook in memory and its LimitOutput counts lines, not
bytes, after the fact. Here (`BoundedOutputs`, mixed into SandboxedExecute) each cell keeps
at most `cell_output_bytes`, a notebook `notebook_output_bytes` in all, and the evidence of a
graded cell `evidence_bytes` of its own, with a note where output was cut; on IOPub zmq
refuses any one message over MAX_MESSAGE_BYTES unread (SandboxedKernelClient), and
IopubGuard connects again after such a refusal so that the notebook goes on.
"""

import asyncio
import collections
import contextlib

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_core.utils import ensure_event_loop
from nbformat.v4 import new_output
from zmq.utils.monitor import parse_monitor_message

from ..assignment import MIME

MB = 1_000_000

MAX_MESSAGE_BYTES = 128 * MB


class SandboxedKernelClient(AsyncKernelClient):
    """The grader's end of a sandboxed kernel's channels. On IOPub, where the kernel sends
    its outputs, zmq refuses any message part over MAX_MESSAGE_BYTES before reading it into
    memory (MAXMSGSIZE): a kernel cannot make the grader hold a gigabyte. zmq then drops the
    connection for good; IopubGuard makes it again."""

    def connect_iopub(self, identity=None):
        # MAXMSGSIZE counts only for connections made after it is set: set it as the
        # default of this client's own context for the one socket made here.
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        try:
            return super().connect_iopub(identity)
        finally:
            self.context.sockopts.pop(zmq.MAXMSGSIZE, None)


class IopubGuard:
    """Connects a client's IOPub socket again when zmq has dropped the connection (a message
    over MAX_MESSAGE_BYTES, or one it cannot read), and calls `on_refused` once the kernel
    has taken the new connection: the kernel lives on, and its output was refused. A kernel
    that died is not taken for one: nothing takes the new connection."""

    def __init__(self, client, on_refused):
        self.socket, self.url = client.iopub_channel.socket, client._make_url("iopub")
        self.monitor = self.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.task = ensure_event_loop().create_task(self._watch(on_refused))

    async def _watch(self, on_refused):
        again = False
        while True:
            event = parse_monitor_message(await self.monitor.recv_multipart())["event"]
            if self.socket.closed:  # the notebook is over
                return
            if event == zmq.EVENT_DISCONNECTED:
                with contextlib.suppress(zmq.ZMQError):
                    self.socket.disconnect(self.url)
                self.socket.connect(self.url)
                again = True
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED and again:
                again = False
                on_refused()

    def close(self):
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, zmq.ZMQError):
            ensure_event_loop().run_until_complete(self.task)
        with contextlib.suppress(zmq.ZMQError):
            self.socket.disable_monitor()
        self.monitor.close(linger=0)


#: the fields of each kind of output that hold what the kernel sent
OUTPUT_FIELDS = {"stream": ("text",), "display_data": ("data", "metadata"),
                 "execute_result": ("data", "metadata"), "error": ("ename", "evalue", "traceback")}
#: of an error that ends a cell, this much is kept past any budget: its name and message
#: tell the grader why the cell ended (a timeout, MemoryError), and one a cell costs little
ERROR_FLOOR = 2000


#: what the notebook file spends on each output besides its fields (its type, the keys)
OUTPUT_OVERHEAD = 100
#: and on each line of a text: nbformat writes text as a list of lines, one JSON string on
#: a line of its own each (a megabyte of newlines would take 13 MB of notebook)
LINE_OVERHEAD = 12


def _text_bytes(text, lines=True):
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return size + LINE_OVERHEAD * text.count("\n") if lines else size


def output_bytes(value, lines=True):
    """About the bytes `value` (an output's fields, as the kernel sent them) takes in the
    notebook file: its strings' UTF-8 (and their lines, unless `lines` is false: then what
    the kernel sent) and a little for each container. Without recursion: JSON from a kernel
    can nest as deep as the decoder allows."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += _text_bytes(item, lines) + 2
        elif isinstance(item, dict):
            total += 2
            for key, inner in item.items():
                stack += [key, inner]
        elif isinstance(item, (list, tuple)):
            total += 2
            stack += item
        else:
            total += 8
    return total


def _text(value):
    return value if isinstance(value, str) else ""


def _cut_text(text, room):
    """The start of `text` that takes at most `room` bytes (_text_bytes)."""
    piece = text[:max(room, 0)]  # a character takes at least a byte: this is never too short
    while piece and _text_bytes(piece) > room:  # characters of several bytes, or lines
        piece = piece[:len(piece) * room // _text_bytes(piece)]
    return piece


def _cut_error(content, room):
    """Its name, then as much of the message and of the end of the traceback (where the
    exception is named) as fits."""
    ename = _cut_text(_text(content.get("ename")), 200)
    evalue = _cut_text(_text(content.get("evalue")), room - len(ename))
    left, traceback = room - len(ename) - _text_bytes(evalue), []
    lines = content.get("traceback") if isinstance(content.get("traceback"), list) else []
    for line in reversed(lines):
        if left <= 0:
            break
        traceback.insert(0, _cut_text(_text(line), left))
        left -= _text_bytes(traceback[0]) + 2
    return {"ename": ename, "evalue": evalue, "traceback": traceback}


def _cut_data(content, room):
    """text/plain first, cut to fit; every other type (an image, JSON, HTML) whole or not at
    all, the smallest first: half an image or half a JSON document is of no use."""
    data = content.get("data") if isinstance(content.get("data"), dict) else {}
    sizes = {mime: output_bytes(value) for mime, value in data.items()}
    kept, left = {}, room
    for mime in sorted(data, key=lambda m: (m != "text/plain", sizes[m])):
        if sizes[mime] <= left:
            kept[mime], left = data[mime], left - sizes[mime]
        elif mime == "text/plain" and isinstance(data[mime], str) and _cut_text(data[mime], left):
            kept[mime] = _cut_text(data[mime], left)
            left -= _text_bytes(kept[mime])
    metadata = content.get("metadata")
    metadata = metadata if isinstance(metadata, dict) and output_bytes(metadata) <= left else {}
    return {"data": kept, "metadata": metadata}


def cut_output(output_type, content, room):
    """The fields of an output (`content`, as its message has them) cut to at most `room`
    bytes, or None when nothing of it is left worth keeping."""
    if output_type == "stream":
        text = _cut_text(_text(content.get("text")), room)
        return {"text": text} if text else None
    if output_type == "error":
        return _cut_error(content, room) if room > 0 else None
    cut = _cut_data(content, room)
    return cut if cut["data"] else None


def _lost(fields, cut):
    """Bytes of what the kernel sent that a cut left out, as the student would count them."""
    return output_bytes(fields, lines=False) - (output_bytes(list(cut.values()), lines=False) if cut else 0)


class _Ledger:
    """The bytes of output a notebook keeps, in all and per cell, and what was cut per cell."""

    def __init__(self):
        self.kept = 0
        self.cells = collections.Counter()  # cell index -> bytes kept, evidence aside
        self.evidence = collections.Counter()  # cell index -> bytes of evidence kept
        self.cut = {}  # cell index -> _Cut
        self.current = (None, None)  # (index, cell) of the cell running

    def forget(self, cell_index):
        """The cell's outputs were cleared: what they took is free again."""
        self.kept -= self.cells.pop(cell_index, 0)
        self.evidence.pop(cell_index, None)
        self.cut.pop(cell_index, None)


class _Cut:
    """What was cut from one cell: bytes, the limits that cut them, and the note saying so."""

    def __init__(self):
        self.size, self.limits, self.shown = 0, [], False
        self.note = new_output("display_data", data={"text/plain": ""})


class BoundedOutputs:
    """nbclient's hooks where kernel messages become outputs, keeping every notebook's
    outputs within bounds *as they arrive*, so that no more than the bounds is ever held
    (nbgrader's LimitOutput counts lines, after the notebook has run).

    Each cell keeps at most `cell_output_bytes` of output, a notebook `notebook_output_bytes`
    in all; what does not fit is left out (text cut where the room ends, other types whole)
    and a note at the end of the cell says how much. The evidence of a graded cell (its
    evidence_format.MIME output) has a budget of its own, `evidence_bytes` per graded cell,
    so that other cells' output cannot cost a student the points. Output widgets are not
    mimicked and widget state is not kept: they would hold outputs out of these bounds."""

    def reset_execution_trackers(self):
        super().reset_execution_trackers()
        self._ledger = _Ledger()

    def on_comm_open_jupyter_widget(self, msg):
        return None

    def process_message(self, msg, cell, cell_index):
        self._ledger.current = (cell_index, cell)
        return super().process_message(msg, cell, cell_index)

    def output(self, outs, msg, display_id, cell_index):
        content, kind = msg.get("content"), msg.get("msg_type")
        if kind not in OUTPUT_FIELDS or not isinstance(content, dict):
            return super().output(outs, msg, display_id, cell_index)  # not an output: nbclient logs it
        if self.clear_before_next_output:  # asked for by the kernel before this output
            outs[:] = []
            self.clear_display_id_mapping(cell_index)
            self.clear_before_next_output = False
            self._ledger.forget(cell_index)
        evidence = self._is_evidence(kind, content, cell_index)
        content, size = self._fit(kind, content, *self._room(cell_index, evidence), cell_index)
        out = None if content is None else super().output(outs, {**msg, "content": content}, display_id, cell_index)
        if out is not None:
            self._charge(cell_index, size, evidence)
        self._show_note(outs, cell_index)
        return out

    def clear_output(self, outs, msg, cell_index):
        if not (msg.get("content") or {}).get("wait"):
            self._ledger.forget(cell_index)
        super().clear_output(outs, msg, cell_index)

    def _update_display_id(self, display_id, msg):
        """An update replaces the data of earlier outputs, in any cell: it may grow them only
        within their cells' and the notebook's budgets."""
        targets, content = self._display_id_map.get(display_id), msg.get("content")
        if not targets or not isinstance(content, dict):
            return super()._update_display_id(display_id, msg)
        sent = [content.get("data"), content.get("metadata")]
        new = output_bytes(sent)
        growth = collections.Counter()
        for cell_index, indices in targets.items():
            outputs = self.nb.cells[cell_index].outputs
            for index in indices:
                if index < len(outputs):
                    growth[cell_index] += new - output_bytes([outputs[index].get("data"),
                                                              outputs[index].get("metadata")])
        ledger = self._ledger
        if any(ledger.cells[c] + g > self.cell_output_bytes for c, g in growth.items() if g > 0):
            return self._refuse_update(output_bytes(sent, lines=False), "cell")
        if ledger.kept + sum(growth.values()) > self.notebook_output_bytes:
            return self._refuse_update(output_bytes(sent, lines=False), "notebook")
        for cell_index, grown in growth.items():
            ledger.cells[cell_index] += grown
            ledger.kept += grown
        return super()._update_display_id(display_id, msg)

    def on_cell_executed(self, **kwargs):
        """nbgrader adds the error of the execute reply when no output named it (a timeout, or
        an error output that did not fit): it is bounded here, and always kept in part."""
        cell, cell_index = kwargs["cell"], kwargs["cell_index"]
        before = len(cell.outputs)
        super().on_cell_executed(**kwargs)
        for output in cell.outputs[before:]:
            kind = output.get("output_type")
            if kind not in OUTPUT_FIELDS:
                continue
            room, limit = self._room(cell_index, evidence=False)
            room = max(room, ERROR_FLOOR) if kind == "error" else room
            fitted, size = self._fit(kind, output, room, limit, cell_index)
            if fitted is None:
                cell.outputs.remove(output)
            elif fitted is not output:
                output.update(fitted)
            self._charge(cell_index, size, evidence=False)
            self._show_note(cell.outputs, cell_index)

    # -- the budgets ------------------------------------------------------------------

    def _fit(self, kind, content, room, limit, cell_index):
        """(`content`, an output's fields, cut to `room` when it takes more, or None when
        nothing of it is left; the bytes it takes). What is left out is counted on the cell,
        as not kept because of `limit`."""
        fields = [content.get(name) for name in OUTPUT_FIELDS[kind]]
        size = OUTPUT_OVERHEAD + output_bytes(fields)
        if size <= room:
            return content, size
        cut = cut_output(kind, content, room - OUTPUT_OVERHEAD)
        self._count_cut(cell_index, _lost(fields, cut), limit)
        if cut is None:
            return None, 0
        return {**content, **cut}, OUTPUT_OVERHEAD + output_bytes(list(cut.values()))

    def _is_evidence(self, kind, content, cell_index):
        data, cell = content.get("data"), self.nb.cells[cell_index]
        meta = cell.metadata.get("nbgrader") if isinstance(cell.metadata, dict) else None
        return (kind in ("display_data", "execute_result") and isinstance(data, dict) and MIME in data
                and isinstance(meta, dict) and meta.get("grade") is True)

    def _room(self, cell_index, evidence):
        """(bytes the next output of the cell may take, the limit that says so)."""
        ledger = self._ledger
        if evidence:
            return self.evidence_bytes - ledger.evidence[cell_index], "evidence"
        in_cell = self.cell_output_bytes - ledger.cells[cell_index]
        in_notebook = self.notebook_output_bytes - ledger.kept
        return (in_cell, "cell") if in_cell <= in_notebook else (in_notebook, "notebook")

    def _charge(self, cell_index, size, evidence):
        if evidence:
            self._ledger.evidence[cell_index] += size
        else:
            self._ledger.cells[cell_index] += size
            self._ledger.kept += size

    def _refuse_update(self, size, limit):
        cell_index, cell = self._ledger.current
        if cell is not None:
            self._count_cut(cell_index, size, limit)
            self._show_note(cell.outputs, cell_index)

    # -- the note that says what was cut ----------------------------------------------

    def _count_cut(self, cell_index, size, limit):
        """`size` bytes more of the cell not kept, because of `limit`: its note says how much
        in all."""
        cut = self._ledger.cut.setdefault(cell_index, _Cut())
        cut.size += size
        if limit not in cut.limits:
            cut.limits.append(limit)
        rules = {"cell": f"a cell keeps at most {self.cell_output_bytes / MB:g} MB",
                 "notebook": f"a notebook keeps at most {self.notebook_output_bytes / MB:g} MB in all",
                 "evidence": f"a graded cell's evidence may take at most {self.evidence_bytes / MB:g} MB",
                 "message": f"one output over {MAX_MESSAGE_BYTES / MB:g} MB is refused whole"}
        over = "over " if "message" in cut.limits else ""
        cut.note.data["text/plain"] = (f"[output cut by the grader: {over}{cut.size / MB:.1f} MB more of this cell's "
                                       f"output not kept; {'; '.join(rules[name] for name in cut.limits)}]")

    def _show_note(self, outs, cell_index):
        """The note goes where the first cut was, and stays there: moving it would move the
        outputs after it away from where their display ids point."""
        cut = self._ledger.cut.get(cell_index)
        if cut is not None and not cut.shown:
            outs.append(cut.note)
            cut.shown = True
