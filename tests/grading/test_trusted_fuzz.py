"""The whole grading path fuzzed, beyond preflight: submission folders of any names, kinds and
sizes through preflight, shipping, a worker's staging folder and the graded-file collection;
and any stream of kernel outputs through the bounds that nbgrader keeps. (The evidence and
the judge are fuzzed in test_judge_bounds.py.) Nothing may raise; every name in a reason
prints; what is kept stays within bounds."""

import os
import tempfile
from pathlib import Path

import nbformat
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from course.assignment import ASSIGNMENT, NOTEBOOK
from course.grading import batch_job, grader
from course.grading.preflight import source_metadata
from course.sandbox.execute import SandboxedExecute
from course.unet_segmentation.evidence_format import MIME
from course.unet_segmentation.examples import solved

from fuzzing import entry_place

KNOWN = source_metadata()
REFERENCE = nbformat.writes(solved((1, 2, 3)))

# --- submission folders ---------------------------------------------------------------------

NAME_BYTES = st.one_of(
    st.binary(min_size=1, max_size=12),
    st.sampled_from([b"notes\xff.txt", b"new\nline", b"tab\t", b"\x1b[31m", b"caf\xc3\xa9", b".ipynb_checkpoints",
                     b"x" * 255, b"y" * 200, Path(NOTEBOOK).name.encode(), b"-", b" "]),
)
ENTRY = st.tuples(st.lists(NAME_BYTES, min_size=1, max_size=6),
                  st.sampled_from(["file", "file", "dir", "link", "fifo", "deep"]),
                  st.integers(min_value=0, max_value=70_000))


def _make(top_fd, parts, kind, size):
    """Create one entry relative to the folder `top_fd`; the OS may refuse it (a name over 255
    bytes, say): then nothing is made, as nothing could be submitted."""
    fd, name = entry_place(top_fd, parts, deep=kind == "deep")
    if fd is None:
        return
    try:
        if kind == "dir":
            os.mkdir(name, dir_fd=fd)
        elif kind == "link":
            os.symlink(b"/etc/shadow", name, dir_fd=fd)
        elif kind == "fifo":
            os.mkfifo(name, dir_fd=fd)
        else:
            # O_NONBLOCK: a name drawn twice may already be a fifo, which would wait for a reader
            handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644, dir_fd=fd)
            os.write(handle, b"z" * size)
            os.close(handle)
    except OSError:
        pass
    finally:
        os.close(fd)


def _printable(reason):
    reason.encode("utf-8")  # raises on a name that is not text
    return "\n" not in reason and "\r" not in reason


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(ENTRY, max_size=12))
@example(entries=[([b"notes\xff.txt"], "file", 5), ([b"new\nline"], "file", 1), ([b"l"], "link", 0),
                  ([b"p"], "fifo", 0), ([b"a"], "deep", 3), ([b"y" * 200] * 6, "file", 1),
                  ([b"big"], "file", 70_000)])  # each kind the fuzz is for, whatever it draws
def test_any_submission_folder_is_shipped_and_staged_without_an_exception(entries):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "course"
        folder = root / "submitted" / "student" / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / NOTEBOOK).write_text(REFERENCE)
        top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for parts, kind, size in entries:
                _make(top, parts, kind, size)
        finally:
            os.close(top)
        settings_ = grader.Settings(root=root)
        before = grader.digest_tree(root / "submitted")
        checked, refused = grader._preflight(settings_, "student", KNOWN)
        if refused:  # the notebook itself replaced by a folder or a link, say
            assert _printable(refused.reason)
            return
        payload = grader._payload(settings_, "student", checked)
        grader._digest("grading", {}, payload)
        assert all(_printable(repair) for repair in checked.repairs), checked.repairs
        # a worker stages it under a long folder of its own, and collects what it finds there
        staging = Path(scratch) / ("w" * 180) / "task" / "together"
        target = staging / "submitted" / "student" / ASSIGNMENT
        for relative, data in payload["files"].items():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_bytes(data)
        files, _ = batch_job.files_of(target)
        assert set(files) == set(payload["files"])
        assert grader.digest_tree(root / "submitted") == before  # nothing submitted changed


# --- kernel outputs ----------------------------------------------------------------------------

CELL, NOTEBOOK_BYTES, EVIDENCE = 20_000, 60_000, 30_000


MESSAGE = st.tuples(
    st.sampled_from(["stdout", "stderr", "display", "image", "json", "evidence", "error", "clear", "clear_wait",
                     "update", "result"]),
    st.integers(min_value=0, max_value=150_000),
    st.integers(min_value=0, max_value=3),  # the cell it arrives in
)


def _message(kind, size, count):
    text = "x" * size if count % 2 else ("ab\n" * (size // 3 + 1))[:size]
    if kind in ("stdout", "stderr"):
        return "stream", {"name": kind, "text": text}
    if kind == "display":
        return "display_data", {"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": "d"}}
    if kind == "image":
        return "display_data", {"data": {"image/png": "iVBORw0KGgo" + "A" * size}, "metadata": {}}
    if kind == "json":
        return "display_data", {"data": {"application/json": {"k": [text[:1000]] * (size // 1000 + 1)}},
                                "metadata": {}}
    if kind == "evidence":
        return "display_data", {"data": {MIME: {"function": "conv_block", "nonce": "n", "blob": text}},
                                "metadata": {}}
    if kind == "error":
        return "error", {"ename": "ValueError", "evalue": text, "traceback": [text[:5000]] * (size // 5000 + 1)}
    if kind in ("clear", "clear_wait"):
        return "clear_output", {"wait": kind == "clear_wait"}
    if kind == "update":
        return "update_display_data", {"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": "d"}}
    return "execute_result", {"data": {"text/plain": text}, "metadata": {}, "execution_count": count}


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(MESSAGE, max_size=40))
def test_any_stream_of_outputs_stays_within_bounds(messages):
    cells = [nbformat.v4.new_code_cell("pass") for _ in range(4)]
    cells[3].metadata["nbgrader"] = {"grade": True, "grade_id": "grade_conv_block_defaults", "points": 4}
    notebook = nbformat.v4.new_notebook(cells=cells)
    client = SandboxedExecute(cell_output_bytes=CELL, notebook_output_bytes=NOTEBOOK_BYTES, evidence_bytes=EVIDENCE)
    client.nb = notebook
    client.reset_execution_trackers()
    client.clear_before_next_output = False  # what nbclient sets as each cell starts
    for count, (kind, size, index) in enumerate(messages):
        msg_type, content = _message(kind, size, count)
        message = {"header": {"msg_type": msg_type}, "msg_type": msg_type, "content": content,
                   "parent_header": {}, "metadata": {}}
        client.process_message(message, cells[index], index)
    nbformat.validate(notebook)
    # what nbgrader would write: within the bounds, with room for the notes and the evidence
    for index, cell in enumerate(cells):
        shown = len(nbformat.writes(nbformat.v4.new_notebook(cells=[cell])))
        allowed = CELL + (EVIDENCE if index == 3 else 0) + 2_000
        assert shown <= allowed, (index, shown, allowed)
    assert len(nbformat.writes(notebook)) <= NOTEBOOK_BYTES + EVIDENCE + 8_000
