"""Dense Hessians and their extreme eigenvalues from a problem's Hessian-vector products.

The one place where ``∇²f(θ)`` is assembled: every column is the problem's analytic
Hessian-vector product ``problem._hvp`` along a basis direction (batched over all P directions
for one point, or over the R points of a path one direction at a time), then symmetrized — the
two halves agree to rounding and symmetrizing makes ``eigh`` see an exactly symmetric matrix.
Beyond :data:`DENSE_MAX_PARAMS` parameters the extreme eigenvalues come from Lanczos (ARPACK
``eigsh``) on the same products.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from .network import flatten, unflatten

__all__ = ["DENSE_MAX_PARAMS", "block_hvp", "dense_hessian", "extreme_eigenvalue", "hessian_eigenvalues"]

#: Dense eigendecomposition up to this many parameters; Lanczos on HVPs beyond.
DENSE_MAX_PARAMS = 600


def block_hvp(problem, weights, block: np.ndarray) -> np.ndarray:
    """``H @ block`` for a ``(P, k)`` block at one point, by one batched HVP."""
    return flatten(problem._hvp(weights, unflatten(block.T, problem.network.shapes))).T


def dense_hessian(problem, weights) -> np.ndarray:
    """``∇²f(θ)``: ``(P, P)`` for a single network, ``(R, P, P)`` for R points (leading axis).

    ``weights`` are not validated here (callers check them once).
    """
    p = problem.network.n_params
    shapes = problem.network.shapes
    if weights[0].ndim == 2:
        h = block_hvp(problem, weights, np.eye(p))
        return 0.5 * (h + h.T)
    r = weights[0].shape[0]
    h = np.empty((r, p, p))
    basis = np.eye(p)
    for i in range(p):
        direction = tuple(np.broadcast_to(v, (r,) + v.shape) for v in unflatten(basis[i], shapes))
        # Row i = (H e_i)ᵀ by symmetry; rows are contiguous (columns would be strided writes).
        h[:, i, :] = flatten(problem._hvp(weights, direction))
    return 0.5 * (h + np.swapaxes(h, -1, -2))


def hessian_eigenvalues(problem, weights) -> np.ndarray:
    """Eigenvalues (ascending) of ``∇²f``: ``(P,)`` for one point, ``(R, P)`` for R points."""
    return np.linalg.eigvalsh(dense_hessian(problem, weights))


def extreme_eigenvalue(problem, weights, which: str) -> float:
    """``λ_max`` (``which="LA"``) or ``λ_min`` (``"SA"``) of ``∇²f(θ)`` at a single network.

    Dense ``eigvalsh`` for P ≤ :data:`DENSE_MAX_PARAMS`, Lanczos on Hessian-vector products
    beyond (``tol=1e-12``, fixed start vector: ``eigsh`` would otherwise draw from global random
    state).
    """
    from ._validation import check_computed_finite

    p = problem.network.n_params
    if p <= DENSE_MAX_PARAMS:
        with np.errstate(over="ignore", invalid="ignore"):
            h = dense_hessian(problem, weights)
        check_computed_finite(h, "the Hessian", weights)
        eig = np.linalg.eigvalsh(h)
        return float(eig[-1] if which == "LA" else eig[0])
    shapes = problem.network.shapes

    def matvec(x):
        with np.errstate(over="ignore", invalid="ignore"):
            out = flatten(problem._hvp(weights, unflatten(np.ravel(x), shapes)))
        check_computed_finite(out, "the Hessian-vector product", weights)
        return out

    op = spla.LinearOperator((p, p), matvec=matvec, dtype=np.float64)
    starts = (np.ones(p) / np.sqrt(p), np.random.default_rng(0).standard_normal(p))
    for v0 in starts:
        try:
            return float(spla.eigsh(op, k=1, which=which, v0=v0, tol=1e-12)[0][0])
        except spla.ArpackError:
            # ARPACK stops with "starting vector is zero" when H v0 = 0. When a second, Gaussian
            # start fails too, H v0 = 0 for a generic v0 (probability 0 unless H = 0): the
            # Hessian vanishes (e.g. at θ = 0 with depth ≥ 3), so λ = 0.
            if v0 is starts[-1] and np.linalg.norm(matvec(v0)) == 0.0:
                return 0.0
    raise RuntimeError(f"ARPACK found no {which} eigenvalue of the Hessian from two start vectors")
