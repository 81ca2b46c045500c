"""Command line: `python -m roadscenes generate ...` and `python -m roadscenes check DIR`."""

import argparse
import sys

from .appearance import FAMILIES
from .check import check
from .dataset import DEFAULT_COUNT, DEFAULT_DIR, DEFAULT_SEED, DEFAULT_SIZE, generate
from .preview import write_preview


def _size(text):
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}")
    return width, height


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m roadscenes", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="write CameraRGB/ and CameraMask/ frames")
    gen.add_argument("--count", type=int, default=DEFAULT_COUNT, help=f"frames (default {DEFAULT_COUNT})")
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    gen.add_argument("--out", default=str(DEFAULT_DIR), help="data folder (default: the course's data/)")
    gen.add_argument("--size", type=_size, default=DEFAULT_SIZE, help="WIDTHxHEIGHT (default 640x480)")
    gen.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    gen.add_argument("--force", action="store_true", help="rebuild even if the folder is up to date")
    gen.add_argument("--appearance", choices=sorted(FAMILIES), default="standard",
                     help="family of looks: standard (the course's data) or heldout (lights and camera "
                          "settings the standard family never uses, to test a network on)")
    gen.add_argument("--preview", metavar="PNG", help="also save a preview grid with a class legend")

    chk = commands.add_parser("check", help="validate a data folder; exit 1 naming each bad file")
    chk.add_argument("folder")
    chk.add_argument("--size", type=_size, default=DEFAULT_SIZE, help="expected WIDTHxHEIGHT")

    args = parser.parse_args(argv)
    if args.command == "generate":
        manifest = generate(args.out, args.count, args.seed, args.size, args.workers, args.force,
                            appearance=args.appearance)
        print(f"{args.out}: {manifest['count']} frames, seed {manifest['seed']}, {args.appearance} appearance")
        if args.preview:
            print(f"preview: {write_preview(args.out, args.preview)}")
        return 0
    problems = check(args.folder, args.size)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{args.folder}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.folder}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
