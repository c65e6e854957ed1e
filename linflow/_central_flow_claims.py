"""Measurements behind the central-flow claims (Cohen et al. 2025, ICLR; theory.md §6).

Each ``measure_*`` function takes a :class:`EdgeInstance` (a problem, an initialization and a
step size that put GD at the edge of stability) and returns plain numbers; thresholds belong
to the claim registry, not here:

* :func:`measure_edge_sharpness` — along the GD central flow the effective sharpness ``ηS``
  stays ≤ 2 and equals 2 while the edge is active (``tr Σ > 0``);
* :func:`measure_loss_monotonicity` — the flow's loss ``L(θ(t))`` is non-increasing
  (it is a projected gradient flow: ``dL/dt = −‖dθ/dt‖²/η ≤ 0`` for the exact SDCP solution);
* :func:`measure_tracking` — the flow stays much closer to GD's time average than gradient
  flow does (distance at the final time, GD averaged over its last ``window`` iterates).

:func:`scalar_edge_instance` gives the seeded scalar-network designs used by
``scripts/central_flow_vs_gd.py`` (GD converges at ``ηS ≈ 1.99`` while gradient flow overshoots
to ``ηS = ratio``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .central_flow import integrate_central_flow
from .descent import simulate_descent
from .flow import integrate_flow
from .network import DeepLinearNetwork, flatten
from .problem import Problem

__all__ = [
    "EdgeInstance",
    "scalar_edge_instance",
    "gfs_sharpness",
    "measure_edge_sharpness",
    "measure_loss_monotonicity",
    "measure_tracking",
]

# Initial weights of the scalar designs (target y = 1): found by screening uniform draws for
# runs in which GD converges at ηS ∈ (1.95, 2] from ηS_0 < 1.1 (see scripts/central_flow_vs_gd.py).
_SCALAR_DESIGNS = {
    3: ((0.35, 0.54, 1.65), 2.5),
    4: ((0.23, 0.33, 1.48, 1.75), 2.85),
}


@dataclass(frozen=True)
class EdgeInstance:
    """A GD run at the edge of stability: problem, initialization, step size, horizon."""

    problem: Problem
    weights0: tuple
    learning_rate: float
    n_steps: int
    name: str = ""


def gfs_sharpness(values, y: float) -> float:
    """Sharpness of the gradient-flow limit from scalar weights ``values`` (theory.md §4).

    GF conserves ``w_i² − w_j²``; its limit has ``w_i*² = w_i² + c`` with ``Π(w_i² + c) = y²``
    and sharpness ``φ = Σ y²/(w_i² + c)`` [checked].
    """
    from scipy.optimize import brentq

    w2 = np.asarray(values, dtype=np.float64) ** 2
    lo = -w2.min() + 1e-15 * max(1.0, w2.max())
    c = brentq(lambda c: np.prod(w2 + c) - y**2, lo, y**2 + 1.0)
    return float(np.sum(y**2 / (w2 + c)))


def scalar_edge_instance(depth: int, *, n_steps: int = 800) -> EdgeInstance:
    """The scalar design of the given depth (3 or 4) with ``η = ratio / φ(w_0)``.

    ``ratio`` (2.5 for depth 3, 2.85 for depth 4) is the ηS that gradient flow reaches.
    """
    if depth not in _SCALAR_DESIGNS:
        raise ValueError(f"depth must be one of {tuple(_SCALAR_DESIGNS)}; got depth={depth!r}")
    values, ratio = _SCALAR_DESIGNS[depth]
    problem = Problem(DeepLinearNetwork((1,) * (depth + 1)), target=[[1.0]])
    weights0 = tuple(np.array([[v]]) for v in values)
    eta = ratio / gfs_sharpness(values, 1.0)
    return EdgeInstance(problem, weights0, eta, n_steps, name=f"scalar depth {depth}")


def measure_edge_sharpness(instance: EdgeInstance, *, flow=None) -> dict:
    """``max_t ηS(t) − 2`` and ``max |ηS − 2|`` over the times where the edge is active.

    Returns
    -------
    dict with ``max_excess`` (≤ 0 up to discretization error when the claim holds),
    ``max_gap_active`` (0 if never active), ``active_fraction`` (share of records with
    ``tr Σ > 0`` here and at the previous record) and ``final`` (ηS at the last record).
    """
    flow = flow or integrate_central_flow(
        instance.problem, instance.weights0, learning_rate=instance.learning_rate, n_steps=instance.n_steps
    )
    eff = flow.effective_sharpness
    on = flow.sigma_trace > 0
    # Active: X > 0 at this record and the previous one. The first record of a stretch is the
    # step in which the flow *reaches* the edge (X > 0 keeps the next substep from crossing
    # it while ηS is still below 2 at the record), so it is excluded.
    active = on & np.concatenate([[False], on[:-1]])
    return dict(
        max_excess=float(np.max(eff) - 2.0),
        max_gap_active=float(np.max(np.abs(eff[active] - 2.0))) if active.any() else 0.0,
        active_fraction=float(np.mean(active)),
        final=float(eff[-1]),
        status=flow.status.name,
    )


def measure_loss_monotonicity(instance: EdgeInstance, *, flow=None) -> dict:
    """Largest increase of the flow's loss between consecutive records.

    Returns ``max_increase`` (absolute) and ``max_relative_increase`` (divided by the loss
    before the increase); both ≤ 0 when the loss never increases.
    """
    flow = flow or integrate_central_flow(
        instance.problem, instance.weights0, learning_rate=instance.learning_rate, n_steps=instance.n_steps
    )
    diff = np.diff(flow.losses)
    rel = diff / np.maximum(flow.losses[:-1], np.finfo(float).tiny)
    return dict(max_increase=float(diff.max(initial=-np.inf)), max_relative_increase=float(rel.max(initial=-np.inf)))


def measure_tracking(instance: EdgeInstance, *, window: int = 2, flow=None) -> dict:
    """Distance at the final time from GD's time average to the central flow and to GF.

    GD is averaged over its last ``window`` iterates (one period of a period-``window``
    orbit; a converged run is unaffected). GF is integrated to ``t = η·n_steps`` (GF time).

    Returns
    -------
    dict with ``flow_distance``, ``gf_distance`` and ``ratio = flow_distance/gf_distance``.
    """
    n = instance.n_steps
    eta = instance.learning_rate
    flow = flow or integrate_central_flow(instance.problem, instance.weights0, learning_rate=eta, n_steps=n)
    gd = simulate_descent(
        instance.problem, instance.weights0, learning_rate=eta, n_steps=n, record_weights=True,
        record_every=1, backend="numpy",
    )
    gd_avg = flatten(tuple(w[-window:].mean(axis=0) for w in gd.weights))
    gf = integrate_flow(instance.problem, instance.weights0, t_span=(0.0, eta * n))
    flow_d = float(np.linalg.norm(flatten(flow.final_weights) - gd_avg))
    gf_d = float(np.linalg.norm(flatten(gf.final_weights) - gd_avg))
    return dict(flow_distance=flow_d, gf_distance=gf_d, ratio=flow_d / gf_d if gf_d > 0 else np.inf,
                status=flow.status.name)  # a flow that stopped early is compared at its stop time
