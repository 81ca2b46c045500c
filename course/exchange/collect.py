"""`nbgrader collect` that trusts nothing in the exchange's inbound folder (nbgrader_config.py:
`c.ExchangeFactory.collect = "course.exchange.collect.SafeCollect"`).

nbgrader 0.9.6's collect copies each submission with shutil.copytree, which follows links (a
student's link to the source notebook or gradebook.db lands in submitted/ as a regular file),
raises for a submission over max_dir_size or holding a pipe (ending the run for every later
student), and only warns when a folder is not owned by the student it claims to be from.
SafeCollect keeps nbgrader's choice of submissions (the latest timestamp; --update,
--before-duedate, --student) and replaces the copy (inbound.collect_submission): each
submission is copied whole or refused with a reason, the run goes on with the next student,
and at the end one summary names every refusal and every skipped entry, then the run exits
non-zero if it refused any.

The time of a submission is nbgrader's: the one in its folder's name and its timestamp.txt,
both written by the student's own `nbgrader submit`, so both forgeable by a student who writes
into the inbound folder by hand. A submission whose files were changed (their inode change
time, which only root can move back) more than `timestamp_slack` seconds after the time it
states is recorded at that later time, and named in the summary.
"""

import datetime
import os
import shutil
import stat

from nbgrader.exchange.default.collect import ExchangeCollect, pwd
from nbgrader.utils import parse_utc
from traitlets import Float

from ..layout import printable, read_timestamp_file, timestamp_problem
from .inbound import Limits, collect_submission, student_id_problem, user_name

NEVER = datetime.datetime.max  # the timestamp of a folder that cannot be collected: sorted last


