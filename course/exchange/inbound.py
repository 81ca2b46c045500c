"""One submission folder of the exchange's inbound folder, copied without trusting any of it.

Every student can write into the inbound folder, so each folder there may hold links to the
instructor's files, pipes, hard links, sparse files of any apparent size, a million entries or
names no terminal should print. Here nothing is followed: folders and files are opened relative
to the folder that holds them with O_NOFOLLOW (and O_NONBLOCK, so a pipe put in a file's place
never blocks), and what was opened is checked with fstat before a byte is read. Only regular
files and folders are copied; a link, pipe, device, socket or hard-linked file is skipped and
named. Apparent sizes (st_size) are checked per file and for the whole submission before
anything is copied, the walk is bounded (entries, depth, path length), and the copy is made
in a folder beside its destination and renamed into place: a submission is in `submitted/`
whole or not at all. `collect_submission` never raises for anything a student can make.
"""

import errno
import fnmatch
import os
import secrets
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ..layout import printable

MAX_ENTRIES = 10_000  # entries of one submission, whatever their kind (a notebook needs a few)
MAX_DEPTH = 32  # folders deep
MAX_RELATIVE_BYTES = 1024  # a relative path, so the copy fits any other folder's path
MAX_ID_CHARS = 100  # a student id
CHUNK = 2**20

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Limits:
    """What a submission may hold. Sizes in bytes (None: no limit); `owners`: the Unix users
    (uids) the submission folder may belong to, every entry inside then to the folder's owner
    (None: owners are not checked); `exclude` and `include`: nbgrader's CourseDirectory.ignore
    and .include (name patterns: excluded names and files not included are left out
    silently, as nbgrader does)."""
    max_file_bytes: int | None = None
    max_total_bytes: int | None = None
    owners: frozenset | None = None
    exclude: tuple = ()
    include: tuple | None = None
    groupshared: bool = False
    max_entries: int = MAX_ENTRIES
    max_depth: int = MAX_DEPTH


@dataclass
class Copied:
    """What became of one submission: `refused` says why nothing was copied ('' when it was);
    `skipped` names each entry left out and why ("PATH (why)", printable); `files` and
    `bytes` count what was copied."""
    refused: str = ""
    skipped: list = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    changed_ns: int = 0  # the latest inode change (ctime) of the folder and all it holds: a time no
    # student can set, since nobody but root can move a ctime back (the collect's check of timestamp.txt)


class _Refused(Exception):
    """The whole submission is refused: nothing of it is copied."""


def student_id_problem(student):
    """Why `student` (the part of an inbound folder's name before its assignment) cannot be a
    student id and a folder name in submitted/, or ''."""
    if not student:
        return "no student id"
    if len(student) > MAX_ID_CHARS:
        return f"student id longer than {MAX_ID_CHARS} characters"
    if printable(student, limit=MAX_ID_CHARS) != student:
        return "student id is not printable UTF-8 text"
    if student.startswith("."):
        return "student id starts with '.'"
    if student != student.strip():
        return "student id starts or ends with a space"
    return ""


def user_name(uid):
    """The login name of `uid`, or 'uid N' when the system has none."""
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def _why(error):
    """An OSError in a few words, without the paths it may hold."""
    return (error.strerror or type(error).__name__).lower()


def _open_problem(error):
    """Why an entry the scan saw could not be opened: a link, pipe or other folder put in its
    place (O_NOFOLLOW, O_DIRECTORY), its removal, or an error of its own."""
    if error.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT, errno.ENXIO):
        return "changed while being collected"
    return f"cannot be read: {_why(error)}"


def _kind(mode):
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "not a regular file or folder"


@dataclass
class _Planned:
    """An entry found by the scan: copied in the second pass only if it is still the same."""
    name: str
    dev: int
    ino: int
    size: int
    children: list | None = None  # None for a file


def _shown(parts):
    return printable(os.fsdecode(b"/".join(os.fsencode(p) for p in parts)), limit=120)


