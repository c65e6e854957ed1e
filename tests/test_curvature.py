"""Numeric curvature certificates (theory/gd-vs-gf) against the Hessian and against GD vs GF."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import linflow
import linflow.bounds as lb
from linflow import DeepLinearNetwork, Problem, init, integrate_flow, simulate_descent
from linflow.curvature import (
    error_certificate,
    gradient_norm,
    lambda_min_lower_bound,
    layer_norms,
    smoothness_bound,
)

widths_st = st.sampled_from([(2, 2), (2, 2, 2), (2, 3, 2), (1, 2, 2, 1), (2, 2, 2, 2), (3, 2, 2, 2, 1)])


def _problem(widths, rng, data):
    net = DeepLinearNetwork(widths)
    if data:
        x = rng.standard_normal((widths[0], 6))
        return Problem(net, X=x, Y=rng.standard_normal((widths[-1], 6)))
    return Problem(net, target=rng.standard_normal((widths[-1], widths[0])))


@given(widths_st, st.integers(0, 2**31), st.floats(0.0, 0.4), st.booleans())
def test_lambda_min_and_smoothness_bounds_hold_in_the_ball(widths, seed, eps, data):
    rng = np.random.default_rng(seed)
    prob = _problem(widths, rng, data)
    net = prob.network
    w = tuple(rng.standard_normal(s) * rng.uniform(0.2, 1.0) for s in net.shapes)
    low = lambda_min_lower_bound(prob, w, epsilon=eps)
    high = smoothness_bound(prob, w, epsilon=eps)
    assert low <= 0.0 <= high
    for _ in range(4):
        v = rng.standard_normal(net.n_params)
        v *= eps * rng.uniform() ** (1 / net.n_params) / max(np.linalg.norm(v), 1e-300)
        eigs = np.linalg.eigvalsh(prob.hessian(net.unflatten(net.flatten(w) + v)))
        # Rigorous bounds; slack 1e-10 relative for eigvalsh rounding.
        assert eigs[0] >= low - 1e-10 * (1 + abs(low))
        assert np.abs(eigs).max() <= high * (1 + 1e-10) + 1e-12


def test_lambda_min_bound_is_tight_for_two_layers_at_zero():
    rng = np.random.default_rng(3)
    phi = rng.standard_normal((3, 2))
    prob = Problem(DeepLinearNetwork((2, 4, 3)), target=phi)
    zero = (np.zeros((4, 2)), np.zeros((3, 4)))
    assert lambda_min_lower_bound(prob, zero) == pytest.approx(-np.linalg.norm(phi, 2), rel=1e-14)
    assert prob.min_eigenvalue(zero) == pytest.approx(-np.linalg.norm(phi, 2), rel=1e-12)


@given(st.integers(2, 5), st.floats(0.3, 1.5), st.floats(0.0, 0.5), st.integers(0, 2**31))
def test_matches_registry_bounds_when_layer_norms_are_equal(depth, rho, eps, seed):
    # Scaled orthogonal layers all have ‖W_k‖₂ = ρ: the per-layer and uniform forms coincide.
    widths = (3,) * (depth + 1)
    w = init.orthogonal(widths, seed=seed, scale=rho)
    assert np.allclose(layer_norms(w), rho, rtol=1e-12)
    prob = Problem(DeepLinearNetwork(widths), target=np.random.default_rng(seed).standard_normal((3, 3)))
    g = float(np.linalg.norm(prob.end_to_end_gradient(linflow.end_to_end(w)), 2))
    params = dict(depth=depth, gradient_norm=g, layer_norm=rho, epsilon=eps)
    assert lambda_min_lower_bound(prob, w, epsilon=eps) == pytest.approx(
        lb.get("deep_linear_lambda_min").evaluate(**params), rel=1e-12, abs=1e-14
    )
    assert smoothness_bound(prob, w, epsilon=eps) == pytest.approx(
        lb.get("smoothness_ball").evaluate(**params), rel=1e-12
    )


@given(st.sampled_from([(2, 2, 2), (2, 3, 2), (1, 2, 2, 1)]), st.integers(0, 2**31),
       st.sampled_from([0.01, 0.004]), st.sampled_from([0.05, 0.1]))
def test_error_certificate_bounds_the_true_gd_gf_distance(widths, seed, eta, eps):
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((widths[-1], widths[0]))
    prob = Problem(DeepLinearNetwork(widths), target=phi)
    w0 = init.balanced(widths, rng.uniform(0.3, 0.9) * phi, seed=1)
    flow = integrate_flow(prob, w0, t_span=(0.0, 0.6))
    cert = error_certificate(prob, flow, learning_rate=eta, epsilon=eps)
    gd = simulate_descent(prob, w0, learning_rate=eta, n_steps=len(cert.times) - 1, record_weights=True)
    error = np.linalg.norm(linflow.flatten(gd.weights) - flow.sol(cert.times).T, axis=1)
    # Only a valid certificate promises anything; Hypothesis reports if most draws are invalid.
    assume(cert.valid)
    # The true error includes the flow integrator's error (rtol 1e-10): 1e-9 slack.
    assert np.all(error <= cert.bound + 1e-9)
    assert np.all(cert.bound <= cert.closed_form * (1 + 1e-12) + 1e-300)
    assert cert.bound[0] == 0.0 and np.all(np.diff(cert.bound) > 0)
    # The certificate's recursion and closed form are the registry's formulas.
    k = 7
    step = lb.get("ec21_error_recursion").evaluate(
        previous_error=cert.bound[k], learning_rate=eta, curvature_lower=cert.curvature_lower[k],
        smoothness=cert.smoothness[k], gradient_bound=cert.gradient_bound[k],
    )
    assert step == pytest.approx(cert.bound[k + 1], rel=1e-14)
    closed = lb.get("ec21_error_bound").evaluate(
        learning_rate=eta, smoothness=cert.smoothness[:k].max(), gradient_bound=cert.gradient_bound[:k].max(),
        steps=k, negative_curvature_sum=np.minimum(cert.curvature_lower[:k], 0).sum(),
    )
    assert cert.closed_form[k] <= closed * (1 + 1e-14)


def test_error_certificate_accepts_sampled_weights_and_reports_invalid_hypotheses():
    rng = np.random.default_rng(0)
    prob = Problem(DeepLinearNetwork((3, 4, 4, 2)), target=rng.standard_normal((2, 3)))
    w0 = init.gaussian((3, 4, 4, 2), std=0.5, seed=1)
    flow = integrate_flow(prob, w0, t_span=(0.0, 0.5))
    a = error_certificate(prob, flow, learning_rate=0.05, epsilon=0.01)
    sampled = linflow.unflatten(flow.sol(a.times).T, prob.network.shapes)
    b = error_certificate(prob, sampled, learning_rate=0.05, epsilon=0.01)
    assert np.allclose(a.bound, b.bound, rtol=1e-13) and a.message == b.message
    assert len(a.times) == 11 and a.times[-1] == pytest.approx(0.5)
    # ηγ_0 = 0.05·‖∇f(θ_0)‖·e^{ηβ} far exceeds ε = 0.01: invalid from the first step.
    assert not a.valid and "k = 0" in a.message
    assert gradient_norm(prob, w0) * 0.05 > 0.01


def test_validation_errors_name_the_argument():
    prob = Problem(DeepLinearNetwork((2, 2)), target=np.eye(2))
    w = (np.eye(2),)
    with pytest.raises(ValueError, match="epsilon"):
        lambda_min_lower_bound(prob, w, epsilon=-1.0)
    with pytest.raises(TypeError, match="problem"):
        smoothness_bound("prob", w)
    with pytest.raises(ValueError, match="learning_rate"):
        error_certificate(prob, (np.eye(2)[None],), learning_rate=0.0, epsilon=0.1)
    with pytest.raises(ValueError, match="leading axis"):
        error_certificate(prob, w, learning_rate=0.1, epsilon=0.1)
    # Depth 1 is convex: λ_min ≥ 0 and ‖∇²f‖ = 1 for the whitened loss.
    assert lambda_min_lower_bound(prob, w) == 0.0 and smoothness_bound(prob, w) == 1.0


@given(exponent=st.floats(300.0, 308.0), n_points=st.integers(3, 6))
def test_error_certificate_refuses_a_step_whose_times_overflow(exponent, n_points):
    net = DeepLinearNetwork((2, 2, 2))
    prob = Problem(net, target=np.eye(2))
    path = tuple(np.stack([w] * n_points) for w in init.gaussian(net.widths, std=0.5, seed=0))
    eta = 10.0 ** exponent
    if np.isfinite(eta * (n_points - 1)):
        cert = error_certificate(prob, path, learning_rate=eta, epsilon=0.1)
        assert np.all(np.isfinite(cert.times)) and not np.isnan(cert.bound).any()
    else:
        with pytest.raises(ValueError, match="learning_rate"):
            error_certificate(prob, path, learning_rate=eta, epsilon=0.1)
