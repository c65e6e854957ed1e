"""Overflow-safe evaluators of the registered bounds (:mod:`linflow.bounds`).

The SymPy expression of a bound is its definition (LaTeX, proofs, symbolic use); evaluated
literally in float64 it returns NaN at extreme but valid parameters: ``0·∞`` in
``ℓ_0 e^{−rt}`` at t = 0 with a rate that overflows, ``∞ − ∞`` in the ball drift
``(ρ + ε)^N − ρ^N`` at ρ = 1e300, ``0/0`` in ``c²/‖Φ‖^{…}`` at c = ‖Φ‖ = 1e-300. These
functions compute the same quantities as sums of logarithms (products of positive factors) and
with explicit zeros, so that every result is a number: a finite value, 0 after underflow, or
±∞ after overflow (an honest, vacuous bound), never NaN. Each is tested against the SymPy
expression where that one is finite (``tests/test_bounds_extremes.py``).

Every function takes broadcasting float64 arrays in the bound's parameter order, already
validated (domains and constraints) by :meth:`linflow.bounds.Bound.evaluate`.
"""

from __future__ import annotations

import numpy as np

from ._ball_bounds import recursion_terms

__all__ = [
    "arora2019_balancedness",
    "arora2019_step_size",
    "arora2019_iterations",
    "margin_rate",
    "imbalance_rate",
    "ec21_error_recursion",
    "ec21_error_bound",
    "ball_lambda_min",
    "ball_smoothness",
    "saxe_learning_time",
]


def _log(x):
    """Natural log with log(0) = −∞ and no warning."""
    with np.errstate(divide="ignore"):
        return np.log(x)


def _exp(x):
    """exp with overflow to +∞ and no warning."""
    with np.errstate(over="ignore"):
        return np.exp(x)


def _scaled(power, log_base):
    """``power · log_base`` with 0 · (±∞) = 0 (x⁰ = 1, also for x = 0 or an overflowing x)."""
    power, log_base = np.broadcast_arrays(power, log_base)
    with np.errstate(invalid="ignore"):
        return np.where(power == 0.0, 0.0, power * log_base)


def arora2019_balancedness(depth, margin, target_norm):
    """``c² / (256 N³ ‖Φ‖_F^{2(N−1)/N})`` in log space."""
    n = depth
    return _exp(2.0 * _log(margin) - np.log(256.0) - 3.0 * _log(n) - 2.0 * (n - 1.0) / n * _log(target_norm))


def arora2019_step_size(depth, margin, target_norm):
    """``c^{(4N−2)/N} / (6144 N³ ‖Φ‖_F^{(6N−4)/N})`` in log space."""
    n = depth
    return _exp(
        (4.0 * n - 2.0) / n * _log(margin) - np.log(6144.0) - 3.0 * _log(n) - (6.0 * n - 4.0) / n * _log(target_norm)
    )


def arora2019_iterations(depth, margin, learning_rate, initial_loss, epsilon):
    """``ln(ℓ_0/ε) / (η c^{2(N−1)/N})``: the signed logarithm over a log-space denominator."""
    n = depth
    numerator = _log(initial_loss) - _log(epsilon)  # both > 0: finite
    log_denominator = _log(learning_rate) + _scaled(2.0 * (n - 1.0) / n, _log(margin))
    magnitude = _exp(_log(np.abs(numerator)) - log_denominator)
    return np.where(numerator == 0.0, 0.0, np.sign(numerator) * magnitude)


def margin_rate(depth, margin, initial_loss, time, *, factor):
    """``ℓ_0 exp(−2·factor·c^{2(N−1)/N} t)`` with the exponent's product taken in log space.

    ``factor`` is 1 (the general form) or the array N (the square form).
    """
    n = depth
    log_exponent = np.log(2.0) + _log(factor) + _scaled(2.0 * (n - 1.0) / n, _log(margin)) + _log(time)
    return initial_loss * _exp(-_exp(log_exponent))  # the factor e^{−x} ∈ [0, 1] cannot overflow


def imbalance_rate(initial_loss, imbalance, time):
    """``ℓ_0 exp(−2|δ|t)`` with ``2|δ|t`` taken in log space (``|δ| = 1.8e308, t = 0`` gives ℓ_0)."""
    return initial_loss * _exp(-_exp(np.log(2.0) + _log(np.abs(imbalance)) + _log(time)))


def ec21_error_recursion(previous_error, learning_rate, curvature_lower, smoothness, gradient_bound):
    """``(1 − ηm_k)E_k + ½η²βγ``: the curvature certificate's step (``recursion_terms``).

    The first term is 0 when E_k = 0; the drift is 0 where a factor is 0 and falls back to log
    space where the product under/overflows. Under the constraints ηβ ≤ 1 and m_k ≤ β the
    factor ``1 − ηm_k`` is ≥ 0 (it may overflow to +∞ for m_k → −∞, an honest vacuous bound).
    """
    factor, drift = recursion_terms(learning_rate, curvature_lower, smoothness, gradient_bound)
    e, factor = np.broadcast_arrays(previous_error, factor)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(e == 0.0, 0.0, factor * e) + drift


def ec21_error_bound(learning_rate, smoothness, gradient_bound, steps, negative_curvature_sum):
    """``½ηβγ · kη · exp(−ηΛ_k)`` in log space; exactly 0 when k = 0 or γ = 0."""
    eta = learning_rate
    with np.errstate(over="ignore"):
        growth = -eta * negative_curvature_sum  # ≥ 0; +∞ on overflow
    zero = (np.asarray(steps) == 0) | (np.asarray(gradient_bound) == 0)
    with np.errstate(invalid="ignore"):  # −∞ + ∞ only where the bound is exactly 0 (masked)
        log_value = np.log(0.5) + 2.0 * _log(eta) + _log(smoothness) + _log(gradient_bound) + _log(steps) + growth
        return np.where(zero, 0.0, _exp(np.where(zero, 0.0, log_value)))


