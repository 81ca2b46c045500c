"""The term's dates into the gradebook before plain `nbgrader autograde` grades: part of
`c.Autograde.pre_convert_hook` (course/grading/selftest.py runs it after the self-test)."""

from .due import DeadlineError
from .extensions import apply


class DeadlineRefused(SystemExit):
    """A due date nbgrader_config.py gives that cannot be used: grading stops, recording nothing.
    (nbgrader swallows an ordinary exception from a pre-convert hook and grades on.)"""


def hook(**_):
    """Part of nbgrader's Autograde.pre_convert_hook: the configured due date into the gradebook."""
    from traitlets.config import Application

    app = Application.instance()
    grader = getattr(app, "subapp", None) or app  # `nbgrader autograde`: the autograde app
    db_url = "its gradebook"
    try:
        db_url = grader.coursedir.db_url
        apply(db_url, grader.config, grader.coursedir.root)  # the due date, then the extensions
    except DeadlineError as error:
        app.log.error(f"{error}; fix it in nbgrader_config.py and grade again")
        raise DeadlineRefused(1) from None
    except Exception as error:  # noqa: BLE001 - grading without the due date would charge wrong penalties
        app.log.error(f"could not write the due date and extensions into the gradebook {db_url}: "
                      f"{type(error).__name__}: {error}; nothing was graded")
        raise DeadlineRefused(1) from None

