"""The late policy, as nbgrader's own LateSubmissionPlugin.

    c.AssignLatePenalties.plugin_class = "course.deadline.policy.LatePolicy"
    c.LatePolicy.per_started_day = 0.10   # a tenth of the points per started day late
    c.LatePolicy.max_days = 5             # later than 5 days: no points

nbgrader's AssignLatePenalties calls the plugin for each notebook of a late submission with
the notebook's score and the seconds late, which nbgrader computes from `timestamp.txt` (as
recorded at submission), the gradebook's due date and the student's extension: nothing a
notebook says about itself. The penalty is a share of the points the notebook earned.
"""

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float, Int, TraitError, validate

DAY = 86400


class LatePolicy(LateSubmissionPlugin):
    """A share of the points per started day late, and nothing after `max_days`."""

    per_started_day = Float(0.0, help="share of the points taken per started day late (0.1: 10%); "
                            "0 and no max_days: no penalty").tag(config=True)
    max_days = Int(None, allow_none=True, help="later than this many days: no points; None: no limit").tag(
        config=True)

    @validate("per_started_day")
    def _share(self, proposal):
        if not 0 <= proposal["value"] <= 1:
            raise TraitError(f"c.LatePolicy.per_started_day must be between 0 and 1, not {proposal['value']}")
        return proposal["value"]

    @validate("max_days")
    def _days(self, proposal):
        if proposal["value"] is not None and proposal["value"] < 0:
            raise TraitError(f"c.LatePolicy.max_days must be 0 or more, not {proposal['value']}")
        return proposal["value"]

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        if total_seconds_late <= 0:
            return None
        share = self.share(total_seconds_late)
        return None if share is None else round(score * share, 6)

    def share(self, seconds_late):
        """The share of the points taken (0..1), or None when this policy takes nothing."""
        if seconds_late <= 0 or (self.per_started_day == 0 and self.max_days is None):
            return None
        days = started_days(seconds_late)
        if self.max_days is not None and seconds_late > self.max_days * DAY:
            return 1.0
        return min(1.0, self.per_started_day * days)

    def describe(self):
        """The policy in a sentence, for the feedback and the README."""
        if self.per_started_day == 0 and self.max_days is None:
            return "no penalty for late submissions"
        parts = []
        if self.per_started_day:
            parts.append(f"{self.per_started_day:.0%} of the points per started day late")
        if self.max_days is not None:
            parts.append(f"no points more than {self.max_days} day{'s' * (self.max_days != 1)} late")
        return ", ".join(parts)


def started_days(seconds_late):
    """Days late, each started day counting whole: 1 second late is 1 day."""
    return math.ceil(seconds_late / DAY) if seconds_late > 0 else 0


def lateness(seconds_late):
    """'1 day 2 h 5 min late', '40 min late', or 'on time'."""
    if seconds_late <= 0:
        return "on time"
    minutes = math.ceil(seconds_late / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} day{'s' * (days != 1)}"] * bool(days) + [f"{hours} h"] * bool(hours) + \
        [f"{minutes} min"] * bool(minutes)
    return " ".join(parts) + " late"


def described(config):
    """The configured late policy in a sentence, for students."""
    chosen = config.AssignLatePenalties.get("plugin_class")
    if not isinstance(chosen, str):  # a class given in the configuration, not its name
        chosen = f"{getattr(chosen, '__module__', '')}.{getattr(chosen, '__name__', '')}"
    name = chosen
    if name == f"{__name__}.LatePolicy":
        return LatePolicy(config=config).describe()
    return "as your course's late policy says"