class _Copier:
    def __init__(self, limits, student):
        self.limits, self.student = limits, student
        self.result = Copied()
        self.entries = self.total = 0
        self.owner = None  # the uid every entry must have (the folder's), when owners are checked

    # --- the scan: what would be copied, and whether the submission may be copied at all ---

    def open_top(self, parent_fd, name):
        try:
            top = os.open(name, _DIRECTORY, dir_fd=parent_fd)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _Refused("not a folder (a link or another kind of file)") from None
            raise _Refused(f"cannot be read: {_why(error)}") from None
        info = os.fstat(top)
        self.changed(info)
        if self.limits.owners is not None:
            if info.st_uid not in self.limits.owners:
                os.close(top)
                raise _Refused(f"claims to be from {printable(self.student)} but is owned by "
                               f"{printable(user_name(info.st_uid))}")
            self.owner = info.st_uid
        return top, info

    def changed(self, info):
        self.result.changed_ns = max(self.result.changed_ns, info.st_ctime_ns)

    def skip(self, parts, why):
        self.result.skipped.append(f"{_shown(parts)} ({why})")

    def scan(self, fd, parts, depth):
        names = []
        try:
            with os.scandir(fd) as entries:  # counted as they come: a million entries stop here
                for entry in entries:
                    self.entries += 1
                    if self.entries > self.limits.max_entries:
                        raise _Refused(f"more than {self.limits.max_entries:,} entries")
                    names.append(entry.name)
        except OSError as error:
            if parts:
                raise  # a folder inside: skipped and named by scan_folder
            raise _Refused(f"cannot be read: {_why(error)}") from None
        planned = []
        for name in sorted(names):
            relative = parts + (name,)
            if self.limits.exclude and any(fnmatch.fnmatch(name, p) for p in self.limits.exclude):
                continue
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError as error:
                self.skip(relative, f"cannot be read: {_why(error)}")
                continue
            is_folder = stat.S_ISDIR(info.st_mode)
            problem = self.entry_problem(relative, depth, info)
            if problem:
                self.skip(relative, problem + (", with all it holds" if is_folder else ""))
            elif is_folder:
                children = self.scan_folder(fd, name, relative, depth, info)
                if children is not None:
                    planned.append(_Planned(name, info.st_dev, info.st_ino, 0, children))
            elif not stat.S_ISREG(info.st_mode):
                self.skip(relative, _kind(info.st_mode))
            elif self.limits.include is not None and not any(fnmatch.fnmatch(name, p) for p in self.limits.include):
                continue
            elif info.st_nlink > 1:
                self.skip(relative, f"hard-linked ({info.st_nlink} links)")
            elif self.limits.max_file_bytes is not None and info.st_size > self.limits.max_file_bytes:
                self.skip(relative, f"{info.st_size:,} bytes, over the limit of {self.limits.max_file_bytes:,} "
                                    "(CourseDirectory.max_file_size)")
            else:
                planned.append(_Planned(name, info.st_dev, info.st_ino, info.st_size))
                self.total += info.st_size
        return planned

    def entry_problem(self, relative, depth, info):
        if len(os.fsencode(os.path.join(*relative))) > MAX_RELATIVE_BYTES:
            return f"path longer than {MAX_RELATIVE_BYTES} bytes"
        if depth > self.limits.max_depth:
            return f"more than {self.limits.max_depth} folders deep"
        if self.owner is not None and info.st_uid != self.owner:
            return (f"owned by {printable(user_name(info.st_uid))}, not by the folder's owner "
                    f"{printable(user_name(self.owner))}")
        return ""

    def scan_folder(self, fd, name, relative, depth, info):
        try:
            inner = os.open(name, _DIRECTORY, dir_fd=fd)
        except OSError as error:
            self.skip(relative, f"{_open_problem(error)}, with all it holds")
            return None
        try:
            now = os.fstat(inner)
            if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
                self.skip(relative, "changed while being collected, with all it holds")
                return None
            self.changed(now)
            try:
                return self.scan(inner, relative, depth + 1)
            except _Refused:
                raise
            except OSError as error:
                self.skip(relative, f"cannot be read: {_why(error)}, with all it holds")
                return None
        finally:
            os.close(inner)

    # --- the copy: the planned entries that are still what the scan saw ---

    def copy(self, fd, out, planned, parts):
        for item in planned:
            relative = parts + (item.name,)
            if item.children is None:
                self.copy_file(fd, out, item, relative)
                continue
            try:
                inner = os.open(item.name, _DIRECTORY, dir_fd=fd)
            except OSError as error:
                self.skip(relative, f"{_open_problem(error)}, with all it holds")
                continue
            try:
                now = os.fstat(inner)
                if (now.st_dev, now.st_ino) != (item.dev, item.ino):
                    self.skip(relative, "changed while being collected, with all it holds")
                    continue
                os.mkdir(item.name, 0o777, dir_fd=out)
                copy = os.open(item.name, _DIRECTORY, dir_fd=out)
                try:
                    self.copy(inner, copy, item.children, relative)
                    self.share(copy, 0o2770)
                finally:
                    os.close(copy)
            finally:
                os.close(inner)

    def copy_file(self, fd, out, item, relative):
        try:
            source = os.open(item.name, _FILE, dir_fd=fd)
        except OSError as error:
            self.skip(relative, _open_problem(error))
            return
        try:
            info = os.fstat(source)
            self.changed(info)
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (item.dev, item.ino) \
                    or info.st_size != item.size:
                return self.skip(relative, "changed while being collected")
            if info.st_nlink > 1:
                return self.skip(relative, f"hard-linked ({info.st_nlink} links)")
            if self.owner is not None and info.st_uid != self.owner:
                return self.skip(relative, f"owned by {printable(user_name(info.st_uid))}, not by the folder's "
                                           f"owner {printable(user_name(self.owner))}")
            copy = os.open(item.name, _NEW_FILE, 0o666, dir_fd=out)
            try:
                problem = self.copy_bytes(source, copy, item.size)
                if not problem:
                    os.utime(copy, ns=(info.st_atime_ns, info.st_mtime_ns))
                    self.share(copy, 0o660)
            finally:
                os.close(copy)
            if problem:
                os.unlink(item.name, dir_fd=out)
                return self.skip(relative, problem)
            self.result.files += 1
            self.result.bytes += item.size
        finally:
            os.close(source)

    @staticmethod
    def copy_bytes(source, copy, size):
        """Copy `size` bytes; a file that holds more or fewer changed since the scan."""
        done = 0
        while done <= size:
            try:
                chunk = os.read(source, min(CHUNK, size + 1 - done))
            except OSError as error:
                return f"cannot be read: {_why(error)}"
            if not chunk:
                break
            view = memoryview(chunk)
            while view:  # an error writing the copy is ours: the submission is refused
                view = view[os.write(copy, view):]
            done += len(chunk)
        return "" if done == size else "changed while being collected"

    def share(self, fd, bits):
        """nbgrader's groupshared: copies writable by the group (folders g+rwxs)."""
        if self.limits.groupshared:
            mode = os.fstat(fd).st_mode
            os.fchmod(fd, (mode | bits) & (0o2777 if bits & 0o2000 else 0o777))


