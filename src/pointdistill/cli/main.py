"""The ``pointdistill`` console script: one sub-command per job, each registered by its own module.

Errors caused by the user's input (PointDistillError) print one line and exit with status 2; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from pointdistill import __version__
from pointdistill.errors import PointDistillError

COMMAND_MODULES = ("data", "pretrain", "evaluate", "embed", "demo", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pointdistill",
        description="Self-supervised 3D point cloud representation learning by self-distillation.",
    )
    parser.add_argument("--version", action="version", version=f"pointdistill {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"pointdistill.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except PointDistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
