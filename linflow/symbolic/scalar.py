"""The scalar deep linear network ``f(w) = ½(w_1⋯w_N − y)²`` in SymPy (theory.md §4).

Notation: ``π = Π_i w_i``, ``π_{−i} = Π_{k≠i} w_k``, ``π_{−ij} = Π_{k∉{i,j}} w_k``. Gradient flow
is ``w' = −∇f(w)``, GD is ``w⁺ = w − η∇f(w)`` (theory.md, "Conventions").

Derivatives are *built* from the structured partial-product formulas (theory.md §4 [checked])

* ``∂_i f = (π − y) π_{−i}``,
* ``H_ii = π_{−i}²``, ``H_ij = π_{−i}π_{−j} + (π − y)π_{−ij} = (2π − y) π_{−ij}`` (i ≠ j, using
  ``π_{−i}π_{−j} = π π_{−ij}``),

rather than by ``sympy.hessian`` + ``simplify``, whose output grows like N³ (theory.md §7). The
proof ``proofs/scalar_gradient_hessian.py`` checks them against ``sympy.diff`` for small N.
"""

from __future__ import annotations

import numbers
from typing import Union

import sympy as sm

__all__ = [
    "ScalarNetwork",
    "minimal_sharpness",
    "balanced_flow_rhs",
    "balanced_flow_n2_solution",
    "balanced_flow_time",
    "balanced_flow_antiderivative",
    "gfs_sharpness_n2",
]

DepthLike = Union[int, sm.Symbol]


def _check_depth(depth, *, allow_symbol: bool = False):
    if allow_symbol and isinstance(depth, sm.Symbol):
        return depth
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"depth must be an int{' or a sympy Symbol' if allow_symbol else ''}; got depth={depth!r}")
    if depth < 1:
        raise ValueError(f"depth must be ≥ 1; got depth={depth!r}")
    return int(depth)


