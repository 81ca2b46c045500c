"""One submission folder copied out of the inbound folder (course/exchange/inbound.py), in this
process: what changes between the scan and the copy is not followed, hard links and entries of
another owner are skipped, a folder of too many entries is refused at once, and a refused
update leaves the collected copy as it was."""

import os
import time

import pytest

from course.exchange.inbound import MAX_ENTRIES, Limits, _Copier, collect_submission

SECRET = b"SECRET-" + os.urandom(8).hex().encode()
LIMITS = Limits(max_file_bytes=100_000_000, max_total_bytes=100_000_000)


@pytest.fixture
def place(tmp_path):
    """(inbound folder, a submission folder in it, the destination, the secret file outside)."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(SECRET * 10)
    (tmp_path / "secret_dir").mkdir()
    (tmp_path / "secret_dir" / "inner.txt").write_bytes(SECRET)
    submission = tmp_path / "inbound" / "s+unet_segmentation+t+r"
    submission.mkdir(parents=True)
    (submission / "nb.ipynb").write_bytes(b"{}")
    return tmp_path / "inbound", submission, tmp_path / "submitted" / "s" / "unet_segmentation", secret


def every_byte(folder):
    found = {}
    for top, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(top, name)
            assert not os.path.islink(path), path
            if name in files:
                with open(path, "rb") as f:
                    found[os.path.relpath(path, folder)] = f.read()
    return found


def test_what_changes_between_the_scan_and_the_copy_is_not_followed(place, monkeypatch):
    inbound, submission, destination, secret = place
    for name in ("to_link", "to_pipe", "grows"):
        (submission / name).write_bytes(b"plain")
    (submission / "sub").mkdir()
    (submission / "sub" / "inner.txt").write_bytes(b"inner")
    scanned_then_copied = _Copier.copy

    def swap_then_copy(self, fd, out, planned, parts):
        if not parts:  # after the scan, before the first byte is copied: the student swaps
            (submission / "to_link").unlink()
            os.symlink(secret, submission / "to_link")
            (submission / "to_pipe").unlink()
            os.mkfifo(submission / "to_pipe")
            (submission / "grows").write_bytes(b"plain, and more")
            os.rename(submission / "sub", submission / "sub_moved")
            os.symlink(secret.parent / "secret_dir", submission / "sub")
        return scanned_then_copied(self, fd, out, planned, parts)

    monkeypatch.setattr(_Copier, "copy", swap_then_copy)
    start = time.monotonic()
    copied = collect_submission(inbound, submission.name, destination, LIMITS, "s")
    assert time.monotonic() - start < 10  # the pipe was never waited on
    assert not copied.refused
    assert every_byte(destination) == {"nb.ipynb": b"{}"}
    assert sorted(copied.skipped) == [
        "grows (changed while being collected)", "sub (changed while being collected, with all it holds)",
        "to_link (changed while being collected)", "to_pipe (changed while being collected)"]


def test_hard_links_and_entries_of_another_owner_are_skipped(place):
    inbound, submission, destination, secret = place
    os.link(secret, submission / "linked_secret")  # root may; a student may only for files they own
    (submission / "own.txt").write_bytes(b"own")
    os.link(submission / "own.txt", submission / "own_again.txt")
    (submission / "foreign.txt").write_bytes(b"foreign")
    os.chown(submission / "foreign.txt", 54321, 54321)
    (submission / "deep").mkdir()
    os.makedirs(submission / "deep" / os.path.join(*["d"] * 40))
    copied = collect_submission(inbound, submission.name, destination,
                                Limits(max_file_bytes=10**6, max_total_bytes=10**6, owners=frozenset({os.geteuid()})),
                                "s")
    assert not copied.refused
    assert every_byte(destination) == {"nb.ipynb": b"{}"}
    assert "linked_secret (hard-linked (2 links))" in copied.skipped
    assert "own.txt (hard-linked (2 links))" in copied.skipped
    assert "foreign.txt (owned by uid 54321, not by the folder's owner root)" in copied.skipped
    assert f"deep/{'d/' * 31}d (more than 32 folders deep, with all it holds)" in copied.skipped


def test_a_folder_owned_by_someone_else_is_refused_naming_both(place):
    inbound, submission, destination, _ = place
    os.chown(submission, 54321, 54321)
    copied = collect_submission(inbound, submission.name, destination,
                                Limits(owners=frozenset({os.geteuid()})), "alice")
    assert copied.refused == "claims to be from alice but is owned by uid 54321"
    assert not destination.parent.exists()  # not even an empty folder of the student's


def test_too_many_entries_are_refused_without_listing_them_all(place):
    inbound, submission, destination, _ = place
    many = submission / "many"
    many.mkdir()
    for number in range(MAX_ENTRIES + 1):
        os.close(os.open(many / str(number), os.O_CREAT | os.O_WRONLY, 0o644))
    start = time.monotonic()
    copied = collect_submission(inbound, submission.name, destination, LIMITS, "s")
    assert copied.refused == f"more than {MAX_ENTRIES:,} entries"
    assert time.monotonic() - start < 5
    assert not destination.exists()


def test_a_refused_update_keeps_the_collected_copy_and_a_good_one_replaces_it(place):
    inbound, submission, destination, _ = place
    destination.mkdir(parents=True)
    (destination / "nb.ipynb").write_bytes(b"collected before")
    with open(submission / "sparse.bin", "wb") as sparse:
        sparse.truncate(200_000_000)
    small = Limits(max_file_bytes=300_000_000, max_total_bytes=100_000_000)
    copied = collect_submission(inbound, submission.name, destination, small, "s", replace=True)
    assert copied.refused.startswith("200,000,002 bytes of files, over the limit of 100,000,000")
    assert every_byte(destination.parent) == {"unet_segmentation/nb.ipynb": b"collected before"}
    (submission / "sparse.bin").unlink()
    copied = collect_submission(inbound, submission.name, destination, small, "s", replace=True)
    assert not copied.refused and copied.files == 1
    assert every_byte(destination.parent) == {"unet_segmentation/nb.ipynb": b"{}"}  # no staged folder left


def test_a_file_rewritten_in_place_after_submitting_shows_in_the_change_time(place):
    """Rewriting a submitted notebook in place changes nothing in its folder's listing, but its
    inode change time, which collect compares with timestamp.txt (collect.py), and which a
    student cannot move back."""
    inbound, submission, destination, _ = place
    (submission / "sub").mkdir()
    (submission / "sub" / "late.txt").write_bytes(b"first")
    before = collect_submission(inbound, submission.name, destination, LIMITS, "s").changed_ns
    time.sleep(0.2)
    written = time.time_ns() - 20_000_000  # file times come from the kernel's coarse clock
    with open(submission / "sub" / "late.txt", "r+b") as handle:  # the same inode, new bytes
        handle.write(b"later")
    again = collect_submission(inbound, submission.name, destination, LIMITS, "s", replace=True)
    assert again.changed_ns >= written > before


@pytest.mark.parametrize("text, problem", [
    ("2026-12-06 20:30:00.000000 UTC", ""),  # what nbgrader submit writes
    ("2026-12-06 20:30:00", ""),
    ("2026-12-06 20:30:00 +9959", "not a timestamp"),  # nbgrader's parse_utc: 9959 seconds earlier
    ("2026-12-06 20:30:00 tomorrow", "not a timestamp"),
])
def test_timestamp_files_hold_only_what_nbgrader_submit_writes(text, problem):
    from nbgrader.utils import parse_utc

    from course.layout import timestamp_problem

    said = timestamp_problem(text.encode())
    assert said.startswith(problem) and bool(said) == bool(problem)
    if text.endswith("+9959"):  # the reason: read as 2 h 46 min earlier, not as an offset
        assert (parse_utc("2026-12-06 20:30:00") - parse_utc(text)).total_seconds() == 9959
