"""The assignment's due date, from nbgrader_config.py into the gradebook.

    c.Deadline.due = "2026-12-14 23:59 Europe/London"

nbgrader reads a due date only from its gradebook (`Assignment.duedate`, in UTC), and its
own parser reads a zone abbreviation such as "BST" as UTC and "+0100" as 100 seconds. The
course parses the configured date itself, with an IANA zone name (or UTC) required, and
writes it into the gradebook before anything grades: `hook.py` does it for plain `nbgrader
autograde` (nbgrader_config.py runs it after the self-test), and the course's commands call
`sync`. Without `c.Deadline.due`, a due date set the nbgrader way (formgrader, `nbgrader db
assignment add --duedate`) stays in force, and with neither there is no due date and no penalty.
"""

import datetime
import re
import warnings
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from traitlets import Unicode
from traitlets.config import Configurable

from ..assignment import ASSIGNMENT

WHEN = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2}(?::\d{2})?)(?: (\S+))?")


TERM_LINE = re.compile(rb"^c\.(Deadline|LatePolicy)\.\w+ *=.*$", re.MULTILINE)


def without_term(config_bytes):
    """nbgrader_config.py without its lines of the term (`c.Deadline.*`, `c.LatePolicy.*`):
    what grading hashes, so that a new due date or policy grades nothing again."""
    return TERM_LINE.sub(b"", config_bytes)


class Deadline(Configurable):
    due = Unicode(None, allow_none=True, help='the due date with its time zone, e.g. "2026-12-14 23:59 '
                  'Europe/London"; None: no due date').tag(config=True)


class DeadlineError(ValueError):
    """A due date or an extension that cannot be used, said in the instructor's terms."""


def parse_when(text, zone=None, what="c.Deadline.due"):
    """An aware datetime from "YYYY-MM-DD HH:MM[:SS] Zone/Name" ("UTC" too). Without a zone in
    the text, `zone` (a ZoneInfo) is used; with neither, it is refused."""
    match = WHEN.fullmatch(str(text).strip())
    if not match:
        raise DeadlineError(f'{what}: {text!r} is not a date and time such as "2026-12-14 23:59 Europe/London"')
    day, clock, name = match.groups()
    if name is None and zone is None:
        raise DeadlineError(f'{what}: {text!r} names no time zone; add one, such as "{day} {clock} '
                            'Europe/London" or "... UTC"')
    if name is not None:
        zone = _zone(name, text, what)
    try:
        naive = datetime.datetime.fromisoformat(f"{day} {clock if clock.count(':') == 2 else clock + ':00'}")
    except ValueError as error:
        raise DeadlineError(f"{what}: {text!r} is not a real date and time ({error})") from None
    when = naive.replace(tzinfo=zone)
    # A time that a change of clocks skips (or repeats) has no single meaning: say so.
    there_and_back = when.astimezone(datetime.timezone.utc).astimezone(zone).replace(tzinfo=None)
    folded = naive.replace(tzinfo=zone, fold=1).utcoffset() != when.utcoffset()
    if there_and_back != naive or folded:
        raise DeadlineError(f"{what}: {text!r} falls where the clocks in {zone.key} change; pick another time")
    return when


def _zone(name, text, what):
    if re.fullmatch(r"[+-]\d{4}|[A-Z]{3,5}", name) and name not in ("UTC", "GMT"):
        raise DeadlineError(f"{what}: {text!r}: give the time zone by its name (such as Europe/London), not "
                            f"{name!r}, which does not say when clocks change")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DeadlineError(f"{what}: {text!r}: {name!r} is not a time zone (such as Europe/London or UTC)") \
            from None


def configured(config):
    """The configured due date (aware), or None when none is set."""
    text = Deadline(config=config).due
    return None if text in (None, "") else parse_when(text)


def as_utc(when):
    """The naive UTC datetime nbgrader's gradebook stores."""
    return when.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def from_utc(stored):
    """An aware datetime from a naive UTC one the gradebook stores (None stays None)."""
    return None if stored is None else stored.replace(tzinfo=datetime.timezone.utc)


def sync(db_url, config):
    """Write the configured due date into the gradebook's assignment and return the due date
    in force (aware, or None). Without `c.Deadline.due`, the gradebook's own due date (set with
    `nbgrader db assignment add --duedate` or in formgrader) is left as it is, and returned."""
    from nbgrader.api import Gradebook, MissingEntry

    due = configured(config)
    with Gradebook(db_url) as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's notes on nbgrader's own sessions
        try:
            assignment = gradebook.find_assignment(ASSIGNMENT)
        except MissingEntry:
            return due  # nothing released yet: `nbgrader generate_assignment` creates it, then this runs again
        if due is None:
            return from_utc(assignment.duedate)
        if assignment.duedate != as_utc(due):
            assignment.duedate = as_utc(due)
            gradebook.db.commit()
    return due


def shown(when, zone=None):
    """'Mon 14 Dec 2026, 23:59 Europe/London' (in `zone` when given, else in the date's own)."""
    when = when.astimezone(zone) if zone is not None else when
    return f"{when:%a %d %b %Y, %H:%M} {getattr(when.tzinfo, 'key', None) or when.tzname()}"