class ScalarNetwork:
    """SymPy model of ``f(w) = ½(w_1⋯w_N − y)²`` for a concrete depth N.

    Parameters
    ----------
    depth : int
        N ≥ 1.

    Attributes
    ----------
    weights : tuple of Symbol
        ``w_1, …, w_N`` (real).
    target : Symbol
        ``y`` (real).
    learning_rate : Symbol
        ``η`` (positive), used by the GD identities.

    Examples
    --------
    >>> net = ScalarNetwork(3)
    >>> net.gradient()[0]
    w_2*w_3*(w_1*w_2*w_3 - y)
    >>> net.hessian()[0, 1]
    w_3*(2*w_1*w_2*w_3 - y)
    >>> net.minimal_sharpness()
    3*Abs(y)**(4/3)
    """

    def __init__(self, depth: int):
        self.depth = _check_depth(depth)
        self.weights = tuple(sm.symbols(f"w_1:{self.depth + 1}", real=True))
        self.target = sm.Symbol("y", real=True)
        self.learning_rate = sm.Symbol("eta", positive=True)
        self.product = sm.Mul(*self.weights)
        self.residual = self.product - self.target
        # Canonical (sorted) order of the weight factors: products of sub-lists of an already
        # canonical argument list are built with Mul._from_args, skipping SymPy's O(N log N)
        # flatten-and-sort for each of the N² Hessian entries (the N = 2…64 timing target).
        self._coupling = 2 * self.product - self.target
        self._canonical = sm.Mul(*self.weights, self._coupling).args
        self._position = {a: k for k, a in enumerate(self._canonical)}

    def __repr__(self) -> str:
        return f"ScalarNetwork(depth={self.depth})"

    # ------------------------------------------------------------------ building blocks
    def _product_without(self, *excluded: int, coupling: bool = False) -> sm.Expr:
        drop = [self._position[self.weights[i]] for i in excluded]
        if not coupling:
            drop.append(self._position[self._coupling])
        return _canonical_product(self._canonical, drop)

    def partial_product(self, *excluded: int) -> sm.Expr:
        """``π_{−i}`` (one index) or ``π_{−ij}`` (two), 0-based indices; ``π`` for none."""
        for i in excluded:
            if not 0 <= i < self.depth:
                raise ValueError(f"indices must lie in [0, {self.depth}); got {excluded}")
        if len(set(excluded)) != len(excluded):
            raise ValueError(f"indices must be distinct; got {excluded}")
        return self._product_without(*excluded)

    def loss(self) -> sm.Expr:
        """``f = ½(π − y)²``."""
        return sm.Rational(1, 2) * self.residual**2

    # ------------------------------------------------------------------ derivatives
    def gradient(self) -> sm.ImmutableMatrix:
        """``∇f`` as an N×1 matrix, ``∂_i f = (π − y)π_{−i}`` (theory.md §4 [checked])."""
        return sm.ImmutableMatrix([self.residual * self._product_without(i) for i in range(self.depth)])

    def hessian(self) -> sm.ImmutableMatrix:
        """``∇²f`` from the structured formulas ``H_ii = π_{−i}²``, ``H_ij = (2π − y)π_{−ij}``.

        ``(2π − y)π_{−ij}`` equals theory.md §4's ``π_{−i}π_{−j} + (π − y)π_{−ij}`` [checked];
        the identity and the whole matrix are verified against ``sympy.diff`` in
        ``proofs/scalar_gradient_hessian.py``.
        """
        n = self.depth
        # π_{−i}² from the canonical list of squares (SymPy would distribute Pow over the Mul).
        squares = sm.Mul(*[w**2 for w in self.weights]).args if n > 1 else (self.weights[0] ** 2,)
        where = {sq.base if isinstance(sq, sm.Pow) else sq: k for k, sq in enumerate(squares)}
        flat = [None] * (n * n)
        for i in range(n):
            flat[i * n + i] = _canonical_product(squares, [where[self.weights[i]]])
            for j in range(i + 1, n):
                flat[i * n + j] = flat[j * n + i] = self._product_without(i, j, coupling=True)
        return sm.ImmutableMatrix(n, n, flat)

    def hessian_at_minimum(self) -> sm.ImmutableMatrix:
        """``∇²f = ggᵀ`` with ``g_i = y/w_i`` on the minimum set ``π = y`` (all w_i ≠ 0).

        At a minimum the residual vanishes, so ``H_ij = π_{−i}π_{−j}`` and ``π_{−i} = π/w_i = y/w_i``.
        """
        n, y2 = self.depth, self.target**2
        # Off-diagonal y²/(w_i w_j) from one canonical argument list (as in hessian()).
        factors = sm.Mul(y2, *[1 / w for w in self.weights]).args
        where = {f: k for k, f in enumerate(factors)}
        keep_y2 = where[y2]
        flat = [None] * (n * n)
        for i in range(n):
            flat[i * n + i] = y2 / self.weights[i] ** 2
            for j in range(i + 1, n):
                wi, wj = where[1 / self.weights[i]], where[1 / self.weights[j]]
                drop = [k for k in range(len(factors)) if k not in (keep_y2, wi, wj)]
                flat[i * n + j] = flat[j * n + i] = _canonical_product(factors, drop)
        return sm.ImmutableMatrix(n, n, flat)

    def sharpness_at_minimum(self) -> sm.Expr:
        """``S = ‖g‖² = y² Σ_i 1/w_i²`` at a global minimum (theory.md §4 [checked])."""
        return self.target**2 * sm.Add(*[1 / w**2 for w in self.weights])

    def spectrum_at_minimum(self) -> dict:
        """Eigenvalues of ``ggᵀ`` with multiplicities: ``{y²Σ1/w_i²: 1, 0: N − 1}``.

        ``ggᵀ`` has eigenvector g with eigenvalue ``‖g‖²`` and annihilates ``g^⊥``.
        """
        top = self.sharpness_at_minimum()
        return {top: 1} if self.depth == 1 else {top: 1, sm.S.Zero: self.depth - 1}

    def minimal_sharpness(self) -> sm.Expr:
        """``min_{π = y} S = N|y|^{2(N−1)/N}`` (AM–GM; theory.md §4 [checked])."""
        return minimal_sharpness(self.depth, self.target)

    def balanced_minimum(self) -> dict:
        """``{w_i: |y|^{1/N}}``: the sharpness-minimizing minimum in the positive orthant (y > 0).

        In general the minimizers of the sharpness over the minima are exactly the points with
        magnitudes ``|w_i| = |y|^{1/N}`` and ``π = y`` (the AM–GM equality case); for y < 0 flip
        the sign of an odd number of entries.
        """
        return {w: sm.Abs(self.target) ** sm.Rational(1, self.depth) for w in self.weights}

    # ------------------------------------------------------------------ flows and invariants
    def flow_velocity(self) -> sm.ImmutableMatrix:
        """Gradient-flow velocity ``w' = −∇f``."""
        return -self.gradient()

    def flow_derivative(self, expr) -> sm.Expr:
        """``d/dt expr(w(t))`` along gradient flow: ``Σ_i ∂_i expr · (−∂_i f)``."""
        from .._codegen import as_expression

        expr = as_expression(expr)
        grad = self.gradient()
        return -sm.Add(*[sm.diff(expr, w) * grad[i] for i, w in enumerate(self.weights)])

    def conserved_quantities(self) -> tuple:
        """A basis ``w_i² − w_{i+1}²`` of the GF invariants (theory.md §4 [checked])."""
        return tuple(self.weights[i] ** 2 - self.weights[i + 1] ** 2 for i in range(self.depth - 1))

    def gf_limit_equation(self, shift: sm.Symbol) -> sm.Expr:
        """``Π(w_i² + c) − y²``: its root c gives the GF limit ``w_i*² = w_i² + c`` (theory.md §4)."""
        return sm.Mul(*[w**2 + shift for w in self.weights]) - self.target**2

    def gfs_sharpness(self, shift: sm.Symbol) -> sm.Expr:
        """GF-solution sharpness ``φ(w) = Σ y²/(w_i² + c)`` with c the root of the limit equation.

        Kreisler, Nacson, Soudry & Carmon (ICML 2023); theory.md §4 [checked].
        """
        return sm.Add(*[self.target**2 / (w**2 + shift) for w in self.weights])

    def gd_step(self) -> tuple:
        """One GD step ``w_i⁺ = w_i − η(π − y)π_{−i}``."""
        grad = self.gradient()
        return tuple(w - self.learning_rate * grad[i] for i, w in enumerate(self.weights))

    def gd_balancing_factor(self, i: int, j: int) -> sm.Expr:
        """``1 − η²(π − y)²π_{−ij}²``: one GD step multiplies ``w_i² − w_j²`` by exactly this.

        theory.md §4 [checked]; ``proofs/gd_balancing_scalar.py``.
        """
        return 1 - self.learning_rate**2 * self.residual**2 * self.partial_product(i, j) ** 2


