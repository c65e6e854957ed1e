"""Numeric ingredients of the built-in claims: bound lookup, fast ε search, scalar-net helpers.

Bounds come from the registry :mod:`linflow.bounds` (:func:`bound_value`), the curvature
certificate from :mod:`linflow.curvature`. What is here is only what those do not provide:

* :func:`ball_curvature_bounds` / :func:`ec21_certificate`: a *vectorized* form of
  :func:`linflow.curvature.error_certificate` (all path samples at once; the ball bounds, the
  recursion, γ_k and the hypotheses' margins are the same functions of ``linflow._ball_bounds``), used
  to search the tube radius ε and the step η that make the certificate self-consistent — a
  search that calls the per-point certificate hundreds of times would be too slow. The claim's
  verdict always uses :func:`linflow.curvature.error_certificate` itself; the tests check that
  both agree.
* :func:`gfs_sharpness` for any depth (the registry has the N = 2 closed form).
* batched Hessian spectra along a sampled path.

Conventions: whitened loss ``f = ½‖W_e − Φ‖_F²`` (so ``∇²L = I``), ``W_e = W_N ⋯ W_1``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bound_value",
    "bound_array",
    "ball_curvature_bounds",
    "ec21_certificate",
    "best_epsilon",
    "gfs_sharpness",
    "path_norms",
    "batched_hessians",
    "batched_extreme_eigenvalues",
]


def bound_value(name: str, **params) -> float:
    """``linflow.bounds.get(name).evaluate(**params)`` as a float (formulas of the theory pages, by name)."""
    from .. import bounds

    return float(bounds.get(name).evaluate(**params))


def bound_array(name: str, **params) -> np.ndarray:
    """``linflow.bounds.get(name).evaluate(**params)`` as a float64 array (vectorized parameters)."""
    from .. import bounds

    return np.asarray(bounds.get(name).evaluate(**params), dtype=np.float64)


# ---------------------------------------------------------------------------- ε-ball curvature bounds
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
    theory/gd-vs-gf [checked] (Elkabetz & Cohen 2021 ingredients): with ``a_k = ‖W_k‖₂ + ε``,
    ``δ_e = Π a_k − Π ‖W_k‖₂``, ``P = max_{i<j} Π_{k∉{i,j}} a_k``:
    ``‖∇²f‖₂ ≤ Σ_j Π_{k≠j} a_k² + (N−1)(‖∇L‖₂ + δ_e) P`` and
    ``λ_min(∇²f) ≥ −(N−1)(‖∇L‖₂ + δ_e) P`` (the Gauss–Newton part is PSD for convex L).
    """
    from .._ball_bounds import deep_linear_ball_bounds

    return deep_linear_ball_bounds(layer_norms, loss_grad_norm, radius)


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

    Same definitions (theory/gd-vs-gf [checked], Elkabetz & Cohen 2021): ``m_k``, ``β_k`` the ball
    bounds at ``θ(kη)`` with radius ε, ``γ_k = ‖∇f(θ(kη))‖ e^{ηβ_k}``,
    ``E_0 = 0``, ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k``; valid when ``ηβ_k ≤ 1`` and
    ``ηγ_k ≤ ε`` for k < K and ``E_k ≤ ε`` for all k.

    Returns
    -------
    dict with ``E`` (K+1,), ``valid`` and the margins ``step_margin = 1 − max ηβ_k``,
    ``segment_margin = ε − max ηγ_k``, ``tube_margin = ε − max E_k``.
    """
    from .._ball_bounds import (
        certificate_margins,
        certificate_recursion,
        segment_gradient_bound,
    )

    eta, eps = float(learning_rate), float(epsilon)
    beta, m = ball_curvature_bounds(layer_norms, loss_grad, eps)
    gamma = segment_gradient_bound(grad_norm, beta, eta)
    e = certificate_recursion(m, beta, gamma, eta)
    step, segment, tube = (margin for _, margin in certificate_margins(eta, eps, beta, gamma, e))
    # The smallest margin over the steps (1 and ε when no step is taken: nothing to check).
    step_margin = float(np.min(step, initial=1.0))
    segment_margin = float(np.min(segment, initial=eps))
    tube_margin = float(np.min(tube))
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
    """Dense Hessians ``∇²f`` at R points at once, shape (R, P, P) (symmetrized; ``linflow._hessian``)."""
    from .._hessian import dense_hessian

    return dense_hessian(problem, path_weights)


def batched_extreme_eigenvalues(problem, path_weights):
    """``(λ_min, λ_max)`` of ``∇²f`` at R points (dense ``eigvalsh``), each shape (R,)."""
    eig = np.linalg.eigvalsh(batched_hessians(problem, path_weights))
    return eig[:, 0], eig[:, -1]
