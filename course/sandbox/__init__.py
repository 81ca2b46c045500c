"""Graded kernels, each in a sandbox of its own; used by plain `nbgrader autograde` too.

`execute` (SandboxedExecute, in place of nbgrader's Execute) starts every kernel through
`launcher` (cgroups, bubblewrap, an unprivileged user, no network), copies in the
submission's own files (`submission_files`), bounds what comes back as it arrives
(`bounded_output`) and runs hidden tests where no later cell can read them (`hidden_calls`).

`zygote` imports TensorFlow once and forks each kernel into its sandbox; `teardown` kills
what a sandbox left and removes it.

May import: course.layout, course.assignment (the evidence's MIME type). `launcher` runs once
per kernel and `zygote` is run as a file: they import nothing but the standard library (the
zygote then the modules it loads for its kernels).
"""
