"""`photonormals` command line: one sub-command per module in this folder.

Every failure ends in one line on stderr and a non-zero exit code, never a traceback:
  2  bad input or usage      3  model not available      1  internal error (a bug: please report)
Set PHOTONORMALS_DEBUG=1 to see the traceback of an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..errors import UserError
from . import batch, bench, calibrate, evaluate, height, predict, relight, serve, train

COMMANDS = (predict, batch, calibrate, evaluate, height, train, serve, relight, bench)


class _Parser(argparse.ArgumentParser):
    """argparse prints a usage block on errors; we keep to the one-line rule."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="photonormals", description="Photos to relightable normal, albedo and mask maps."
    )
    parser.add_argument("--version", action="version", version=f"photonormals {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version or a usage error, already printed
        return int(exit_.code or 0)
    try:
        return args.run(args) or 0
    except UserError as exc:
        print(f"photonormals {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"photonormals {args.command}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(
            f"photonormals {args.command}: error: out of memory; try smaller images",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # a bug: say so in one line, keep the traceback for debugging
        if os.environ.get("PHOTONORMALS_DEBUG"):
            raise
        print(
            f"photonormals {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set PHOTONORMALS_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
