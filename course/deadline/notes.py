"""What students read about the term: the due date in the released notebook, and in their
feedback the due date, their extension, when they submitted, how late and the penalty."""

from .due import shown
from .policy import lateness, started_days


def release_markdown(due, policy):
    """The released notebook's cell under its title (due: aware datetime)."""
    return (f"**Due: {shown(due)}.** Submit from JupyterLab's Assignments tab; the time the tab "
            f"records when you submit is the one that counts. Late submissions: {policy}.")


def feedback_markdown(due, until, submitted, raw, penalty, policy, zone, regraded=None):
    """The feedback's first cell. `due` the class's due date, `until` the student's own when
    they have an extension (aware datetimes); `submitted` when they submitted (aware, or None
    when no time was recorded); `raw` the notebook's points before `penalty`; `regraded` when
    the submission was graded again on purpose (aware, or None)."""
    lines = ["### Due date and submission", ""]
    if due is not None:
        lines.append(f"- **Due:** {shown(due, zone)}")
    if until is not None and until != due:
        lines.append(f"- **Your extension:** until {shown(until, zone)}")
    deadline = until or due
    if submitted is None:
        lines.append("- **Submitted:** no time of submission was recorded, so no lateness is counted")
    else:
        lines.append(f"- **Submitted:** {shown(submitted, zone)}")
        if deadline is not None:
            seconds = (submitted - deadline).total_seconds()
            if seconds > 0:
                days = started_days(seconds)
                lines.append(f"- **Late:** {lateness(seconds)} ({days} started day{'s' * (days != 1)})")
                lines.append(f"- **Late policy:** {policy}")
                lines.append(f"- **Penalty:** {_points(penalty)} taken from the {_points(raw)} your notebook "
                             f"earned: {_points(max(0.0, raw - penalty))} count")
            else:
                lines.append("- **On time**")
    if regraded is not None:
        lines.append(f"- **Regraded:** {shown(regraded, zone)}; this feedback replaces the earlier one")
    return "\n".join(lines)


def number(value):
    """A number of points as students and every LMS read it: a decimal point, at most two
    decimals, no exponent."""
    text = f"{round(value, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _points(value):
    text = number(value)
    return f"{text} point{'s' * (text != '1')}"
