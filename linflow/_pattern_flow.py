"""Gradient flow of a ReLU / leaky-ReLU network, one activation pattern at a time.

Inside an activation pattern the loss is a polynomial, so gradient flow is a smooth ODE. The
flow is integrated as a hybrid system:

1. **Segments.** With the hidden masks ``σ'(z)`` frozen to the current pattern, the
   polynomial's gradient flow is integrated by a SciPy solver class (``DOP853`` by default) at
   its full order — no kink inside a step.
2. **Crossings.** After every step the hidden pre-activations are evaluated on 8 equally
   spaced points of the step's dense output; a unit whose sign left its side of the pattern
   crossed its boundary (an excursion and return shorter than an eighth of a step is missed,
   the limitation ``solve_ivp`` events have for a whole step). The crossing time is the root
   of ``z_s(t)`` on the dense output (``brentq``, ``xtol = 4·eps``, as ``solve_ivp`` does for
   events); the step is truncated there and, if several units crossed, the earliest wins.
3. **Continuation.** At the crossing the unit switches side (units crossing at the same
   instant, within 64 ulps, switch together) and the flow restarts from the crossing point
   with the new pattern — if the new pattern's vector field actually carries every switched
   unit into its new side: rate ``ż_s > 0`` when entering ``z > 0``; ``ż_s ≤ 0`` when entering
   ``z ≤ 0`` (which holds ``z = 0`` under the convention ``σ'(0) = α``, so a field that is
   stationary or tangent there is a classical solution). Otherwise the field points into the
   boundary from both sides (*sliding mode*): gradient flow has no classical solution beyond
   this time (only a Filippov one), and integration stops with :attr:`Status.LEFT_REGIME` at
   the crossing time. When several units switched at once the message says so: the stop may
   then be a corner where boundaries meet (e.g. a unit's incoming weights reaching 0) rather
   than a sliding mode. The rate is compared with ``1e-12 × Σ|terms|`` (the sum of the
   absolute values of its terms), far above its rounding error for any network this package
   handles, so a tangent field is not mistaken for a push.

Every crossing is recorded (time and ``(layer, neuron, sample)``), which gives the honest count
of pattern changes along the flow. A unit starting exactly at ``z = 0`` counts once when it
leaves 0 upwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.integrate._ivp.common import OdeSolution
from scipy.optimize import brentq

from ._flow_guard import (
    DEFAULT_MAX_SECONDS,
    DEFAULT_MAX_STEPS,
    SOLVERS,
    FlowGuard,
    FlowStop,
)
from .network import flatten, unflatten
from .results import Status

#: Stop (FAILED) after this many pattern changes: guards against Zeno-like switching.
MAX_PATTERN_CHANGES = 10_000

# Relative threshold on the crossing rate (see module docstring).
_RATE_RTOL = 1e-12

_EPS = np.finfo(np.float64).eps

#: Crossing times this close (relative, ≈ 64 ulps) are one simultaneous crossing.
_TIE = 64 * np.finfo(np.float64).eps

#: Dense-output points scanned per step for sign changes (see :func:`_first_crossing`).
_SCAN_POINTS = 8

# A pre-activation with |z| ≤ _NOISE·|W||a| sits on its boundary to rounding (the forward
# pass's error is ≤ γ_n|W||a| ≈ n·1.1e-16; 1e-12 leaves a wide margin for n ≤ 1000).
_NOISE = 1e-12


@dataclass(frozen=True)
class PatternFlow:
    """Raw outcome of :func:`integrate_pattern_flow` (``integrate_flow`` wraps it)."""

    t_stop: float
    sol: Optional[OdeSolution]  # dense output over [t0, t_stop]; None if no step was taken
    status: Status
    message: str
    n_evaluations: int
    change_times: np.ndarray
    change_sites: np.ndarray


def _hidden_sites(widths, m: int) -> np.ndarray:
    rows = [
        np.column_stack([np.full(d * m, k), np.repeat(np.arange(d), m), np.tile(np.arange(m), d)])
        for k, d in enumerate(widths[1:-1])
    ]
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 3), dtype=np.int64)


def integrate_pattern_flow(
    problem, y0: np.ndarray, t0: float, t1: float, *, method: str, rtol: float, atol: float, guard=None
) -> PatternFlow:
    """Integrate ``θ' = −∇f(θ)`` for a :class:`~linflow.HomogeneousProblem` from ``t0`` to ``t1``.

    See the module docstring for the policy at activation-pattern changes. ``guard`` (a
    :class:`~linflow._flow_guard.FlowGuard`) checks every field evaluation for finiteness and
    bounds the accepted steps and seconds over all segments together: a non-finite loss or
    gradient ends the run with DIVERGED, an exhausted budget with BUDGET_EXHAUSTED.
    """
    if guard is None:
        guard = FlowGuard(DEFAULT_MAX_STEPS, DEFAULT_MAX_SECONDS)
    net = problem.network
    shapes = net.shapes
    X = problem.X
    alpha = net.negative_slope
    hidden = net.widths[1:-1]
    m = problem.n_samples
    sites = _hidden_sites(net.widths, m)
    bounds = np.cumsum([0] + [d * m for d in hidden])
    solver_class = SOLVERS[method]

    def masks_of(side):
        return [np.where(side[bounds[k] : bounds[k + 1]].reshape(d, m), 1.0, alpha) for k, d in enumerate(hidden)]

    def pre_activations(y, masks):
        pre = net._forward(unflatten(y, shapes), X, frozen=masks)[2]
        return np.concatenate([z.ravel() for z in pre]) if pre else np.zeros(0)

    abs_x = np.abs(X)

    def pre_activations_batch(ys, masks):
        """``(z, s)`` at every row of ``ys``: pre-activations and their term sizes ``|W||a|``."""
        weights = unflatten(ys, shapes)
        pre = net._forward(weights, X, frozen=masks)[2]
        size = net._forward(tuple(np.abs(w) for w in weights), abs_x, frozen=[np.abs(mk) for mk in masks])[2]
        if not pre:
            empty = np.zeros((len(ys), 0))
            return empty, empty
        return tuple(np.concatenate([z.reshape(z.shape[0], -1) for z in zs], axis=1) for zs in (pre, size))

    def crossing_rate(y, masks, field, site):
        """``ż_s`` along ``field`` with ``masks`` frozen, and the sum of its terms' magnitudes."""
        weights, v = unflatten(y, shapes), unflatten(field, shapes)
        acts, _, _, _ = net._forward(weights, X, frozen=masks)
        layer, neuron, sample = site
        rate = net._pre_activation_tangent(weights, acts, masks, v)[layer][neuron, sample]
        abs_acts = [np.abs(a) for a in acts]
        scale = net._pre_activation_tangent(
            [np.abs(w) for w in weights], abs_acts, [np.abs(mk) for mk in masks], [np.abs(x) for x in v]
        )[layer][neuron, sample]
        return float(rate), float(scale)

    # Initial pattern: the signs of the true pre-activations (z = 0 counts as inactive).
    with np.errstate(over="ignore", invalid="ignore"):  # huge weights: reported as DIVERGED below
        initial = net._forward(unflatten(y0, shapes), X)[2]
    side = np.concatenate([z.ravel() > 0 for z in initial]) if initial else np.zeros(0, dtype=bool)
    t, y = t0, np.asarray(y0, dtype=np.float64)
    floor = np.zeros(len(sites))  # per unit: |z| below this is "on the boundary" (see _first_crossing)
    ts, interpolants = [t0], []
    times, crossed_sites = [], []
    nfev = 0
    status, message = Status.SUCCESS, "integrated over the whole time span"
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            guard.loss(t0, problem._loss(unflatten(y, shapes)))
        except FlowStop as stop:
            status, message = stop.status, stop.message
    while status is Status.SUCCESS:
        masks = masks_of(side)

        def rhs(t_now, theta, masks=masks):
            return guard.field(t_now, -flatten(problem._frozen_gradient(unflatten(theta, shapes), masks)))

        crossing = None
        solver = None
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                solver = solver_class(rhs, t, y, t1, rtol=rtol, atol=atol)
                z_old, size_old = (v[0] for v in pre_activations_batch(y[None, :], masks))
                while solver.status == "running":
                    t_old = solver.t
                    dense, failure = guard.advance(solver, lambda y: problem._loss(unflatten(y, shapes)))
                    if failure is not None:
                        status, message = Status.FAILED, failure
                        break
                    crossing = _first_crossing(
                        dense, t_old, solver.t, z_old, size_old, floor, side, masks, pre_activations,
                        pre_activations_batch,
                    )
                    if crossing is not None:
                        if crossing[0] > t_old:
                            ts.append(crossing[0])
                            interpolants.append(dense)
                        break
                    ts.append(solver.t)
                    interpolants.append(dense)
                    z_old, size_old = (v[0] for v in pre_activations_batch(solver.y[None, :], masks))
                    if solver.status == "running":
                        guard.step(solver.t)
            except FlowStop as stop:
                status, message, crossing = stop.status, stop.message, None
        nfev += solver.nfev if solver is not None else 0
        t = ts[-1]
        if crossing is None:
            break
        t, crossed = crossing
        y = interpolants[-1](t) if interpolants and ts[-1] == t else y
        z_here = pre_activations(y, masks)
        side, floor = side.copy(), floor.copy()
        for s in crossed:
            times.append(t)
            crossed_sites.append(sites[s])
            side[s] = not side[s]
            floor[s] = 4.0 * abs(z_here[s])
        if len(times) > MAX_PATTERN_CHANGES:
            status = Status.FAILED
            message = f"more than {MAX_PATTERN_CHANGES} activation-pattern changes by t={t}; stopped"
            break
        new_masks = masks_of(side)
        field = -flatten(problem._frozen_gradient(unflatten(y, shapes), new_masks))
        # A unit whose input and input rate are both 0 (every unit feeding it, for that sample, is
        # a ReLU that is off) has z ≡ 0 to first order: it crossed nothing and has no side to
        # move into. It counts as inactive, as z = 0 does at the start; its mask cannot change the
        # field (what it passes back meets only switched-off units). Without this, a regular
        # crossing behind a width-1 layer ended the flow (found by Hypothesis).
        rates = {s: crossing_rate(y, new_masks, field, sites[s]) for s in crossed}
        dead = [s for s in crossed if rates[s][1] == 0.0]
        if dead:
            side[dead] = False
            new_masks = masks_of(side)
            field = -flatten(problem._frozen_gradient(unflatten(y, shapes), new_masks))
            rates = {s: crossing_rate(y, new_masks, field, sites[s]) for s in crossed if s not in dead}
        n_live = len(crossed) - len(dead)
        stuck = None
        for s, (rate, scale) in rates.items():
            moves_in = rate > _RATE_RTOL * scale if side[s] else rate <= _RATE_RTOL * scale
            if not moves_in:
                stuck = s
                break
        if stuck is not None:
            layer, neuron, sample = (int(i) for i in sites[stuck])
            status = Status.LEFT_REGIME
            if n_live == 1:
                message = (
                    f"at t={t} the flow reached the activation boundary of layer {layer}, neuron {neuron}, "
                    f"sample {sample} and the vector field points into it from both sides (sliding mode): "
                    f"classical gradient flow ends here"
                )
            else:
                message = (
                    f"at t={t} {n_live} hidden units reached their activation boundaries at once and, "
                    f"with all of them switched, the field does not carry layer {layer}, neuron {neuron}, "
                    f"sample {sample} into its new side (a corner of the activation pattern, or a sliding "
                    f"mode): classical gradient flow ends here"
                )
            break
    sol = OdeSolution(np.array(ts), interpolants) if interpolants else None
    if times:
        order = np.argsort(np.array(times), kind="stable")
        change_times = np.array(times)[order]
        change_sites = np.array(crossed_sites, dtype=np.int64)[order]
    else:
        change_times, change_sites = np.zeros(0), np.zeros((0, 3), dtype=np.int64)
    return PatternFlow(
        t_stop=float(t), sol=sol, status=status, message=message, n_evaluations=int(nfev),
        change_times=change_times, change_sites=change_sites,
    )


