"""Option types and output-path checks shared by the subcommands.

The types are argparse ``type=`` callables: a bad value becomes argparse's one-line error
``linflow CMD: error: argument --OPT: <requirement>; got 'VALUE'`` (exit status 2) before any
work starts. Output paths are checked the same way, so a long computation is never lost to a
path that cannot be written.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import tempfile
import traceback
from pathlib import Path

__all__ = [
    "CLIError",
    "finite_float",
    "positive_float",
    "nonnegative_float",
    "nonnegative_int",
    "positive_int",
    "check_output_file",
    "check_output_directory",
    "missing_name",
    "load_user_code",
    "builder_error",
    "shorten",
]

#: Longest error line printed (a message may hold a whole array).
MAX_ERROR_CHARS = 300


class CLIError(Exception):
    """A user error found by a subcommand: printed as one line, exit status 2."""


def _number(text: str, kind, what: str):
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}") from None


def finite_float(text: str) -> float:
    """A finite float (``nan``/``inf`` refused)."""
    value = _number(text, float, "a finite number")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number; got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite float > 0."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive; got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite float ≥ 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be ≥ 0; got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer ≥ 0 (seeds, counts)."""
    value = _number(text, int, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 0; got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    value = _number(text, int, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1; got {text!r}")
    return value


def _probe_directory(directory: Path, option: str, value: str) -> None:
    """Raise :class:`CLIError` unless a file can be created in the existing ``directory``."""
    try:
        # Creating a file is the only reliable test (os.access is always true for root and
        # ignores read-only file systems).
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise CLIError(f"{option} {value!r}: cannot write in {str(directory)!r} ({exc.strerror or exc})") from None


def check_output_file(value: str, option: str) -> Path:
    """Check that ``value`` can be written as a file: its directory exists and is writable,
    and it is not a directory. Nothing is created."""
    if not value:
        raise CLIError(f"{option} must name a file; got {value!r}")
    path = Path(value)
    if path.is_dir():
        raise CLIError(f"{option} {value!r} is a directory; expected a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise CLIError(f"{option} {value!r}: directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise CLIError(f"{option} {value!r}: {str(parent)!r} is not a directory")
    if path.exists() and not os.access(path, os.W_OK):
        raise CLIError(f"{option} {value!r}: the file is not writable")
    _probe_directory(parent, option, value)
    return path


def check_output_directory(value: str, option: str) -> Path:
    """Check that ``value`` is, or can be created as, a writable directory: the nearest
    existing ancestor must be a writable directory. Nothing is created."""
    if not value:
        raise CLIError(f"{option} must name a directory; got {value!r}")
    path = Path(value)
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        if existing == path:
            raise CLIError(f"{option} {value!r} is an existing file; expected a directory")
        raise CLIError(f"{option} {value!r}: {str(existing)!r} is a file, not a directory")
    _probe_directory(existing, option, value)
    return path


def missing_name(command: str, names) -> int:
    """The error of ``linflow table`` / ``linflow plot`` without a NAME."""
    raise CLIError(f"a NAME is required, one of: {', '.join(names)} (see linflow {command} -h)")


def load_user_code(loader, value: str, option: str):
    """``loader(value)`` for a file of the user's (``--module``, ``--problem``); anything it
    does wrong (a syntax error, an exception or ``sys.exit`` at import, a missing name) becomes
    a one-line :class:`CLIError` naming the option and the value."""
    try:
        return loader(value)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise CLIError(f"{option} {value!r}: {exc}") from exc
    except SyntaxError as exc:
        raise CLIError(f"{option} {value!r}: syntax error at line {exc.lineno}: {exc.msg}") from exc
    except SystemExit as exc:
        raise CLIError(f"{option} {value!r} called sys.exit({exc.code!r}) while being imported") from exc
    except Exception as exc:  # the user's code raised while being imported
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise CLIError(
            f"{option} {value!r} raised {type(exc).__name__} at line {where.lineno} while being imported: {exc}"
        ) from exc


def builder_error(exc: Exception, options, given: dict) -> CLIError:
    """A table or figure builder's refusal as a CLI error that names the option.

    Builders name their Python parameters (``depth``, ``learning_rate``, ``std``); when the
    message names none of the flags, the one option whose name, singular or last word the
    message mentions is added:
    ``depth must be positive; got depth=0 (option --depths 0)``.
    """
    text = shorten(str(exc))
    if not re.search(r"--[a-z]", text):
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
        named = [o for o in options if o.name in words or (o.name.endswith("s") and o.name[:-1] in words)]
        if not named:  # the builder's name for it is the option's last word (init_std → std)
            named = [o for o in options if "_" in o.name and o.name.rsplit("_", 1)[1].rstrip("s") in words]
        if len(named) == 1:
            value = given.get(named[0].name)
            shown = " ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
            text += f" (option {named[0].flag} {shown})"
    return CLIError(text)


def shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
