"""Property-based fuzzing of the inbound copy (course/exchange/inbound.py), in this process:
submission folders of links (absolute and relative, to files and folders outside and inside,
dangling, in loops), pipes, hard links, sparse files of any apparent size, odd names (newlines,
bytes that are not UTF-8), deep nesting, unreadable and foreign-owned entries, under random
limits. Whatever the folder holds, the copy finishes, never raises, refuses only what its
limits refuse, names everything it leaves out, and copies nothing but the submission's own
regular files: a secret outside the inbound folder never reaches the destination."""

import atexit
import fnmatch
import os
import shutil
import stat
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from course.exchange.inbound import Limits, collect_submission
from course.layout import printable

from fuzzing import entry_place

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
SCRATCH = Path(tempfile.mkdtemp(prefix="collect-fuzz-"))
atexit.register(shutil.rmtree, SCRATCH, True)
SECRET = b"SECRET-" + os.urandom(8).hex().encode()
(SCRATCH / "secret.txt").write_bytes(SECRET * 50)
(SCRATCH / "secret_dir").mkdir(exist_ok=True)
(SCRATCH / "secret_dir" / "inner.txt").write_bytes(SECRET)
FOREIGN = 54321  # a uid nobody has
EXCLUDE = ("*.pyc", "__pycache__")

NAME = st.one_of(
    st.binary(min_size=1, max_size=10),
    st.sampled_from([b"a", b"b", b"nb.ipynb", b"timestamp.txt", b"new\nline", b"\xff\xfe", b"\x1b[31m", b".hidden",
                     b"x" * 255, b"c.pyc", b"__pycache__", b"-", b" "]))
KIND = st.sampled_from(["file", "file", "big file", "dir", "absolute link", "relative link", "link to a folder",
                        "link inside", "dangling link", "link loop", "fifo", "sparse", "hard link outside",
                        "hard link inside", "deep", "unreadable file", "unreadable folder", "foreign file",
                        "many"])
ENTRY = st.tuples(st.lists(NAME, min_size=1, max_size=4), KIND, st.integers(min_value=0, max_value=6000))
LIMITS = st.builds(Limits, max_file_bytes=st.sampled_from([50_000, 3000]),
                   max_total_bytes=st.sampled_from([4000, 60_000, 10**9]),
                   owners=st.sampled_from([None, frozenset({os.geteuid()})]),
                   exclude=st.sampled_from([(), EXCLUDE]),
                   include=st.sampled_from([None, None, ("*.ipynb", "*.txt")]),
                   groupshared=st.booleans(), max_entries=st.sampled_from([10_000, 15]),
                   max_depth=st.sampled_from([3, 32]))


def _make(top_fd, parts, kind, size, levels_up):
    """Create one entry relative to the submission folder `top_fd`; when the OS refuses it (a
    name over 255 bytes, a file where a folder should be), nothing is made, as nothing could
    be submitted. `levels_up`: how many `..` lead from the submission folder to SCRATCH."""
    fd, name = entry_place(top_fd, parts, deep=kind == "deep")
    if fd is None:
        return
    try:
        up = b"../" * (levels_up + len(parts) - 1 + 40 * (kind == "deep"))
        if kind == "big file":
            kind, size = "file", 4500
        if kind in ("file", "deep", "unreadable file", "foreign file", "hard link inside"):
            with open(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, dir_fd=fd), "wb") as f:
                f.write(bytes([size % 251]) * size)
            if kind == "unreadable file":
                os.chmod(name, 0, dir_fd=fd)
            elif kind == "foreign file":
                os.chown(name, FOREIGN, FOREIGN, dir_fd=fd)
            elif kind == "hard link inside":
                os.link(name, name + b"_2", src_dir_fd=fd, dst_dir_fd=fd)
        elif kind in ("dir", "unreadable folder"):
            os.mkdir(name, dir_fd=fd)
            with open(os.open(b"in.txt", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=os.open(name, os.O_RDONLY, dir_fd=fd)),
                      "wb") as f:
                f.write(b"inside")
            if kind == "unreadable folder":
                os.chmod(name, 0, dir_fd=fd)
        elif kind == "absolute link":
            os.symlink(os.fsencode(SCRATCH / "secret.txt"), name, dir_fd=fd)
        elif kind == "relative link":
            os.symlink(up + b"secret.txt", name, dir_fd=fd)
        elif kind == "link to a folder":
            os.symlink(up + b"secret_dir", name, dir_fd=fd)
        elif kind == "link inside":
            os.symlink(b"nb.ipynb", name, dir_fd=fd)
        elif kind == "dangling link":
            os.symlink(b"nowhere/at/all", name, dir_fd=fd)
        elif kind == "link loop":
            os.symlink(name + b"_b", name, dir_fd=fd)
            os.symlink(name, name + b"_b", dir_fd=fd)
        elif kind == "fifo":
            os.mkfifo(name, dir_fd=fd)
        elif kind == "sparse":
            with open(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, dir_fd=fd), "wb") as f:
                f.truncate(40_000 if size % 2 else 99_000_000)
        elif kind == "hard link outside":
            os.link(SCRATCH / "secret.txt", name, dst_dir_fd=fd)
        elif kind == "many":
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            for number in range(20):
                os.close(os.open(str(number), os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=inner))
            os.close(inner)
    except OSError:
        pass
    finally:
        os.close(fd)


