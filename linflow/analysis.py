"""Analysis of recorded trajectories: modes, learning times, ranks, orbits, the edge of stability.

Small functions on arrays (recorded weights, losses, sharpness series) that the published
analyses of deep linear networks repeat in every reproduction. Every function accepts leading
batch axes (trajectories, records) and validates its arguments before computing.

Conventions: ``weights[j].shape == (..., d_{j+1}, d_j)`` and ``W_e = W_N ⋯ W_1``; a time series
has its time (record) axis last.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._validation import check_positive

__all__ = [
    "EdgeOfStability",
    "detect_period",
    "edge_of_stability",
    "effective_rank",
    "gfs_sharpness",
    "learning_times",
    "mode_strengths",
    "numerical_rank",
    "period_average",
    "running_average",
]


def _end_to_end_of(weights) -> np.ndarray:
    """``W_e`` from a tuple/list of layer arrays (any leading axes), or an array taken as ``W_e``."""
    if isinstance(weights, np.ndarray):
        mat = weights
    elif isinstance(weights, (tuple, list)) and len(weights) > 0:
        mat = np.asarray(weights[0], dtype=np.float64)
        for w in weights[1:]:
            mat = np.asarray(w, dtype=np.float64) @ mat
    else:
        raise TypeError(
            f"weights must be a tuple of layer arrays or an end-to-end ndarray; got weights={weights!r}"
        )
    mat = np.asarray(mat, dtype=np.float64)
    if mat.ndim < 2:
        raise ValueError(f"weights must give matrices (ndim ≥ 2); got an array of shape {mat.shape}")
    return mat


def _series(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] == 0:
        raise ValueError(f"{name} must be an array with a non-empty last (time) axis; got shape {arr.shape}")
    return arr


# ----------------------------------------------------------------------------- modes
def mode_strengths(weights, target) -> np.ndarray:
    """Strengths of the target's singular modes in the end-to-end matrix: ``u_r = u_rᵀ W_e v_r``.

    Parameters
    ----------
    weights : tuple of ndarray, each (..., d_{j+1}, d_j), or ndarray (..., d_N, d_0)
        Layer weights (e.g. ``result.weights`` of a run with ``record_weights=True``, shape
        ``(B, R, d_{j+1}, d_j)``) or end-to-end matrices ``W_e``.
    target : array_like, shape (d_N, d_0)
        The whitened target ``Φ = Σ_r s_r u_r v_rᵀ`` (singular values in decreasing order).

    Returns
    -------
    ndarray, shape (..., min(d_N, d_0))
        ``u_rᵀ W_e v_r`` for each mode r, in the order of decreasing ``s_r``. At ``W_e = Φ``
        every ``u_r = s_r``.

    Notes
    -----
    Saxe, McClelland & Ganguli 2014 (ICLR, "mode strengths"): from a decoupled initialization
    ``W_e = Σ_r u_r(0) u_r v_rᵀ`` on the whitened loss the modes evolve independently, with
    ``u' = 2u(s − u)`` for one hidden layer. For a target with repeated singular values the
    singular vectors of that singular value are only defined up to a rotation, and so are the
    individual strengths of those modes (their sum is not).

    Examples
    --------
    >>> import numpy as np
    >>> mode_strengths(np.diag([3.0, 1.0]), np.diag([2.0, 1.0]))
    array([3., 1.])
    """
    phi = np.asarray(target, dtype=np.float64)
    if phi.ndim != 2 or not np.all(np.isfinite(phi)):
        raise ValueError(f"target must be a finite 2-D array; got target with shape {phi.shape}")
    mat = _end_to_end_of(weights)
    if mat.shape[-2:] != phi.shape:
        raise ValueError(
            f"weights give end-to-end matrices of shape {mat.shape[-2:]}, target has shape {phi.shape}"
        )
    u, _, vt = np.linalg.svd(phi)
    r = min(phi.shape)
    # u_rᵀ W_e v_r for all r at once: diag(Uᵀ W_e V) over the first r columns.
    return np.einsum("ir,...ij,rj->...r", u[:, :r], mat, vt[:r, :])


def learning_times(strengths, times, target_values, *, fraction: float = 0.5) -> np.ndarray:
    """First time each mode strength reaches ``fraction`` of its target value.

    Parameters
    ----------
    strengths : array_like, shape (..., T, r)
        Mode strengths along a trajectory (:func:`mode_strengths` of recorded weights), time
        axis second to last.
    times : array_like, shape (T,)
        Increasing times of the records (``steps · η`` for GD, ``result.t`` for a flow).
    target_values : array_like, shape (r,)
        The values the strengths approach, e.g. the target's singular values ``s_r``.
    fraction : float in (0, 1]
        Threshold as a fraction of ``target_values``.

    Returns
    -------
    ndarray, shape (..., r)
        The first time ``t`` with ``u_r(t) ≥ fraction · s_r``, linearly interpolated between
        the two records that bracket the crossing (``times[0]`` if the first record is already
        past the threshold); NaN if the threshold is never reached.

    Notes
    -----
    Saxe, McClelland & Ganguli 2014 (ICLR): for one hidden layer, from ``u(0) = u_0``, the
    strength ``u(t) = s e^{2st}/(e^{2st} − 1 + s/u_0)`` reaches ``f·s`` at
    ``t = ln(f(s/u_0 − 1)/(1 − f)) / (2s)``: strong modes are learned first. Linear
    interpolation errs by at most ``Δt² max|u''| / (8 |u'|)`` at the crossing on a grid of
    spacing ``Δt``.
    """
    u = _series(strengths, "strengths")
    if u.ndim < 2:
        raise ValueError(f"strengths must have shape (..., T, r); got shape {u.shape}")
    t = np.asarray(times, dtype=np.float64)
    if t.shape != (u.shape[-2],) or np.any(np.diff(t) <= 0):
        raise ValueError(
            f"times must be increasing with shape ({u.shape[-2]},) = (T,); got times with shape {t.shape}"
        )
    s = np.asarray(target_values, dtype=np.float64)
    if s.shape != (u.shape[-1],):
        raise ValueError(f"target_values must have shape ({u.shape[-1]},) = (r,); got shape {s.shape}")
    fraction = check_positive(fraction, "fraction")
    if fraction > 1:
        raise ValueError(f"fraction must be in (0, 1]; got fraction={fraction}")
    level = fraction * s
    above = u >= level  # NaN (diverged) compares False: never counts as learned
    first = np.argmax(above, axis=-2)  # (..., r); 0 when never above: masked below
    reached = np.any(above, axis=-2)
    prev = np.maximum(first - 1, 0)
    u_hi = np.take_along_axis(u, first[..., None, :], axis=-2)[..., 0, :]
    u_lo = np.take_along_axis(u, prev[..., None, :], axis=-2)[..., 0, :]
    t_hi, t_lo = t[first], t[prev]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(first > 0, (level - u_lo) / (u_hi - u_lo), 0.0)
    out = t_lo + np.clip(frac, 0.0, 1.0) * (t_hi - t_lo)
    return np.where(reached, out, np.nan)


# ----------------------------------------------------------------------------- ranks
def _singular_values(matrix, name: str) -> np.ndarray:
    a = np.asarray(matrix, dtype=np.float64)
    if a.ndim < 2 or 0 in a.shape[-2:]:
        raise ValueError(f"{name} must be a (batch of) non-empty matrices; got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite; got non-finite entries")
    return np.linalg.svd(a, compute_uv=False)


def effective_rank(matrix) -> np.ndarray:
    """Effective rank ``exp(H(p))``, ``p_k = σ_k / Σ_i σ_i`` (Roy & Vetterli 2007).

    Parameters
    ----------
    matrix : array_like, shape (..., m, n)

    Returns
    -------
    float or ndarray, shape (...)
        ``exp(−Σ_k p_k log p_k)`` with ``0 log 0 = 0``: between 1 and ``min(m, n)``, equal to k
        for k equal non-zero singular values. The zero matrix gets NaN (no distribution p).

    References
    ----------
    O. Roy and M. Vetterli. *The effective rank: a measure of effective dimensionality.*
    EUSIPCO 2007 (the definition of effective rank).

    Examples
    --------
    >>> round(float(effective_rank(np.diag([2.0, 2.0, 0.0]))), 12)
    2.0
    """
    sv = _singular_values(matrix, "matrix")
    total = sv.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = sv / total
        terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    out = np.exp(terms.sum(axis=-1))
    out = np.where(total[..., 0] > 0, out, np.nan)
    return float(out) if out.ndim == 0 else out


def numerical_rank(matrix, *, rtol=None) -> np.ndarray:
    """Number of singular values above ``rtol · σ_max``.

    Parameters
    ----------
    matrix : array_like, shape (..., m, n)
    rtol : float, optional
        Relative threshold. Default ``max(m, n) · ε`` (ε = 2.2e-16, float64): the size of the
        rounding error of an SVD relative to ``σ_max`` (backward stability of the SVD; NumPy's
        ``matrix_rank`` default), so that only singular values that rounding alone cannot
        produce are counted. Give a larger ``rtol`` for matrices computed by iterative
        methods (e.g. 1e-6 for GD iterates that have not fully converged).

    Returns
    -------
    int or ndarray of int, shape (...)
    """
    sv = _singular_values(matrix, "matrix")
    m, n = np.shape(matrix)[-2:]
    if rtol is None:
        rtol = max(m, n) * np.finfo(np.float64).eps
    else:
        rtol = check_positive(rtol, "rtol")
    out = np.sum(sv > rtol * sv[..., :1], axis=-1)
    return int(out) if out.ndim == 0 else out


# ----------------------------------------------------------------------------- oscillations
def running_average(series, window: int) -> np.ndarray:
    """Mean of every ``window`` consecutive values along the last axis (a trailing moving average).

    Parameters
    ----------
    series : array_like, shape (..., T)
    window : int, 1 ≤ window ≤ T

    Returns
    -------
    ndarray, shape (..., T − window + 1)
        Entry i is ``mean(series[..., i : i + window])``. On a period-p orbit a window of p
        (or a multiple) gives the orbit's mean at every position: the quantity central flows
        predict (Cohen et al. 2025, "time-averaged" predictions).
    """
    x = _series(series, "series")
    window = check_positive(window, "window", integer=True)
    if window > x.shape[-1]:
        raise ValueError(f"window must be ≤ the series length {x.shape[-1]}; got window={window}")
    return np.lib.stride_tricks.sliding_window_view(x, window, axis=-1).mean(axis=-1)


def period_average(series, period: int) -> np.ndarray:
    """Means over consecutive, non-overlapping blocks of ``period`` values (a trailing partial
    block is dropped).

    Parameters
    ----------
    series : array_like, shape (..., T)
    period : int, 1 ≤ period ≤ T

    Returns
    -------
    ndarray, shape (..., T // period)
    """
    x = _series(series, "series")
    period = check_positive(period, "period", integer=True)
    if period > x.shape[-1]:
        raise ValueError(f"period must be ≤ the series length {x.shape[-1]}; got period={period}")
    n = x.shape[-1] // period
    return x[..., : n * period].reshape(x.shape[:-1] + (n, period)).mean(axis=-1)


def detect_period(series, *, max_period: int = 8, rtol: float = 1e-6, tail=None) -> np.ndarray:
    """Smallest period p ≤ ``max_period`` of the end of a series; 0 when none fits.

    Parameters
    ----------
    series : array_like, shape (..., T)
        E.g. the losses of GD at the edge of stability, recorded at every step.
    max_period : int
    rtol : float
        ``x`` has period p on the tail when ``|x_{k+p} − x_k| ≤ rtol · max|x|`` for every k in
        the tail. Default 1e-6: GD settles onto a stable orbit geometrically, so after a long run
        the drift of the orbit is far below 1e-6 of its size, while distinct points of a
        period-2 or period-4 orbit at the edge differ by far more (their spread is the
        oscillation's amplitude).
    tail : int, optional
        Number of final values examined (default: the last half of the series, at least
        ``2 · max_period`` values or the whole series if shorter).

    Returns
    -------
    int or ndarray of int, shape (...)
        1 for a fixed point, 2 for a period-2 orbit, …; 0 if no period up to ``max_period``
        fits, or if the tail holds NaN (a diverged trajectory).
    """
    x = _series(series, "series")
    max_period = check_positive(max_period, "max_period", integer=True)
    rtol = check_positive(rtol, "rtol")
    length = x.shape[-1]
    if tail is None:
        tail = min(length, max(length // 2, 2 * max_period))
    tail = check_positive(tail, "tail", integer=True)
    if tail > length or tail <= max_period:
        raise ValueError(
            f"tail must exceed max_period ({max_period}) and be ≤ the series length ({length}); "
            f"got tail={tail}"
        )
    end = x[..., length - tail :]
    scale = np.max(np.abs(end), axis=-1)
    found = np.zeros(x.shape[:-1], dtype=np.int64)
    for p in range(max_period, 0, -1):  # descending: the smallest fitting period is kept last
        gap = np.max(np.abs(end[..., p:] - end[..., :-p]), axis=-1)
        found = np.where(gap <= rtol * scale, p, found)  # NaN gaps compare False
    return int(found) if found.ndim == 0 else found


class EdgeOfStability(NamedTuple):
    """Where a run meets the stability threshold ``ηS = 2``.

    Attributes
    ----------
    first_step : int or ndarray of int
        Step of the first record with ``ηS ≥ 2 − tol``; −1 if none.
    share_at_edge : float or ndarray
        Share of the finite records with ``ηS ≥ 2 − tol`` (NaN if none is finite).
    """

    first_step: object
    share_at_edge: object


def edge_of_stability(sharpness, learning_rate, *, steps=None, tol: float = 0.05) -> EdgeOfStability:
    """First step at the edge of stability and the share of steps spent there.

    Parameters
    ----------
    sharpness : array_like, shape (..., T)
        ``λ_max(∇²f)`` at each record (NaN after divergence: not counted).
    learning_rate : float or array_like broadcasting against ``sharpness[..., 0]``
    steps : array_like of int, shape (T,), optional
        Step of each record (``result.steps``); default ``0, …, T − 1``.
    tol : float ≥ 0
        A record is at the edge when ``ηS ≥ 2 − tol``. Default 0.05: the threshold
        ``ηλ > 1.95`` that Cohen et al. 2025 (central flows) use to call an eigenvalue
        critical.

    Returns
    -------
    EdgeOfStability

    Notes
    -----
    GD on a quadratic is stable iff ``ηS ≤ 2``; Cohen et al. 2021 (ICLR, "edge of stability")
    observe that full-batch GD raises S until ``ηS ≈ 2`` and then hovers there.
    """
    s = _series(sharpness, "sharpness")
    eta = np.asarray(learning_rate, dtype=np.float64)
    if np.any(~(eta > 0)):
        raise ValueError(f"learning_rate must be positive; got learning_rate={learning_rate!r}")
    tol = float(tol)
    if not (math.isfinite(tol) and 0 <= tol < 2):
        raise ValueError(f"tol must be in [0, 2); got tol={tol!r}")
    step_index = np.arange(s.shape[-1]) if steps is None else np.asarray(steps, dtype=np.int64)
    if step_index.shape != (s.shape[-1],):
        raise ValueError(f"steps must have shape ({s.shape[-1]},) = (T,); got shape {step_index.shape}")
    edge = np.asarray(eta)[..., None] * s >= 2.0 - tol
    finite = np.isfinite(s)
    first = np.where(edge.any(axis=-1), step_index[np.argmax(edge, axis=-1)], -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = edge.sum(axis=-1) / finite.sum(axis=-1)
    share = np.where(finite.any(axis=-1), share, np.nan)
    if first.ndim == 0:
        return EdgeOfStability(int(first), float(share))
    return EdgeOfStability(first, share)


# ----------------------------------------------------------------------------- scalar networks
def gfs_sharpness(weights, problem) -> np.ndarray:
    """GF-solution sharpness ``φ(w) = Σ_i y² / (w_i² + c)`` of a scalar network.

    Parameters
    ----------
    weights : tuple of ndarray, each (..., 1, 1), or array_like, shape (..., N)
        The scalar weights ``w_1, …, w_N`` (layer arrays of a width-1 network, batches and
        recorded paths included, or the values with the layer axis last).
    problem : Problem or float
        A whitened problem on a scalar network (``y = Φ``), or the target y itself (y ≠ 0).

    Returns
    -------
    float or ndarray, shape (...)

    Notes
    -----
    Kreisler, Nacson, Soudry & Carmon, ICML 2023: for ``f = ½(Π w_i − y)²`` gradient flow
    conserves ``w_i² − w_j²``, so the minimum it reaches from w (sign pattern kept, when
    ``sign(Π w_i) = sign(y)``) has ``w_i*² = w_i² + c`` with c the root of
    ``Π(w_i² + c) = y²``; φ(w) is the sharpness ``y² Σ 1/w_i*²`` of that minimum (the Hessian at
    a minimum is ``ggᵀ`` with ``g_i = y/w_i``), and GD decreases φ (their main result). For N = 2,
    ``φ = √(δ² + 4y²)`` with ``δ = w_1² − w_2²`` (derived in this project from the limit
    equation). The root is found by bisection on ``Σ log(w_i² + c) = log y²`` (increasing
    in c) over ``[−min w_i², y^{2/N} − min w_i²]``, to full float64 precision.

    Examples
    --------
    >>> round(float(gfs_sharpness([1.0, 2.0], 2.0)), 12)   # √(3² + 4·2²) = 5
    5.0
    """
    y = _scalar_target(problem)
    w = _scalar_values(weights)
    return gfs_sharpness_values(w, y)


def _scalar_target(problem) -> float:
    from .problem import Problem

    if isinstance(problem, Problem):
        if not (problem.network.is_scalar and problem.is_whitened):
            raise ValueError(
                f"problem must be a whitened problem on a scalar network (all widths 1); got problem={problem!r}"
            )
        y = float(problem.target[0, 0])
    elif isinstance(problem, (int, float, np.floating, np.integer)) and not isinstance(problem, bool):
        y = float(problem)
    else:
        raise TypeError(f"problem must be a linflow.Problem or a real target y; got problem={problem!r}")
    if not math.isfinite(y) or y == 0:
        raise ValueError(f"the target y must be finite and non-zero; got y={y!r}")
    return y


def _scalar_values(weights) -> np.ndarray:
    if isinstance(weights, (tuple, list)) and len(weights) > 0 and np.ndim(weights[0]) >= 2:
        layers = [np.asarray(w, dtype=np.float64) for w in weights]
        if any(w.shape[-2:] != (1, 1) for w in layers):
            raise ValueError(
                f"weights must be layers of a scalar network, shape (..., 1, 1); got shapes {[w.shape for w in layers]}"
            )
        w = np.stack([v[..., 0, 0] for v in layers], axis=-1)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim < 1 or w.shape[-1] == 0:
            raise ValueError(f"weights must hold the N scalar weights in the last axis; got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite; got non-finite entries")
    return w


def gfs_sharpness_values(w: np.ndarray, target: float) -> np.ndarray:
    """Unvalidated :func:`gfs_sharpness` on values ``w`` of shape (..., N) and a target y ≠ 0."""
    w = np.asarray(w, dtype=np.float64)
    sq = w * w
    n = w.shape[-1]
    y2 = float(target) ** 2
    if n == 1:
        # w*² = y² from any start: φ = y²/y² = 1 exactly (the bisection below would cancel
        # w² + c catastrophically when GD runs far away, |w| ≫ |y|).
        out = np.ones(w.shape[:-1])
        return float(out) if np.ndim(out) == 0 else out
    low = -np.min(sq, axis=-1)
    high = low + y2 ** (1.0 / n)
    log_y2 = math.log(y2)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(200):
            mid = 0.5 * (low + high)
            val = np.sum(np.log(np.maximum(sq + mid[..., None], 0.0)), axis=-1)
            above = val > log_y2
            high = np.where(above, mid, high)
            low = np.where(above, low, mid)
            # Stop at the float64 resolution of the root (relative to its size, or of min w_i²).
            if np.all(high - low <= 4 * np.finfo(float).eps * np.maximum(np.abs(high), np.min(sq, axis=-1) + 1e-300)):
                break
    c = 0.5 * (low + high)
    out = np.sum(y2 / (sq + c[..., None]), axis=-1)
    return float(out) if np.ndim(out) == 0 else out
