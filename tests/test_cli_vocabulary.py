"""One options vocabulary across the commands: same name and default for the same quantity,
and every default shown in ``--help``."""

from __future__ import annotations

import argparse
from collections import defaultdict

import pytest

from linflow.cli import build_parser
from linflow.commands._options import (
    PER_EXPERIMENT,
    VOCABULARY,
    VOCABULARY_EXCEPTIONS,
    format_default,
    shows_default,
)


def _commands(parser, path=()):
    """(command path, parser) of every parser that has options of its own."""
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def _options(parser):
    return [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def _key(action) -> str:
    """The quantity an option names: its long flag without dashes (``--target-norm`` → target_norm)."""
    return action.option_strings[-1].lstrip("-").replace("-", "_")


COMMANDS = [(path, p) for path, p in _commands(build_parser()) if path]


def _scalar(default):
    """A multi-valued option's default of one value compares as that value."""
    if isinstance(default, (list, tuple)) and len(default) == 1:
        return default[0]
    return default


def test_shared_options_have_one_default():
    seen = defaultdict(dict)
    for path, parser in COMMANDS:
        for action in _options(parser):
            seen[_key(action)][path] = action.default
    for key, by_command in seen.items():
        if len(by_command) < 2 or key in PER_EXPERIMENT:
            continue
        assert key in VOCABULARY, f"--{key} is shared by {sorted(by_command)} but not declared in VOCABULARY"
        for path, default in by_command.items():
            if (path, key) in VOCABULARY_EXCEPTIONS:
                assert _scalar(default) != VOCABULARY[key], f"stale exception for {path} --{key}"
                continue
            assert _scalar(default) == VOCABULARY[key], f"linflow {path} --{key} defaults to {default!r}"


def test_one_name_per_quantity():
    # Known synonyms of one quantity: only the first spelling may appear as a flag.
    synonyms = [("target_norm", "target_norms"), ("margin_fraction", "margin_fractions"), ("n_inits", "n_init"),
                ("seed", "seeds"), ("out", "output")]
    flags = {_key(a) for _, p in COMMANDS for a in _options(p)}
    for name, *others in synonyms:
        assert not flags & set(others), f"--{name} also spelled {sorted(flags & set(others))}"


def test_vocabulary_declares_only_what_is_used():
    keys = {_key(a) for _, p in COMMANDS for a in _options(p)}
    assert set(VOCABULARY) <= keys and set(PER_EXPERIMENT) <= keys
    assert {key for _, key in VOCABULARY_EXCEPTIONS} <= set(VOCABULARY)


@pytest.mark.parametrize("path", [path for path, _ in COMMANDS])
def test_every_default_is_in_help(path):
    parser = dict(COMMANDS)[path]
    text = " ".join(parser.format_help().split())
    for action in _options(parser):
        if shows_default(action):
            assert f"(default: {format_default(action.default)})" in text or (
                "%(default)" in (action.help or "") and format_default(action.default) in text
            ), f"linflow {path} --help does not show the default of {action.option_strings[-1]}"
