"""Graded kernels, each in a sandbox of its own; used by plain `nbgrader autograde` too.

`execute` (SandboxedExecute, in place of nbgrader's Execute) starts every kernel through
`launcher` (cgroups, bubblewrap, an unprivileged user, no network), copies in the
submission's own files (`submission_files`), bounds what comes back as it arrives
(`bounded_output`) and runs hidden tests where no later cell can read them (`hidden_calls`).

May import: course.layout, course.assignment (the evidence's MIME type). `launcher` runs once
per kernel and imports nothing but the standard library.
"""
