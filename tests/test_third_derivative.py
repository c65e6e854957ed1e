"""Analytic ``∇_θ(uᵀ∇²f(θ)v)`` against central differences of HVPs and against SymPy."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linflow import DeepLinearNetwork, Problem
from linflow._third_derivative import hessian_entry_gradients, third_derivative_contraction
from linflow.network import unflatten


def _random_problem(rng, widths, data):
    net = DeepLinearNetwork(widths)
    if data:
        m = int(rng.integers(1, 6))
        return Problem(net, X=rng.standard_normal((widths[0], m)), Y=rng.standard_normal((widths[-1], m)))
    return Problem(net, target=rng.standard_normal((widths[-1], widths[0])))


@given(st.integers(1, 4), st.integers(0, 2**31), st.booleans())
def test_contraction_matches_central_difference_of_hvp(depth, seed, data):
    rng = np.random.default_rng(seed)
    widths = tuple(int(d) for d in rng.integers(1, 4, size=depth + 1))
    prob = _random_problem(rng, widths, data)
    shapes = prob.network.shapes
    theta = 0.8 * rng.standard_normal(prob.network.n_params)
    w = unflatten(theta, shapes)
    u, v = rng.standard_normal((2, theta.size))
    analytic = third_derivative_contraction(prob, w, u, v)
    # d/dε [H(θ + εu) v] at ε = 0 equals D³f[u, v, ·] = ∇_θ(uᵀHv) (symmetry of D³f).
    eps = 1e-4
    fd = (prob.hvp(unflatten(theta + eps * u, shapes), v) - prob.hvp(unflatten(theta - eps * u, shapes), v)) / (2 * eps)
    # Tolerance: truncation ε²/6·|D⁵f[u,u,u,v,·]| ~ 1e-8 × O(10) for these O(1) polynomials of
    # degree ≤ 2N ≤ 8, plus rounding ~1e-16·|Hv|/ε ~ 1e-11; 1e-6 relative leaves a margin of 10×
    # while an error in any one of the nine terms (each O(1)) would show up at O(1e-1).
    scale = max(1.0, np.abs(analytic).max())
    assert np.abs(analytic - fd).max() <= 1e-6 * scale


def test_pairs_match_single_contractions_and_are_symmetric():
    rng = np.random.default_rng(3)
    prob = _random_problem(rng, (3, 4, 2, 2), True)
    w = tuple(rng.standard_normal(s) for s in prob.network.shapes)
    U = rng.standard_normal((prob.network.n_params, 3))
    G = hessian_entry_gradients(prob, w, U)
    assert G.shape == (3, 3, prob.network.n_params)
    for i in range(3):
        for j in range(3):
            single = third_derivative_contraction(prob, w, U[:, i], U[:, j])
            # Same arithmetic up to batching order of the matmuls: rounding only.
            assert np.allclose(G[i, j], single, rtol=1e-12, atol=1e-12)
            assert np.array_equal(G[i, j], G[j, i])
    assert hessian_entry_gradients(prob, w, np.zeros((prob.network.n_params, 0))).shape == (0, 0, 24)


def test_scalar_network_third_derivative_matches_closed_form():
    # f = ½(w1w2 − y)²: H_11 = w2², so ∇H_11 = (0, 2w2); H_12 = 2w1w2 − y, ∇H_12 = (2w2, 2w1).
    prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[0.7]])
    w = (np.array([[1.5]]), np.array([[-0.4]]))
    e1, e2 = np.eye(2)
    assert np.allclose(third_derivative_contraction(prob, w, e1, e1), [0.0, -0.8], atol=1e-15)
    assert np.allclose(third_derivative_contraction(prob, w, e1, e2), [-0.8, 3.0], atol=1e-15)


@pytest.mark.parametrize("widths, data", [((1, 1, 1, 1), False), ((2, 2, 1), False), ((2, 1, 2), True)])
def test_contraction_matches_sympy_exactly(widths, data):
    sp = pytest.importorskip("sympy")
    rng = np.random.default_rng(11)
    net = DeepLinearNetwork(widths)
    p = net.n_params
    # Rational data and point: SymPy's answer is exact, so the only error is float64 rounding.
    def rat(a):
        return np.vectorize(lambda x: sp.Rational(int(round(x * 8)), 8), otypes=[object])(a)

    theta_num = np.round(rng.standard_normal(p) * 8) / 8
    u_num, v_num = np.round(rng.standard_normal((2, p)) * 8) / 8
    syms = sp.symbols(f"t0:{p}")
    mats, start = [], 0
    for a, b in net.shapes:
        mats.append(sp.Matrix(a, b, syms[start : start + a * b]))
        start += a * b
    e2e = mats[0]
    for m in mats[1:]:
        e2e = m * e2e
    if data:
        X = np.round(rng.standard_normal((widths[0], 3)) * 8) / 8
        Y = np.round(rng.standard_normal((widths[-1], 3)) * 8) / 8
        prob = Problem(net, X=X, Y=Y)
        r = e2e * sp.Matrix(rat(X)) - sp.Matrix(rat(Y))
        f = sum(x**2 for x in r) / (2 * 3)
    else:
        target = np.round(rng.standard_normal((widths[-1], widths[0])) * 8) / 8
        prob = Problem(net, target=target)
        f = sum(x**2 for x in (e2e - sp.Matrix(rat(target)))) / 2
    u, v = rat(u_num), rat(v_num)
    quad = sum(u[a] * v[b] * sp.diff(f, syms[a], syms[b]) for a in range(p) for b in range(p))
    point = dict(zip(syms, rat(theta_num)))
    exact = np.array([float(sp.diff(quad, s).subs(point)) for s in syms])
    analytic = third_derivative_contraction(prob, net.unflatten(theta_num), u_num, v_num)
    # Exact rational reference; float64 evaluation of O(10)-sized sums: 1e-12 relative.
    assert np.allclose(analytic, exact, rtol=1e-12, atol=1e-12 * max(1.0, np.abs(exact).max()))


def test_validation_of_weights():
    prob = Problem(DeepLinearNetwork((1, 1)), target=[[1.0]])
    with pytest.raises(ValueError, match="weights"):
        third_derivative_contraction(prob, (np.array([[np.nan]]),), np.ones(1), np.ones(1))
