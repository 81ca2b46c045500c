"""The due date: parsed with its time zone by name, refused in the instructor's terms when it
cannot be used, and written into the gradebook where nbgrader's lateness reads it."""

import datetime

import pytest
from nbgrader.api import Gradebook

from term_gradebook import term
from course.assignment import ASSIGNMENT
from course.deadline.due import DeadlineError, parse_when, sync, without_term
from course.layout import ROOT

UTC = datetime.timezone.utc


def test_a_named_zone_follows_its_clock_changes():
    assert parse_when("2026-12-14 23:59 Europe/London").astimezone(UTC) == datetime.datetime(2026, 12, 14, 23, 59,
                                                                                               tzinfo=UTC)
    assert parse_when("2026-06-14 23:59 Europe/London").astimezone(UTC) == datetime.datetime(2026, 6, 14, 22, 59,
                                                                                               tzinfo=UTC)
    assert parse_when("2026-06-14 08:00:30 UTC").second == 30


@pytest.mark.parametrize("text, says", [
    ("2026-12-14 23:59", "names no time zone"),
    ("2026-12-14 23:59 BST", "by its name"),  # nbgrader would read BST as UTC
    ("2026-12-14 23:59 +0100", "by its name"),  # ... and +0100 as 100 seconds
    ("2026-12-14 23:59 Europe/Londres", "is not a time zone"),
    ("2026-02-30 12:00 UTC", "not a real date"),
    ("14/12/2026 23:59 UTC", "is not a date and time"),
    ("2026-03-29 01:30 Europe/London", "clocks in Europe/London change"),  # skipped
    ("2026-10-25 01:30 Europe/London", "clocks in Europe/London change"),  # twice
])
def test_a_due_date_that_cannot_be_used_is_refused_saying_why(text, says):
    with pytest.raises(DeadlineError, match=says) as refused:
        parse_when(text)
    assert "c.Deadline.due" in str(refused.value)


def test_sync_writes_the_due_date_in_utc_and_leaves_nbgraders_own_alone_when_none_is_set(db_url):
    assert sync(db_url, term(None)) is None
    sync(db_url, term("2026-06-14 23:59 Europe/London"))
    with Gradebook(db_url) as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT).duedate == datetime.datetime(2026, 6, 14, 22, 59)
    # Unset in the configuration: a due date set in formgrader (or by `nbgrader db`) stays in force.
    assert sync(db_url, term(None)) == datetime.datetime(2026, 6, 14, 22, 59, tzinfo=UTC)
    with Gradebook(db_url) as gradebook:
        assert gradebook.find_assignment(ASSIGNMENT).duedate == datetime.datetime(2026, 6, 14, 22, 59)


def test_the_course_ships_with_no_due_date_and_a_late_policy():
    from course.grading.gradebook import course_config

    config = course_config(ROOT)
    assert config.Deadline.due is None
    assert config.AssignLatePenalties.plugin_class == "course.deadline.policy.LatePolicy"


def test_grading_hashes_the_config_without_the_terms_lines():
    """A new due date or policy must not grade every submission again."""
    text = (ROOT / "nbgrader_config.py").read_bytes()
    changed = text.replace(b"c.Deadline.due = None", b'c.Deadline.due = "2026-12-14 23:59 UTC"') \
        .replace(b"c.LatePolicy.max_days = 5", b"c.LatePolicy.max_days = 3")
    assert changed != text
    assert without_term(changed) == without_term(text)
    other = text.replace(b"c.SandboxedKernelManager.memory_mb = 4096", b"c.SandboxedKernelManager.memory_mb = 1")
    assert without_term(other) != without_term(text)
