"""The ``linflow`` command line: one subcommand per module in :mod:`linflow.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

# Each name is a module linflow.commands.<name> with ``register(subparsers)``; the registered
# parser carries ``func(args) -> int`` (the exit status).
SUBCOMMANDS = ("compare", "check", "bounds", "prove", "table", "plot", "report", "sweep")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linflow",
        description=(
            "Symbolic-numeric analysis of gradient descent (GD) and gradient flow (GF) on deep "
            "linear networks: compare GD with GF, check theorems, print bounds."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"linflow.commands.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
