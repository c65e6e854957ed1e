"""The ``linflow`` command line: one subcommand per module in :mod:`linflow.commands`.

Exit statuses: 0 success; 1 a finding (a violated claim, a failed proof or report section);
2 a usage error, printed as one line naming the option and its value, before any work
starts; 130 interrupted (Ctrl-C), after printing what was completed; 141 the reader of the
output went away (``linflow bounds | head``); 70 an internal error (a bug in linflow: one line,
the traceback with ``--debug``). NumPy's floating-point ``RuntimeWarning``s (overflow in a
diverging run, …) are shown only with ``--debug``: results carry their statuses instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
import warnings
from typing import Optional, Sequence

# Each name is a module linflow.commands.<name> with ``register(subparsers)``; the registered
# parser carries ``func(args) -> int`` (the exit status).
SUBCOMMANDS = ("compare", "check", "bounds", "prove", "table", "plot", "report", "sweep")

EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE of sysexits.h
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a process killed by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE

DEBUG_FLAG = "--debug"
MAX_ERROR_CHARS = 300  # per part of an error line (a message may hold a whole array)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``linflow CMD: error: argument --OPT: …``,
    and every option's default shown in ``--help``."""

    def __init__(self, *args, **kwargs):
        from .commands._options import DefaultsHelpFormatter

        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="linflow",
        description=(
            "Symbolic-numeric analysis of gradient descent (GD) and gradient flow (GF) on deep "
            "linear networks: compare GD with GF, check theorems, print bounds."
        ),
        epilog=(
            "Exit status: 0 ok, 1 a finding (violated claim, failed proof), 2 bad arguments, "
            "130 interrupted, 70 internal error. --debug (anywhere) shows tracebacks."
        ),
    )
    parser.add_argument(DEBUG_FLAG, action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"linflow.commands.{name}").register(sub)
    return parser


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced (tests) or already closed
        pass


def _one_line(text) -> str:
    from .commands._options import shorten

    return shorten(text, limit=2 * MAX_ERROR_CHARS)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Usage errors found by argparse raise ``SystemExit(2)`` after printing one line, as argparse
    does; every other outcome is returned.
    """
    from .commands._options import CLIError

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv
    argv = [a for a in argv if a != DEBUG_FLAG]
    try:
        parser = build_parser()
        args = parser.parse_args(argv)  # SystemExit(2) with one line on a usage error
    except KeyboardInterrupt:
        print("linflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not getattr(args, "func", None):
        print(f"linflow: error: a COMMAND is required, one of: {', '.join(SUBCOMMANDS)} (see linflow -h)",
              file=sys.stderr)
        return EXIT_USAGE
    name = getattr(args, "table", None) or getattr(args, "figure", None)
    prog = f"linflow {args.command}" + (f" {name}" if isinstance(name, str) else "")
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.simplefilter("ignore", RuntimeWarning)
            return int(args.func(args) or 0)
    except CLIError as exc:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except SystemExit as exc:
        # The commands never exit themselves: a user's module or proof called sys.exit.
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: sys.exit({exc.code!r}) was called while running the command", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - one line instead of a traceback, unless --debug
        if debug:
            traceback.print_exc()
        print(
            f"{prog}: internal error: {type(exc).__name__}: {_one_line(exc)} "
            f"(please report it; {DEBUG_FLAG} shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
