"""Euler identities and rescaling invariants of homogeneous networks (theory/homogeneous), numerically."""

import numpy as np
import pytest
from _homogeneous_cases import homogeneous_cases
from hypothesis import given
from hypothesis import strategies as st

from linflow import HomogeneousNetwork, balancedness, flatten
from linflow.rescaling import (
    layer_balance,
    layer_balance_step_change,
    neuron_balance,
    neuron_balance_step_change,
)

WITH_LINEAR = st.sampled_from([("relu", None), ("leaky_relu", 0.1), ("leaky_relu", 0.5), ("leaky_relu", 1.0)])


def _inner(a, b):
    return float(sum(np.sum(x * y) for x, y in zip(a, b)))


@given(homogeneous_cases(activations=WITH_LINEAR, max_depth=5))
def test_euler_identities_of_the_output(case):
    """⟨∇h, θ⟩ = N h; ⟨∇_{W_k} h, W_k⟩ = h per layer; ∇²h θ = (N − 1)∇h (pattern frozen)."""
    prob, weights, rng = case
    net = prob.network
    n = net.depth
    c = rng.standard_normal(prob.Y.shape)
    g = float(np.sum(c * net.output(weights, prob.X)))
    grad = net.output_vjp(weights, prob.X, c)
    # Each side sums O(P·m) products of size |c||h|: 1e-12 relative to that scale is rounding.
    magnitude = net.output(tuple(np.abs(w) for w in weights), np.abs(prob.X))
    scale = 1e-12 * max(1.0, float(np.sum(np.abs(c) * np.abs(magnitude))))
    assert _inner(grad, weights) == pytest.approx(n * g, abs=n * scale)
    for gk, wk in zip(grad, weights):
        assert float(np.sum(gk * wk)) == pytest.approx(g, abs=scale)
    hess_theta = net.output_hvp(weights, prob.X, c, weights)
    for hk, gk in zip(hess_theta, grad):
        assert np.allclose(hk, (n - 1) * gk, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(gk).max()))


@given(homogeneous_cases(activations=WITH_LINEAR))
def test_loss_euler_identity(case):
    """⟨∇f, θ⟩ = (N/m)⟨h − Y, h⟩ for f = (1/2m)‖h − Y‖² (chain rule + Euler)."""
    prob, weights, _ = case
    h = prob.network.output(weights, prob.X)
    expected = prob.network.depth / prob.n_samples * float(np.sum((h - prob.Y) * h))
    got = _inner(prob.gradient(weights), weights)
    scale = max(1.0, float(np.sum(np.abs(h - prob.Y) * np.abs(h))))
    assert got == pytest.approx(expected, abs=1e-11 * scale)


@given(homogeneous_cases(activations=WITH_LINEAR, max_depth=5), st.floats(1e-3, 0.5))
def test_gd_step_changes_balances_by_exact_eta_squared_terms(case, eta):
    """One GD step: Δ(neuron balance) = η²(‖G_{k+1}[:, j]‖² − ‖G_k[j, :]‖²), the O(η) terms cancel."""
    prob, weights, _ = case
    grads = prob.gradient(weights)
    stepped = tuple(w - eta * g for w, g in zip(weights, grads))
    predicted = neuron_balance_step_change(grads, eta)
    for k, (after, before, pred) in enumerate(zip(neuron_balance(stepped), neuron_balance(weights), predicted)):
        # Rounding of squared norms: a few eps times the squared norms involved.
        scale = (
            np.sum(weights[k] ** 2, axis=1) + np.sum(weights[k + 1] ** 2, axis=0)
            + eta**2 * (np.sum(grads[k] ** 2, axis=1) + np.sum(grads[k + 1] ** 2, axis=0))
        )
        assert np.all(np.abs((after - before) - pred) <= 1e-13 * (1.0 + scale))
    layer_pred = layer_balance_step_change(grads, eta)
    assert np.allclose(layer_pred, [p.sum() for p in predicted], rtol=1e-12, atol=1e-14)
    assert np.allclose(layer_balance(stepped) - layer_balance(weights), layer_pred, rtol=1e-9, atol=1e-11)


@given(homogeneous_cases(activations=WITH_LINEAR, max_depth=5))
def test_first_order_terms_match_per_neuron(case):
    """⟨G_k[j, :], W_k[j, :]⟩ = ⟨G_{k+1}[:, j], W_{k+1}[:, j]⟩ (σ'(z)z = σ(z), any σ'(0))."""
    prob, weights, _ = case
    grads = prob.gradient(weights)
    for k in range(len(weights) - 1):
        incoming = np.sum(grads[k] * weights[k], axis=1)
        outgoing = np.sum(grads[k + 1] * weights[k + 1], axis=0)
        scale = np.sum(np.abs(grads[k] * weights[k]), axis=1) + np.sum(np.abs(grads[k + 1] * weights[k + 1]), axis=0)
        assert np.all(np.abs(incoming - outgoing) <= 1e-12 * (1.0 + scale))


def test_balances_are_diagonals_and_traces_of_balancedness_and_batch():
    rng = np.random.default_rng(2)
    net = HomogeneousNetwork((3, 4, 5, 2), "relu")
    weights = tuple(rng.standard_normal((6,) + s) for s in net.shapes)
    for nb, full in zip(neuron_balance(weights), balancedness(weights)):
        assert np.allclose(nb, np.diagonal(full, axis1=-2, axis2=-1), rtol=1e-14, atol=1e-13)
    lb = layer_balance(weights)
    assert lb.shape == (6, 2)
    assert np.allclose(lb, np.stack([nb.sum(axis=-1) for nb in neuron_balance(weights)], axis=-1), atol=1e-12)
    etas = np.linspace(0.1, 0.6, 6)
    per_traj = neuron_balance_step_change(weights, etas)
    for b in range(6):
        single = neuron_balance_step_change(tuple(w[b] for w in weights), etas[b])
        for x, y in zip(per_traj, single):
            assert np.allclose(x[b], y, rtol=1e-14)
    assert layer_balance((np.ones((2, 2)),)).shape == (0,)
    assert neuron_balance((np.ones((2, 2)),)) == []
    assert flatten(weights).shape == (6, net.n_params)
