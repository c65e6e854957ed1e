"""Closed-form gradient-flow solutions, used to validate :func:`linflow.integrate_flow`.

Time is gradient-flow time t (``θ' = −∇f``, the ½ convention in the loss): finite and ≥ 0;
NaN, infinite, negative or non-real times raise ``ValueError``/``TypeError`` naming ``t``. The
formulas are evaluated with their exponentials combined in log space, so extreme but valid
parameters (``π_0 = 1e-300``, ``t = 1e300``) give the right limit, never NaN.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import as_real_array, check_finite_array, check_positive


def _check_times(t) -> np.ndarray:
    """``t`` as a float64 array of finite times ≥ 0 (scalar or array), else a named error."""
    if isinstance(t, (bool, np.bool_, str, bytes)) or t is None:
        raise TypeError(f"t must be a real number or array of times; got t={t!r}")
    try:
        raw = np.asarray(t)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"t must be a real number or array of times; got t={t!r}") from exc
    if raw.dtype.kind not in "iuf" and not (raw.dtype.kind == "O" and all(
        isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) for x in raw.flat
    )):
        raise TypeError(f"t must be real (float or int); got t={t!r} of dtype {raw.dtype}")
    arr = raw.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"t must be finite (no NaN or infinity); got t={t!r}")
    if np.any(arr < 0):
        raise ValueError(f"t must be ≥ 0 (forward gradient-flow time); got t={t!r}")
    return arr

__all__ = [
    "scalar_balanced_n2",
    "saxe_mode",
    "saxe_end_to_end",
    "two_layer_lambda_balanced",
]


def scalar_balanced_n2(target: float, product0: float, t):
    """Balanced two-layer scalar network: ``π(t) = y / (1 + (y/π_0 − 1) e^{−2yt})``.

    Solves ``π' = 2π(y − π)`` for ``f = ½(w_1w_2 − y)²`` with ``w_1 = w_2`` (theory.md §4
    [checked]; the N = 2 case of ``π' = Nπ^{2−2/N}(y − π)``, Arora, Cohen & Hazan 2018).

    Parameters
    ----------
    target : float
        y > 0.
    product0 : float
        ``π_0 = w_1(0) w_2(0) > 0``.
    t : float or ndarray
    """
    y = check_positive(target, "target")
    p0 = check_positive(product0, "product0")
    t = _check_times(t)
    # Written as 1/((1 − D)/y + D/π_0), D = e^{−2yt}, 1 − D = −expm1(−2yt): two nonnegative
    # terms, so no cancellation (y ≪ π_0) and no y/π_0 overflowing into ∞ · 0 (π_0 = 1e-300).
    with np.errstate(over="ignore"):
        rate = 2.0 * y * t
    return 1.0 / (-np.expm1(-rate) / y + np.exp(-rate) / p0)


def saxe_mode(singular_value: float, strength0: float, t, *, tau: float = 1.0):
    """Strength of one mode for a one-hidden-layer net: ``u(t) = s e^{2st/τ}/(e^{2st/τ} − 1 + s/u_0)``.

    Solves ``τu' = 2u(s − u)`` (Saxe, McClelland & Ganguli 2014, eq. (6); theory.md §3 [paper]).
    With τ = 1 this is the GF of ``½‖W_2W_1 − Φ‖²`` under the decoupled initialization.
    """
    s = check_positive(singular_value, "singular_value")
    u0 = check_positive(strength0, "strength0")
    tau = check_positive(tau, "tau")
    t = _check_times(t)
    # Written as 1/((1 − D)/s + D/u_0), D = e^{−2st/τ}: large t does not overflow, the two
    # terms are nonnegative (no cancellation), and s/u_0 never overflows into ∞ · 0.
    with np.errstate(over="ignore"):
        rate = 2.0 * s * t / tau
    return 1.0 / (-np.expm1(-rate) / s + np.exp(-rate) / u0)


def saxe_end_to_end(target, strength0, t) -> np.ndarray:
    """End-to-end matrix ``U diag(u_r(t)) Vᵀ`` of a two-layer net from the spectral init.

    ``strength0`` is one initial strength or one per singular value of ``target``
    (see :func:`linflow.init.spectral`); returns shape ``(len(t), d_N, d_0)`` for array t.
    """
    phi = check_finite_array(target, "target", ndim=2)
    u, s, vt = np.linalg.svd(phi, full_matrices=False)
    u0 = as_real_array(strength0, "strength0")
    if u0.ndim > 1 or u0.size not in (1, s.size):
        raise ValueError(
            f"strength0 must be one number or one per singular value of target ({s.size}); got strength0.shape={u0.shape}"
        )
    if not np.all(np.isfinite(u0)) or np.any(u0 <= 0):
        raise ValueError(f"strength0 must be positive and finite; got strength0={u0.tolist()}")
    u0 = np.broadcast_to(u0.reshape(-1), s.shape)
    t_arr = np.atleast_1d(_check_times(t))
    strengths = np.stack([saxe_mode(si, ui, t_arr) for si, ui in zip(s, u0)], axis=-1)
    out = np.einsum("ir,tr,rj->tij", u, strengths, vt)
    return out if np.ndim(t) else out[0]


def two_layer_lambda_balanced(weights0, target, t) -> np.ndarray:
    """Closed-form GF of a two-layer net with ``W_2ᵀW_2 − W_1W_1ᵀ = λI``.

    With ``Q = [W_1ᵀ; W_2]`` and ``P = QQᵀ``, GF of ``½‖W_2W_1 − S‖_F²`` gives
    ``P' = FP + PF − P²``, ``F = [[−λ/2·I, Sᵀ], [S, λ/2·I]]``, solved by
    ``P(t) = e^{Ft}Q_0[I + Q_0ᵀ(2F)^{−1}(e^{2Ft} − I)Q_0]^{−1}Q_0ᵀe^{Ft}``
    (theory.md §3 [checked]; the λ-balanced solution of Braun, Dominé, Fitzgerald & Saxe 2022).

    Parameters
    ----------
    weights0 : (W_1, W_2)
        λ-balanced initial weights; λ is read off ``W_2ᵀW_2 − W_1W_1ᵀ``.
    target : array_like, shape (d_2, d_0)
    t : float
        Finite, ≥ 0.

    Returns
    -------
    ndarray, shape (d_0 + d_2, d_0 + d_2)
        ``P(t)``; its lower-left block ``P[d_0:, :d_0]`` is the end-to-end matrix ``W_2W_1``.

    Raises
    ------
    ValueError
        If the weights are not λ-balanced to 1e-10 relative, t is not a finite time ≥ 0, or
        ``e^{μt}`` overflows float64 (``μ_max t > 709``; the flow has converged to float64
        precision long before).
    """
    if len(weights0) != 2:
        raise ValueError(f"weights0 must be (W_1, W_2); got {len(weights0)} layers")
    w1 = check_finite_array(weights0[0], "weights0[0]", ndim=2)
    w2 = check_finite_array(weights0[1], "weights0[1]", ndim=2)
    s_mat = check_finite_array(target, "target", shape=(w2.shape[0], w1.shape[1]))
    imbalance = w2.T @ w2 - w1 @ w1.T
    lam = float(np.trace(imbalance)) / imbalance.shape[0]
    scale = max(1.0, np.abs(imbalance).max())
    if np.abs(imbalance - lam * np.eye(imbalance.shape[0])).max() > 1e-10 * scale:
        raise ValueError("weights0 must satisfy W_2ᵀW_2 − W_1W_1ᵀ = λI (λ-balanced)")
    d0, d2 = w1.shape[1], w2.shape[0]
    f = np.block([[-0.5 * lam * np.eye(d0), s_mat.T], [s_mat, 0.5 * lam * np.eye(d2)]])
    q0 = np.vstack([w1.T, w2])
    mu, vecs = np.linalg.eigh(f)
    t_arr = _check_times(t)
    if t_arr.ndim != 0:
        raise ValueError(f"t must be one time (a scalar); got t of shape {t_arr.shape}")
    t = float(t_arr)
    if 2.0 * float(np.max(np.abs(mu))) * t > 709.0:
        raise ValueError(
            f"t is too large for the closed form in float64: e^{{2μt}} overflows for μ_max = "
            f"{float(np.max(np.abs(mu))):.6g}; got t={t!r} (use t ≤ {354.0 / float(np.max(np.abs(mu))):.6g})"
        )
    exp_ft = (vecs * np.exp(mu * t)) @ vecs.T
    # (2F)^{-1}(e^{2Ft} − I) = ∫_0^t e^{2Fs} ds, spectrally (e^{2μt} − 1)/(2μ) → t as μ → 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.where(np.abs(mu) > 1e-300, np.expm1(2.0 * mu * t) / (2.0 * mu), t)
    integral = (vecs * phi) @ vecs.T
    middle = np.eye(q0.shape[1]) + q0.T @ integral @ q0
    left = exp_ft @ q0
    return left @ np.linalg.solve(middle, left.T)
