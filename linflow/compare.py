"""How closely gradient descent tracks gradient flow, and at which order in η."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import (
    as_generator,
    as_real_array,
    check_finite_array,
    check_memory,
    check_positive,
    check_single_weights,
)
from .descent import DEFAULT_DIVERGENCE_THRESHOLD, simulate_descent
from .flow import integrate_flow
from .init import gaussian
from .network import DeepLinearNetwork, flatten, unflatten
from .problem import Problem
from .results import Status

__all__ = ["compare_descent_to_flow", "DescentFlowComparison", "default_problem", "fit_order"]


#: A GD run whose loss exceeds this multiple of its initial loss counts as diverged (relative
#: test; the absolute cap of :func:`linflow.simulate_descent` applies as well). GD tracking GF
#: decreases the loss; a millionfold rise is far outside the O(η) regime being measured.
DIVERGENCE_FACTOR = 1e6
#: A run whose max distance to GF exceeds this fraction of the size of the weights along the flow
#: no longer tracks GF (the O(η) error expansion is meaningless there): its row is not fitted.
TRACKING_FRACTION = 0.5
#: Default budget of GD steps over all step sizes of one comparison.
DEFAULT_MAX_STEPS = 1_000_000
#: GD steps held in memory at a time: the distance is streamed chunk by chunk.
_CHUNK_STEPS = 4096


@dataclass(frozen=True)
class DescentFlowComparison:
    """Distances ``‖θ_k − θ(kη)‖`` between GD and GF for several step sizes.

    Attributes
    ----------
    learning_rates : ndarray, (E,)
    times : list of ndarray
        ``t = kη`` for each η.
    distances : list of ndarray
        ``‖θ_k − θ(kη)‖`` for each η (Euclidean norm of the flat parameters; NaN after a
        divergence).
    descent_losses : list of ndarray
        GD loss at every step for each η (NaN after a divergence).
    flow_losses : list of ndarray
        GF loss at ``t = kη`` for each η.
    max_distance : ndarray, (E,)
        Largest distance over the steps before any divergence.
    final_descent_loss : ndarray, (E,)
    final_flow_loss : float
    statuses : tuple of Status
        GD status for each η; DIVERGED also when the loss rose above ``DIVERGENCE_FACTOR`` (1e6)
        times its initial value. The flow's status for every row when gradient flow stopped early.
    fitted : ndarray of bool, (E,)
        Rows used for the order fit: not diverged, finite positive distance, and still tracking
        GF (max distance ≤ ``TRACKING_FRACTION`` = ½ of the largest weight norm along GF).
    notes : tuple of str
        Why each row was left out of the fit ("" for fitted rows).
    order : float
        Least-squares slope of ``log max_distance`` against ``log η`` over the fitted rows; 1 for
        Euler's method. NaN when fewer than two rows can be fitted (see ``order_message``).
    order_message : str
        How the order was obtained, or why it could not be.
    horizon : float
    """

    learning_rates: np.ndarray
    times: list
    distances: list
    descent_losses: list
    flow_losses: list
    max_distance: np.ndarray
    final_descent_loss: np.ndarray
    final_flow_loss: float
    statuses: tuple
    order: float
    horizon: float
    fitted: np.ndarray = None
    notes: tuple = ()
    order_message: str = ""


def fit_order(step_sizes, errors) -> float:
    """Slope of the least-squares line through ``(log η, log error)``.

    Parameters
    ----------
    step_sizes, errors : sequence of float
        At least two pairs with positive finite values and at least two distinct step sizes.

    Raises
    ------
    ValueError
        Fewer than two pairs, lengths differ, or a value is not positive and finite.
    """
    x = check_finite_array(step_sizes, "step_sizes", ndim=1)
    if x.size < 2 or np.unique(x).size < 2:
        raise ValueError(f"step_sizes must hold at least two distinct values; got step_sizes={x.tolist()}")
    y = as_real_array(errors, "errors")
    if y.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"errors must have one entry per step size ({x.size}); got errors.shape={y.shape}")
    if np.any(x <= 0):
        raise ValueError(f"step_sizes must be positive; got step_sizes={x.tolist()}")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise ValueError(f"errors must be positive and finite to take logs; got errors={y.tolist()}")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def compare_descent_to_flow(
    problem: Problem, weights0, learning_rates, horizon: float, *, backend: str = "numpy",
    max_steps: int = DEFAULT_MAX_STEPS,
) -> DescentFlowComparison:
    """Run GD with each η for ``⌊horizon/η⌉`` steps and measure its distance to GF at ``t = kη``.

    Parameters
    ----------
    problem : Problem
    weights0 : tuple of ndarray
        A single initialization shared by GD and GF.
    learning_rates : sequence of float
        At least two distinct positive step sizes (for the order fit).
    horizon : float
        GF time T; each run takes ``round(T/η)`` steps.
    backend : str
        GD backend, see :func:`linflow.simulate_descent`.
    max_steps : int
        Budget of GD steps over all step sizes together (default 10⁶, minutes of the NumPy
        engine): a larger ``Σ round(T/η)`` is refused up front with a ``ValueError`` naming
        ``horizon`` and the count, instead of running for hours.

    Returns
    -------
    DescentFlowComparison
        Rows whose GD diverged (absolute cap, or loss > 1e6 × initial loss) or stopped tracking
        GF are marked (``fitted``, ``notes``) and left out of the order fit; with fewer than two
        fitted rows ``order`` is NaN and ``order_message`` says why.

        If gradient flow itself stops early (it diverged, ran out of budget, or left its regime),
        no row is fitted: every ``notes`` entry and ``order_message`` quote the flow's message,
        and distances are NaN.

    Raises
    ------
    ValueError
        Bad arguments, more than ``max_steps`` GD steps, or per-step records (four floats per
        GD step and η) above the memory limit (see ``LINFLOW_MEMORY_LIMIT_GIB``). GD iterates
        themselves are streamed in chunks of 4096 steps, never all kept.

    Notes
    -----
    GD is the forward Euler method for GF, so for a fixed horizon
    ``max_k ‖θ_k − θ(kη)‖ = O(η)`` (Elkabetz & Cohen 2021, Thm 1), with a constant governed
    by the negative curvature along the flow.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    etas = check_finite_array(learning_rates, "learning_rates", ndim=1)
    if etas.size < 2 or np.any(etas <= 0) or np.unique(etas).size < 2:
        raise ValueError(
            "learning_rates must hold at least two distinct positive step sizes; got "
            f"learning_rates={etas.tolist()}"
        )
    horizon = check_positive(horizon, "horizon")
    max_steps = check_positive(max_steps, "max_steps", integer=True)
    weights0 = check_single_weights(weights0, problem.network.shapes, name="weights0")
    with np.errstate(over="ignore"):  # floats: an absurd horizon gives inf, refused below
        steps_float = [max(1.0, np.round(horizon / eta)) for eta in etas]
    if not sum(steps_float) <= max_steps:
        raise ValueError(
            f"horizon={horizon:g} with learning_rates down to {etas.min():g} needs {sum(steps_float):.3g} GD "
            f"steps, above max_steps={max_steps}: shorten the horizon, use larger learning_rates or raise max_steps"
        )
    step_counts = [int(n) for n in steps_float]
    # Four float64 records per step and η (times, distances, GD and GF losses).
    check_memory(4 * 8.0 * sum(n + 1 for n in step_counts),
                 argument=f"horizon={horizon:g} with learning_rates down to {etas.min():g}",
                 what=f"{sum(step_counts):.3g} recorded GD steps",
                 advice="use larger learning_rates or a shorter horizon")
    t_end = max(n * eta for n, eta in zip(step_counts, etas))
    flow = integrate_flow(problem, weights0, t_span=(0.0, t_end))
    if not flow.success:
        return _without_flow(problem, weights0, etas, step_counts, horizon, flow)
    loss0 = problem._loss(weights0)
    threshold = DEFAULT_DIVERGENCE_THRESHOLD
    if loss0 > 0:
        threshold = min(threshold, DIVERGENCE_FACTOR * loss0)
    rows = [_stream_row(problem, weights0, flow, float(eta), n, t_end, threshold, backend)
            for eta, n in zip(etas, step_counts)]
    max_dist = np.array([r["max_distance"] for r in rows])
    scale = max(r["weight_scale"] for r in rows)
    fitted, notes = [], []
    for r in rows:
        note = ""
        if r["status"] is Status.DIVERGED:
            note = f"GD diverged at step {r['divergence_step']} (loss above {threshold:.3g})"
        elif not (np.isfinite(r["max_distance"]) and r["max_distance"] > 0):
            note = f"distance {r['max_distance']!r} cannot be fitted on a log scale"
        elif r["max_distance"] > TRACKING_FRACTION * scale:
            note = (f"GD left GF: max distance {r['max_distance']:.3g} > {TRACKING_FRACTION:g} × weight "
                    f"norm {scale:.3g}")
        fitted.append(not note)
        notes.append(note)
    fitted = np.array(fitted)
    if np.unique(etas[fitted]).size >= 2:
        order = fit_order(etas[fitted], max_dist[fitted])
        left_out = int((~fitted).sum())
        order_message = f"fitted over {int(fitted.sum())} step sizes" + (
            f" ({left_out} left out: see notes)" if left_out else "")
    else:
        order = float("nan")
        order_message = (f"no order fitted: only {int(fitted.sum())} of {etas.size} runs track GF "
                         "(diverged or left it; see notes), at least two are needed")
    return DescentFlowComparison(
        learning_rates=etas,
        times=[r["t"] for r in rows],
        distances=[r["distances"] for r in rows],
        descent_losses=[r["descent_losses"] for r in rows],
        flow_losses=[r["flow_losses"] for r in rows],
        max_distance=max_dist,
        final_descent_loss=np.array([r["final_loss"] for r in rows]),
        final_flow_loss=float(flow.losses[-1]),
        statuses=tuple(r["status"] for r in rows),
        order=order,
        horizon=horizon,
        fitted=fitted,
        notes=tuple(notes),
        order_message=order_message,
    )


