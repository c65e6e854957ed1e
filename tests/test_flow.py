"""Gradient flow: invariants, closed forms, and GD→GF order 1 in η."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from linflow import (
    DeepLinearNetwork,
    Problem,
    balancedness,
    compare_descent_to_flow,
    end_to_end,
    exact,
    init,
    integrate_flow,
)
from linflow.compare import default_problem


@given(st.integers(2, 4), st.integers(0, 2**31))
def test_flow_conserves_balancedness(depth, seed):
    rng = np.random.default_rng(seed)
    widths = tuple(int(d) for d in rng.integers(1, 4, size=depth + 1))
    net = DeepLinearNetwork(widths)
    prob = Problem(net, target=rng.standard_normal((widths[-1], widths[0])))
    w = tuple(0.6 * rng.standard_normal(s) for s in net.shapes)
    res = integrate_flow(prob, w, t_span=(0.0, 2.0))
    assert res.success
    for b0, b1 in zip(balancedness(w), balancedness(res.final_weights)):
        # rtol 1e-10 integration over t ≤ 2: invariants hold to ≤ 1e-8 relative to the weights².
        scale = max(1.0, max(np.sum(x**2) for x in w))
        assert np.abs(b1 - b0).max() <= 1e-8 * scale


def test_flow_matches_balanced_scalar_n2_closed_form():
    prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[2.0]])
    w0 = (np.array([[0.1]]), np.array([[0.1]]))
    t = np.linspace(0, 3, 31)
    res = integrate_flow(prob, w0, t_span=(0, 3), t_eval=t)
    product = res.weights[1][:, 0, 0] * res.weights[0][:, 0, 0]
    assert np.abs(product - exact.scalar_balanced_n2(2.0, 0.01, t)).max() <= 1e-8


def test_flow_matches_saxe_modes():
    rng = np.random.default_rng(4)
    phi = rng.standard_normal((3, 4))
    w0 = init.spectral((4, 5, 3), phi, mode_strength=0.01, seed=7)
    t = np.linspace(0, 4, 21)
    res = integrate_flow(Problem(DeepLinearNetwork((4, 5, 3)), target=phi), w0, t_span=(0, 4), t_eval=t)
    predicted = exact.saxe_end_to_end(phi, 0.01, t)
    assert np.abs(end_to_end(res.weights) - predicted).max() <= 1e-8


def test_flow_matches_two_layer_lambda_balanced_closed_form():
    rng = np.random.default_rng(8)
    d0, d1 = 3, 3
    # λ-balanced pair: W_2 = O (W_1W_1ᵀ + λI)^{1/2} with O orthogonal gives W_2ᵀW_2 − W_1W_1ᵀ = λI.
    lam = 0.7
    w1 = 0.3 * rng.standard_normal((d1, d0))
    evals, evecs = np.linalg.eigh(w1 @ w1.T + lam * np.eye(d1))
    root = (evecs * np.sqrt(evals)) @ evecs.T
    q, _ = np.linalg.qr(rng.standard_normal((d1, d1)))
    w2_full = q @ root
    net = DeepLinearNetwork((d0, d1, d1))
    phi = rng.standard_normal((d1, d0))
    t = 1.5
    res = integrate_flow(Problem(net, target=phi), (w1, w2_full), t_span=(0, t))
    p = exact.two_layer_lambda_balanced((w1, w2_full), phi, t)
    assert np.abs(p[d0:, :d0] - end_to_end(res.final_weights)).max() <= 1e-8
    q_t = np.vstack([res.final_weights[0].T, res.final_weights[1]])
    assert np.abs(p - q_t @ q_t.T).max() <= 1e-8


def test_gd_to_gf_order_is_one_on_default_problem():
    prob, w0 = default_problem(0)
    result = compare_descent_to_flow(prob, w0, [0.04, 0.02, 0.01, 0.005], 4.0)
    assert 0.9 <= result.order <= 1.1
    assert np.all(np.diff(result.max_distance) < 0)
