"""The course on a JupyterHub on this machine: `python -m course hub --class-list class.csv`.

`classlist` reads who is in the class (students, the instructor, graders); `accounts` makes
their Unix users and the staff group; `folders` shares the exchange with nbgrader's
permissions, keeps the course folder's instructor-only parts from students, and writes each
user's Jupyter configuration (Assignments tab and Validate for everyone, formgrader and the
course list for staff only); `hub_config` writes jupyterhub_config.py (PAM login, a process
per user as that user, formgrader as a hub service run as the instructor); `serve` checks the
machine and runs JupyterHub.

Isolation is Unix permissions, never the Jupyter configuration: a student who edits their own
configuration gains nothing, since the course folder is not theirs to read.

May import: course.layout.
"""
