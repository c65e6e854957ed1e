"""Elkabetz–Cohen ingredients shared by every curvature certificate, vectorized over points.

For a product ``W_N ⋯ W_1`` with ``a_k = ‖W_k‖₂ + ε`` bounding the layer norms on the ball
``B_ε(θ)`` (Elkabetz & Cohen 2021, Sec. 4, whose Lemma bounds the Hessian of a deep linear
network's loss on a ball):

* :func:`pair_products` — ``max_{i<j} Π_{k∉{i,j}} a_k`` (second derivative of the product);
* :func:`jacobian_bound` — ``Σ_j Π_{k≠j} a_k² ≥ ‖∂W_e/∂θ‖₂²`` (Cauchy–Schwarz over the layers);
* :func:`deep_linear_ball_bounds` — the smoothness β and λ_min bound m on the ball;
* :func:`certificate_recursion` — ``E_0 = 0``, ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k``.

:mod:`linflow.curvature` (one point at a time, any loss) and the claims (whole paths at once)
both call these; nothing else implements them.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

__all__ = ["certificate_recursion", "deep_linear_ball_bounds", "jacobian_bound", "pair_products"]


def pair_products(a) -> np.ndarray:
    """``max_{i<j} Π_{k∉{i,j}} a_k`` over the last axis (1 for N = 2, 0 for N = 1: no pairs)."""
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[-1]
    out = np.zeros(a.shape[:-1])
    for i, j in combinations(range(n), 2):
        keep = [k for k in range(n) if k not in (i, j)]
        out = np.maximum(out, np.prod(a[..., keep], axis=-1) if keep else np.ones(a.shape[:-1]))
    return out


def jacobian_bound(a) -> np.ndarray:
    """``Σ_j Π_{k≠j} a_k²`` over the last axis (≥ ‖∂W_e/∂θ‖₂², Cauchy–Schwarz over the layers)."""
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[-1]
    out = np.zeros(a.shape[:-1])
    for j in range(n):
        others = [k for k in range(n) if k != j]
        out = out + (np.prod(a[..., others] ** 2, axis=-1) if others else 1.0)
    return out


def deep_linear_ball_bounds(layer_norms, loss_grad_norm, epsilon: float, *, loss_curvature: float = 1.0,
                            rank_factor: float = 1.0):
    """``(β, m)``: ``‖∇²f‖₂ ≤ β`` and ``λ_min(∇²f) ≥ m`` on ``B_ε(θ)``, vectorized over points.

    Parameters
    ----------
    layer_norms : ndarray (..., N)
        ``‖W_k‖₂`` at θ.
    loss_grad_norm : ndarray (...)
        ``‖∇L(W_e(θ))‖₂``.
    epsilon : float
        Ball radius ε ≥ 0.
    loss_curvature : float
        ℓ ≥ ‖∇²L‖ everywhere (1 for the whitened loss).
    rank_factor : float
        1 when ``∇²L`` multiplies from the right by a PSD matrix, else ``√min(d_0, d_N)``.

    Notes
    -----
    With ``δ_e = Π a_k − Π ‖W_k‖₂`` and ``P = max_{i<j} Π_{k∉{i,j}} a_k``:
    ``β = ℓ Σ_j Π_{k≠j} a_k² + (N − 1)(‖∇L‖₂ + rℓδ_e) P`` and ``m = −(N − 1)(‖∇L‖₂ + rℓδ_e) P``
    (Elkabetz & Cohen 2021, Sec. 4; the λ_min bound needs a convex L).
    """
    norms = np.asarray(layer_norms, dtype=np.float64)
    a = norms + float(epsilon)
    n = norms.shape[-1]
    delta_e = np.prod(a, axis=-1) - np.prod(norms, axis=-1)
    grad = np.asarray(loss_grad_norm, dtype=np.float64) + rank_factor * loss_curvature * delta_e
    second = (n - 1) * grad * pair_products(a)
    return loss_curvature * jacobian_bound(a) + second, -second


def certificate_recursion(curvature_lower, smoothness, gradient_bound, learning_rate: float) -> np.ndarray:
    """``E_0 = 0``, ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k`` (Elkabetz & Cohen 2021, Thm 1's discrete form)."""
    m = np.asarray(curvature_lower, dtype=np.float64)
    drift = 0.5 * learning_rate**2 * np.asarray(smoothness, dtype=np.float64) * np.asarray(gradient_bound, dtype=np.float64)
    e = np.zeros(len(m))
    for k in range(len(m) - 1):
        e[k + 1] = (1.0 - learning_rate * m[k]) * e[k] + drift[k]
    return e
