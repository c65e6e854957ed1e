"""Curvature inside an activation pattern (theory.md §5) and the Elkabetz–Cohen certificate."""

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

from linflow import HomogeneousNetwork, Problem, Status, flatten, integrate_flow, simulate_descent, unflatten
from linflow.curvature import error_certificate, lambda_min_lower_bound, smoothness_bound

from _homogeneous_cases import homogeneous_cases


@given(homogeneous_cases(max_depth=5), st.floats(0.3, 1.5))
def test_min_eigenvalue_respects_pattern_curvature_bound(case, scale):
    """theory.md §5 [checked]: the §2 bound per sample, ‖∇_ŷℓ_i‖‖x_i‖ in place of ‖∇L‖₂."""
    prob, weights, _ = case
    weights = tuple(scale * w for w in weights)  # larger residuals: the second-order part matters
    assume(not prob.on_boundary(weights))
    hess = prob.hessian(weights)
    eig = np.linalg.eigvalsh(hess)
    bound = lambda_min_lower_bound(prob, weights)
    beta = smoothness_bound(prob, weights)
    assert bound <= 0.0 <= beta
    # eigvalsh is backward stable: error ≲ P·eps·‖H‖₂; 1e-12 relative covers P ≤ 100.
    slack = 1e-12 * max(1.0, np.abs(eig).max())
    assert eig[0] >= bound - slack
    assert eig[-1] <= beta + slack


@given(homogeneous_cases(max_depth=4), st.floats(0.05, 1.0))
def test_ball_bounds_hold_at_points_of_the_ball_in_the_pattern(case, fraction):
    """At θ' ∈ B_ε(θ) (ε a fraction of the certified pattern radius) the pattern is that of θ and
    λ_min, ‖∇²f‖ respect the ball bounds computed at θ."""
    prob, weights, rng = case
    radius = prob.pattern_radius(weights)
    assume(0.0 < radius < np.inf)
    eps = fraction * min(radius, 1.0)
    assert prob.ball_in_pattern(weights, eps)
    assert not prob.ball_in_pattern(weights, radius * (1 + 1e-6) + 1e-300)
    m = lambda_min_lower_bound(prob, weights, epsilon=eps)
    beta = smoothness_bound(prob, weights, epsilon=eps)
    pattern = prob.activation_pattern(weights)
    theta = flatten(weights)
    for _ in range(3):
        v = rng.standard_normal(theta.size)
        point = unflatten(theta + eps * v / np.linalg.norm(v), prob.network.shapes)  # on the sphere
        assert all(np.array_equal(a, b) for a, b in zip(prob.activation_pattern(point), pattern))
        eig = np.linalg.eigvalsh(prob.hessian(point))
        slack = 1e-12 * max(1.0, np.abs(eig).max())
        assert eig[0] >= m - slack and eig[-1] <= beta + slack


def test_pattern_radius_is_sharp_for_a_single_unit():
    """h = w2 relu(w1·x): the nearest boundary is |w1·x|/‖x‖ away along x (one layer below)."""
    net = HomogeneousNetwork((2, 1, 1), "relu")
    x = np.array([[3.0], [4.0]])
    prob = Problem(net, X=x, Y=np.zeros((1, 1)))
    w = (np.array([[1.0, 0.5]]), np.array([[2.0]]))
    exact = (1.0 * 3.0 + 0.5 * 4.0) / 5.0  # distance of w1 to the hyperplane w1·x = 0
    radius = prob.pattern_radius(w)
    # Certified ⇒ not larger than the truth; Δz ≤ ε‖x‖ is exact here (up to rounding).
    assert radius <= exact
    assert radius == pytest.approx(exact, rel=1e-10)
    assert prob.pattern_radius((np.zeros((1, 2)), np.ones((1, 1)))) == 0.0
    single = Problem(HomogeneousNetwork((2, 1), "relu"), X=x, Y=np.zeros((1, 1)))
    assert single.pattern_radius((np.ones((1, 2)),)) == np.inf
    with pytest.raises(ValueError, match="epsilon must be a finite number ≥ 0"):
        lambda_min_lower_bound(prob, w, epsilon=-1.0)


def _certificate_case():
    """Leaky ReLU, widths (2, 3, 1): a GF path that stays in one pattern up to T = 0.5."""
    rng = np.random.default_rng(0)
    net = HomogeneousNetwork((2, 3, 1), "leaky_relu", negative_slope=0.2)
    prob = Problem(net, X=rng.standard_normal((2, 4)), Y=rng.standard_normal((1, 4)))
    w0 = tuple(rng.standard_normal(s) for s in net.shapes)
    return prob, w0


def test_certificate_bounds_true_gd_gf_distance_inside_one_pattern():
    """Elkabetz & Cohen 2021 discrete certificate (theory.md §2): ‖θ_k − θ(kη)‖ ≤ E_k."""
    prob, w0 = _certificate_case()
    eta, horizon = 1e-3, 0.5
    flow = integrate_flow(prob, w0, t_span=(0.0, horizon))
    assert flow.success and flow.pattern_changes == 0
    cert = error_certificate(prob, flow, learning_rate=eta, epsilon=0.05)
    assert cert.valid, cert.message
    steps = len(cert.times) - 1
    gd = simulate_descent(prob, w0, learning_rate=eta, n_steps=steps, record_weights=True, backend="numpy")
    path = flatten(gd.weights)
    truth = np.linalg.norm(path - flow.sol(cert.times).T, axis=1)
    # The GF reference is accurate to ~1e-9 (rtol 1e-10): compare above that floor.
    assert np.all(truth <= cert.bound + 1e-9)
    assert truth[-1] > 0 and cert.bound[-1] < 0.05


def test_certificate_is_invalid_when_the_ball_leaves_the_pattern():
    prob, w0 = _certificate_case()
    flow = integrate_flow(prob, w0, t_span=(0.0, 0.5))
    radius = min(prob.pattern_radius(tuple(w[i] for w in flow.weights)) for i in range(flow.t.size))
    cert = error_certificate(prob, flow, learning_rate=1e-3, epsilon=2 * radius)
    assert not cert.valid and "activation pattern" in cert.message
    # A path through a sliding mode has no classical flow to certify.
    rng = np.random.default_rng(0)
    net = HomogeneousNetwork((3, 6, 6, 2), "relu")
    sliding = Problem(net, X=rng.standard_normal((3, 10)), Y=rng.standard_normal((2, 10)))
    res = integrate_flow(sliding, tuple(0.7 * rng.standard_normal(s) for s in net.shapes), t_span=(0.0, 1.0))
    assert res.status is Status.LEFT_REGIME
    with pytest.raises(ValueError, match="successful FlowResult"):
        error_certificate(sliding, res, learning_rate=1e-3, epsilon=0.1)
