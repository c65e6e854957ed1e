"""Semidefinite complementarity problems (SDCP) of the central flow.

Given a symmetric ``k×k`` matrix α and a linear operator ``B`` on symmetric matrices that is
self-adjoint and positive semidefinite (``⟨X, B[X]⟩ ≥ 0``), find X with

    X ⪰ 0,   Y := α + B[X] ⪰ 0,   ⟨X, Y⟩ = 0.

These are exactly the KKT conditions of the convex program
``min_{X ⪰ 0} ½⟨X, B[X]⟩ + ⟨α, X⟩`` (Cohen et al. 2025, ICLR, §3 and App. on discretization;
theory/central-flows [paper]), solved here with FISTA (accelerated projected gradient on the PSD cone,
with adaptive restart) for ``k ≥ 2`` and in closed form ``X = max(0, −α/B)`` for ``k = 1``.
No CVXPY: the problems are tiny (k is the number of eigenvalues at the edge).

``B`` is given as a 4-tensor ``B[i, j, k, l]`` with ``B[X]_ij = Σ_kl B[i,j,k,l] X_kl``.
Accuracy is reported by the *natural residual* ``‖X − Π_⪰0(X − Y)‖_F``, which is zero exactly
at a solution, and by the separate KKT violations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SDCPSolution", "solve_sdcp", "kkt_residual"]


@dataclass(frozen=True)
class SDCPSolution:
    """Solution of an SDCP.

    Attributes
    ----------
    X : ndarray (k, k)
    residual : float
        Natural residual ``‖X − Π_⪰0(X − (α + B[X]))‖_F`` relative to ``scale``.
    primal_violation, dual_violation, complementarity : float
        ``max(0, −λ_min(X))``, ``max(0, −λ_min(α + B[X]))`` and ``|⟨X, α + B[X]⟩|``, each
        divided by ``scale``.
    scale : float
        ``max(‖α‖_F, ‖B‖·‖X‖_F, tiny)``: the natural magnitude of Y, so that residuals are
        relative.
    iterations : int
    converged : bool
        Residual ≤ the requested tolerance (False also when the problem has no solution, e.g.
        ``B[X] = 0`` along a direction where ``α`` is negative: then ‖X‖ grows without bound).
    """

    X: np.ndarray
    residual: float
    primal_violation: float
    dual_violation: float
    complementarity: float
    scale: float
    iterations: int
    converged: bool


def _apply(B: np.ndarray, X: np.ndarray) -> np.ndarray:
    return np.einsum("ijkl,kl->ij", B, X)


def _project_psd(X: np.ndarray) -> np.ndarray:
    """Frobenius projection onto the PSD cone (clip negative eigenvalues)."""
    if X.shape == (2, 2):
        return _project_psd_2x2(X)
    w, V = np.linalg.eigh(0.5 * (X + X.T))
    return (V * np.maximum(w, 0.0)) @ V.T


def _project_psd_2x2(X: np.ndarray) -> np.ndarray:
    """Closed-form 2×2 case (the common one: two eigenvalues at the edge), no LAPACK call.

    With ``X = m I + [[a, b], [b, −a]]``, ``r = √(a² + b²)``, the eigenvalues are ``m ± r``;
    if ``m − r < 0 ≤ m + r`` the projection keeps the top one: ``((m + r)/2)(I + N/r)`` with
    ``N = [[a, b], [b, −a]]``.
    """
    m = 0.5 * (X[0, 0] + X[1, 1])
    a = 0.5 * (X[0, 0] - X[1, 1])
    b = 0.5 * (X[0, 1] + X[1, 0])
    r = np.hypot(a, b)
    if m - r >= 0:
        return np.array([[m + a, b], [b, m - a]])
    if m + r <= 0:
        return np.zeros((2, 2))
    top = 0.5 * (m + r)
    return top * np.array([[1.0 + a / r, b / r], [b / r, 1.0 - a / r]])


def _proj2(a: float, b: float, c: float) -> tuple:
    """:func:`_project_psd_2x2` on the entries ``[[a, b], [b, c]]`` as plain floats."""
    m, h = 0.5 * (a + c), 0.5 * (a - c)
    r = math.hypot(h, b)
    if m - r >= 0:
        return a, b, c
    if m + r <= 0:
        return 0.0, 0.0, 0.0
    top = 0.5 * (m + r)
    return top * (1.0 + h / r), top * b / r, top * (1.0 - h / r)


def _fista_2x2(alpha, B, X, step, lip, tol, max_iter):
    """The FISTA loop of :func:`solve_sdcp` for k = 2 on plain floats (the common case of two
    eigenvalues at the edge; ~20× faster than the array version, same iterates)."""
    al = (float(alpha[0, 0]), float(alpha[0, 1]), float(alpha[1, 1]))
    # Y = B[X] in the coordinates (X11, X12, X22): the off-diagonal entry counts twice.
    m = [[float(B[i, j, 0, 0]), float(B[i, j, 0, 1] + B[i, j, 1, 0]), float(B[i, j, 1, 1])]
         for i, j in ((0, 0), (0, 1), (1, 1))]
    alpha_norm = math.sqrt(al[0] ** 2 + 2 * al[1] ** 2 + al[2] ** 2)

    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = m
    a0, a1, a2 = al

    def grad(x):
        x0, x1, x2 = x
        return (a0 + m00 * x0 + m01 * x1 + m02 * x2, a1 + m10 * x0 + m11 * x1 + m12 * x2,
                a2 + m20 * x0 + m21 * x1 + m22 * x2)

    x = (float(X[0, 0]), float(0.5 * (X[0, 1] + X[1, 0])), float(X[1, 1]))
    z, t = x, 1.0
    it = 0
    for it in range(1, max_iter + 1):
        g = grad(z)
        xn = _proj2(z[0] - step * g[0], z[1] - step * g[1], z[2] - step * g[2])
        if it % 10 == 0:
            y = grad(xn)
            pr = _proj2(xn[0] - y[0], xn[1] - y[1], xn[2] - y[2])
            d = (xn[0] - pr[0], xn[1] - pr[1], xn[2] - pr[2])
            xnorm = math.sqrt(xn[0] ** 2 + 2 * xn[1] ** 2 + xn[2] ** 2)
            if math.sqrt(d[0] ** 2 + 2 * d[1] ** 2 + d[2] ** 2) <= tol * max(alpha_norm, lip * xnorm):
                x = xn
                break
            if not math.isfinite(xnorm) or xnorm > 1e12 * (1 + alpha_norm / lip):
                x = xn
                break
        t_new = 0.5 * (1 + math.sqrt(1 + 4 * t * t))
        uphill = (z[0] - xn[0]) * (xn[0] - x[0]) + 2 * (z[1] - xn[1]) * (xn[1] - x[1]) + (z[2] - xn[2]) * (xn[2] - x[2])
        if uphill > 0:  # restart: momentum points uphill
            t_new, z = 1.0, xn
        else:
            beta = (t - 1) / t_new
            z = (xn[0] + beta * (xn[0] - x[0]), xn[1] + beta * (xn[1] - x[1]), xn[2] + beta * (xn[2] - x[2]))
        x, t = xn, t_new
    return np.array([[x[0], x[1]], [x[1], x[2]]]), it


def _symmetrize_operator(B: np.ndarray) -> np.ndarray:
    """Make ``B`` act on symmetric matrices symmetrically: B_ijkl = B_jikl = B_ijlk = B_klij."""
    B = 0.5 * (B + B.transpose(1, 0, 2, 3))
    B = 0.5 * (B + B.transpose(0, 1, 3, 2))
    return 0.5 * (B + B.transpose(2, 3, 0, 1))


def kkt_residual(alpha, B, X, *, b_norm=None) -> dict:
    """Relative KKT violations of ``X`` for ``SDCP(α, B)``; see :class:`SDCPSolution`.

    ``b_norm`` (the operator 2-norm of B) may be passed when already known.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    k = alpha.shape[0]
    if k == 0:
        return dict(residual=0.0, primal_violation=0.0, dual_violation=0.0, complementarity=0.0, scale=1.0)
    Y = alpha + _apply(B, X)
    if b_norm is None:
        b_norm = np.linalg.norm(B.reshape(k * k, k * k), 2)
    scale = max(np.linalg.norm(alpha), b_norm * np.linalg.norm(X), np.finfo(float).tiny)
    natural = np.linalg.norm(X - _project_psd(X - Y))
    return dict(
        residual=float(natural / scale),
        primal_violation=float(max(0.0, -np.linalg.eigvalsh(0.5 * (X + X.T))[0]) / scale),
        dual_violation=float(max(0.0, -np.linalg.eigvalsh(0.5 * (Y + Y.T))[0]) / scale),
        complementarity=float(abs(np.sum(X * Y)) / scale),
        scale=float(scale),
    )