def _without_flow(problem, weights0, etas, step_counts, horizon, flow) -> DescentFlowComparison:
    """The comparison when gradient flow stopped early: nothing to compare with, no order."""
    note = f"gradient flow stopped ({flow.status.name}): {flow.message}"
    nan_rows = [np.full(n + 1, np.nan) for n in step_counts]
    return DescentFlowComparison(
        learning_rates=etas, times=[eta * np.arange(n + 1) for eta, n in zip(etas, step_counts)],
        distances=nan_rows, descent_losses=[r.copy() for r in nan_rows], flow_losses=[r.copy() for r in nan_rows],
        max_distance=np.full(etas.size, np.nan), final_descent_loss=np.full(etas.size, np.nan),
        final_flow_loss=float(flow.losses[-1]), statuses=(flow.status,) * etas.size, order=float("nan"),
        horizon=horizon, fitted=np.zeros(etas.size, dtype=bool), notes=(note,) * etas.size,
        order_message=f"no order fitted: {note}",
    )


def _stream_row(problem, weights0, flow, eta, n_steps, t_end, threshold, backend) -> dict:
    """One η: GD in chunks of recorded weights, each compared with GF and then dropped."""
    shapes = problem.network.shapes
    t = eta * np.arange(n_steps + 1)
    distances = np.full(n_steps + 1, np.nan)
    descent_losses = np.full(n_steps + 1, np.nan)
    flow_losses = np.empty(n_steps + 1)
    weights, done = weights0, 0
    status, divergence_step, final_loss = Status.MAX_STEPS, -1, float("nan")
    weight_scale = 0.0
    while True:
        chunk = min(_CHUNK_STEPS, n_steps - done)
        reference = flow.sol(np.minimum(t[done: done + chunk + 1], t_end)).T
        flow_losses[done: done + chunk + 1] = problem._loss(unflatten(reference, shapes))
        weight_scale = max(weight_scale, float(np.max(np.linalg.norm(reference, axis=1))))
        run = simulate_descent(problem, weights, learning_rate=eta, n_steps=chunk, record_weights=True,
                               backend=backend, divergence_threshold=threshold, track_balancedness=False)
        alive = np.isfinite(run.losses)
        path = flatten(run.weights)
        distances[done: done + chunk + 1][alive] = np.linalg.norm(path - reference, axis=1)[alive]
        descent_losses[done: done + chunk + 1][alive] = run.losses[alive]
        final_loss = float(run.final_loss)
        if run.status is Status.DIVERGED:
            status, divergence_step = Status.DIVERGED, done + int(run.divergence_step)
            break
        done += chunk
        weights = run.final_weights
        if done >= n_steps:
            break
    finite = distances[np.isfinite(distances)]
    return dict(t=t, distances=distances, descent_losses=descent_losses, flow_losses=flow_losses,
                max_distance=float(finite.max()) if finite.size else float("nan"), final_loss=final_loss,
                status=status, divergence_step=divergence_step, weight_scale=weight_scale)


def default_problem(seed: int = 0):
    """The built-in comparison problem: depth 3, widths (4, 4, 4, 2), whitened target.

    Returns ``(problem, weights0)``: a Gaussian target with entries ``N(0, 1)`` and Gaussian
    initial weights with std 0.5, both from ``numpy.random.default_rng(seed)``.
    """
    rng = as_generator(seed)
    net = DeepLinearNetwork((4, 4, 4, 2))
    target = rng.standard_normal((2, 4))
    weights0 = gaussian(net.widths, std=0.5, seed=rng)
    return Problem(net, target=target), weights0

