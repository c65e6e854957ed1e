"""Gradient flow ``θ' = −∇f(θ)`` integrated to high accuracy with SciPy's adaptive solvers."""

from __future__ import annotations

import numpy as np
from scipy.integrate._ivp.common import OdeSolution

from ._flow_guard import (
    DEFAULT_MAX_SECONDS,
    DEFAULT_MAX_STEPS,
    SOLVERS,
    FlowGuard,
    FlowStop,
)
from ._validation import (
    check_finite_array,
    check_positive,
    check_single_weights,
    check_t_span,
)
from .network import flatten, unflatten
from .problem import Problem
from .results import FlowResult, Status

__all__ = ["integrate_flow"]

_METHODS = tuple(SOLVERS)


def integrate_flow(
    problem: Problem,
    weights0,
    *,
    t_span,
    t_eval=None,
    method: str = "DOP853",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int = DEFAULT_MAX_STEPS,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    observe=None,
    observe_options=None,
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
        SciPy solver class and tolerances, as in ``solve_ivp`` (default DOP853, an 8th-order
        Runge–Kutta method, with an underflow-safe error norm).
    max_steps : int
        Budget of accepted solver steps (default 20,000; a smooth flow over the horizons used in
        this package takes tens to a few thousand). Reaching it stops the integration
        with :attr:`Status.BUDGET_EXHAUSTED`; ``t`` then ends at the time reached.
    max_seconds : float
        Wall-clock budget in seconds (default 120), checked at every evaluation of the field;
        exceeding it also stops with :attr:`Status.BUDGET_EXHAUSTED`.
    observe, observe_options
        Observables recorded at the reported times ``t`` into ``result.observables[name]``
        (``(R[, m])``), as in :func:`linflow.simulate_descent` (:mod:`linflow.observables`;
        ``effective_sharpness`` is the sharpness: gradient flow has no preconditioner).

    Returns
    -------
    FlowResult
        ``status`` is SUCCESS, DIVERGED (the loss or gradient overflowed / became non-finite:
        SciPy's step-size control cannot recover from that, so the field is checked at every
        evaluation and the run stops at that time), BUDGET_EXHAUSTED, FAILED (the solver gave
        up, e.g. a step size below the spacing of floats) or, for ReLU networks, LEFT_REGIME.
        After an early stop ``t`` holds the requested times before the stop and then the stop
        time, and ``final_weights`` are the weights there. The run never spins forever.

    Notes
    -----
    Gradient flow is the continuous limit of GD (Elkabetz & Cohen 2021); it conserves the
    balancedness matrices (Arora, Cohen & Hazan 2018, Thm 1) and decreases the loss
    monotonically.

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
    weights0 = check_single_weights(weights0, problem.network.shapes, name="weights0")
    t0, t1 = check_t_span(t_span)
    if not isinstance(method, str) or method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got method={method!r}")
    rtol = check_positive(rtol, "rtol")
    atol = check_positive(atol, "atol")
    max_steps = check_positive(max_steps, "max_steps", integer=True)
    max_seconds = check_positive(max_seconds, "max_seconds")
    if t_eval is None:
        t_eval = np.array([t0, t1])
    else:
        t_eval = check_finite_array(t_eval, "t_eval", ndim=1)
        if t_eval.size == 0 or t_eval.min() < t0 or t_eval.max() > t1 or np.any(np.diff(t_eval) < 0):
            raise ValueError(
                f"t_eval must be non-empty, non-decreasing and lie within t_span={(t0, t1)}; got t_eval from "
                f"{t_eval.min() if t_eval.size else None} to {t_eval.max() if t_eval.size else None}"
            )
    names = options = None
    if observe is not None:
        from .observables import check_observe
        from .optimizers import GD

        names, _, options = check_observe(observe, 1, observe_options, problem, GD())
    guard = FlowGuard(max_steps, max_seconds)
    y0 = flatten(weights0)

    if problem.flow_integrator == "pattern":
        from ._pattern_flow import integrate_pattern_flow

        run = integrate_pattern_flow(problem, y0, t0, t1, method=method, rtol=rtol, atol=atol, guard=guard)
        result = _flow_result(problem, y0, t_eval, run.t_stop, run.sol, run.status, run.message,
                              run.n_evaluations, run.change_times, run.change_sites)
    else:
        t_stop, sol, status, message, nfev = _integrate_smooth(problem, y0, t0, t1, method, rtol, atol, guard)
        result = _flow_result(problem, y0, t_eval, t_stop, sol, status, message, nfev)
    if names is None:
        return result
    from dataclasses import replace

    from .observables import observe_path

    return replace(result, observables=observe_path(problem, result.weights, weights0, names, options))


def _integrate_smooth(problem, y0, t0, t1, method, rtol, atol, guard):
    """Step a SciPy solver from ``t0`` to ``t1`` under ``guard``; returns the stop time, the
    dense output (None if no step was taken), status, message and the number of evaluations."""
    shapes = problem.network.shapes

    def rhs(t, theta):
        return guard.field(t, -flatten(problem._gradient(unflatten(theta, shapes))))

    ts, interpolants = [t0], []
    status, message = Status.SUCCESS, "integrated over the whole time span"
    solver = None
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            guard.loss(t0, problem._loss(unflatten(y0, shapes)))
            solver = SOLVERS[method](rhs, t0, y0, t1, rtol=rtol, atol=atol)
            while solver.status == "running":
                dense, failure = guard.advance(solver, lambda y: problem._loss(unflatten(y, shapes)))
                if failure is not None:
                    status, message = Status.FAILED, failure
                    break
                ts.append(solver.t)
                interpolants.append(dense)
                if solver.status == "running":
                    guard.step(solver.t)
        except FlowStop as stop:
            status, message = stop.status, stop.message
    nfev = solver.nfev if solver is not None else 0
    sol = OdeSolution(np.array(ts), interpolants) if interpolants else None
    return float(ts[-1]), sol, status, message, int(nfev)


def _flow_result(problem, y0, t_eval, t_stop, sol, status, message, nfev, change_times=None, change_sites=None):
    """Sample the dense output at the requested times up to ``t_stop`` (and at ``t_stop`` after
    an early stop) and assemble the :class:`FlowResult`."""
    times = t_eval[t_eval <= t_stop]
    if status is not Status.SUCCESS and (times.size == 0 or times[-1] < t_stop):
        times = np.append(times, t_stop)  # report where the flow stopped
    if sol is None:
        ys = np.tile(y0, (times.size, 1))
    else:
        ys = np.atleast_2d(np.asarray(sol(times)).T)
    path = unflatten(ys, problem.network.shapes)
    with np.errstate(over="ignore", invalid="ignore"):
        losses = np.atleast_1d(np.asarray(problem._loss(path), dtype=np.float64))
    return FlowResult(
        t=times,
        weights=path,
        losses=losses,
        final_weights=tuple(w[-1] for w in path),
        status=status,
        message=message,
        sol=sol,
        n_evaluations=nfev,
        pattern_change_times=change_times,
        pattern_change_sites=change_sites,
    )
