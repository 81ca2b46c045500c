"""The browser tests' fixtures (lab_server.py), shared by every test module of this folder:
a fixture imported into two test modules would be made twice, and a second
Playwright cannot start beside the first in one thread."""

from .lab_server import browser, course, lab, page, screenshots, student_lab  # noqa: F401 (fixtures)
