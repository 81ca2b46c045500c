"""A submission's own files: which of them a kernel (and a worker) gets, and which are left
out and why. Used by the sandbox for every kernel and by `course grade` to read a submission.

Links, pipes, devices and sockets are never followed; files too large are left out; so are
names that could not be staged in another folder without an error (not UTF-8, control
characters, too long, too deep). Each left-out entry gets a reason that names it in
printable form, never an absolute path. Names are handled as bytes, so any name can be listed.
"""

import errno
import os
import stat
from pathlib import Path

from ..layout import printable

MAX_FILE_BYTES = 16 * 2**20
MAX_COPY_BYTES = 64 * 2**20
# Limits on names, so that whatever is chosen can be staged anywhere else (a worker's
# folder, a tar member, a JSON key) without an error: most file systems allow 255 bytes a
# name and 4096 a path; the rest of the 4096 is left to the folder the files are staged in.
MAX_NAME_BYTES = 255
MAX_RELATIVE_BYTES = 1024
MAX_DEPTH = 32


def shown(relative):
    """`relative` (a path, as bytes or str) as it can be printed anywhere (layout.printable)."""
    return printable(os.fsdecode(relative))


def _why(error):
    """An OSError in a few words, without the paths it may hold."""
    return (error.strerror or type(error).__name__).lower()


def _name_problem(name, relative, depth):
    """Why the entry `name` (bytes) at `relative` cannot be copied under its name, or ''."""
    if len(name) > MAX_NAME_BYTES:
        return f"name longer than {MAX_NAME_BYTES} bytes"
    if len(relative) > MAX_RELATIVE_BYTES:
        return f"path longer than {MAX_RELATIVE_BYTES} bytes"
    if depth > MAX_DEPTH:
        return f"more than {MAX_DEPTH} folders deep"
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return "name not valid UTF-8"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text):
        return "control characters in the name"
    return ""


class _Listing:
    """What regular_files finds, folder by folder (names as bytes: any name can be listed)."""

    def __init__(self, folder, submitted):
        self.folder = os.fsencode(folder)
        self.submitted = os.fsencode(submitted) if submitted else None
        self.chosen, self.left_out, self.total = [], [], 0

    def visit(self, relative, depth):
        """Every entry of the folder `relative` (b"" for the top), sorted, parents first."""
        try:
            with os.scandir(os.path.join(self.folder, relative)) as entries:
                names = sorted(entry.name for entry in entries)
        except FileNotFoundError:
            return  # gone since it was listed, or no folder at all: nothing to copy
        except OSError as error:
            self.left_out.append(f"{shown(relative or b'.')} (cannot be read: {_why(error)})")
            return
        for name in names:
            if name != b".ipynb_checkpoints":
                self.consider(os.path.join(relative, name), name, depth)

    def consider(self, relative, name, depth):
        absolute = os.path.join(self.folder, relative)
        try:
            info = os.lstat(absolute)
        except OSError as error:
            return self.leave_out(relative, f"cannot be read: {_why(error)}")
        mode, size = info.st_mode, info.st_size
        problem = _name_problem(name, relative, depth) or self.counterpart_problem(relative)
        if problem:
            return self.leave_out(relative, problem + (", with all it holds" if stat.S_ISDIR(mode) else ""))
        if stat.S_ISDIR(mode):
            self.choose(relative, absolute)
            self.visit(relative, depth + 1)
        elif not stat.S_ISREG(mode):
            self.leave_out(relative, "not a regular file")
        elif size > MAX_FILE_BYTES or self.total + size > MAX_COPY_BYTES:
            self.leave_out(relative, "too large")
        else:
            self.choose(relative, absolute)
            self.total += size

    def counterpart_problem(self, relative):
        """nbgrader's own copy follows links: what is a link in the submission is refused
        even where the copy made it a file."""
        if self.submitted is None:
            return ""
        try:
            mode = os.lstat(os.path.join(self.submitted, relative)).st_mode
        except FileNotFoundError:
            return ""
        except OSError as error:
            return f"cannot be read in the submission: {_why(error)}"
        return "" if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "not a regular file in the submission"

    def choose(self, relative, absolute):
        self.chosen.append((Path(relative.decode("utf-8")), Path(os.fsdecode(absolute))))

    def leave_out(self, relative, why):
        self.left_out.append(f"{shown(relative)} ({why})")


def regular_files(folder, submitted=None):
    """The regular files and folders under `folder` that may be copied, as [(relative path,
    path)], and the names left out and why ("NAME (why)", NAME relative and printable).

    Links, pipes, devices and sockets are never followed, nor is any path whose counterpart
    in `submitted` is not a regular file (nbgrader's own copy follows links); files too large
    are left out, and so are names that could not be staged elsewhere under the same name:
    not UTF-8, with control characters (a newline), too long, too deep. Never raises: any
    name in a submission is left out with a reason instead. Every relative path chosen is
    valid UTF-8."""
    listing = _Listing(folder, submitted)
    listing.visit(b"", 1)
    return listing.chosen, listing.left_out


def copy_regular_files(folder, target, submitted=None):
    """Copy the regular files under `folder` into `target` (see regular_files); returns the
    names left out and why."""
    chosen, left_out = regular_files(folder, submitted)
    target = Path(target)
    for relative, path in chosen:
        try:
            if stat.S_ISDIR(path.lstat().st_mode):
                (target / relative).mkdir(parents=True, exist_ok=True)
            else:
                _copy_file(path, target / relative)
        except OSError as error:  # gone or changed since it was listed, or no room left
            left_out.append(f"{shown(str(relative))} (not copied: {_why(error)})")
    return left_out


def _copy_file(source, destination):
    """Copy the regular file `source`: never a link or a pipe, even one put in its place since
    it was listed, and no more than MAX_FILE_BYTES of it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            raise OSError(errno.EINVAL, "no longer a regular file")
        with open(destination, "wb") as writer:
            left = MAX_FILE_BYTES
            while left > 0 and (chunk := reader.read(min(left, 2**20))):
                writer.write(chunk)
                left -= len(chunk)


def submitted_counterpart(workdir):
    """root/submitted/<student>/<assignment> for nbgrader's root/autograded/<student>/<assignment>."""
    workdir = Path(workdir).resolve()
    if len(workdir.parts) > 3 and workdir.parents[1].name == "autograded":
        return workdir.parents[2] / "submitted" / workdir.parent.name / workdir.name
    return None
