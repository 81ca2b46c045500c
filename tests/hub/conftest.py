"""The class on a hub that the tests here share (hub_class.py)."""

from .hub_class import hub_class  # noqa: F401 (the fixture)
