"""Elkabetz–Cohen ingredients shared by every curvature certificate, vectorized over points.

For a product ``W_N ⋯ W_1`` with ``a_k = ‖W_k‖₂ + ε`` bounding the layer norms on the ball
``B_ε(θ)`` (the ball bounds and the discrete recursion are derived in this project from the
argument of Elkabetz & Cohen 2021; they are not lemmas of that paper):

* :func:`pair_products` — ``max_{i<j} Π_{k∉{i,j}} a_k`` (second derivative of the product);
* :func:`jacobian_bound` — ``Σ_j Π_{k≠j} a_k² ≥ ‖∂W_e/∂θ‖₂²`` (Cauchy–Schwarz over the layers);
* :func:`deep_linear_ball_bounds` — the smoothness β and λ_min bound m on the ball;
* :func:`recursion_terms` — the factor ``1 − ηm_k`` and the drift ``½η²β_kγ_k`` of one step of
  ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k`` (also the bound registry's ``ec21_error_recursion``);
* :func:`certificate_recursion` — that recursion from ``E_0 = 0`` along a path;
* :func:`segment_gradient_bound` — ``γ_k = ‖∇f(θ(kη))‖ e^{ηβ_k}``;
* :func:`certificate_margins` — the certificate's hypotheses as margins (≥ 0 when they hold).

:mod:`linflow.curvature` (one point at a time, any loss) and the claims (whole paths at once)
both call these; nothing else implements them.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

__all__ = [
    "certificate_margins",
    "certificate_recursion",
    "deep_linear_ball_bounds",
    "jacobian_bound",
    "pair_products",
    "recursion_terms",
    "segment_gradient_bound",
]


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
    delta_e = _ball_drift(norms, float(epsilon))
    with np.errstate(over="ignore"):
        grad = np.asarray(loss_grad_norm, dtype=np.float64) + _times(rank_factor * loss_curvature, delta_e)
        second = _times(n - 1, grad, pair_products(a))
        return _times(loss_curvature, jacobian_bound(a)) + second, -second


def _ball_drift(norms: np.ndarray, epsilon: float) -> np.ndarray:
    """``δ_e = Π(‖W_k‖₂ + ε) − Π‖W_k‖₂`` over the last axis, never ∞ − ∞ or 0 · ∞.

    ``Π‖W_k‖₂ · expm1(S)``, ``S = Σ log1p(ε/‖W_k‖₂)``, taken as
    ``exp(Σ log‖W_k‖₂ + S + log(1 − e^{−S}))``; ``Π(‖W_k‖₂ + ε)`` where a norm is 0.
    """
    if epsilon == 0.0:
        return np.zeros(norms.shape[:-1])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        has_zero = np.any(norms == 0.0, axis=-1)
        safe = np.where(norms == 0.0, 1.0, norms)
        # log(1 + ε/‖W_k‖) as log1p where ε/‖W_k‖ ≤ 1 (no cancellation), else as a difference of
        # logs (ε/‖W_k‖ overflows for subnormal norms).
        ratio = epsilon / safe
        terms = np.where(ratio <= 1.0, np.log1p(np.minimum(ratio, 1.0)), np.log(safe + epsilon) - np.log(safe))
        total = np.sum(terms, axis=-1)
        logged = np.exp(np.sum(np.log(safe), axis=-1) + total + np.log(-np.expm1(-total)))
        logged = np.where(total == 0.0, 0.0, logged)  # ε/‖W_k‖₂ below float64 resolution
        return np.where(has_zero, np.prod(norms + epsilon, axis=-1), logged)


def _times(*factors) -> np.ndarray:
    """Elementwise product with 0 · ∞ = 0, and the true limit where it under/overflows on the way.

    Ordinary products are kept as they are; where a factor is 0 the product is 0 exactly (a
    vanishing gradient kills its term even next to an overflowing norm product); where the
    plain product is 0, ±∞ or NaN without a zero factor it is ``sign · exp(Σ log|f|)``.
    """
    arrays = np.broadcast_arrays(*(np.asarray(f, dtype=np.float64) for f in factors))
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        product = np.prod(arrays, axis=0)
        zero = np.any([x == 0.0 for x in arrays], axis=0)
        sign = np.prod([np.sign(x) for x in arrays], axis=0)
        logged = sign * np.exp(np.sum([np.log(np.abs(x)) for x in arrays], axis=0))
        fine = np.isfinite(product) & (product != 0.0)
        return np.where(zero, 0.0, np.where(fine, product, logged))


def recursion_terms(learning_rate, curvature_lower, smoothness, gradient_bound):
    """``(1 − ηm_k, ½η²β_kγ_k)``: factor and drift of ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k``.

    Elkabetz & Cohen 2021, Thm 1's discrete form (derived in this project). Broadcasting float64
    arrays. The factor overflows to +∞ for ``m_k → −∞`` (an honest vacuous bound); the drift is
    0 where a factor is 0 and never NaN (:func:`_times`).
    """
    eta = np.asarray(learning_rate, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        factor = 1.0 - eta * np.asarray(curvature_lower, dtype=np.float64)
    return factor, _times(0.5, eta, eta, smoothness, gradient_bound)


def certificate_recursion(curvature_lower, smoothness, gradient_bound, learning_rate: float) -> np.ndarray:
    """``E_0 = 0``, ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k`` (Elkabetz & Cohen 2021, Thm 1's discrete form)."""
    factors, drift = recursion_terms(float(learning_rate), curvature_lower, smoothness, gradient_bound)
    # On Python floats (≈ 10× faster than indexing arrays; the claims run it for many ε over up
    # to 10⁵ steps). E_k = 0 stays 0 next to an infinite factor; otherwise overflow gives +∞.
    values = [0.0]
    for a, d in zip(factors.tolist()[:-1], drift.tolist()[:-1]):
        values.append((a * values[-1] if values[-1] != 0.0 else 0.0) + d)
    return np.array(values)


def segment_gradient_bound(gradient_norm, smoothness, learning_rate: float) -> np.ndarray:
    """``γ_k = ‖∇f(θ(kη))‖ e^{ηβ_k}`` ≥ ‖∇f‖ on the flow segment ``[kη, (k+1)η]``.

    Grönwall on ``|d‖∇f‖/dt| ≤ ‖∇²f‖‖∇f‖`` (derived in this project from the argument of
    Elkabetz & Cohen 2021). ``‖∇f‖ = 0`` gives γ = 0 even where ``e^{ηβ}`` overflows.
    """
    g = np.asarray(gradient_norm, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(g == 0.0, 0.0, g * np.exp(float(learning_rate) * np.asarray(smoothness, dtype=np.float64)))


def certificate_margins(learning_rate: float, epsilon: float, smoothness, gradient_bound, errors):
    """The certificate's hypotheses as margins, each ``≥ 0`` exactly where the hypothesis holds.

    ``(what, margin)`` pairs: ``1 − ηβ_k`` and ``ε − ηγ_k`` for the steps taken (k < K: the last
    point only ends the path) and ``ε − E_k`` for every k (Elkabetz & Cohen 2021, the hypotheses
    of Thm 1's discrete form: ηβ_k ≤ 1, the flow segment inside the ball, the GD iterate inside
    the tube). In float64, ``1 − x ≥ 0 ⇔ x ≤ 1`` and ``ε − x ≥ 0 ⇔ x ≤ ε`` (a nonzero exact
    difference never rounds to 0); NaN fails both forms.
    """
    eta, eps = float(learning_rate), float(epsilon)
    beta = np.asarray(smoothness, dtype=np.float64)
    gamma = np.asarray(gradient_bound, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        return (
            ("ηβ_k ≤ 1", 1.0 - eta * beta[:-1]),
            ("ηγ_k ≤ ε (flow segment inside the ball)", eps - eta * gamma[:-1]),
            ("E_k ≤ ε", eps - np.asarray(errors, dtype=np.float64)),
        )
