"""Several nbgrader commands in one process: its start-up (imports, configuration) costs about
3 s, paid once for `autograde` and `generate_feedback` of a batch.

    python -m course.grading.nbgrader_steps CODES.json COMMAND ARGS... [--then COMMAND ARGS...]...

Each command runs as `nbgrader COMMAND ARGS...` would; CODES.json gets the exit code of each.
"""

import json
import sys

from jupyter_core.application import NoStart
from nbgrader.apps.nbgraderapp import NbGraderApp


def run(argv):
    """Exit code of `nbgrader ARGV...` run in this process."""
    app = NbGraderApp.instance()
    try:
        app.initialize(argv)
        app.start()
        code = 0
    except NoStart:  # how jupyter applications end after a subcommand
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        if app.subapp is not None:
            type(app.subapp).clear_instance()
        NbGraderApp.clear_instance()
    return code


def main(argv):
    codes_path, steps, current = argv[0], [], []
    for arg in argv[1:]:
        if arg == "--then":
            steps.append(current)
            current = []
        else:
            current.append(arg)
    steps.append(current)
    codes = []
    for step in steps:
        codes.append(run(step))
        with open(codes_path, "w") as handle:  # written as it goes: a step may be killed
            json.dump(codes, handle)
    return 0 if all(code == 0 for code in codes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
