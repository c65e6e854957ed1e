"""Euler's identities for positively homogeneous networks in SymPy (theory/homogeneous [checked]).

If the output h is L-homogeneous in the parameters θ (``h(cθ) = c^L h(θ)``, c > 0), then
differentiating in c at c = 1 gives ``⟨∇h, θ⟩ = L·h`` and, differentiating that,
``∇²h·θ = (L − 1)∇h``. For a network whose layers are each 1-homogeneous, the identity holds
per layer: ``⟨∇_{W_k}h, W_k⟩ = h``.

ReLU and leaky-ReLU networks are piecewise linear in their pre-activations: on each open region
with a fixed activation pattern, ``σ(z) = d·z`` with ``d ∈ {1, α}`` per hidden unit, and h is a
polynomial there. :func:`relu_network_pieces` returns these polynomials, one per pattern, so the
identities can be proven exactly on every piece.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import sympy as sm

from .._validation import check_widths
from .matrix import weight_matrices

__all__ = ["euler_residuals", "layer_euler_residuals", "relu_network_pieces"]


def euler_residuals(expr, params: Sequence[sm.Symbol], degree) -> tuple:
    """``(⟨∇h, θ⟩ − L·h, ∇²h·θ − (L − 1)∇h)`` for ``h = expr`` and ``θ = params``.

    Both vanish identically when h is L-homogeneous in θ (Euler's theorem). Returned
    unexpanded; the second is an ``n×1`` matrix.

    Examples
    --------
    >>> a, b = sm.symbols("a b")
    >>> first, second = euler_residuals(a**2 * b, (a, b), 3)
    >>> sm.expand(first), sm.expand(second).T
    (0, Matrix([[0, 0]]))
    """
    params = tuple(params)
    grad = sm.ImmutableMatrix([sm.diff(expr, p) for p in params])
    theta = sm.ImmutableMatrix(params)
    hess = sm.hessian(expr, params)
    first = (grad.T * theta)[0, 0] - degree * expr
    second = sm.ImmutableMatrix(hess * theta - (degree - 1) * grad)
    return first, second


def layer_euler_residuals(expr, layers) -> tuple:
    """``⟨∇_{W_k}h, W_k⟩ − h`` for each layer (each a matrix of symbols); all vanish when h is
    1-homogeneous in every layer separately."""
    out = []
    for layer in layers:
        entries = list(sm.ImmutableMatrix(layer))
        out.append(sm.Add(*[sm.diff(expr, e) * e for e in entries]) - expr)
    return tuple(out)


def relu_network_pieces(widths: Sequence[int], *, slope=None) -> tuple:
    """The output of a bias-free (leaky-)ReLU network on each activation pattern.

    ``h(x) = W_N σ(W_{N−1} ⋯ σ(W_1 x))`` with ``σ(z) = z`` for z > 0 and ``αz`` otherwise
    (α = 0: ReLU). On the region where hidden unit k is active iff ``pattern[k]``, σ acts as
    multiplication by ``d_k ∈ {1, α}``, so h is the polynomial ``W_N D_{N−1} W_{N−1} ⋯ D_1 W_1 x``.

    Parameters
    ----------
    widths : sequence of int
        ``(d_0, …, d_N)`` with ``d_N = 1`` (scalar output).
    slope : Symbol or number, optional
        α; default the symbol ``alpha`` (nonnegative).

    Returns
    -------
    (pieces, weights, x)
        ``pieces`` maps each pattern (a tuple of bools, one per hidden unit) to the polynomial
        output; ``weights`` are the symbol matrices; ``x`` is the input symbol column.
    """
    widths = check_widths(widths)
    if widths[-1] != 1:
        raise ValueError(f"widths must end with 1 (scalar output); got widths={widths}")
    alpha = sm.Symbol("alpha", nonnegative=True) if slope is None else sm.S(slope)
    weights = weight_matrices(widths)
    x = sm.ImmutableMatrix(widths[0], 1, lambda r, _: sm.Symbol(f"x_{r}", real=True))
    hidden = sum(widths[1:-1])
    pieces = {}
    for pattern in itertools.product((True, False), repeat=hidden):
        z, k = x, 0
        for j, w in enumerate(weights):
            z = w * z
            if j < len(weights) - 1:
                d = [1 if pattern[k + r] else alpha for r in range(w.shape[0])]
                z = sm.diag(*d) * z
                k += w.shape[0]
        pieces[pattern] = z[0, 0]
    return pieces, weights, x
