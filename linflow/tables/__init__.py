"""Bound-vs-measurement tables: one module per table, a registry of stable names.

Each table module defines ``NAME``, ``SUMMARY``, ``OPTIONS`` (the parameters the command line
exposes) and ``build(**params) -> Table``. Modules are imported only when a table is built,
so ``import linflow.tables`` stays cheap.

Examples
--------
>>> from linflow import tables
>>> tables.names()
('step-size', 'iterations', 'gd-gf-distance', 'sharpness', 'curvature')
>>> tables.get("step-size").NAME
'step-size'
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass

from ._format import FORMATS, Column, Progress, Table, render

__all__ = ["Column", "FORMATS", "Option", "Progress", "Table", "build", "get", "names", "render"]

_MODULES = {
    "step-size": "step_size",
    "iterations": "iterations",
    "gd-gf-distance": "gd_gf_distance",
    "sharpness": "sharpness",
    "curvature": "curvature",
}


@dataclass(frozen=True)
class Option:
    """A table parameter exposed on the command line as ``--NAME`` (underscores → dashes).

    ``multiple`` options take several values (``nargs="+"``) and are passed as tuples;
    ``choices`` (when not empty) restricts the values the command line accepts;
    ``flag_name`` (when not empty) replaces ``name`` on the command line, so that a quantity
    has one flag in every command (``target_norms=`` of a builder is ``--target-norm``).
    """

    name: str
    type: type
    default: object
    help: str
    multiple: bool = False
    choices: tuple = ()
    flag_name: str = ""

    @property
    def flag(self) -> str:
        return "--" + (self.flag_name or self.name).replace("_", "-")


def names() -> tuple:
    """The registered table names, in a fixed order."""
    return tuple(_MODULES)


def get(name: str):
    """The module implementing table ``name`` (with ``build``, ``OPTIONS``, ``SUMMARY``).

    Raises
    ------
    KeyError
        Unknown name; the message suggests close matches.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got name={name!r}")
    if name not in _MODULES:
        close = difflib.get_close_matches(name, _MODULES, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"no table named {name!r}{hint}; known: {', '.join(_MODULES)}")
    return importlib.import_module(f"{__name__}.{_MODULES[name]}")


def build(name: str, **params) -> Table:
    """Build table ``name`` with keyword parameters (see its module's ``OPTIONS``).

    Raises
    ------
    TypeError, ValueError
        Unknown parameter, wrong type, or a number out of its domain, before any computation
        (see :func:`checked_options`).
    """
    return get(name).build(**params)


def checked_options(build_function):
    """Decorator for a table module's ``build``: validate every parameter named in the module's
    ``OPTIONS`` first (:func:`linflow._validation.check_option`: ints, finite positive floats,
    non-negative seeds; a table with a negative learning rate or horizon is refused up front)."""
    import functools

    from .._validation import check_option

    @functools.wraps(build_function)
    def build(**params):
        options = {opt.name: opt for opt in build_function.__globals__["OPTIONS"]}
        for key, value in params.items():
            if key in options:
                params[key] = check_option(key, options[key].type, value, multiple=options[key].multiple)
        return build_function(**params)

    return build