def _canonical_product(factors: tuple, drop) -> sm.Expr:
    """Product of ``factors`` (already in SymPy's canonical Mul order) except positions ``drop``.

    A sub-list of a sorted argument list is sorted, so ``Mul._from_args`` builds exactly the
    expression ``Mul(*kept)`` would, without re-flattening and re-sorting (``proofs/
    scalar_gradient_hessian.py`` compares the results with ``sympy.diff``).
    """
    kept, start = [], 0
    for k in sorted(drop):
        kept.extend(factors[start:k])
        start = k + 1
    kept.extend(factors[start:])
    if not kept:
        return sm.S.One
    if len(kept) == 1:
        return kept[0]
    return sm.Mul._from_args(tuple(kept))


# ---------------------------------------------------------------------- module-level formulas
def minimal_sharpness(depth: DepthLike, target=None) -> sm.Expr:
    """``N|y|^{2(N−1)/N}``, the smallest sharpness over the global minima (theory.md §4).

    ``depth`` may be a SymPy symbol (symbolic N). Attained exactly at ``|w_i| = |y|^{1/N}``.

    Examples
    --------
    >>> N = sm.Symbol("N", integer=True, positive=True)
    >>> minimal_sharpness(N)
    N*Abs(y)**((2*N - 2)/N)
    """
    n = _check_depth(depth, allow_symbol=True)
    y = sm.Symbol("y", real=True) if target is None else target
    return n * sm.Abs(y) ** ((2 * n - 2) / sm.S(n))


def _flow_symbols():
    return sm.symbols("pi y", positive=True)


def balanced_flow_rhs(depth: DepthLike, product=None, target=None) -> sm.Expr:
    """``π' = Nπ^{2−2/N}(y − π)``, the balanced GF of the end-to-end product (π, y > 0).

    theory.md §4 [checked]; the scalar case of Arora, Cohen & Hazan 2018, Thm 1. The same ODE
    governs a mode of Saxe et al. (2014) for N weight matrices.
    """
    n = _check_depth(depth, allow_symbol=True)
    p, y = _flow_symbols()
    p = p if product is None else product
    y = y if target is None else target
    return n * p ** (2 - 2 / sm.S(n)) * (y - p)


def balanced_flow_n2_solution(t=None, product0=None, target=None) -> sm.Expr:
    """``π(t) = y / (1 + (y/π_0 − 1)e^{−2yt})``, the N = 2 balanced flow (theory.md §4 [checked])."""
    t = sm.Symbol("t", nonnegative=True) if t is None else t
    p0 = sm.Symbol("pi_0", positive=True) if product0 is None else product0
    y = sm.Symbol("y", positive=True) if target is None else target
    return y / (1 + (y / p0 - 1) * sm.exp(-2 * y * t))


