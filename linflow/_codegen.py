"""The one place that turns SymPy expressions into NumPy functions.

Every generated function gets a fixed, documented argument order (``sympy.ordered`` of the
free symbols unless the caller names the order) and is built with ``lambdify(..., cse=True)``
so that the shared partial products of deep-network formulas are computed once (theory.md §7).
Following pydy, derivation (:mod:`linflow.symbolic`), code generation (here) and numeric use
(:mod:`linflow.bounds`, tests) are three separate layers.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np
import sympy as sm

__all__ = ["as_expression", "ordered_symbols", "numpy_function", "numpy_array_function"]


def as_expression(expr, name: str = "expr") -> sm.Basic:
    """``expr`` as a SymPy object; strings are refused (SymPy parses them with ``eval``).

    Raises
    ------
    TypeError
        For a string or anything SymPy has no explicit conversion for.
    """
    if isinstance(expr, str):
        raise TypeError(
            f"{name} must be a SymPy expression, not a string (strings are never parsed); got {name}={expr[:80]!r}"
        )
    try:
        return sm.sympify(expr, strict=True)
    except sm.SympifyError:
        raise TypeError(f"{name} must be a SymPy expression or a number; got {name}={expr!r}") from None


def ordered_symbols(expr) -> tuple:
    """Free symbols of ``expr`` in SymPy's canonical order (``sympy.ordered``)."""
    return tuple(sm.ordered(as_expression(expr).free_symbols))


def numpy_function(expr, args: Optional[Sequence[sm.Symbol]] = None) -> tuple:
    """Compile a scalar SymPy expression into a broadcasting NumPy function.

    Parameters
    ----------
    expr : sympy.Expr
    args : sequence of Symbol, optional
        Positional argument order; default :func:`ordered_symbols` of ``expr``. Every free
        symbol of ``expr`` must be among them.

    Returns
    -------
    (callable, tuple of Symbol)
        ``f(*arrays) -> ndarray`` (float64, the broadcast shape of the inputs, even where
        ``expr`` ignores some arguments) and the argument order.

    Examples
    --------
    >>> import sympy as sm
    >>> x, y = sm.symbols("x y")
    >>> f, order = numpy_function(x**2 + y)
    >>> order, float(f(2.0, 1.0))
    ((x, y), 5.0)
    """
    expr = as_expression(expr)
    args = ordered_symbols(expr) if args is None else tuple(args)
    missing = expr.free_symbols - set(args)
    if missing:
        raise ValueError(f"args must contain every free symbol of expr; missing {sorted(map(str, missing))}")
    raw = sm.lambdify(args, expr, modules="numpy", cse=True)

    def evaluate(*values):
        arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))
        shape = arrays[0].shape if arrays else ()
        with np.errstate(over="ignore"):
            out = np.asarray(raw(*arrays), dtype=np.float64)
        return np.broadcast_to(out, shape).copy() if out.shape != shape else out

    evaluate.__doc__ = f"NumPy evaluation of {sm.sstr(expr)} with arguments {args}."
    return evaluate, args


def numpy_array_function(matrix, args: Sequence[sm.Symbol]) -> Callable:
    """Compile a SymPy matrix into ``f(*arrays) -> ndarray`` of shape ``batch + matrix.shape``.

    Entries are compiled together (one ``lambdify`` with ``cse=True``), so subexpressions shared
    between entries (the partial products of a Hessian) are evaluated once.

    Examples
    --------
    >>> import sympy as sm
    >>> a, b = sm.symbols("a b")
    >>> f = numpy_array_function(sm.Matrix([[a * b, 1], [0, a]]), (a, b))
    >>> f(2.0, 3.0).tolist()
    [[6.0, 1.0], [0.0, 2.0]]
    """
    matrix = sm.ImmutableMatrix(matrix)
    args = tuple(args)
    missing = matrix.free_symbols - set(args)
    if missing:
        raise ValueError(f"args must contain every free symbol of matrix; missing {sorted(map(str, missing))}")
    raw = sm.lambdify(args, list(matrix), modules="numpy", cse=True)

    def evaluate(*values):
        arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))
        shape = arrays[0].shape if arrays else ()
        entries = [np.broadcast_to(np.asarray(e, dtype=np.float64), shape) for e in raw(*arrays)]
        return np.stack(entries, axis=-1).reshape(shape + matrix.shape)

    return evaluate
