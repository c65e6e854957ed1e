"""Shared draws and an independent per-sample reference for the homogeneous-network tests."""

import numpy as np
from hypothesis import strategies as st

from linflow import HomogeneousNetwork, Problem

ACTIVATION_SLOPES = st.sampled_from([("relu", None), ("leaky_relu", 0.1), ("leaky_relu", 0.5)])


@st.composite
def homogeneous_cases(draw, *, max_depth=4, max_width=4, max_samples=5, activations=ACTIVATION_SLOPES):
    """(problem, weights, rng): a ReLU / leaky-ReLU data problem and a Gaussian point."""
    depth = draw(st.integers(1, max_depth))
    widths = tuple(draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1)))
    activation, slope = draw(activations)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    m = draw(st.integers(1, max_samples))
    net = HomogeneousNetwork(widths, activation, negative_slope=slope)
    prob = Problem(net, X=rng.standard_normal((widths[0], m)), Y=rng.standard_normal((widths[-1], m)))
    weights = tuple(0.9 * rng.standard_normal(s) for s in net.shapes)
    return prob, weights, rng


def reference_masks(weights, X, alpha):
    """σ'(z) per hidden layer and sample, by explicit loops (independent of linflow)."""
    masks = []
    m = X.shape[1]
    acts = X.copy()
    for w in weights[:-1]:
        z = np.array(
            [[sum(w[j, l] * acts[l, i] for l in range(w.shape[1])) for i in range(m)] for j in range(w.shape[0])]
        )
        d = np.where(z > 0, 1.0, alpha)
        masks.append(d)
        acts = d * z
    return masks


def frozen_loss(weights, X, Y, masks):
    """Loss with the activation masks frozen (works with complex weights): per-sample product."""
    m = X.shape[1]
    total = 0.0
    for i in range(m):
        a = X[:, i].astype(complex)
        for k, w in enumerate(weights):
            a = w @ a
            if k < len(weights) - 1:
                a = masks[k][:, i] * a
        r = a - Y[:, i]
        total = total + 0.5 * np.sum(r * r)
    return total / m


def complex_step_gradient(prob, weights):
    """∂f/∂θ_p = Im f(θ + i h e_p)/h inside the pattern of θ: exact to rounding (h = 1e-30)."""
    alpha = prob.network.negative_slope
    masks = reference_masks(weights, prob.X, alpha)
    shapes = prob.network.shapes
    theta = np.concatenate([w.ravel() for w in weights])
    grad = np.empty_like(theta)
    h = 1e-30
    for p in range(theta.size):
        z = theta.astype(complex)
        z[p] += 1j * h
        ws, start = [], 0
        for a, b in shapes:
            ws.append(z[start : start + a * b].reshape(a, b))
            start += a * b
        grad[p] = frozen_loss(ws, prob.X, prob.Y, masks).imag / h
    return grad


def pattern_margin(prob, weights) -> float:
    """Smallest |z| / (|W||a|) over hidden pre-activations (∞ without hidden layers)."""
    net = prob.network
    a = prob.X
    margin = np.inf
    for w in weights[:-1]:
        z = w @ a
        scale = np.abs(w) @ np.abs(a)
        live = scale > 0
        if live.any():
            margin = min(margin, float(np.min(np.abs(z[live]) / scale[live])))
        a = net.activate(z)
    return margin


@st.composite
def homogeneous_descent_cases(draw, *, max_width=6, max_depth=5, max_batch=8, max_steps=30):
    """A ReLU / leaky-ReLU GD case in the format of ``descent_agreement.Case``.

    Step sizes as in ``descent_agreement.descent_cases``: per trajectory either stable
    (``η = c·2/S_0``, ``c ∈ [0.02, 0.25]``) or fast divergence (``c ∈ [20, 100]``), with
    ``S_0`` the sharpness at the initial point inside its activation pattern.
    """
    from descent_agreement import Case, stability_regimes

    from linflow import NonDifferentiableError, init

    depth = draw(st.integers(1, max_depth))
    widths = tuple(draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1)))
    activation, slope = draw(st.sampled_from([("relu", None), ("leaky_relu", 0.1), ("leaky_relu", 0.6)]))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = draw(st.integers(1, max_batch))
    rng = np.random.default_rng(seed)
    m = draw(st.integers(1, 8))
    net = HomogeneousNetwork(widths, activation, negative_slope=slope)
    problem = Problem(net, X=rng.standard_normal((widths[0], m)), Y=rng.standard_normal((widths[-1], m)))
    weights0 = init.near_identity(widths, std=0.3, seed=rng, batch=batch)
    try:
        sharpness = np.array([problem.sharpness(tuple(w[i] for w in weights0)) for i in range(batch)])
    except NonDifferentiableError:
        sharpness = np.full(batch, np.nan)
    from hypothesis import assume

    assume(np.all(np.isfinite(sharpness)) and np.all(sharpness > 0))
    stable, c = stability_regimes(draw, rng, batch)
    loss0 = float(np.max(problem.loss(weights0)))
    kwargs = dict(
        n_steps=draw(st.integers(1, max_steps)),
        record_every=draw(st.integers(1, 4)),
        loss_tolerance=draw(st.sampled_from([None, 0.5 * loss0, 1e-3])),
        record_weights=draw(st.booleans()),
    )
    return Case(problem, weights0, c * 2.0 / sharpness, stable, kwargs)
