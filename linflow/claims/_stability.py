"""Built-in claims on stability and sharpness: minima reached by GD, no convergence above 2/S*,
Kreisler et al. 2023 (GFS sharpness), sharpness at minima (theory.md §3–§4).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from .. import strategies as lst
from ..descent import simulate_descent
from ..init import balanced
from ..network import end_to_end
from ..strategies import Instance
from . import _numerics as nm
from ._core import Claim, Measurement
from ._common import scalar_weights, scalar_values

__all__ = ["STABILITY", "NO_CONVERGENCE", "KREISLER", "SCALAR_MIN_SHARPNESS", "BALANCED_MIN_SHARPNESS"]


# =========================================================================== 9a. stability at minima
_STABILITY_STEPS = 4000
_STABILITY_TAIL = 2000
_CONVERGED_LOSS = 1e-24


@st.composite
def _stability_instances(draw):
    # Depth 1–4, every width 1–3: non-square targets, d_0 = 1 or d_N = 1, hidden bottlenecks.
    w = draw(lst.widths(min_depth=1, max_depth=4, max_width=3))
    phi = draw(lst.targets((w[-1], w[0]), min_singular_value=0.5, max_singular_value=1.5))
    weights = draw(lst.weights(w, min_value=-1.0, max_value=1.0))
    top = float(np.linalg.svd(phi, compute_uv=False).max())
    s_star = nm.bound_value("min_sharpness_balanced", depth=len(w) - 1, sigma_max=top)
    eta = draw(lst.learning_rates(2.0 / s_star, min_fraction=0.1, max_fraction=1.2))
    return Instance(w, phi, weights, eta)


def _measure_stability(inst: Instance) -> Measurement:
    problem, eta = inst.problem, inst.learning_rate
    run = simulate_descent(problem, inst.weights, learning_rate=eta, n_steps=_STABILITY_STEPS)
    tail = run.losses[-(_STABILITY_TAIL + 1):]
    worst_tail = float(np.max(tail)) if np.all(np.isfinite(tail)) else math.inf
    converged = math.log10(_CONVERGED_LOSS) - (math.log10(worst_tail) if worst_tail > 0 else -400.0)
    sharp = problem.sharpness(run.trajectory(0)) if math.isfinite(worst_tail) else math.inf
    return Measurement(
        value=sharp,
        bound=nm.bound_value("stability_threshold", learning_rate=eta),
        hypotheses={f"GD converged (loss ≤ {_CONVERGED_LOSS:g} over the last {_STABILITY_TAIL} steps)": converged},
        info={"final_loss": float(run.final_loss)},
    )


STABILITY = Claim(
    "stability_sharpness_at_minima",
    source="Linear stability of GD at a minimum; theory.md §4 [checked]",
    description="A minimum GD converges to has sharpness ≤ 2/η.",
    instances=_stability_instances(),
    measure=_measure_stability,
    relation="<=",
    # A minimum with ηS = 2(1+ρ) repels at rate ≥ 2ρ per step; from round-off (1e-16) to the
    # converged radius (1e-12) takes ln(1e4)/(2ρ) steps, < 2000 (the tail) for ρ > 2.3e-3.
    rtol=5e-3,
    canonical=(Instance((1, 1, 1), np.array([[1.0]]), scalar_weights([1.2, 0.3]), 0.9),),
)


# =========================================================================== 9b. no convergence above 2/S*
@st.composite
def _unstable_scalar_instances(draw):
    n = draw(st.integers(1, 5))
    y = draw(st.floats(0.5, 2.0)) * draw(st.sampled_from([1.0, -1.0]))
    w0 = draw(st.lists(st.floats(-1.5, 1.5), min_size=n, max_size=n))
    threshold = 2.0 / nm.bound_value("min_sharpness_scalar", depth=n, target=y)
    eta = draw(lst.learning_rates(threshold, min_fraction=1.05, max_fraction=2.0))
    return Instance((1,) * (n + 1), np.array([[y]]), scalar_weights(w0), eta)


def _measure_no_convergence(inst: Instance) -> Measurement:
    problem, eta = inst.problem, inst.learning_rate
    run = simulate_descent(problem, inst.weights, learning_rate=eta, n_steps=_STABILITY_STEPS)
    tail = run.losses[-(_STABILITY_TAIL + 1):]
    converged = bool(np.all(np.isfinite(tail)) and np.max(tail) <= _CONVERGED_LOSS)
    return Measurement(value=not converged, info={"status": run.status.name, "final_loss": float(run.final_loss)})


NO_CONVERGENCE = Claim(
    "scalar_unstable_step_no_convergence",
    source="Stability + minimal sharpness N|y|^{2(N−1)/N}; theory.md §4 [checked]",
    description="Scalar nets: GD with η > 2/(N|y|^{2(N−1)/N}) converges to no minimum (outside a null set).",
    instances=_unstable_scalar_instances(),
    measure=_measure_no_convergence,
    relation="property",
    hypotheses=(("w(0) is not already a minimum (ℓ(0) > 1e-20)", lambda inst: inst.problem.loss(inst.weights) - 1e-20),),
    canonical=(Instance((1, 1, 1), np.array([[1.0]]), scalar_weights([1.2, 0.3]), 1.2),),
)


# =========================================================================== 10. Kreisler et al.
def _gfs_sharpness0(inst: Instance) -> float:
    """φ(w_0), the GFS sharpness at the initialization."""
    return float(nm.gfs_sharpness(scalar_values(inst.weights), float(inst.target[0, 0])))


_KREISLER_STEPS = 1000


@st.composite
def _kreisler_instances(draw):
    # Depth 1–5. Signs are not drawn: flipping the signs of two weights mirrors the GD path and
    # leaves φ (a function of the w_i²) unchanged.
    n = draw(st.integers(1, 5))
    y = draw(st.floats(0.5, 2.0))
    raw = np.array(draw(st.lists(st.floats(0.1, 1.5), min_size=n, max_size=n)))
    ratio = draw(st.floats(0.05, 0.95))
    w0 = raw * (ratio * y / float(np.prod(raw))) ** (1.0 / n)  # π_0 = ratio·y < y by construction
    phi0 = float(nm.gfs_sharpness(w0, y))
    eta_max = nm.bound_value("kreisler2023_step_size", gfs_sharpness=phi0)  # 2√2/φ(w_0) [recalled]
    eta = draw(lst.learning_rates(eta_max, min_fraction=0.1, max_fraction=1.0))
    return Instance((1,) * (n + 1), np.array([[y]]), scalar_weights(w0), eta)


def _measure_kreisler(inst: Instance) -> Measurement:
    y = float(inst.target[0, 0])
    run = simulate_descent(
        inst.problem, inst.weights, learning_rate=inst.learning_rate, n_steps=_KREISLER_STEPS,
        record_weights=True,
    )
    path = np.stack([w[:, 0, 0] for w in run.weights], axis=-1)  # (R, N)
    path = path[np.all(np.isfinite(path), axis=1)]
    phi = nm.gfs_sharpness(path, y)
    info = {"phi_0": float(phi[0]), "phi_end": float(phi[-1]), "eta_phi0": inst.learning_rate * float(phi[0])}
    return Measurement(value=phi, info=info)


KREISLER = Claim(
    "kreisler_gfs_sharpness_decreases",
    source="Kreisler, Nacson, Soudry & Carmon 2023 (ICML) [paper]; condition ηφ(w_0) ≤ 2√2 [recalled]; theory.md §4",
    tag="recalled",
    description="Scalar nets with 0 < π_0 < y and ηφ(w_0) ≤ 2√2: the GFS sharpness φ(w_k) is non-increasing along GD.",
    instances=_kreisler_instances(),
    measure=_measure_kreisler,
    relation="non-increasing",
    hypotheses=(
        ("π_0 < y", lambda inst: float(inst.target[0, 0]) - float(np.prod(scalar_values(inst.weights)))),
        ("ηφ(w_0) ≤ 2√2", lambda inst: 2 * math.sqrt(2) - inst.learning_rate * _gfs_sharpness0(inst)),
    ),
    # φ is solved to full precision by bisection, but w_i² + c cancels when c ≈ −min w_i²,
    # losing up to ~3 digits: increments below 1e-12 relative are round-off.
    rtol=1e-12,
    canonical=(Instance((1, 1, 1), np.array([[1.0]]), scalar_weights([0.5, 0.2]), 0.5),),
)


# =========================================================================== 11. sharpness at minima
@st.composite
def _scalar_minimum_instances(draw):
    n = draw(st.integers(1, 5))
    y = draw(st.floats(0.3, 3.0)) * draw(st.sampled_from([1.0, -1.0]))
    free = [draw(st.floats(0.2, 2.0)) * draw(st.sampled_from([1.0, -1.0])) for _ in range(n - 1)]
    last = y / float(np.prod(free)) if free else y  # on the minimum manifold Π w_i = y
    return Instance((1,) * (n + 1), np.array([[y]]), scalar_weights([*free, last]))


SCALAR_MIN_SHARPNESS = Claim(
    "scalar_minimum_sharpness",
    source="Minimal sharpness (AM–GM on y²Σ1/w_i²); theory.md §4 [checked]",
    description="Every minimum of ½(w_1⋯w_N − y)² has sharpness ≥ N|y|^{2(N−1)/N}, with equality at |w_i| = |y|^{1/N}.",
    instances=_scalar_minimum_instances(),
    measure=lambda inst: inst.problem.sharpness(inst.weights),
    bound=lambda inst: nm.bound_value("min_sharpness_scalar", depth=inst.depth, target=float(inst.target[0, 0])),
    relation=">=",
    rtol=1e-12,
    canonical=(
        Instance((1, 1, 1, 1), np.array([[2.0]]), scalar_weights([2.0 ** (1 / 3)] * 3)),
        Instance((1, 1, 1), np.array([[-1.5]]), scalar_weights([1.5**0.5, -(1.5**0.5)])),
    ),
)


@st.composite
def _balanced_minimum_instances(draw):
    w = draw(lst.widths(min_depth=1, max_depth=4, max_width=3))
    weights = draw(lst.balanced_weights(w, min_singular_value=0.3, max_singular_value=2.0))
    return Instance(w, end_to_end(weights), weights)


BALANCED_MIN_SHARPNESS = Claim(
    "balanced_minimum_sharpness",
    source="Sharpness at balanced minima (Arora et al. 2018 setting); theory.md §3 [checked]",
    description="A balanced global minimum (W_e = Φ) has sharpness N σ_1(Φ)^{2−2/N}.",
    instances=_balanced_minimum_instances(),
    measure=lambda inst: inst.problem.sharpness(inst.weights),
    bound=lambda inst: nm.bound_value(
        "min_sharpness_balanced", depth=inst.depth, sigma_max=float(np.linalg.svd(inst.target, compute_uv=False)[0])
    ),
    relation="==",
    # eigvalsh of a ≤ 40×40 Hessian: relative error ≲ P·ε_mach ≈ 1e-14; 1e-10 leaves the
    # balanced factorization's own round-off (~1e-15 relative in B_j) room.
    rtol=1e-10,
    canonical=(Instance((2, 3, 3, 2), np.diag([1.5, 0.5]), balanced((2, 3, 3, 2), np.diag([1.5, 0.5]), seed=1)),),
)