def balanced_flow_time(depth: DepthLike, product0=None, product=None, target=None) -> sm.Integral:
    """``t(π) = ∫_{π_0}^{π} du / (N u^{2−2/N}(y − u))``, the time GF needs to go from π_0 to π.

    Unevaluated :class:`sympy.Integral` (theory.md §4: only implicit for N ≥ 3); valid for
    ``0 < π_0, π < y`` (the integrand is positive there, so t increases with π).
    """
    n = _check_depth(depth, allow_symbol=True)
    u = sm.Dummy("u", positive=True)
    _, y = _flow_symbols()
    y = y if target is None else target
    p0 = sm.Symbol("pi_0", positive=True) if product0 is None else product0
    p = sm.Symbol("pi", positive=True) if product is None else product
    return sm.Integral(1 / balanced_flow_rhs(n, u, y), (u, p0, p))


def balanced_flow_antiderivative(depth: int) -> tuple:
    """A real antiderivative of ``1/(Nπ^{2−2/N}(y − π))`` in π on ``0 < π < y``, verified.

    Computed through ``π = v^N``, ``y = b^N``, which makes the integrand rational,
    ``dv / (v^{N−1}(b^N − v^N))``. Every candidate is differentiated back and compared with
    the integrand before it is returned: SymPy 1.14 ``integrate`` with ``positive=True``
    symbols silently drops terms for some N (it does for N = 5; theory.md §7), in which case
    the unassumed symbols are tried. ``log`` arguments negative on ``0 < v < b`` are flipped
    (a constant shift of ``iπ``), so ``t(π) = F(π) − F(π_0)`` is real.

    Returns
    -------
    (F, (pi, y))
        ``F(π, y)`` with ``∂F/∂π`` equal to the integrand for ``0 < π < y``.

    Raises
    ------
    ArithmeticError
        If no candidate differentiates back to the integrand.

    Examples
    --------
    >>> F, (p, y) = balanced_flow_antiderivative(2)
    >>> F
    log(pi)/(2*y) - log(-pi + y)/(2*y)
    """
    n = _check_depth(depth)
    p, y = _flow_symbols()
    integrand = 1 / balanced_flow_rhs(n, p, y)
    for assumptions in ({"positive": True}, {}):
        v, b = sm.symbols("v b", **assumptions)
        rational = 1 / (v ** (n - 1) * (b**n - v**n))
        anti_v = sm.integrate(rational, v)
        if anti_v.has(sm.Integral, sm.RootSum) or sm.cancel(sm.diff(anti_v, v) - rational) != 0:
            continue
        anti_v = _real_logs(anti_v, v, b)
        anti = sm.expand_log(
            anti_v.subs({v: p ** sm.Rational(1, n), b: y ** sm.Rational(1, n)}), force=True
        )
        if _is_zero(sm.diff(anti, p) - integrand, p, y):
            return anti, (p, y)
    raise ArithmeticError(f"no verified antiderivative of the balanced-flow integrand for depth={n}")


def _real_logs(expr, v, b):
    """Replace ``log(a)`` by ``log(−a)`` where a < 0 on ``0 < v < b`` (a constant shift iπ)."""

    def fix(arg):
        sign = arg.subs({v: sm.Rational(1, 2), b: 1})
        return sm.log(-arg) if sign.is_negative else sm.log(arg)

    return expr.replace(sm.log, fix)


def _is_zero(residual, p, y) -> bool:
    """``residual == 0`` on ``0 < π < y``: ``simplify``, then exact points at 40 digits."""
    if sm.simplify(residual) == 0:
        return True
    points = ((sm.Rational(1, 3), 1), (sm.Rational(2, 7), sm.Rational(5, 4)), (1, 3), (sm.Rational(1, 50), 2))
    # 1e-30 at 40 significant digits: far above rounding, far below any genuine mismatch.
    return all(abs(sm.N(residual.subs({p: pv, y: yv}), 40)) < 1e-30 for pv, yv in points)


def gfs_sharpness_n2(imbalance=None, target=None) -> sm.Expr:
    """``φ = √(δ² + 4y²)``: GF-solution sharpness of the N = 2 scalar net, ``δ = w_1² − w_2²``.

    theory.md §4 [checked]; ``proofs/gfs_sharpness_n2.py`` derives it from the limit equation.
    """
    d = sm.Symbol("delta", real=True) if imbalance is None else imbalance
    y = sm.Symbol("y", real=True) if target is None else target
    return sm.sqrt(d**2 + 4 * y**2)
