"""The late policy: a share of the points earned per started day late, nothing after the limit."""

import pytest
from traitlets import TraitError

from course.deadline.policy import DAY, LatePolicy, lateness, started_days


def policy(**settings):
    plugin = LatePolicy()
    for name, value in settings.items():
        setattr(plugin, name, value)
    return plugin


@pytest.mark.parametrize("seconds, share", [(1, 0.1), (DAY, 0.1), (DAY + 1, 0.2), (3 * DAY - 60, 0.3),
                                            (5 * DAY, 0.5), (5 * DAY + 1, 1.0), (40 * DAY, 1.0)])
def test_a_tenth_per_started_day_and_nothing_after_five_days(seconds, share):
    assert policy(per_started_day=0.1, max_days=5).late_submission_penalty("ada", 30.0, seconds) == \
        pytest.approx(30.0 * share)


def test_no_policy_charges_nothing():
    assert LatePolicy().late_submission_penalty("ada", 30.0, 3 * DAY) is None
    assert policy(per_started_day=0.1).late_submission_penalty("ada", 30.0, 0) is None


def test_without_a_limit_the_penalty_stops_at_the_points_earned():
    assert policy(per_started_day=0.3).late_submission_penalty("ada", 20.0, 9 * DAY) == 20.0


def test_a_limit_alone_takes_everything_after_it_and_nothing_before():
    plugin = policy(max_days=2)
    assert plugin.late_submission_penalty("ada", 20.0, 2 * DAY) == 0.0
    assert plugin.late_submission_penalty("ada", 20.0, 2 * DAY + 1) == 20.0


@pytest.mark.parametrize("name, value", [("per_started_day", 1.5), ("per_started_day", -0.1), ("max_days", -1)])
def test_impossible_settings_are_refused_by_name(name, value):
    with pytest.raises(TraitError, match=f"c.LatePolicy.{name}"):
        policy(**{name: value})


def test_lateness_reads_as_a_person_says_it():
    assert lateness(0) == "on time"
    assert lateness(40 * 60) == "40 min late"
    assert lateness(DAY + 2 * 3600 + 5 * 60) == "1 day 2 h 5 min late"
    assert lateness(3 * DAY) == "3 days late"
    assert started_days(1) == 1 and started_days(DAY) == 1 and started_days(DAY + 1) == 2


def test_the_policy_describes_itself():
    assert policy(per_started_day=0.1, max_days=5).describe() == \
        "10% of the points per started day late, no points more than 5 days late"
    assert LatePolicy().describe() == "no penalty for late submissions"
