"""Built-in claims on invariants and exact solutions: balancedness under GF and GD, closed-form GF
solutions, the N = 2 imbalance rate (theory/deep-linear, theory/scalar).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import exact
from .. import strategies as lst
from ..init import spectral
from ..network import balancedness, end_to_end
from ..strategies import Instance
from . import _numerics as nm
from ._common import (
    LOSS_ATOL,
    LOSS_RTOL,
    ratio_at_end,
    sample_flow,
    scalar_values,
    scalar_weights,
    summarize_rate,
    worst_sample,
)
from ._core import Claim, Measurement

__all__ = ["BALANCEDNESS_GF", "BALANCEDNESS_GD", "CLOSED_FORMS", "IMBALANCE_RATE"]


# =========================================================================== 5. balancedness
@st.composite
def _general_instances(draw, min_depth=2, max_depth=4, max_width=3, horizon=(0.5, 2.0)):
    w = draw(lst.widths(min_depth=min_depth, max_depth=max_depth, max_width=max_width))
    phi = draw(lst.targets((w[-1], w[0]), min_singular_value=0.5, max_singular_value=2.0))
    weights = draw(lst.weights(w, min_value=-1.0, max_value=1.0))
    return Instance(w, phi, weights, None, draw(st.floats(*horizon)))


def _measure_balancedness_gf(inst: Instance) -> Measurement:
    flow = sample_flow(inst.problem, inst.weights, [0.0, inst.horizon])
    before = balancedness(inst.weights)
    after = balancedness(flow.final_weights)
    return Measurement(
        value=np.concatenate([b.ravel() for b in after]), bound=np.concatenate([b.ravel() for b in before])
    )


BALANCEDNESS_GF = Claim(
    "balancedness_conserved_gf",
    source="Arora, Cohen & Hazan 2018, Thm 1; theory/deep-linear [checked]",
    description="GF conserves W_{j+1}ᵀW_{j+1} − W_jW_jᵀ for every j.",
    instances=_general_instances(),
    measure=_measure_balancedness_gf,
    relation="==",
    # DOP853 at rtol 1e-12 / atol 1e-14 keeps θ(T) to ≲ 1e-10 here; B is quadratic in θ with
    # ‖W_k‖ ≤ 3, so B(T) is reproduced to ≲ 1e-9.
    atol=1e-8,
    canonical=(Instance((2, 3, 2), np.eye(2), (np.ones((3, 2)) * 0.5, np.ones((2, 3)) * -0.3), None, 1.0),),
)


@st.composite
def _drift_instances(draw):
    inst = draw(_general_instances(min_depth=2, max_depth=4, horizon=(1.0, 1.0)))
    # η ≤ 1/S, with S at least the balanced-minimum sharpness N‖Φ‖^{2−2/N} (theory/deep-linear): at a
    # degenerate start (a zero layer, S ≈ 0) the initial sharpness alone allowed η ~ 10³, GD
    # overflowed, and the identity was being checked on float overflow (found by Hypothesis).
    depth = len(inst.widths) - 1
    s_min = depth * np.linalg.norm(inst.target, 2) ** (2.0 - 2.0 / depth)
    sharp = max(inst.problem.sharpness(inst.weights), s_min)
    eta = draw(lst.learning_rates(1.0 / sharp, min_fraction=0.05, max_fraction=1.0))
    steps = draw(st.integers(1, 20))
    return inst._replace(learning_rate=eta, horizon=float(steps))


def _measure_balancedness_gd(inst: Instance) -> Measurement:
    problem, eta = inst.problem, inst.learning_rate
    steps = int(inst.horizon)
    weights = tuple(w.copy() for w in inst.weights)
    predicted = [np.zeros_like(b) for b in balancedness(weights)]
    for _ in range(steps):
        grads = problem.gradient(weights)
        for j, p in enumerate(predicted):
            p += eta**2 * (grads[j + 1].T @ grads[j + 1] - grads[j] @ grads[j].T)
        weights = tuple(w - eta * g for w, g in zip(weights, grads))
    change = [a - b for a, b in zip(balancedness(weights), balancedness(inst.weights))]
    return Measurement(
        value=np.concatenate([c.ravel() for c in change]), bound=np.concatenate([p.ravel() for p in predicted]),
        info={"steps": steps},
    )


BALANCEDNESS_GD = Claim(
    "balancedness_gd_drift",
    source="Exact GD balancedness identity; theory/deep-linear [checked]",
    description="Each GD step changes B_j by exactly η²(G_{j+1}ᵀG_{j+1} − G_jG_jᵀ).",
    instances=_drift_instances(),
    measure=_measure_balancedness_gd,
    relation="==",
    # float64 round-off of B (entries ≤ ~30 here) over ≤ 20 steps: ≲ 20 · 30 · 2.2e-16 ≈ 1e-13.
    atol=1e-11,
    canonical=(Instance((2, 3, 2), np.eye(2), (np.ones((3, 2)) * 0.5, np.ones((2, 3)) * -0.3), 0.1, 5.0),),
)


# =========================================================================== 12a. closed forms
@st.composite
def _closed_form_instances(draw):
    kind = draw(st.sampled_from(["scalar_n2", "saxe", "lambda_balanced"]))
    horizon = draw(st.floats(0.5, 3.0))
    if kind == "scalar_n2":
        y = draw(st.floats(0.3, 2.0))
        a = draw(st.floats(0.05, 1.5)) * draw(st.sampled_from([1.0, -1.0]))
        return Instance((1, 1, 1), np.array([[y]]), scalar_weights([a, a]), None, horizon)
    if kind == "saxe":
        d0, d1, d2 = (draw(st.integers(1, 3)) for _ in range(3))
        rank = min(d0, d2)
        w = (d0, max(d1, rank), d2)
        phi = draw(lst.targets((d2, d0), min_singular_value=0.3, max_singular_value=2.0))
        strength = draw(st.floats(0.01, 1.0))
        rotation = draw(st.none() | st.integers(0, 2**32 - 1))
        return Instance(w, phi, spectral(w, phi, mode_strength=strength, seed=rotation), None, horizon)
    d0, d1 = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    d2 = draw(st.integers(d1, 3))  # W_2 = Q (W_1W_1ᵀ + λI)^{1/2} needs d_2 ≥ d_1
    phi = draw(lst.targets((d2, d0), min_singular_value=0.3, max_singular_value=2.0))
    w1 = draw(lst.weights((d0, d1), min_value=-1.0, max_value=1.0))[0]
    lam = draw(st.floats(0.0, 1.0))
    vals, vecs = np.linalg.eigh(w1 @ w1.T + lam * np.eye(d1))
    root = (vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T
    q = np.eye(d2, d1)
    seed = draw(st.none() | st.integers(0, 2**32 - 1))
    if seed is not None:
        from ..init import _random_orthogonal

        q = _random_orthogonal(np.random.default_rng(seed), d2)[:, :d1]
    return Instance((d0, d1, d2), phi, (w1, q @ root), None, horizon)


def _measure_closed_forms(inst: Instance) -> Measurement:
    problem = inst.problem
    t = np.linspace(0.0, inst.horizon, 11)
    flow = sample_flow(problem, inst.weights, t)
    w_e = end_to_end(flow.weights)  # (R, d2, d0)
    errors, predicted, used = [], [], []
    w1, w2 = inst.weights
    imbalance = w2.T @ w2 - w1 @ w1.T
    lam = float(np.trace(imbalance)) / imbalance.shape[0]
    if np.abs(imbalance - lam * np.eye(imbalance.shape[0])).max() <= 1e-10 * max(1.0, np.abs(imbalance).max()):
        q_path = [np.vstack([flow.weights[0][i].T, flow.weights[1][i]]) for i in range(len(t))]
        closed = np.stack([exact.two_layer_lambda_balanced(inst.weights, inst.target, ti) for ti in t])
        errors.append(np.stack([q @ q.T for q in q_path]).ravel())
        predicted.append(closed.ravel())
        used.append("two_layer_lambda_balanced")
    if inst.widths == (1, 1, 1) and w1[0, 0] == w2[0, 0] != 0.0 and inst.target[0, 0] > 0:
        errors.append(w_e.ravel())
        predicted.append(exact.scalar_balanced_n2(float(inst.target[0, 0]), float(w1[0, 0] * w2[0, 0]), t))
        used.append("scalar_balanced_n2")
    u, s, vt = np.linalg.svd(inst.target, full_matrices=False)
    strengths = np.diag(u.T @ end_to_end(inst.weights) @ vt.T)
    aligned = np.allclose((u * strengths) @ vt, end_to_end(inst.weights), rtol=0, atol=1e-12) and np.all(strengths > 0)
    if abs(lam) <= 1e-12 and aligned:
        errors.append(w_e.ravel())
        predicted.append(exact.saxe_end_to_end(inst.target, strengths, t).ravel())
        used.append("saxe_end_to_end")
    return Measurement(value=np.concatenate(errors), bound=np.concatenate(predicted), info={"closed_forms": used})


CLOSED_FORMS = Claim(
    "closed_forms_match_gf",
    source="Closed-form GF (Saxe et al. 2014 [paper], N=2 scalar, λ-balanced); theory/deep-linear, theory/scalar "
           "[checked]",
    tag="checked",
    description=(
        "GF agrees with every closed form that applies: balanced N=2 scalar π(t), Saxe modes, "
        "two-layer λ-balanced P(t)."
    ),
    instances=_closed_form_instances(),
    measure=_measure_closed_forms,
    relation="==",
    # DOP853 at rtol 1e-12 / atol 1e-14 over t ≤ 3 on entries ≤ ~5: global error ≲ 1e-10.
    rtol=1e-8,
    atol=1e-9,
    canonical=(
        Instance((1, 1, 1), np.array([[1.0]]), scalar_weights([0.1, 0.1]), None, 3.0),
        Instance(
            (2, 2, 2), np.diag([1.5, 0.5]), spectral((2, 2, 2), np.diag([1.5, 0.5]), mode_strength=0.05), None, 3.0
        ),
    ),
)


# =========================================================================== 12b. N=2 imbalance rate
@st.composite
def _imbalance_instances(draw):
    y = draw(st.floats(0.2, 2.0)) * draw(st.sampled_from([1.0, -1.0]))
    w0 = draw(st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=2))
    return Instance((1, 1, 1), np.array([[y]]), scalar_weights(w0), None, draw(st.floats(0.5, 3.0)))


def _measure_imbalance(inst: Instance) -> Measurement:
    w1, w2 = scalar_values(inst.weights)
    t = np.linspace(0.0, inst.horizon, 51)
    flow = sample_flow(inst.problem, inst.weights, t)
    if flow.losses[0] == 0.0:  # already at a minimum: the bound is 0 (the registry needs ℓ(0) > 0)
        predicted = np.zeros_like(t)
    else:
        predicted = np.array([
            nm.bound_value(
                "imbalance_rate_n2", initial_loss=float(flow.losses[0]), imbalance=w1 * w1 - w2 * w2, time=float(ti)
            )
            for ti in t
        ])
    rate = float(2.0 * abs(w1 * w1 - w2 * w2))
    k = worst_sample(flow.losses, predicted, rtol=LOSS_RTOL, atol=LOSS_ATOL)
    info = {"t": float(t[k]), "rate": rate, "ratio_at_horizon": ratio_at_end(flow.losses, predicted)}
    return Measurement(value=float(flow.losses[k]), bound=float(predicted[k]), info=info)


IMBALANCE_RATE = Claim(
    "imbalance_rate_n2",
    source="N=2 imbalance rate, ℓ' = −2ℓ(w_1² + w_2²) ≤ −2|δ|ℓ; theory/scalar [checked]",
    description="Scalar N=2, δ = w_1² − w_2²: along GF, ℓ(t) ≤ e^{−2|δ|t} ℓ(0).",
    instances=_imbalance_instances(),
    measure=_measure_imbalance,
    relation="<=",
    rtol=LOSS_RTOL,
    atol=LOSS_ATOL,
    summarize=summarize_rate,
    canonical=(
        Instance((1, 1, 1), np.array([[1.0]]), scalar_weights([1.0, 0.2]), None, 2.0),
        Instance((1, 1, 1), np.array([[1.0]]), scalar_weights([1.0, 1.0]), None, 1.0),  # ℓ(0) = 0
    ),
)
