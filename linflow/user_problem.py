"""Load a user's problem from a Python file: ``FILE.py:NAME`` (the CLI's ``--problem``).

The file is imported like any script the user chose to run (``importlib`` from the path the user
passed; nothing is evaluated from strings, nothing is searched for). ``NAME`` is a global of that
file: a :class:`linflow.Problem`, a pair ``(problem, weights0)``, or a function of no arguments
returning either.

Examples
--------
A file ``my_problem.py``::

    import numpy as np
    import linflow
    from linflow import losses

    mask = np.random.default_rng(0).random((4, 4)) < 0.5
    problem = linflow.Problem(linflow.DeepLinearNetwork((4, 4, 4)),
                              losses.MatrixCompletion(mask, np.where(mask, 1.0, np.nan)))

and ``linflow plot gd-gf-distance --problem my_problem.py:problem --out gd.png``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .problem import Problem

__all__ = ["load_problem"]


def load_problem(spec: str):
    """``(problem, weights0)`` from ``"FILE.py:NAME"`` (``weights0`` is None unless given there).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        ``spec`` is not ``FILE.py:NAME``, or the file has no global ``NAME``.
    TypeError
        ``NAME`` is not a Problem, a ``(problem, weights0)`` pair or a function returning one.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"problem must be given as FILE.py:NAME; got problem={spec!r}")
    file, name = spec.rsplit(":", 1)
    path = Path(file).resolve()
    if path.suffix != ".py" or not name.isidentifier():
        raise ValueError(f"problem must be given as FILE.py:NAME with NAME a Python name; got problem={spec!r}")
    if not path.is_file():
        raise FileNotFoundError(f"problem file must exist; got problem={spec!r} (no file {str(path)!r})")
    module_name = f"linflow_user_problem_{abs(hash(str(path)))}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"cannot import {str(path)!r} as a Python module; got problem={spec!r}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # dataclasses defined there need it
    module_spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise ValueError(f"{str(path)!r} defines no global {name!r}; got problem={spec!r}")
    value = getattr(module, name)
    if callable(value) and not isinstance(value, Problem):
        value = value()
    weights0 = None
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Problem):
        value, weights0 = value
    if not isinstance(value, Problem):
        raise TypeError(
            f"{name} in {str(path)!r} must be a linflow.Problem, a (problem, weights0) pair or a function "
            f"returning one; got {type(value).__name__}"
        )
    if weights0 is not None:
        weights0 = value.network.check(weights0, "weights0")
    return value, weights0