def _first_crossing(dense, t_old, t_new, z_old, size_old, floor, side, masks, pre_activations, pre_activations_batch):
    """Earliest time at which units leave their side of the pattern in this step, and those units.

    The step's dense output is scanned on :data:`_SCAN_POINTS` equally spaced times (so an
    excursion across a boundary and back inside one step is caught unless it is shorter than
    the grid spacing). A value counts as off-side only beyond rounding, ``|z| > _NOISE·|W||a|``,
    and beyond ``floor`` (per unit: 4 × its |z| where it last crossed, the accuracy of a located
    crossing point): a unit resting on its boundary (e.g. a dead ReLU unit whose field is zero)
    stays in the tracked pattern. Each unit's first off-side grid time brackets its crossing with the previous grid
    time. A bracket whose left end sits on the boundary to rounding (the unit that crossed at
    the restart point) is refined on ``z(t)/(t − t_left)``, whose limit at ``t_left`` is the
    rate ``ż`` — else root finding could return the restart point itself.
    """
    grid = t_old + (t_new - t_old) * np.arange(1, _SCAN_POINTS + 1) / _SCAN_POINTS
    values, sizes = pre_activations_batch(np.atleast_2d(dense(grid).T), masks)
    off = ((values > 0) != side) & (np.abs(values) > np.maximum(_NOISE * sizes, floor))
    candidates = np.nonzero(off.any(axis=0))[0]
    if candidates.size == 0:
        return None
    roots = []
    for s in candidates:
        j = int(np.argmax(off[:, s]))
        left = t_old if j == 0 else grid[j - 1]
        z_left, size_left = (z_old[s], size_old[s]) if j == 0 else (values[j - 1, s], sizes[j - 1, s])
        noise = max(_NOISE * size_left, floor[s])
        roots.append(
            _bracketed_root(
                lambda tt, s=s: pre_activations(dense(tt), masks)[s], left, grid[j], z_left, bool(side[s]), noise
            )
        )
    roots = np.array(roots)
    first = float(roots.min())
    # Units crossing at the same instant (duplicate samples, symmetric units) switch together.
    tied = candidates[roots <= first + _TIE * max(1.0, abs(first))]
    return first, [int(s) for s in tied]


def _bracketed_root(z, left, right, z_left, active, noise):
    """Root of ``z`` in ``[left, right]`` where z leaves its side (``> 0`` if ``active``, else ``≤ 0``).

    ``|z(left)| ≤ noise`` counts as sitting on the boundary.
    """
    on_side = (z_left > 0) if active else (z_left <= 0)
    if on_side and abs(z_left) > noise:
        return brentq(z, left, right, xtol=4 * _EPS, rtol=4 * _EPS)
    # z(left) is rounding noise around 0: work with the secant slope from left.
    delta = 1e-6 * (right - left)
    probe = z(left + delta) / delta
    if (probe > 0) != active or probe == 0:
        return left  # leaves at once: an excursion shorter than the probe (or a tangent field)
    return brentq(lambda tt: z(tt) / (tt - left), left + delta, right, xtol=4 * _EPS, rtol=4 * _EPS)
