"""Gradient flow ``θ' = −∇f(θ)`` integrated to high accuracy with SciPy."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from ._validation import check_finite_array, check_positive, check_t_span
from .network import flatten, unflatten
from .problem import Problem
from .results import FlowResult, Status

__all__ = ["integrate_flow"]

_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")


def integrate_flow(
    problem: Problem,
    weights0,
    *,
    t_span,
    t_eval=None,
    method: str = "DOP853",
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> FlowResult:
    """Integrate gradient flow ``θ'(t) = −∇f(θ(t))`` with :func:`scipy.integrate.solve_ivp`.

    Parameters
    ----------
    problem : Problem
    weights0 : tuple of ndarray
        Initial weights (single network).
    t_span : (float, float)
        ``(t0, t1)`` with ``t0 < t1``. GD with step η at iterate k corresponds to ``t = kη``.
    t_eval : array_like, optional
        Times at which to report weights and losses (within ``t_span``); default: ``t0`` and
        ``t1`` only. The dense output ``result.sol`` evaluates anywhere in ``t_span``.
    method, rtol, atol
        Forwarded to ``solve_ivp`` (default DOP853, an 8th-order Runge–Kutta method).

    Returns
    -------
    FlowResult

    Notes
    -----
    Gradient flow is the continuous limit of GD (Elkabetz & Cohen 2021); it conserves the
    balancedness matrices (theory.md §3) and decreases the loss monotonically.

    For a ReLU / leaky-ReLU :class:`~linflow.HomogeneousProblem` the right-hand side is only
    piecewise smooth. Policy (``linflow/_pattern_flow.py``): integrate one activation pattern at
    a time with the masks frozen, locate each pattern change by root finding on the dense
    output, and restart from the crossing point in the new pattern; ``result.pattern_changes``
    counts the changes and ``pattern_change_times`` / ``pattern_change_sites`` say when and
    where. If at a boundary the field points into it from both sides (sliding mode), classical
    gradient flow ends: the result has :attr:`Status.LEFT_REGIME`, stops at that time (its
    ``t`` then ends with the stopping time), and its message names the unit.

    Examples
    --------
    >>> import numpy as np
    >>> from linflow import DeepLinearNetwork, Problem, integrate_flow
    >>> prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[1.0]])
    >>> res = integrate_flow(prob, (np.array([[0.5]]), np.array([[0.5]])), t_span=(0.0, 5.0))
    >>> res.success, bool(res.losses[-1] < 1e-6)
    (True, True)
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    weights0 = problem.network.check(weights0, "weights0")
    if weights0[0].ndim != 2:
        raise ValueError(
            f"weights0 must be a single network (2-D arrays); got weights0[0].shape={weights0[0].shape}"
        )
    t0, t1 = check_t_span(t_span)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got method={method!r}")
    rtol = check_positive(rtol, "rtol")
    atol = check_positive(atol, "atol")
    if t_eval is None:
        t_eval = np.array([t0, t1])
    else:
        t_eval = check_finite_array(t_eval, "t_eval", ndim=1)
        if t_eval.size == 0 or t_eval.min() < t0 or t_eval.max() > t1 or np.any(np.diff(t_eval) < 0):
            raise ValueError(
                f"t_eval must be non-decreasing and lie within t_span={(t0, t1)}; got t_eval from "
                f"{t_eval.min() if t_eval.size else None} to {t_eval.max() if t_eval.size else None}"
            )
    shapes = problem.network.shapes

    def rhs(_t, theta):
        return -flatten(problem._gradient(unflatten(theta, shapes)))

    if problem.flow_integrator == "pattern":
        return _integrate_homogeneous(problem, weights0, t0, t1, t_eval, method, rtol, atol)
    with np.errstate(over="ignore", invalid="ignore"):
        sol = solve_ivp(
            rhs, (t0, t1), flatten(weights0), method=method, t_eval=t_eval,
            rtol=rtol, atol=atol, dense_output=True,
        )
    ok = sol.status == 0 and np.all(np.isfinite(sol.y))
    path = unflatten(sol.y.T, shapes)
    losses = np.asarray(problem._loss(path)) if sol.y.size else np.array([])
    final = tuple(w[-1] for w in path) if sol.y.size else weights0
    return FlowResult(
        t=sol.t,
        weights=path,
        losses=losses,
        final_weights=final,
        status=Status.SUCCESS if ok else Status.FAILED,
        message=sol.message,
        sol=sol.sol,
        n_evaluations=int(sol.nfev),
    )


def _integrate_homogeneous(problem, weights0, t0, t1, t_eval, method, rtol, atol) -> FlowResult:
    """ReLU / leaky ReLU: integrate pattern by pattern (policy in ``linflow/_pattern_flow.py``)."""
    from ._pattern_flow import integrate_pattern_flow

    y0 = flatten(weights0)
    run = integrate_pattern_flow(problem, y0, t0, t1, method=method, rtol=rtol, atol=atol)
    times = t_eval[t_eval <= run.t_stop]
    if run.status is not Status.SUCCESS and (times.size == 0 or times[-1] < run.t_stop):
        times = np.append(times, run.t_stop)  # report where the flow stopped
    if run.sol is None:
        ys = np.tile(y0, (times.size, 1))
    else:
        ys = np.atleast_2d(run.sol(times).T)
    path = unflatten(ys, problem.network.shapes)
    return FlowResult(
        t=times,
        weights=path,
        losses=np.asarray(problem._loss(path)),
        final_weights=tuple(w[-1] for w in path),
        status=run.status,
        message=run.message,
        sol=run.sol,
        n_evaluations=run.n_evaluations,
        pattern_change_times=run.change_times,
        pattern_change_sites=run.change_sites,
    )

