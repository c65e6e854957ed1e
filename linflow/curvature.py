"""Numeric curvature certificates for deep linear networks (theory/gd-vs-gf [checked]).

The ingredients of the Elkabetz–Cohen (NeurIPS 2021) GD-vs-GF distance certificate, computed
from actual weights. For ``f(θ) = L(W_N⋯W_1)`` with L convex quadratic (whitened
``½‖W_e − Φ‖_F²`` or data ``(1/2m)‖W_eX − Y‖_F²``), ``a_k = ‖W_k‖₂ + ε`` and
``δ_e = Π_k a_k − Π_k ‖W_k‖₂`` (a bound on ``‖W_e(θ') − W_e(θ)‖₂`` for ``‖θ' − θ‖ ≤ ε``):

* ``λ_min(∇²f(θ')) ≥ −(N − 1)(‖∇L(W_e)‖₂ + ℓ δ_e) max_{i<j} Π_{k∉{i,j}} a_k``,
* ``‖∇²f(θ')‖₂ ≤ ℓ Σ_j Π_{k≠j} a_k² + (N − 1)(‖∇L(W_e)‖₂ + ℓ δ_e) max_{i<j} Π_{k∉{i,j}} a_k``,

for every θ' in the Euclidean ball ``B_ε(θ)``, where ``ℓ = ‖∇²L‖ = ‖XXᵀ/m‖₂`` (1 for the
whitened loss, which is Elkabetz & Cohen's form). Any loss with a global bound
``ℓ ≥ ‖∇²L(E)‖`` (``loss.curvature_bound()``) gets the same bounds with ``ℓδ_e`` replaced by
``ℓ√r δ_e``, ``r = min(d_0, d_N)`` (the Hessian is then not a right multiplication, and
``‖Δ‖_F ≤ √r‖Δ‖₂``; derived in this project); the λ_min bound also needs a convex L (the
Gauss–Newton term must be PSD): see the table in :mod:`linflow.losses`. Proof: ``∇²f[v, v] = ∇²L[dW_e, dW_e] +
⟨∇L, d²W_e[v, v]⟩``; the first term lies in ``[0, ℓ‖dW_e‖_F²]`` and
``‖dW_e‖_F² ≤ Σ_j Π_{k≠j}a_k² ‖v‖²`` (Cauchy–Schwarz); the second is bounded through
``|⟨D, X⟩| ≤ ‖D‖₂‖X‖_*``, ``‖A V_j M V_i B‖_* ≤ ‖A‖₂‖M‖₂‖B‖₂‖V_j‖_F‖V_i‖_F`` and
``2Σ_{i<j}‖V_i‖‖V_j‖ ≤ (N − 1)‖v‖²``.

:func:`error_certificate` turns these into the discrete recursion of theory/gd-vs-gf:
``E_0 = 0``, ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k``, which bounds ``‖θ_k − θ(kη)‖`` while
``ηβ_k ≤ 1`` and ``E_k ≤ ε``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._ball_bounds import (
    _times,
    certificate_margins,
    certificate_recursion,
    deep_linear_ball_bounds,
    segment_gradient_bound,
)
from ._validation import check_memory, check_positive, check_real
from .network import end_to_end, flatten, unflatten
from .problem import Problem
from .results import FlowResult

__all__ = [
    "ErrorCertificate",
    "error_certificate",
    "gradient_norm",
    "lambda_min_lower_bound",
    "layer_norms",
    "smoothness_bound",
]


def layer_norms(weights) -> np.ndarray:
    """Spectral norms ``‖W_k‖₂`` of the layers, shape ``(N,)`` (single network)."""
    return np.array([np.linalg.norm(np.asarray(w, dtype=np.float64), 2) for w in weights])


def _has_activation(problem) -> bool:
    """ReLU / leaky ReLU: the per-sample, per-pattern bounds of ``linflow/_pattern_curvature.py``."""
    return problem.is_activated


def _require_applicable(problem, *, lambda_min: bool) -> None:
    """TypeError unless the bound's hypotheses hold for this problem's loss."""
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    ok = problem.lambda_min_bound_applies if lambda_min else problem.curvature_bounds_apply
    if not ok:
        need = (
            "a convex loss with a known bound on ‖∇²L‖"
            if lambda_min
            else "a known bound on ‖∇²L‖ (loss.curvature_bound())"
        )
        raise TypeError(
            f"this curvature bound needs {need}; got loss={problem.loss_function!r} on {type(problem).__name__} "
            f"(see the table in linflow.losses for what each loss satisfies)"
        )


def _ball_bounds(problem: Problem, weights, epsilon: float):
    """``(β, m)`` on ``B_ε(θ)`` for a deep linear network (:func:`deep_linear_ball_bounds`)."""
    weights = problem.network.check(weights)
    if weights[0].ndim != 2:
        raise ValueError(f"weights must be a single network (2-D arrays); got weights[0].shape={weights[0].shape}")
    epsilon = check_real(epsilon, "epsilon", minimum=0.0)
    loss = problem.loss_function
    # ‖∇L(E') − ∇L(E)‖₂ ≤ ℓ‖E' − E‖₂ when ∇²L multiplies from the right by C ⪰ 0 (whitened,
    # regression); otherwise only ≤ ℓ‖E' − E‖_F ≤ ℓ√r‖E' − E‖₂ with r = min(d_0, d_N).
    rank = min(weights[0].shape[-1], weights[-1].shape[-2])
    rank_factor = 1.0 if loss.hessian_is_right_multiplication else float(np.sqrt(rank))
    with np.errstate(over="ignore", invalid="ignore"):
        residual = problem.end_to_end_gradient(end_to_end(weights))
    # Weights so large that W_e overflows: ‖∇L‖₂ is beyond float64, and the bounds are ±∞.
    g = float(np.linalg.norm(residual, 2)) if np.all(np.isfinite(residual)) else np.inf
    beta, m = deep_linear_ball_bounds(layer_norms(weights), g, float(epsilon),
                                      loss_curvature=float(loss.curvature_bound()), rank_factor=rank_factor)
    return float(beta), float(m)


def lambda_min_lower_bound(problem: Problem, weights, *, epsilon: float = 0.0) -> float:
    """Lower bound on ``λ_min(∇²f(θ'))`` for every θ' with ``‖θ' − θ‖ ≤ ε``.

    ``−(N − 1)(‖∇L(W_e)‖₂ + ℓδ_e) max_{i<j} Π_{k∉{i,j}}(‖W_k‖₂ + ε)`` (module docstring;
    derived in this project as the curvature ingredient of the Elkabetz & Cohen 2021 argument,
    not a lemma of that paper). Tight for N = 2 at θ = 0, ε = 0, where it equals ``−‖Φ‖₂``.
    Never NaN: −∞ when the weights are so large that the bound exceeds float64. For a ReLU /
    leaky-ReLU problem: the per-sample bound of theory/homogeneous,
    valid at the points of the ball in the activation pattern of θ (``linflow/_pattern_curvature.py``).

    Parameters
    ----------
    problem : Problem
    weights : tuple of ndarray
        The centre θ (single network).
    epsilon : float, default 0
        Ball radius (Euclidean norm of the flat parameter vector).

    Examples
    --------
    >>> import numpy as np
    >>> from linflow import DeepLinearNetwork, Problem
    >>> p = Problem(DeepLinearNetwork((2, 2, 2)), target=np.diag([3.0, 1.0]))
    >>> zero = (np.zeros((2, 2)), np.zeros((2, 2)))
    >>> lambda_min_lower_bound(p, zero), round(p.min_eigenvalue(zero), 12)
    (-3.0, -3.0)
    """
    _require_applicable(problem, lambda_min=True)
    if _has_activation(problem):
        from ._pattern_curvature import lambda_min_lower_bound as pattern_bound

        return pattern_bound(problem, weights, epsilon=epsilon)
    return _ball_bounds(problem, weights, epsilon)[1]


def smoothness_bound(problem: Problem, weights, *, epsilon: float = 0.0) -> float:
    """Upper bound β on ``‖∇²f(θ')‖₂`` for every θ' with ``‖θ' − θ‖ ≤ ε``.

    ``ℓ Σ_j Π_{k≠j} a_k² + (N − 1)(‖∇L(W_e)‖₂ + ℓδ_e) max_{i<j} Π_{k∉{i,j}} a_k`` with
    ``a_k = ‖W_k‖₂ + ε`` (module docstring; derived in this project, whitened: ℓ = 1); +∞
    when it exceeds float64, never NaN.
    """
    _require_applicable(problem, lambda_min=False)
    if _has_activation(problem):
        from ._pattern_curvature import smoothness_bound as pattern_bound

        return pattern_bound(problem, weights, epsilon=epsilon)
    return _ball_bounds(problem, weights, epsilon)[0]


def gradient_norm(problem: Problem, weights) -> float:
    """Euclidean norm ``‖∇f(θ)‖`` of the full (flattened) gradient."""
    weights = problem.network.check(weights)
    with np.errstate(over="ignore", invalid="ignore"):
        grad = flatten(problem._gradient(weights))
    # Weights so large that the gradient overflows: its norm is beyond float64 (+∞), not NaN.
    if not np.all(np.isfinite(grad)):
        return np.inf
    scale = float(np.max(np.abs(grad), initial=0.0))  # ‖g‖ = s‖g/s‖: squares cannot overflow
    return 0.0 if scale == 0.0 else scale * float(np.linalg.norm(grad / scale))


@dataclass(frozen=True)
class ErrorCertificate:
    """The Elkabetz–Cohen discrete certificate along a sampled gradient-flow path.

    Attributes
    ----------
    times : ndarray, (K+1,)
        ``t_k = t_0 + kη``.
    bound : ndarray, (K+1,)
        ``E_k`` of the recursion ``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k``, ``E_0 = 0``.
    closed_form : ndarray, (K+1,)
        ``½η²·k·max_{i<k}(β_iγ_i)·exp(−ηΣ_{i<k} min(m_i, 0)) ≥ E_k``.
    curvature_lower, smoothness, gradient_bound : ndarray, (K+1,)
        ``m_k``, ``β_k``, ``γ_k`` on the ball ``B_ε(θ(kη))``.
    learning_rate, epsilon : float
    valid : bool
        All hypotheses hold: ``ηβ_k ≤ 1``, ``ηγ_k ≤ ε`` (the flow segment stays in the ball)
        and ``E_k ≤ ε`` for every k. Only then is ``‖θ_k − θ(kη)‖ ≤ E_k`` guaranteed.
    message : str
        Why the certificate is (in)valid, naming the first violated hypothesis and step.
    """

    times: np.ndarray
    bound: np.ndarray
    closed_form: np.ndarray
    curvature_lower: np.ndarray
    smoothness: np.ndarray
    gradient_bound: np.ndarray
    learning_rate: float
    epsilon: float
    valid: bool
    message: str


def _sample_path(problem: Problem, path, learning_rate: float):
    """Weights at ``t_k = t_0 + kη`` from a FlowResult (dense output) or batched weights."""
    if isinstance(path, FlowResult):
        if path.sol is None or not path.success:
            raise ValueError("path must be a successful FlowResult with dense output (path.sol)")
        t0, t1 = float(path.t[0]), float(path.t[-1])
        # 1e-9 relative slack so that a horizon that is a multiple of η keeps its last step.
        n_points = np.floor((t1 - t0) / learning_rate * (1 + 1e-9)) + 1.0
        # The sampled path (P floats per point) and six per-point arrays of the certificate.
        check_memory(8.0 * n_points * (problem.network.n_params + 6),
                     argument=f"learning_rate={learning_rate:g} over the path's time span {t1 - t0:g}",
                     what=f"{n_points:.3g} sampled points of the error certificate",
                     advice="use a larger learning_rate or a shorter path")
        k_max = int(n_points) - 1
        times = t0 + learning_rate * np.arange(k_max + 1)
        flat = np.asarray(path.sol(np.minimum(times, t1))).T
        return times, unflatten(flat, problem.network.shapes)
    weights = problem.network.check(path, "path")
    if weights[0].ndim != 3:
        raise ValueError(
            f"path must be a FlowResult or batched weights (leading axis K+1); got path[0].shape={weights[0].shape}"
        )
    with np.errstate(over="ignore"):
        times = learning_rate * np.arange(weights[0].shape[0])
    if not np.isfinite(times[-1]):
        raise ValueError(
            f"learning_rate too large for a path of {weights[0].shape[0]} points: the time K·η of its last "
            f"point overflows; got learning_rate={learning_rate!r}"
        )
    return times, weights


def error_certificate(problem: Problem, path, *, learning_rate: float, epsilon: float) -> ErrorCertificate:
    """Bound ``‖θ_k − θ(kη)‖`` (GD iterate vs GF) along a gradient-flow path.

    Parameters
    ----------
    problem : Problem
    path : FlowResult or tuple of ndarray
        The GF path: a :class:`~linflow.FlowResult` (sampled at ``t_0 + kη`` through its dense
        output, up to its last time) or batched weights ``(K+1, d_{j+1}, d_j)`` already sampled
        at ``t = kη``. GD must start at the path's first point.
    learning_rate : float
        η > 0.
    epsilon : float
        Tube radius ε > 0.

    Returns
    -------
    ErrorCertificate

    Notes
    -----
    Elkabetz & Cohen 2021, discrete form (theory/gd-vs-gf [checked]). With ``e_k = θ_k − θ(kη)``,
    ``e_{k+1} = (I − ηH̄_k)e_k − τ_k`` where ``H̄_k`` averages ``∇²f`` on the segment from θ(kη)
    to θ_k (inside ``B_ε(θ(kη))`` while ``‖e_k‖ ≤ ε``) and ``τ_k`` is Euler's local error,
    ``‖τ_k‖ ≤ ½η²β_kγ_k``. Here ``m_k`` and ``β_k`` are :func:`lambda_min_lower_bound` and
    :func:`smoothness_bound` on the ball, and ``γ_k = ‖∇f(θ(kη))‖e^{ηβ_k}`` bounds ``‖∇f‖`` on
    the flow segment ``[kη, (k+1)η]`` (Grönwall: ``|d‖∇f‖/dt| ≤ ‖∇²f‖‖∇f‖``; the segment has
    length ≤ ηγ_k, checked ≤ ε). When ``ηβ_k ≤ 1``, ``‖I − ηH̄_k‖ ≤ 1 − ηm_k``.

    For a ReLU / leaky-ReLU :class:`~linflow.HomogeneousProblem`, ``m_k`` and ``β_k`` are the
    per-sample pattern bounds (theory/homogeneous [checked]; ``linflow/_pattern_curvature.py``) and
    one more hypothesis is checked: every ball ``B_ε(θ(kη))`` lies in one activation pattern
    (the balls overlap along the path, so it is the same pattern throughout). Only then is f
    smooth where the argument needs it.
    """
    eta = check_positive(learning_rate, "learning_rate")
    eps = check_positive(epsilon, "epsilon")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    times, weights = _sample_path(problem, path, eta)
    n_points = len(times)
    m = np.empty(n_points)
    beta = np.empty(n_points)
    grad = np.empty(n_points)
    for k in range(n_points):
        w = tuple(layer[k] for layer in weights)
        m[k] = lambda_min_lower_bound(problem, w, epsilon=eps)
        beta[k] = smoothness_bound(problem, w, epsilon=eps)
        grad[k] = gradient_norm(problem, w)
    gamma = segment_gradient_bound(grad, beta, eta)
    bound = certificate_recursion(m, beta, gamma, eta)
    steps = np.arange(n_points)
    running = np.concatenate([[0.0], np.maximum.accumulate(_times(beta[:-1], gamma[:-1]))])
    neg_sum = np.concatenate([[0.0], np.cumsum(np.minimum(m[:-1], 0.0))])
    # ½η²·k·max β_iγ_i · e^{−ηΣ min(m_i, 0)}: exactly 0 where k or the product is 0 (E_0 = 0
    # even when the exponential overflows), +∞ where it overflows, never 0 · ∞ = NaN.
    zero = (steps == 0) | (running == 0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        closed = 0.5 * np.float64(eta) ** 2 * steps * running * np.exp(-eta * neg_sum)
        # Products that under/overflow on the way: the same terms summed as logarithms.
        log_closed = np.log(0.5) + 2.0 * np.log(eta) + np.log(np.where(zero, 1.0, steps * 1.0)) + np.log(
            np.where(zero, 1.0, running)) - eta * neg_sum
        redo = ~zero & ~(np.isfinite(closed) & (closed > 0.0))
        closed = np.where(zero, 0.0, np.where(redo, np.exp(log_closed), closed))
    checks = tuple((what, margin >= 0.0) for what, margin in certificate_margins(eta, eps, beta, gamma, bound))
    if _has_activation(problem):
        # ReLU / leaky ReLU: f is smooth only inside an activation pattern; the balls (which
        # contain both the flow segment and the GD–GF segment) must each lie in one pattern.
        inside = np.array(
            [problem.ball_in_pattern(tuple(w[k] for w in weights), eps) for k in range(n_points - 1)], dtype=bool
        )
        checks = (("B_ε(θ(kη)) inside one activation pattern", inside),) + checks
    message = f"valid: ‖θ_k − θ(kη)‖ ≤ E_k for k ≤ {n_points - 1}"
    valid = True
    for what, ok in checks:
        if not np.all(ok):
            first = int(np.argmin(ok))
            valid = False
            message = f"invalid: {what} fails first at step k = {first} (t = {times[first]:.6g})"
            break
    return ErrorCertificate(
        times=times, bound=bound, closed_form=closed, curvature_lower=m, smoothness=beta,
        gradient_bound=gamma, learning_rate=eta, epsilon=eps, valid=valid, message=message,
    )