def _log_ball_gradient(depth, gradient_norm, layer_norm, epsilon):
    """``log(g + δ_e)`` with ``δ_e = (ρ + ε)^N − ρ^N`` (ε^N at ρ = 0).

    ``log δ_e = N log ρ + L + log(1 − e^{−L})``, ``L = N log(1 + ε/ρ)`` taken as ``log1p(ε/ρ)``
    where ε/ρ ≤ 1 and as ``log(ρ + ε) − log ρ`` above (ε/ρ overflows for subnormal ρ).
    """
    n, g, rho, eps = np.broadcast_arrays(depth, gradient_norm, layer_norm, epsilon)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        safe = np.where(rho > 0.0, rho, 1.0)
        ratio = eps / safe
        step = np.where(ratio <= 1.0, np.log1p(np.minimum(ratio, 1.0)), np.log(safe + eps) - np.log(safe))
        gap = n * step
        log_drift = np.where(rho > 0.0, n * _log(safe) + gap + _log(-np.expm1(-gap)), n * _log(eps))
        log_drift = np.where(eps == 0.0, -np.inf, log_drift)
    return np.logaddexp(_log(g), log_drift)


def _log_ball_radius(layer_norm, epsilon):
    """``log(ρ + ε)`` (+∞ when the sum overflows)."""
    with np.errstate(over="ignore"):
        return _log(np.asarray(layer_norm) + np.asarray(epsilon))


def ball_lambda_min(depth, gradient_norm, layer_norm, epsilon):
    """``−(N − 1)(g + δ_e)(ρ + ε)^{N−2}`` in log space (−∞ when it overflows)."""
    n = depth
    log_value = _log(n - 1.0) + _log_ball_gradient(depth, gradient_norm, layer_norm, epsilon) + _scaled(
        n - 2.0, _log_ball_radius(layer_norm, epsilon)
    )
    return -_exp(log_value)


def ball_smoothness(depth, gradient_norm, layer_norm, epsilon):
    """``N(ρ + ε)^{2(N−1)} + (N − 1)(g + δ_e)(ρ + ε)^{N−2}`` in log space (+∞ on overflow)."""
    n = depth
    log_a = _log_ball_radius(layer_norm, epsilon)
    jacobian = _log(n) + _scaled(2.0 * (n - 1.0), log_a)
    curvature = _log(n - 1.0) + _log_ball_gradient(depth, gradient_norm, layer_norm, epsilon) + _scaled(n - 2.0, log_a)
    return _exp(np.logaddexp(jacobian, curvature))


def saxe_learning_time(depth, singular_value, initial_strength, fraction):
    """``∫_{u_0}^{αs} du/(N u^{2−2/N}(s − u))`` by composite Gauss–Legendre, summed in log space.

    With ``u = s·σ(x)`` (σ the logistic function) the integral becomes
    ``(N s^{2−2/N})^{−1} ∫_{x_0}^{x_1} (1 + e^{−x})^{1−2/N} dx``, ``x_0 = ln(u_0/(s − u_0))``,
    ``x_1 = ln(α/(1 − α))``: a smooth integrand whose nearest complex singularity is at
    distance π from the real axis, so 24-point panels of length ≤ 2 converge to rounding
    (the Bernstein-ellipse factor is ≥ 4.9 per panel: error ≲ 4.9^{−48}). The terms are
    positive, so their sum and the prefactor are combined as logarithms: the integrand
    ``e^{p·log(1 + e^{−x})}`` may exceed the float range (x ≈ −1400 at u_0 = 1e-300,
    s = 1e300) while the time itself is finite.
    """
    n, s, u0, alpha = np.broadcast_arrays(depth, singular_value, initial_strength, fraction)
    x0 = np.log(u0) - np.log(s - u0)
    x1 = np.log(alpha) - np.log1p(-alpha)
    p = 1.0 - 2.0 / n
    # > 0 by the constraint u_0 < αs, but it rounds to 0 when u_0 and αs agree to ~1e-16: then
    # the time is 0 to that precision.
    length = np.maximum(x1 - x0, 0.0)
    panels = max(1, int(np.ceil(np.max(np.abs(length), initial=0.0) / 2.0)))
    nodes, weights = np.polynomial.legendre.leggauss(24)
    edges = np.linspace(0.0, 1.0, panels + 1)
    log_total = np.full(np.shape(x0), -np.inf)
    for a, b in zip(edges[:-1], edges[1:]):  # one panel at a time, its 24 nodes at once
        half = (0.5 * (b - a) * length)[..., None]
        x = (x0 + a * length)[..., None] + half * (nodes + 1.0)
        # log(1 + e^{−x}), written to avoid overflow for very negative x.
        log_term = np.where(x > -30.0, np.log1p(np.exp(-np.maximum(x, -30.0))), -x)
        terms = _log(weights * half) + p[..., None] * log_term
        peak = np.max(terms, axis=-1)
        finite = np.isfinite(peak)[..., None]
        shifted = np.where(finite, terms - np.where(finite, peak[..., None], 0.0), -np.inf)
        panel = peak + _log(np.sum(np.exp(shifted), axis=-1))
        log_total = np.logaddexp(log_total, np.where(np.isfinite(peak), panel, -np.inf))
    return _exp(log_total - np.log(n) - (2.0 - 2.0 / n) * np.log(s))
