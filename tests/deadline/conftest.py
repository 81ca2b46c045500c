"""The term's gradebook fixtures (tests/term_gradebook.py)."""

from term_gradebook import db_url, template_gradebook  # noqa: F401 (fixtures)
