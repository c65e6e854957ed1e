"""Claims about ReLU / leaky-ReLU networks (theory.md §5), registered with the built-in claims.

Instances are :class:`HomogeneousInstance` objects: widths, activation and slope, data ``X``,
``Y`` (the regression loss ``(1/2m)‖h(X) − Y‖_F²``), initial weights, a step size and a horizon.
The claims:

* ``homogeneous_balance_conserved_gf`` — per-neuron and per-layer balances are GF invariants;
* ``homogeneous_balance_gd_drift`` — under GD they change by exactly the η² gradient terms;
* ``homogeneous_lambda_min_in_pattern`` — inside an activation pattern λ_min(∇²f) respects the
  per-sample deep-linear bound;
* ``homogeneous_gd_gf_first_order`` — GD→GF error is first order in η on horizons where GF
  stays in one activation pattern (across a change the error is O(η) with an erratic constant,
  see :func:`_one_pattern_horizon`);
* ``homogeneous_ec21_certificate`` — the Elkabetz–Cohen certificate on paths that stay in one
  activation pattern;
* ``homogeneous_gf_pattern_changes`` — the honest report: how often GF changes pattern and how
  often it ends in a sliding mode, each stop confirmed with the true gradient.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
from hypothesis import strategies as st

from .. import curvature
from .. import strategies as lst
from .._pattern_curvature import pattern_radius
from ..compare import compare_descent_to_flow
from ..descent import simulate_descent
from ..flow import integrate_flow
from ..homogeneous import HomogeneousNetwork, NonDifferentiableError
from ..network import flatten, unflatten
from ..problem import Problem
from ..rescaling import layer_balance, neuron_balance
from ..results import Status
from . import register
from ._core import Claim, Measurement

__all__ = ["HomogeneousInstance", "homogeneous_instances", "CLAIMS"]


class HomogeneousInstance(NamedTuple):
    """A ReLU / leaky-ReLU regression instance as plain data (prints and saves reproducibly)."""

    widths: tuple
    activation: str
    negative_slope: float
    X: np.ndarray
    Y: np.ndarray
    weights: tuple
    learning_rate: Optional[float] = None
    horizon: Optional[float] = None
    epsilon: Optional[float] = None  # tube radius of the EC21 certificate

    @property
    def network(self) -> HomogeneousNetwork:
        slope = self.negative_slope if self.activation == "leaky_relu" else None
        return HomogeneousNetwork(self.widths, self.activation, negative_slope=slope)

    @property
    def problem(self) -> Problem:
        return Problem(self.network, X=self.X, Y=self.Y)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1


def _matrix(draw, rows: int, cols: int, low: float, high: float) -> np.ndarray:
    flat = draw(st.lists(st.floats(low, high, allow_nan=False), min_size=rows * cols, max_size=rows * cols))
    return np.asarray(flat, dtype=np.float64).reshape(rows, cols)


@st.composite
def homogeneous_instances(draw, *, min_depth: int = 2, max_depth: int = 3, max_width: int = 3,
                          max_samples: int = 5, horizon=(0.5, 1.0)):
    """:class:`HomogeneousInstance` draws: widths ≤ ``max_width``, ReLU or leaky ReLU (slope in
    [0.05, 0.9]), data entries in [−1.5, 1.5], weights in [−1, 1], horizon in ``horizon``."""
    w = draw(lst.widths(min_depth=min_depth, max_depth=max_depth, max_width=max_width))
    activation = draw(st.sampled_from(("relu", "leaky_relu")))
    slope = 0.0 if activation == "relu" else draw(st.floats(0.05, 0.9))
    m = draw(st.integers(2, max_samples))
    X = _matrix(draw, w[0], m, -1.5, 1.5)
    Y = _matrix(draw, w[-1], m, -1.5, 1.5)
    weights = draw(lst.weights(w, min_value=-1.0, max_value=1.0))
    return HomogeneousInstance(w, activation, slope, X, Y, weights, None, draw(st.floats(*horizon)))


def _canonical(learning_rate=None, horizon=1.0) -> HomogeneousInstance:
    return HomogeneousInstance(
        (2, 3, 1), "relu", 0.0,
        np.array([[1.0, -0.5, 0.3], [0.2, 1.0, -1.0]]), np.array([[0.5, -0.4, 0.8]]),
        (np.array([[0.6, -0.2], [0.3, 0.8], [-0.5, 0.4]]), np.array([[0.7, -0.3, 0.5]])),
        learning_rate, horizon,
    )


# =========================================================================== balances under GF
def _balances(weights) -> np.ndarray:
    return np.concatenate([b.ravel() for b in neuron_balance(weights)] + [layer_balance(weights).ravel()])


def _measure_balance_gf(inst: HomogeneousInstance) -> Measurement:
    flow = integrate_flow(inst.problem, inst.weights, t_span=(0.0, inst.horizon), rtol=1e-12, atol=1e-14)
    # Conservation holds on the classical part of the flow: up to T, or up to a sliding stop.
    return Measurement(
        value=_balances(flow.final_weights), bound=_balances(inst.weights),
        hypotheses={"GF integrated (success or sliding stop)": flow.status in (Status.SUCCESS, Status.LEFT_REGIME)},
        info={"pattern_changes": flow.pattern_changes, "t_end": float(flow.t[-1]), "status": flow.status.name},
    )


BALANCE_GF = Claim(
    "homogeneous_balance_conserved_gf",
    source="Du, Hu & Lee 2018, Thm 2.1 / Cor. 2.1 [recalled numbers]; theory.md §5 [checked]",
    tag="checked",
    description=(
        "For ReLU / leaky-ReLU nets, GF conserves every per-neuron balance ‖W_{k+1}[:, j]‖² − ‖W_k[j, :]‖² "
        "and every per-layer balance ‖W_{k+1}‖_F² − ‖W_k‖_F², across activation-pattern changes."
    ),
    instances=homogeneous_instances(),
    measure=_measure_balance_gf,
    relation="==",
    # DOP853 at rtol 1e-12 / atol 1e-14 per pattern segment keeps θ(T) to ≲ 1e-10 here (weights
    # ≤ ~3, T ≤ 1); balances are quadratic in θ: ≲ 1e-9. Measured worst ≈ 1e-11.
    atol=1e-8,
    canonical=(_canonical(),),
)


# =========================================================================== balances under GD
@st.composite
def _drift_instances(draw):
    inst = draw(homogeneous_instances(min_depth=2, max_depth=4))
    eta = draw(st.floats(0.01, 0.5))
    steps = draw(st.integers(1, 20))
    return inst._replace(learning_rate=eta, horizon=float(steps))


def _measure_balance_gd(inst: HomogeneousInstance) -> Measurement:
    problem, eta = inst.problem, inst.learning_rate
    weights = tuple(w.copy() for w in inst.weights)
    predicted = np.zeros_like(_balances(weights))
    for _ in range(int(inst.horizon)):
        grads = problem.gradient(weights)
        # η² (‖G_{k+1}[:, j]‖² − ‖G_k[j, :]‖²) per neuron, η²(‖G_{k+1}‖² − ‖G_k‖²) per layer.
        predicted += eta**2 * _balances(grads)
        weights = tuple(w - eta * g for w, g in zip(weights, grads))
    return Measurement(value=_balances(weights) - _balances(inst.weights), bound=predicted,
                       info={"steps": int(inst.horizon)})


BALANCE_GD = Claim(
    "homogeneous_balance_gd_drift",
    source="exact GD identity from ⟨G_k[j,:], W_k[j,:]⟩ = ⟨G_{k+1}[:,j], W_{k+1}[:,j]⟩; theory.md §5 [checked]",
    description="Each GD step changes every per-neuron / per-layer balance by exactly the η² gradient terms.",
    instances=_drift_instances(),
    measure=_measure_balance_gd,
    relation="==",
    # Round-off of squared norms (entries ≲ 1e2 after ≤ 20 steps at η ≤ 0.5) accumulated over
    # ≤ 20 steps: ≲ 20 · 1e2 · 2.2e-16 · (a few) ≈ 1e-12; measured worst ≈ 1e-13.
    atol=1e-10,
    canonical=(_canonical(0.1, 5.0),),
)


# =========================================================================== curvature in a pattern
def _measure_curvature(inst: HomogeneousInstance) -> Measurement:
    problem = inst.problem
    radius = problem.pattern_radius(inst.weights)
    if radius == 0.0:
        return Measurement(value=0.0, bound=0.0, hypotheses={"θ inside an activation pattern (radius > 0)": False})
    lam = float(np.linalg.eigvalsh(problem.hessian(inst.weights))[0])
    bound = curvature.lambda_min_lower_bound(problem, inst.weights)
    return Measurement(value=lam, bound=bound, hypotheses={"θ inside an activation pattern (radius > 0)": radius},
                       info={"pattern_radius": radius})


CURVATURE = Claim(
    "homogeneous_lambda_min_in_pattern",
    source="deep-linear λ_min bound per sample, ‖∇_ŷℓ_i‖‖x_i‖ for ‖∇L‖₂, derived in this project [checked]",
    description=(
        "Inside an activation pattern, λ_min(∇²f) ≥ −(N−1) max_{p<q} Π_{k∉{p,q}} ‖W_k‖₂ · (1/m) Σ_i ‖r_i‖‖x_i‖."
    ),
    instances=homogeneous_instances(min_depth=1, max_depth=4),
    measure=_measure_curvature,
    relation=">=",
    # eigvalsh round-off ≲ P·ε·‖∇²f‖₂ ≈ 50 · 2.2e-16 · 1e2 ≈ 1e-12 for these sizes.
    atol=1e-10,
    canonical=(_canonical(),),
)


# =========================================================================== GD → GF first order
def _one_pattern_horizon(problem, weights, horizon: float):
    """GF up to ``horizon``, cut to 80% of its first pattern change; returns (flow, horizon).

    Inside one pattern the flow is smooth and GD is plain Euler, error ~ C·η. Across a change
    the error is still O(η) but its constant depends on where the steps fall relative to the
    crossing (e.g. a unit GF parks on its boundary, which GD overshoots by a fraction of a
    step): the fitted slope over η, η/2, η/4 then scatters (measured 0.34 on one instance).
    """
    flow = integrate_flow(problem, weights, t_span=(0.0, horizon))
    first = min(_first_change(flow), float(flow.t[-1]))
    if first < horizon:
        horizon = 0.8 * first
        if horizon <= 0.0:
            return None, 0.0  # the pattern changes (or slides) at once: no smooth stretch
        flow = integrate_flow(problem, weights, t_span=(0.0, horizon))
    return flow, horizon


def _max_sharpness(problem, flow, horizon: float) -> float:
    best = 0.0
    for t in np.linspace(0.0, horizon, 11):
        try:
            best = max(best, problem.sharpness(unflatten(flow.sol(t), problem.network.shapes)))
        except NonDifferentiableError:
            continue  # a sample on a boundary: its neighbours bound the curvature
    return best


@st.composite
def _order_instances(draw):
    inst = draw(homogeneous_instances(horizon=(0.5, 1.5)))
    problem = inst.problem
    weights = inst.weights
    if float(np.linalg.norm(flatten(problem.gradient(weights)))) < 1e-3:
        weights = tuple(w + 0.5 * np.eye(*w.shape) for w in weights)  # off a critical point
    flow, horizon = _one_pattern_horizon(problem, weights, inst.horizon)
    if flow is None:
        return inst._replace(weights=weights, learning_rate=None, horizon=0.0)
    fraction = draw(st.floats(0.2, 1.0))
    # ηS ≤ 0.1 along the flow: the asymptotic (first-order) regime.
    # At least 50 steps at the largest η: the asymptotic regime needs many small steps.
    eta = min(fraction * 0.1 / max(_max_sharpness(problem, flow, horizon), 1e-3), horizon / 50.0)
    return inst._replace(weights=weights, learning_rate=eta, horizon=min(horizon, 400.0 * eta))


def _measure_order(inst: HomogeneousInstance) -> Measurement:
    if inst.learning_rate is None or not inst.horizon > 0:
        return Measurement(value=1.0, hypotheses={"GF in one pattern on a positive horizon": False})
    etas = inst.learning_rate * np.array([1.0, 0.5, 0.25])
    cmp = compare_descent_to_flow(inst.problem, inst.weights, etas, inst.horizon)
    flow = integrate_flow(inst.problem, inst.weights, t_span=(0.0, inst.horizon))
    return Measurement(
        value=cmp.order,
        hypotheses={
            "GF stays in one activation pattern": flow.pattern_changes == 0,
            "‖∇f(θ_0)‖ ≥ 1e-3": float(np.linalg.norm(flatten(inst.problem.gradient(inst.weights)))) - 1e-3,
            # GF is integrated to ~1e-10 (rtol): smaller distances are integration noise.
            "GD–GF distance at η/4 ≥ 1e-7": float(cmp.max_distance[-1]) - 1e-7,
        },
        info={"max_distance": [float(x) for x in cmp.max_distance], "pattern_changes": flow.pattern_changes},
    )


ORDER = Claim(
    "homogeneous_gd_gf_first_order",
    source="Elkabetz & Cohen 2021, Thm 1 (GD is Euler's method for GF); theory.md §2 [checked]",
    description=(
        "On ReLU / leaky-ReLU nets, max_k ‖θ_k − θ(kη)‖ is first order in η (slope over η, η/2, η/4 in "
        "[0.9, 1.1]) on horizons where GF stays in one activation pattern."
    ),
    instances=_order_instances(),
    measure=_measure_order,
    bound=1.0,
    relation="==",
    rtol=0.0,
    atol=0.1,  # the acceptance window [0.9, 1.1] of the linear claim
    canonical=(_canonical(0.01, 1.0),),
)


# =========================================================================== EC21 in one pattern
#: GD steps of one certificate instance at most (the certificate costs ≈ 1 ms per step).
_EC21_MAX_STEPS = 150


def _first_change(flow) -> float:
    times = flow.pattern_change_times
    return float(times[0]) if times is not None and times.size else math.inf


def _ec21_setup(inst: HomogeneousInstance, fraction: float) -> HomogeneousInstance:
    """η, horizon and ε that make the certificate self-consistent, by construction.

    The horizon stops at 80% of the first pattern change; ε is half the smallest certified
    pattern radius along the path; ``E_K ≈ η·C(ε)`` with C estimated by the certificate on a
    101-point grid, so η = fraction · min(ε/C, 1/(2β), ε/(2γ)); at most
    :data:`_EC21_MAX_STEPS` GD steps.
    """
    problem = inst.problem
    flow = integrate_flow(problem, inst.weights, t_span=(0.0, inst.horizon))
    horizon = min(inst.horizon, 0.8 * _first_change(flow), float(flow.t[-1]))
    if not horizon > 0:
        return inst._replace(learning_rate=None, horizon=0.0)
    grid = np.linspace(0.0, horizon, 101)
    path = unflatten(flow.sol(grid).T, problem.network.shapes)
    # Radius (to 1e-3, from below) on every 10th grid point; the certificate re-checks every ball.
    radius = min(pattern_radius(problem, tuple(w[k] for w in path), rtol=1e-3) for k in range(0, grid.size, 10))
    eps = 0.5 * min(radius, 1.0)  # no hidden layer (radius ∞): any ball is in the one pattern
    if not eps > 0:
        return inst._replace(learning_rate=None, horizon=0.0)
    cert = curvature.error_certificate(problem, path, learning_rate=grid[1], epsilon=eps)
    c = float(np.max(cert.bound)) / float(grid[1])  # Python floats: overflow gives inf, no warning
    caps = [eps / c if c > 0 else math.inf, 0.5 / max(float(np.max(cert.smoothness)), 1e-12)]
    g_max = float(np.max(cert.gradient_bound))
    if g_max > 0:
        caps.append(0.5 * eps / g_max)
    eta = fraction * min(caps)
    return inst._replace(learning_rate=eta, horizon=min(horizon, _EC21_MAX_STEPS * eta), epsilon=eps)


@st.composite
def _ec21_instances(draw):
    inst = draw(homogeneous_instances(max_depth=3, max_width=2, horizon=(0.25, 1.0)))
    return _ec21_setup(inst, draw(st.floats(0.1, 0.5)))


def _measure_ec21(inst: HomogeneousInstance) -> Measurement:
    problem, eta = inst.problem, inst.learning_rate
    if eta is None or not inst.horizon > 0:
        return Measurement(value=0.0, bound=0.0, hypotheses={"path in one pattern with radius > 0": False})
    n_steps = max(1, int(round(inst.horizon / eta)))
    t = eta * np.arange(n_steps + 1)
    flow = integrate_flow(problem, inst.weights, t_span=(0.0, float(t[-1])), t_eval=t, rtol=1e-12, atol=1e-14)
    eps = inst.epsilon or 0.0
    cert = curvature.error_certificate(problem, flow.weights, learning_rate=eta, epsilon=eps) if eps > 0 else None
    run = simulate_descent(problem, inst.weights, learning_rate=eta, n_steps=n_steps, record_weights=True)
    dist = np.linalg.norm(flatten(run.weights) - flatten(flow.weights), axis=1)
    if cert is None:
        return Measurement(value=0.0, bound=0.0, hypotheses={"path in one pattern with radius > 0": False})
    e = cert.bound
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(e[1:] > 0, dist[1:] / np.where(e[1:] > 0, e[1:], 1.0), np.where(dist[1:] > 0, np.inf, 0.0))
    k = 1 + int(np.argmax(ratios))
    return Measurement(
        value=float(dist[k]), bound=float(e[k]),
        hypotheses={
            "GF stays in one activation pattern": flow.pattern_changes == 0,
            # GF is integrated to ~1e-12 relative: smaller GD–GF distances are not informative.
            "max GD–GF distance ≥ 1e-8": float(np.max(dist)) - 1e-8,
            "certificate hypotheses (balls in the pattern, ηβ ≤ 1, ηγ ≤ ε, E ≤ ε)": cert.valid,
        },
        info={"k": k, "steps": n_steps, "epsilon": cert.epsilon, "max_distance": float(np.max(dist)), "E_K": float(e[-1])},
    )


def _summarize_slack(results) -> str:
    ratios = [1.0 / r.ratio for r in results if r.ratio]
    return f"bound / measured between {min(ratios):.3g}× and {max(ratios):.3g}×" if ratios else ""


EC21 = Claim(
    "homogeneous_ec21_certificate",
    source="discrete GD–GF error recursion with per-sample pattern bounds, derived in this project from the argument of Elkabetz & Cohen 2021 (NeurIPS) [checked]",
    description=(
        "On a GF path of a ReLU / leaky-ReLU net that stays in one activation pattern (certified ε-balls), "
        "GD stays within the discrete bound E_k: ‖θ_k − θ(kη)‖ ≤ E_k."
    ),
    instances=_ec21_instances(),
    measure=_measure_ec21,
    relation="<=",
    # GF integrated to ~1e-12 relative; distances here are ≳ 1e-8, so 1e-9 absolute is noise.
    atol=1e-9,
    # η, T, ε from _ec21_setup(_canonical(None, 1.0), 0.3) (tests/test_claims_homogeneous.py).
    canonical=(_canonical(0.03944155544478601, 1.0)._replace(epsilon=0.181884765625),),
    summarize=_summarize_slack,
)


# =========================================================================== pattern changes report
def sliding_confirmed(problem, weights, site) -> bool:
    """True-gradient check that GF's field points into the boundary of ``site`` from both sides.

    Central differences of the unit's pre-activation give ``∇z_s``; points pushed 1e-9 to
    either side of ``z_s = 0`` along it must have ``ż_s = ⟨∇z_s, −∇f⟩`` pointing back.
    """
    layer, neuron, sample = (int(i) for i in site)
    shapes = problem.network.shapes
    theta = flatten(weights)

    def z(vec):
        return problem.network.pre_activations(unflatten(vec, shapes), problem.X)[layer][neuron, sample]

    h = 1e-7
    grad_z = np.array([(z(theta + h * e) - z(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    norm2 = float(grad_z @ grad_z)
    if norm2 == 0.0:
        return False
    for side in (1.0, -1.0):
        point = theta + (side * 1e-9 - z(theta)) * grad_z / norm2
        if np.sign(z(point)) != side:
            return False
        if side * float(grad_z @ -flatten(problem.gradient(unflatten(point, shapes)))) >= 0:
            return False
    return True


def _hidden_layers(problem, weights) -> list:
    """``(input, pre-activation)`` of every hidden layer; the first input is ``X``."""
    pre = problem.network.pre_activations(weights, problem.X)
    return list(zip([problem.X] + [problem.network.activate(z) for z in pre[:-1]], pre))


def _live_boundary_units(problem, weights) -> list:
    """Sites ``(layer, neuron, sample)`` of the hidden units within 1e-9 of their boundary
    (relative to |W||a|) whose input is not 0. A unit whose input is 0 sits at z = 0 whatever
    its weights (e.g. downstream of a ReLU that just switched off for that sample)."""
    sites = []
    for layer, (w, (a, z)) in enumerate(zip(weights, _hidden_layers(problem, weights))):
        size = np.abs(w) @ np.abs(a)
        on_boundary = (np.abs(z) <= 1e-9 * np.maximum(size, 1e-300)) & np.any(a != 0, axis=0)
        sites += [(layer, int(i), int(k)) for i, k in zip(*np.nonzero(on_boundary))]
    return sites


def _with_live_input(problem, weights, sites) -> list:
    """The ``(layer, neuron, sample)`` sites whose unit has a nonzero input for that sample."""
    inputs = [a for a, _ in _hidden_layers(problem, weights)]
    return [tuple(int(i) for i in s) for s in sites if np.any(inputs[s[0]][:, s[2]] != 0)]


def _measure_pattern_changes(inst: HomogeneousInstance) -> Measurement:
    problem = inst.problem
    flow = integrate_flow(problem, inst.weights, t_span=(0.0, inst.horizon))
    stopped = flow.status is Status.LEFT_REGIME
    # One live unit on its boundary at the stop: a sliding mode, checked with the true gradient
    # at that unit (the flow's last recorded site can be a unit whose input just became 0, e.g.
    # behind a width-1 layer that switched off: found by Hypothesis). Several (a corner where
    # boundaries meet, or units parked on their boundary): a one-unit check cannot probe it;
    # reported as such.
    corner, confirmed = False, True
    if stopped:
        final = flow.final_weights
        last = flow.pattern_change_sites[flow.pattern_change_times == flow.pattern_change_times[-1]]
        crossed = _with_live_input(problem, final, last)  # several at once: a corner (e.g. W_1 → 0)
        parked = _live_boundary_units(problem, final)
        corner = len(crossed) > 1 or len(parked) > 1
        site = crossed[0] if crossed else parked[0] if parked else tuple(last[-1])
        confirmed = corner or sliding_confirmed(problem, final, site)
    ordered = bool(np.all(np.diff(flow.pattern_change_times) >= 0))
    return Measurement(
        value=bool(confirmed and ordered and flow.status in (Status.SUCCESS, Status.LEFT_REGIME)),
        info={"pattern_changes": flow.pattern_changes, "sliding": stopped and not corner, "corner": corner,
              "t_end": float(flow.t[-1])},
    )


def _summarize_patterns(results) -> str:
    infos = [r.info for r in results if r.info]
    if not infos:
        return ""
    changes = [i["pattern_changes"] for i in infos]
    slides = [i["t_end"] for i in infos if i["sliding"]]
    corners = sum(bool(i.get("corner")) for i in infos)
    note = f"pattern changes per run: median {np.median(changes):g}, max {max(changes)}; "
    note += f"sliding stop in {len(slides)}/{len(infos)} runs"
    note += f" (median t = {np.median(slides):.3g})" if slides else ""
    return note + (f"; stops with several units on their boundaries: {corners}" if corners else "")


@st.composite
def _generic_instances(draw):
    """Typical random problems (the population the report is about): Gaussian data and
    weights N(0, 1/fan_in) from a drawn seed, so shrinking cannot build degenerate zeros."""
    w = draw(lst.widths(min_depth=2, max_depth=3, min_width=1, max_width=6))
    activation = draw(st.sampled_from(("relu", "leaky_relu")))
    slope = 0.0 if activation == "relu" else 0.1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m = draw(st.integers(2, 10))
    X, Y = rng.standard_normal((w[0], m)), rng.standard_normal((w[-1], m))
    weights = tuple(rng.standard_normal((w[j + 1], w[j])) / np.sqrt(w[j]) for j in range(len(w) - 1))
    return HomogeneousInstance(w, activation, slope, X, Y, weights, None, 5.0)


PATTERN_CHANGES = Claim(
    "homogeneous_gf_pattern_changes",
    source="linflow integrate_flow policy at activation boundaries (Filippov sliding modes)",
    description=(
        "GF of a ReLU / leaky-ReLU net is integrated pattern by pattern; every stop at a single boundary is a "
        "real sliding mode (the true gradient field points into it from both sides). Reports how often the "
        "pattern changes and how often classical GF ends (sliding modes, corners of several boundaries)."
    ),
    instances=_generic_instances(),
    measure=_measure_pattern_changes,
    relation="property",
    canonical=(_canonical(None, 5.0),),
    summarize=_summarize_patterns,
)


CLAIMS = (BALANCE_GF, BALANCE_GD, CURVATURE, ORDER, EC21, PATTERN_CHANGES)

for _claim in CLAIMS:
    register(_claim)
