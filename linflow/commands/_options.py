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
    "DefaultsHelpFormatter",
    "format_default",
    "shows_default",
    "VOCABULARY",
    "VOCABULARY_EXCEPTIONS",
    "PER_EXPERIMENT",
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


# One options vocabulary across the commands: an option that two commands share names one
# quantity and has one default. ``tests/test_cli_vocabulary.py`` parses every subcommand and
# fails on a shared option missing here or with another default.

#: Shared option (argparse dest, or a table's flag name) → its default in every command.
#: A multi-valued option (``nargs="+"``) matches when its default is the 1-tuple of this value.
VOCABULARY = {
    "seed": 0,
    "n_inits": 256,
    "target_norm": 1.0,
    "margin_fraction": 0.5,
    "dim": 2,
    "hidden": 4,
    "loss_tolerance": 1e-10,
    "out": None,
    "format": "markdown",
    "json": False,
    "list": False,
    "no_progress": False,
    "problem": None,
    "beta2": 0.99,
}

#: (command, option) → why that command needs another default for the same quantity.
VOCABULARY_EXCEPTIONS = {
    ("table sharpness", "n_inits"): (
        "32: every initialization runs n_steps = 5000 GD steps at each of five step sizes; "
        "256 would make the table eight times slower"
    ),
}

#: Options shared by name whose value is part of the experiment each command reproduces
#: (its depths, step sizes, horizon, budget): different defaults are different experiments.
PER_EXPERIMENT = {
    "depths": "the depths each table or figure is about",
    "learning_rates": "the step sizes of each experiment (the GD-vs-GF figure and table differ in network)",
    "eta_fractions": "step sizes as fractions of 2/λ: below and above the edge of stability per experiment",
    "horizon": "GF time horizon of each experiment (figure: a deeper problem; table: its own networks)",
    "n_steps": "GD step budget of each experiment",
    "init_std": "initialization scale of each experiment (edge-of-stability figure vs sharpness table)",
    "scales": "initialization norms; the λ_min figure draws two of the curvature table's three for legibility",
    "n_samples": (
        "time samples of λ_min along the flow (curvature, lambda-min) and, in table gd-gf-distance, "
        "samples of the synthetic ReLU regression data: two quantities, one per command"
    ),
}


def format_default(value) -> str:
    """A default as typed on the command line: sequences space-separated, floats shortest."""
    if isinstance(value, (list, tuple)):
        return " ".join(format_default(v) for v in value)
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


def shows_default(action: argparse.Action) -> bool:
    """Whether ``--help`` states ``action``'s default: every option with a value (not a flag,
    whose default is off, and not ``None`` or empty, whose meaning the help text explains)."""
    return (
        bool(action.option_strings)
        and action.nargs != 0
        and action.default is not None
        and action.default is not argparse.SUPPRESS
        and action.default not in ((), [])
    )


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help text that ends every option with a value by ``(default: VALUE)``, generated from the
    parser so that it cannot drift from the default actually used. A hand-written trailing
    ``(default …)`` is replaced."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or not shows_default(action):
            return text
        text = re.sub(r"\s*\(default [^();]*\)\s*$", "", text)
        return f"{text} (default: {format_default(action.default)})".replace("%", "%%").replace("%%(", "%(")