def _entries(top):
    """{relative path (bytes): lstat} of everything under `top`, never following a link."""
    found = {}
    for folder, folders, files, fd in os.fwalk(os.fsencode(top)):
        for name in folders + files:
            relative = os.path.relpath(os.path.join(folder, name), os.fsencode(top))
            found[relative] = os.stat(name, dir_fd=fd, follow_symlinks=False)
    return found


def _shown(relative):
    return printable(os.fsdecode(relative), limit=120)


def _excluded(name, limits):
    return any(fnmatch.fnmatch(os.fsdecode(name), pattern) for pattern in limits.exclude)


def _expected(before, limits, owner):
    """What the limits let through, from their description alone: (how many entries the walk
    lists, the folders and files to copy). A folder is walked when it may be copied: not
    excluded, at most max_depth deep, a path of at most 1,024 bytes, of the folder's owner
    (when owners count); a file is copied when, besides, it is a regular file of one link,
    included and not over max_file_bytes."""
    walked, listed, copied = {b""}, 0, set()
    for relative in sorted(before, key=lambda r: r.count(b"/")):
        parent, _, name = relative.rpartition(b"/")
        if parent not in walked:
            continue
        listed += 1
        info = before[relative]
        if _excluded(name, limits) or len(relative) > 1024 or relative.count(b"/") + 1 > limits.max_depth \
                or (owner is not None and info.st_uid != owner):
            continue
        if stat.S_ISDIR(info.st_mode):
            walked.add(relative)
            copied.add(relative)
        elif stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_size <= limits.max_file_bytes and (
                limits.include is None or any(fnmatch.fnmatch(os.fsdecode(name), p) for p in limits.include)):
            copied.add(relative)
    return listed, copied


@FUZZ
@given(entries=st.lists(ENTRY, max_size=8), limits=LIMITS, foreign_folder=st.sampled_from([False, False, True]))
@example(entries=[([b"a"], "sparse", 1), ([b"b"], "sparse", 1)], limits=Limits(50_000, 60_000), foreign_folder=False)
def test_any_submission_folder_is_copied_safely_or_refused_for_a_reason(entries, limits, foreign_folder):
    place = Path(tempfile.mkdtemp(dir=SCRATCH))
    try:
        inbound = place / "inbound"
        submission = inbound / "student+unet_segmentation+t+r"
        submission.mkdir(parents=True)
        (submission / "nb.ipynb").write_bytes(b"{}")
        top = os.open(submission, os.O_RDONLY | os.O_DIRECTORY)
        for parts, kind, size in entries:
            _make(top, parts, kind, size, levels_up=3)
        os.close(top)
        if foreign_folder:
            os.chown(submission, FOREIGN, FOREIGN)
        destination = place / "submitted" / "student" / "unet_segmentation"
        before = _entries(submission)
        owner = None if limits.owners is None else os.lstat(submission).st_uid
        listed, expected = _expected(before, limits, owner)
        total = sum(before[r].st_size for r in expected if stat.S_ISREG(before[r].st_mode))

        copied = collect_submission(inbound, submission.name, destination, limits, "student")

        for line in [copied.refused, *copied.skipped]:
            assert line.isprintable(), line
        # refused exactly when the limits say so, with their reason, and then nothing is left
        if limits.owners is not None and foreign_folder:
            assert copied.refused == f"claims to be from student but is owned by uid {FOREIGN}"
        elif listed > limits.max_entries:
            assert copied.refused == f"more than {limits.max_entries:,} entries"
        elif total > limits.max_total_bytes:
            assert copied.refused == (f"{total:,} bytes of files, over the limit of {limits.max_total_bytes:,} "
                                      "(CourseDirectory.max_dir_size)")
        else:
            assert not copied.refused
        event("copied" if not copied.refused else "refused: " + next(
            k for k in ("claims", "entries", "bytes", "") if k in copied.refused))
        event(f"entries skipped: {min(len(copied.skipped), 3)}{'+' if len(copied.skipped) > 3 else ''}")
        if copied.refused:
            assert not (place / "submitted").exists()  # nothing staged, not even the student's folder
            return
        # copied: exactly what the limits let through, each file a regular file of the submission
        copies = _entries(destination)
        assert set(copies) == expected
        for relative, info in copies.items():
            assert stat.S_IFMT(info.st_mode) == stat.S_IFMT(before[relative].st_mode)
            if stat.S_ISREG(info.st_mode):
                data = (destination / os.fsdecode(relative)).read_bytes()
                assert data == (submission / os.fsdecode(relative)).read_bytes()
                assert SECRET not in data
        assert not list(destination.parent.glob(".*"))  # no staged folder left beside it
        # and whatever was not copied is named (itself or a folder above it), unless a pattern left it out
        for relative in before:
            if relative in copies or any(_excluded(p, limits) for p in relative.split(b"/")) \
                    or limits.include is not None:
                continue
            prefixes = [b"/".join(relative.split(b"/")[:n]) for n in range(1, relative.count(b"/") + 2)]
            assert any(line.startswith(_shown(p) + " (") for p in prefixes for line in copied.skipped), \
                (relative, copied.skipped)
    finally:
        shutil.rmtree(place, ignore_errors=True)
