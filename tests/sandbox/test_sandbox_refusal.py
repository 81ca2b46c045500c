"""Without bubblewrap, grading refuses to run student code, unless the instructor says so."""

import nbformat
import pytest

from course.__main__ import main
from course.grading import grader
from course.sandbox import execute as sandbox


@pytest.fixture
def no_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, *args, **kwargs: None)


def test_namespaces_that_cannot_be_made_are_refused_loudly(monkeypatch):
    monkeypatch.setattr(sandbox, "_PROBE", [])
    failed = sandbox.subprocess.CompletedProcess([], 1, "", "bwrap: No permissions to create new namespace")
    monkeypatch.setattr(sandbox.subprocess, "run", lambda *args, **kwargs: failed)
    assert "cannot create namespaces here (bwrap: No permissions" in sandbox.sandbox_problem()
    with pytest.raises(sandbox.SandboxUnavailable, match="cannot create namespaces"):
        sandbox.SandboxedExecute().preprocess(nbformat.v4.new_notebook(), {})


def test_the_sandbox_works_here():
    """The machines this course runs on (and CI) can sandbox: grading must not refuse there."""
    assert sandbox.sandbox_problem() == ""


def test_course_grade_refuses_loudly_without_bubblewrap(no_bwrap, tmp_path, capsys):
    assert main(["grade", "unet_segmentation", "--db", f"sqlite:///{tmp_path / 'gradebook.db'}"]) == 2
    assert "bubblewrap (bwrap) is not installed" in capsys.readouterr().err
    assert not grader.sandbox_refusal(grader.Settings(root=tmp_path, sandbox=False))


def test_plain_nbgrader_refuses_too_unless_allowed(no_bwrap):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    with pytest.raises(sandbox.SandboxUnavailable, match="allow_unsandboxed=True"):
        sandbox.SandboxedExecute().preprocess(notebook, {})


def test_the_launcher_drops_everything_it_does_not_need():
    from course.sandbox.launcher import bwrap_argv

    argv = bwrap_argv(sandbox.Path("/tmp/unet-kernel-x"), 2**20, {"HOME": "/home/student"}, ["python"])
    joined = " ".join(argv)
    for option in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "--new-session",
                   "--clearenv"):
        assert option in argv
    bound = {argv[i + 1] for i, arg in enumerate(argv) if arg in ("--bind", "--ro-bind")}
    for secret in ("/", "/root", "/etc", "/home", str(sandbox.Path(sandbox.__file__).parents[2])):
        assert secret not in bound, secret  # only the Python environment and the kernel's own files
    # Every bind comes after the tmpfs mounts that could hide it (a course folder under /tmp).
    last_tmpfs = max(i for i, arg in enumerate(argv) if arg == "--tmpfs")
    first_bind = min(i for i, arg in enumerate(argv) if arg in ("--bind", "--ro-bind") and argv[i + 1] != "/usr")
    assert last_tmpfs < first_bind
    if sandbox.is_root():
        assert "--reuid=65534" in joined and "--no-new-privs" in joined


def test_socket_paths_stay_short_under_a_long_temporary_folder(monkeypatch, tmp_path):
    """A Unix socket path has at most 107 bytes: kernels of a course deep in the file system
    (pytest's folders, say) must still get short ones."""
    deep = tmp_path / ("a-long-folder-name-" * 6)
    monkeypatch.setenv("UNET_SANDBOX_DIR", str(deep))
    assert sandbox._sandbox_base() == "/tmp"
    monkeypatch.setenv("UNET_SANDBOX_DIR", "/tmp/unet-batch-x")
    assert sandbox._sandbox_base() == "/tmp/unet-batch-x"