def collect_submission(inbound, name, destination, limits, student, replace=False):
    """Copy the submission folder `name` of the folder `inbound` to `destination` (whose parent
    is created when missing), as `Copied`. The copy is made in a new folder beside
    `destination` and renamed into place: when the submission is refused, or the copy fails,
    `destination` is as it was. With `replace`, an existing `destination` is replaced (after
    the new copy is complete); without, it must not exist. Never raises for anything in
    `inbound`; an error on the destination's side refuses the submission with its reason."""
    destination = Path(destination)
    copier = _Copier(limits, student)
    created = [p for p in [destination.parent, *destination.parent.parents] if not p.exists()]
    stage = None
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        stage = destination.parent / f".{destination.name}.collecting-{secrets.token_hex(6)}"
        parent_fd = os.open(inbound, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            top, _ = copier.open_top(parent_fd, name)
        finally:
            os.close(parent_fd)
        try:
            planned = copier.scan(top, (), 1)
            if limits.max_total_bytes is not None and copier.total > limits.max_total_bytes:
                raise _Refused(f"{copier.total:,} bytes of files, over the limit of {limits.max_total_bytes:,} "
                               "(CourseDirectory.max_dir_size)")
            os.mkdir(stage, 0o777)
            out = os.open(stage, _DIRECTORY)
            try:
                copier.copy(top, out, planned, ())
                copier.share(out, 0o2770)
            finally:
                os.close(out)
        finally:
            os.close(top)
        _put_in_place(stage, destination, replace)
    except _Refused as refusal:
        copier.result.refused = str(refusal)
    except OSError as error:  # the instructor's side: no room left, no right to write there
        copier.result.refused = f"could not be copied: {_why(error)}"
    except RecursionError:
        copier.result.refused = "folders nested too deep to walk"
    if copier.result.refused:
        if stage is not None and stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
        for folder in created:  # leave no empty folder for a submission that was not copied
            try:
                folder.rmdir()
            except OSError:
                break
        copier.result.files = copier.result.bytes = 0
    return copier.result


def _put_in_place(stage, destination, replace):
    if not replace or not os.path.lexists(destination):
        os.rename(stage, destination)  # fails when destination exists and is not empty
        return
    old = destination.parent / f".{destination.name}.replaced-{secrets.token_hex(6)}"
    os.rename(destination, old)
    try:
        os.rename(stage, destination)
    except OSError:
        os.rename(old, destination)
        raise
    shutil.rmtree(old, ignore_errors=True)