def _solution(alpha, B, X, iterations, tol, b_norm=None) -> SDCPSolution:
    kkt = kkt_residual(alpha, B, X, b_norm=b_norm)
    return SDCPSolution(X=X, iterations=iterations, converged=bool(kkt["residual"] <= tol), **kkt)


def solve_sdcp(alpha, B, *, X0=None, tol: float = 1e-10, max_iter: int = 20000) -> SDCPSolution:
    """Solve ``X ⪰ 0, α + B[X] ⪰ 0, ⟨X, α + B[X]⟩ = 0``.

    Parameters
    ----------
    alpha : ndarray (k, k), symmetric
    B : ndarray (k, k, k, k)
        PSD self-adjoint operator on symmetric matrices, ``B[X]_ij = Σ_kl B_ijkl X_kl``; it is
        symmetrized first (entries that act on antisymmetric parts are irrelevant).
    X0 : ndarray (k, k), optional
        Warm start (e.g. the previous substep's solution).
    tol : float
        Stop when the relative natural residual is ≤ tol. 1e-10 default: far below the
        O(dt) discretization error of the flow, yet reachable in float64 (rounding in the
        residual itself is ~1e-15 relative).
    max_iter : int

    Returns
    -------
    SDCPSolution

    Notes
    -----
    ``k = 1``: ``X = max(0, −α/B)`` (the closed form ``σ² = max(0, 2⟨−∇L, ∇S⟩/‖∇S‖²)`` of
    Cohen et al. 2025, eq. for one unstable eigenvalue, up to the scaling of α and B).
    ``k ≥ 2``: FISTA (Beck & Teboulle 2009) with step ``1/‖B‖`` and gradient-based adaptive
    restart (O'Donoghue & Candès 2015) on ``½⟨X, B[X]⟩ + ⟨α, X⟩``.

    Examples
    --------
    >>> import numpy as np
    >>> B = np.zeros((1, 1, 1, 1)); B[0, 0, 0, 0] = 2.0
    >>> float(solve_sdcp(np.array([[-1.0]]), B).X[0, 0])
    0.5
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    alpha = 0.5 * (alpha + alpha.T)
    k = alpha.shape[0]
    B = _symmetrize_operator(np.asarray(B, dtype=np.float64).reshape(k, k, k, k))
    if not (np.all(np.isfinite(alpha)) and np.all(np.isfinite(B))):
        return SDCPSolution(X=np.zeros((k, k)), residual=np.inf, primal_violation=0.0, dual_violation=np.inf,
                            complementarity=np.inf, scale=np.inf, iterations=0, converged=False)
    if k == 0:
        return _solution(alpha, B, np.zeros((0, 0)), 0, tol)
    if k == 1:
        a, b = alpha[0, 0], B[0, 0, 0, 0]
        if a >= 0:
            x = 0.0
        elif b > 0:
            x = -a / b
        else:  # no solution: the objective is unbounded below
            x = np.inf
        X = np.array([[x]])
        if not np.isfinite(x):
            return SDCPSolution(X=X, residual=np.inf, primal_violation=0.0, dual_violation=np.inf,
                                complementarity=np.inf, scale=abs(a), iterations=0, converged=False)
        return _solution(alpha, B, X, 0, tol)
    if np.linalg.eigvalsh(alpha)[0] >= 0:
        return _solution(alpha, B, np.zeros((k, k)), 0, tol)  # X = 0 satisfies the KKT system

    mat = B.reshape(k * k, k * k)
    lip = np.linalg.norm(mat, 2)
    if lip <= 0:
        return _solution(alpha, B, np.zeros((k, k)), 0, tol)  # α has a negative direction: no solution
    step = 1.0 / lip
    X = _project_psd(X0) if X0 is not None and np.shape(X0) == (k, k) else np.zeros((k, k))
    if k == 2:
        X, it = _fista_2x2(alpha, B, X, step, lip, tol, max_iter)
        return _solution(alpha, B, X, it, tol, b_norm=lip)
    Z, t = X.copy(), 1.0
    alpha_norm = np.linalg.norm(alpha)
    it = 0
    for it in range(1, max_iter + 1):
        grad_z = alpha + (mat @ Z.ravel()).reshape(k, k)
        X_new = _project_psd(Z - step * grad_z)
        # Cheap convergence test every 10 iterations (the full KKT check costs two eigh).
        if it % 10 == 0:
            Y = alpha + (mat @ X_new.ravel()).reshape(k, k)
            scale = max(alpha_norm, lip * np.linalg.norm(X_new))
            if np.linalg.norm(X_new - _project_psd(X_new - Y)) <= tol * scale:
                X = X_new
                break
            if not np.all(np.isfinite(X_new)) or np.linalg.norm(X_new) > 1e12 * (1 + alpha_norm / lip):
                X = X_new
                break
        t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        if np.sum((Z - X_new) * (X_new - X)) > 0:  # restart: momentum points uphill
            t_new, Z = 1.0, X_new
        else:
            Z = X_new + ((t - 1) / t_new) * (X_new - X)
        X, t = X_new, t_new
    return _solution(alpha, B, 0.5 * (X + X.T), it, tol, b_norm=lip)