class SafeCollect(ExchangeCollect):
    """nbgrader's ExchangeCollect, copying through `inbound.collect_submission`."""

    timestamp_slack = Float(120.0, allow_none=True, help="seconds a submission's files may have changed after "
                            "the time its timestamp.txt states (nbgrader submit writes it, then copies); later "
                            "changes move the submission's time to them. None: timestamp.txt is trusted").tag(
        config=True)

    # --- which folders: nbgrader's choice, among those that may be collected at all ---

    def init_src(self):
        self.refused, self.skipped, self.collected = [], [], 0
        self.seen = []
        super().init_src()  # lists the inbound folder; each name through _path_to_record
        self.check_inbound()
        self.refused += [(r["filename"], r["problem"]) for r in self.seen if r["problem"]]
        self.src_records = sorted((r for r in self.src_records if not r["problem"]), key=lambda r: r["username"])

    def _path_to_record(self, path):
        """nbgrader's record of an inbound folder, and why it cannot be collected ('problem'),
        never an exception: a name that does not parse refuses that folder only."""
        name = os.path.basename(path)
        parts = name.rsplit("+", 3)
        record = {"username": parts[0], "filename": name, "timestamp": NEVER, "problem": ""}
        if len(parts) < 3 or parts[1] != self.coursedir.assignment_id:
            record["problem"] = "name is not STUDENT+ASSIGNMENT+TIMESTAMP+RANDOM"
        else:
            record["problem"] = student_id_problem(parts[0])
        if not record["problem"]:
            try:
                record.update(super()._path_to_record(path))
            except Exception:  # dateutil raises ValueError, OverflowError...
                record["problem"] = "the timestamp in its name cannot be read"
        if not record["problem"]:
            record["problem"] = self.folder_problem(path, record["username"])
        if record["problem"]:
            record["timestamp"] = NEVER
        self.seen.append(record)
        return record

    def _sort_by_timestamp(self, records):
        """Latest first, as nbgrader; folders that cannot be collected last, so that a folder
        someone else wrote under a student's name never hides that student's own."""
        good = [r for r in records if not r["problem"]]
        return super()._sort_by_timestamp(good) + [r for r in records if r["problem"]]

    def owners(self, student):
        """The uids a folder of `student` may belong to (the student's, the collecting user's),
        or None when owners are not checked."""
        if not self.check_owner or pwd is None:
            return None
        known = self.__dict__.setdefault("_owners", {})  # one look-up per student and run
        if student not in known:
            try:
                known[student] = frozenset({os.geteuid(), pwd.getpwnam(student).pw_uid})
            except KeyError:
                known[student] = frozenset({os.geteuid()})
        return known[student]

    def folder_problem(self, path, student):
        try:
            info = os.lstat(path)
        except OSError:
            return "gone before it could be collected"
        if not stat.S_ISDIR(info.st_mode):
            return "not a folder (a link or another kind of file)"
        owners = self.owners(student)
        if owners is not None and info.st_uid not in owners:
            return f"claims to be from {student} but is owned by {printable(user_name(info.st_uid))}"
        return ""

    def check_inbound(self):
        """The inbound folder and the course's folder above it are the instructor's: never a
        link a student put in the world-writable exchange, nor a student's folder."""
        for path in (self.course_path, self.inbound_path):
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                self.fail(f"{printable(path)} is a symbolic link: not collecting from it")
            if self.check_owner and not self.coursedir.groupshared and info.st_uid not in (0, os.geteuid()):
                self.fail(f"{printable(path)} is owned by {printable(user_name(info.st_uid))}, neither by root nor "
                          "by the user collecting: not collecting from it")

    # --- the copy ---

    def limits(self, student):
        coursedir = self.coursedir
        return Limits(max_file_bytes=1000 * coursedir.max_file_size if coursedir.max_file_size else None,
                      max_total_bytes=1000 * coursedir.max_dir_size, owners=self.owners(student),
                      exclude=tuple(coursedir.ignore or ()),
                      include=tuple(coursedir.include) if coursedir.include else None,
                      groupshared=coursedir.groupshared)

    def copy_files(self):
        assignment, course = self.coursedir.assignment_id, self.coursedir.course_id
        if not self.src_records:
            self.log.warning(f"No submissions of '{assignment}' for course '{course}' to collect")
        else:
            self.log.info(f"Processing {len(self.src_records)} submissions of '{assignment}' for course '{course}'")
        for record in self.src_records:
            try:
                self.collect_one(record)
            except Exception as error:  # never a traceback, never the end of the run, for one student
                self.refused.append((record["filename"], f"not collected: {type(error).__name__}"))
        self.summarize()

    def existing_timestamp(self, dest_path):
        """The timestamp of the collected copy (its timestamp.txt, the student's bytes), None
        when it is not a short, plain timestamp: nbgrader's own reading takes the whole file
        to dateutil, which a 90 MB file keeps busy for minutes."""
        data = read_timestamp_file(os.path.join(dest_path, "timestamp.txt"))
        if data is None or timestamp_problem(data):
            return None
        try:
            return parse_utc(data.decode("ascii").strip())
        except (ValueError, OverflowError):
            return None

    def check_timestamp(self, dest_path, record, changed_ns=0):
        """A copied timestamp.txt that is not a plain timestamp is replaced by the time in the
        inbound folder's name (which chose this submission), and named: nbgrader's autograde
        reads it for the late penalty the way existing_timestamp must not. Both are the
        student's own bytes: a submission whose files were changed (inode change time, which
        only root can move back) more than `timestamp_slack` seconds after the time it states
        gets that later time instead, and is named."""
        path = os.path.join(dest_path, "timestamp.txt")
        data = read_timestamp_file(path)
        problem = ("not a regular file" if os.path.lexists(path) else "missing") if data is None else \
            timestamp_problem(data)
        if problem:  # without one nbgrader records no time, and no lateness: never left so
            self.write_timestamp(path, record["timestamp"])
            self.skipped.append((record["username"], f"timestamp.txt ({problem}): replaced by the time in the "
                                                     "folder's name"))
        claimed = self.existing_timestamp(dest_path) or record["timestamp"]
        if self.timestamp_slack is None or not changed_ns or claimed is NEVER:
            return
        changed = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=changed_ns // 1000)
        if changed - claimed > datetime.timedelta(seconds=self.timestamp_slack):
            self.write_timestamp(path, changed)
            self.skipped.append((record["username"], f"timestamp.txt says {claimed:%Y-%m-%d %H:%M:%S} UTC, but "
                                                     "the submission's files were changed up to "
                                                     f"{changed:%Y-%m-%d %H:%M:%S} UTC: that later time recorded"))

    @staticmethod
    def write_timestamp(path, when):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        with open(path, "x") as handle:
            handle.write(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))

    def collect_one(self, record):
        """nbgrader's decision (copy, update or keep), then the copy."""
        student, assignment = record["username"], self.coursedir.assignment_id
        dest_path = self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment)
        copy = updating = False
        if os.path.isdir(dest_path):
            existing_timestamp = self.existing_timestamp(dest_path)
            new_timestamp = record["timestamp"]
            if self.update and (existing_timestamp is None or new_timestamp > existing_timestamp):
                copy = updating = True
            elif self.before_duedate and existing_timestamp != new_timestamp:
                copy = updating = True
        else:
            copy = True
        if not copy:
            if self.update:
                self.log.info(f"No newer submission to collect: {student} {assignment}")
            else:
                self.log.info(f"Submission already exists, use --update to update: {student} {assignment}")
            return
        self.log.info(f"{'Updating' if updating else 'Collecting'} submission: {student} {assignment}")
        copied = collect_submission(self.inbound_path, record["filename"], dest_path, self.limits(student),
                                    student, replace=updating)
        if copied.refused:
            self.refused.append((record["filename"], copied.refused))
        else:
            self.collected += 1
            self.check_timestamp(dest_path, record, copied.changed_ns)
        self.skipped += [(student, entry) for entry in copied.skipped]

    def summarize(self):
        """One summary of what was refused and skipped; the run fails when anything was refused."""
        if not self.refused and not self.skipped:
            return
        lines = [f"nbgrader collect: {self.collected} submission(s) collected, {len(self.refused)} inbound "
                 f"folder(s) refused, {len(self.skipped)} entry(ies) skipped."]
        lines += [f"  refused {printable(name, limit=160)}: {why}" for name, why in self.refused]
        lines += [f"  skipped in {student}'s submission: {entry}" for student, entry in self.skipped]
        if any("claims to be from" in why for _, why in self.refused):
            lines.append("  (where student accounts are not Unix users, set ExchangeCollect.check_owner = False)")
        if self.refused:
            self.log.error("\n".join(lines))
            self.fail(f"{len(self.refused)} inbound folder(s) refused (named above); every other submission "
                      "was collected")
        self.log.warning("\n".join(lines))
