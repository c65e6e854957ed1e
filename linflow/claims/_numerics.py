"""Numeric ingredients of the built-in claims: bound lookup, fast ε search, scalar-net helpers.

Bounds come from the registry :mod:`linflow.bounds` (:func:`bound_value`), the curvature
certificate from :mod:`linflow.curvature`. What is here is only what those do not provide:

* :func:`ball_curvature_bounds` / :func:`ec21_certificate`: a *vectorized* mirror of
  :func:`linflow.curvature.error_certificate` (same formulas, all path samples at once), used
  to search the tube radius ε and the step η that make the certificate self-consistent — a
  search that calls the per-point certificate hundreds of times would be too slow. The claim's
  verdict always uses :func:`linflow.curvature.error_certificate` itself; the tests check that
  both agree.
* :func:`gfs_sharpness` for any depth (the registry has the N = 2 closed form).
* batched Hessian spectra along a sampled path.

Conventions: whitened loss ``f = ½‖W_e − Φ‖_F²`` (so ``∇²L = I``), ``W_e = W_N ⋯ W_1``.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

__all__ = [
    "bound_value",
    "ball_curvature_bounds",
    "ec21_certificate",
    "best_epsilon",
    "gfs_sharpness",
    "path_norms",
    "batched_hessians",
    "batched_extreme_eigenvalues",
]


def bound_value(name: str, **params) -> float:
    """``linflow.bounds.get(name).evaluate(**params)`` as a float (theory.md formulas, by name)."""
    from .. import bounds

    return float(bounds.get(name).evaluate(**params))


# ---------------------------------------------------------------------------- ε-ball curvature bounds
def _pair_products(a: np.ndarray) -> np.ndarray:
    """``max_{i<j} Π_{k∉{i,j}} a_k`` for every row of ``a`` (R, N); 1 for N = 2, 0 for N = 1."""
    n = a.shape[-1]
    if n < 2:
        return np.zeros(a.shape[:-1])
    out = np.zeros(a.shape[:-1])
    for i, j in combinations(range(n), 2):
        keep = [k for k in range(n) if k not in (i, j)]
        out = np.maximum(out, np.prod(a[..., keep], axis=-1) if keep else np.ones(a.shape[:-1]))
    return out


def ball_curvature_bounds(layer_norms: np.ndarray, loss_grad_norm: np.ndarray, radius: float):
    """Upper bound on ``‖∇²f‖₂`` and lower bound on ``λ_min(∇²f)`` over ``B_radius(θ)``.

    Parameters
    ----------
    layer_norms : ndarray, (R, N)
        ``‖W_k‖₂`` at R points θ.
    loss_grad_norm : ndarray, (R,)
        ``‖∇L(W_e)‖₂ = ‖W_e − Φ‖₂`` at those points.
    radius : float
        ε ≥ 0.

    Returns
    -------
    (hessian_norm_upper, lambda_min_lower) : ndarrays, (R,)

    Notes
    -----
    Vectorized over R points; the same formulas as :func:`linflow.curvature.smoothness_bound`
    and :func:`linflow.curvature.lambda_min_lower_bound` for the whitened loss (ℓ = 1).
    theory.md §2 [checked] (Elkabetz & Cohen 2021 ingredients): with ``a_k = ‖W_k‖₂ + ε``,
    ``δ_e = Π a_k − Π ‖W_k‖₂``, ``P = max_{i<j} Π_{k∉{i,j}} a_k``:
    ``‖∇²f‖₂ ≤ Σ_j Π_{k≠j} a_k² + (N−1)(‖∇L‖₂ + δ_e) P`` and
    ``λ_min(∇²f) ≥ −(N−1)(‖∇L‖₂ + δ_e) P`` (the Gauss–Newton part is PSD for convex L).
    """
    norms = np.asarray(layer_norms, dtype=np.float64)
    a = norms + radius
    n = norms.shape[-1]
    delta_e = np.prod(a, axis=-1) - np.prod(norms, axis=-1)
    grad = np.asarray(loss_grad_norm, dtype=np.float64) + delta_e
    pairs = _pair_products(a)
    gauss_newton = np.zeros(norms.shape[:-1])
    for j in range(n):
        others = [k for k in range(n) if k != j]
        gauss_newton += np.prod(a[..., others] ** 2, axis=-1) if others else 1.0
    second = (n - 1) * grad * pairs
    return gauss_newton + second, -second


def path_norms(problem, path_weights):
    """``(‖W_k‖₂ per layer (R, N), ‖∇L‖₂ (R,), ‖∇f‖ (R,))`` along a sampled path (batched weights)."""
    from ..network import end_to_end, flatten

    layer_norms = np.stack([np.linalg.norm(w, 2, axis=(-2, -1)) for w in path_weights], axis=-1)
    residual = problem.end_to_end_gradient(end_to_end(path_weights))
    loss_grad = np.linalg.norm(residual, 2, axis=(-2, -1))
    grad_norm = np.linalg.norm(flatten(problem._gradient(path_weights)), axis=-1)
    return layer_norms, loss_grad, grad_norm


def ec21_certificate(layer_norms, loss_grad, grad_norm, learning_rate: float, epsilon: float) -> dict:
    """Vectorized :func:`linflow.curvature.error_certificate` on samples at ``t = kη``, k = 0…K.

    Same definitions (theory.md §2 [checked], Elkabetz & Cohen 2021): ``m_k``, ``β_k`` the ball
    bounds at ``θ(kη)`` with radius ε, ``γ_k = ‖∇f(θ(kη))‖ e^{ηβ_k}``,
    ``E_0 = 0``, ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k``; valid when ``ηβ_k ≤ 1`` and
    ``ηγ_k ≤ ε`` for k < K and ``E_k ≤ ε`` for all k.

    Returns
    -------
    dict with ``E`` (K+1,), ``valid`` and the margins ``step_margin = 1 − max ηβ_k``,
    ``segment_margin = ε − max ηγ_k``, ``tube_margin = ε − max E_k``.
    """
    eta, eps = float(learning_rate), float(epsilon)
    beta, m = ball_curvature_bounds(layer_norms, loss_grad, eps)
    gamma = np.asarray(grad_norm, dtype=np.float64) * np.exp(eta * beta)
    e = np.zeros(len(m))
    drift = 0.5 * eta * eta * beta * gamma
    for k in range(len(m) - 1):
        e[k + 1] = (1.0 - eta * m[k]) * e[k] + drift[k]
    step_margin = 1.0 - eta * float(np.max(beta[:-1], initial=0.0))
    segment_margin = eps - eta * float(np.max(gamma[:-1], initial=0.0))
    tube_margin = eps - float(np.max(e))
    return {
        "E": e, "epsilon": eps, "step_margin": step_margin, "segment_margin": segment_margin,
        "tube_margin": tube_margin, "valid": bool(step_margin >= 0 and segment_margin >= 0 and tube_margin >= 0),
    }


#: Tube radii tried by :func:`best_epsilon` (the smallest valid one gives the tightest E).
EPSILONS = tuple(10.0 ** np.linspace(-6, 0, 25))


def best_epsilon(layer_norms, loss_grad, grad_norm, learning_rate: float):
    """Smallest ε in :data:`EPSILONS` for which the certificate is self-consistent (or None).

    Any valid ε gives a true bound; a smaller ε gives smaller β_k, |m_k| and hence a tighter E.
    """
    for eps in EPSILONS:
        if ec21_certificate(layer_norms, loss_grad, grad_norm, learning_rate, eps)["valid"]:
            return eps
    return None


# ---------------------------------------------------------------------------- scalar networks
def gfs_sharpness(w: np.ndarray, target: float) -> np.ndarray:
    """GF-solution sharpness φ of scalar weights ``w`` (shape (..., N)) and target y: the
    public :func:`linflow.analysis.gfs_sharpness` without validation (Kreisler et al. 2023)."""
    from ..analysis import gfs_sharpness_values

    return np.asarray(gfs_sharpness_values(w, target))


def batched_hessians(problem, path_weights) -> np.ndarray:
    """Dense Hessians ``∇²f`` at R points at once, shape (R, P, P) (symmetrized).

    One batched analytic HVP per basis direction (``Problem._hvp`` broadcasts over the leading
    axis), instead of P·R single HVPs.
    """
    from ..network import flatten, unflatten

    shapes = problem.network.shapes
    r = path_weights[0].shape[0]
    p = problem.network.n_params
    h = np.empty((r, p, p))
    basis = np.eye(p)
    for i in range(p):
        direction = tuple(np.broadcast_to(v, (r,) + v.shape) for v in unflatten(basis[i], shapes))
        h[:, :, i] = flatten(problem._hvp(path_weights, direction))
    return 0.5 * (h + np.swapaxes(h, 1, 2))


def batched_extreme_eigenvalues(problem, path_weights):
    """``(λ_min, λ_max)`` of ``∇²f`` at R points (dense ``eigvalsh``), each shape (R,)."""
    eig = np.linalg.eigvalsh(batched_hessians(problem, path_weights))
    return eig[:, 0], eig[:, -1]
