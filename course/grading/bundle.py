"""The grading files a worker needs, as one picklable value, and their digest.

The source of the assignment (the notebook with its hidden tests and the files it ships),
nbgrader_config.py, the `course` package (judge, sandbox, this job) and a snapshot of the
gradebook's assignment (gradebook.snapshot). A worker unpacks it once (remote.py); the
digest changes whenever anything that decides a grade does, so that every submission is
graded again after such a change.
"""

import hashlib
from pathlib import Path

from .batch_job import SNAPSHOT
from ..assignment import ASSIGNMENT
from ..layout import walk

IGNORED = {"__pycache__", ".ipynb_checkpoints"}


def _files(root, folder, pattern="**/*"):
    found = {}
    for path in walk(root / folder):
        relative = path.relative_to(root)
        if path.is_file() and not path.is_symlink() and not IGNORED & set(relative.parts) \
                and path.suffix != ".pyc" and path.match(pattern):
            found[str(relative)] = path.read_bytes()
    return found


def grading_bundle(root, db_url, course_id):
    """{"digest": sha256, "files": {relative path: bytes}} of the course at `root`."""
    from ..deadline.due import without_term
    from .gradebook import snapshot

    root = Path(root)
    files = _files(root, Path("source") / ASSIGNMENT)
    files.update(_files(root, "course", "*.py"))
    files["nbgrader_config.py"] = (root / "nbgrader_config.py").read_bytes()
    term_free = without_term(files["nbgrader_config.py"])
    # The snapshot is hashed by what it says: two SQLite files of the same data differ.
    files[SNAPSHOT], described = snapshot(db_url, course_id)
    hasher = hashlib.sha256(described.encode())
    for relative in sorted(files):
        if relative != SNAPSHOT:
            content = term_free if relative == "nbgrader_config.py" else files[relative]
            hasher.update(relative.encode() + b"\0" + hashlib.sha256(content).digest())
    return {"digest": hasher.hexdigest(), "files": files}
