"""Malformed notebooks: the reference submission with parts of its JSON replaced by anything."""

import json
import os

import nbformat

from course.unet_segmentation.examples import solved

JSON_SCALARS = [None, True, False, 0, -1, 3, 2.5, "", "x", "grade_conv_block_defaults", "code", "markdown",
                "raw", 10**30, [], {}]


def reference_json():
    return json.loads(nbformat.writes(solved((1, 2, 3))))


def _paths(value, path=()):
    """Every place in a JSON value, as a tuple of keys and indices."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def _random_value(rng, depth=0):
    kind = rng.randrange(6 if depth < 3 else 3)
    if kind < 3:
        return rng.choice(JSON_SCALARS)
    if kind == 3:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 4:
        return {rng.choice(["grade_id", "nbgrader", "metadata", "source", "cell_type", "points", "x"]):
                _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return "".join(rng.choice("[]{}\"\\,:ab0") for _ in range(rng.randrange(8)))


def mutate(notebook, rng, count=3):
    """Replace, delete or duplicate `count` random places of the notebook (in place)."""
    for _ in range(count):
        paths = [p for p in _paths(notebook) if p]
        path = rng.choice(paths)
        parent = notebook
        for key in path[:-1]:
            parent = parent[key]
        action = rng.randrange(3)
        if action == 0:
            parent[path[-1]] = _random_value(rng)
        elif action == 1:
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.insert(path[-1], json.loads(json.dumps(parent[path[-1]])))
        else:
            parent[path[-1]] = [parent[path[-1]]]
    return notebook


def clean_name(name):
    """`name` (bytes) as one path component can hold it: no slash, no NUL, not empty."""
    return name.replace(b"/", b"_").replace(b"\0", b"_") or b"_"


def entry_place(top_fd, parts, deep=False):
    """(fd of the folder, name) where the entry `parts` (names of any bytes) goes below the
    folder `top_fd`, its folders made (`deep`: 40 more), or (None, name) when the OS refuses
    them, as nothing could then be submitted there. The caller closes the fd."""
    *folders, name = [clean_name(p) for p in parts]
    try:
        return descend(top_fd, folders + [b"d"] * 40 * deep), name
    except OSError:
        return None, name


def descend(top_fd, folders):
    """A new fd of the folder `folders` below the folder `top_fd`, each made when missing and
    opened relative to the one before, never through a link: names of any bytes and paths of
    any length can be made so. The caller closes it."""
    fd = os.dup(top_fd)
    try:
        for folder in folders:
            try:
                os.mkdir(folder, dir_fd=fd)
            except FileExistsError:
                pass
            inner = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd
