"""ReLU / leaky-ReLU networks: construction, loss, gradient, Hessian, boundaries, curvature bound."""

import copy

import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import linflow._hessian as hessian_module
from linflow import (
    DeepLinearNetwork,
    HomogeneousNetwork,
    HomogeneousProblem,
    NonDifferentiableError,
    Problem,
    flatten,
    unflatten,
)

from _homogeneous_cases import complex_step_gradient, homogeneous_cases, pattern_margin


# ---------------------------------------------------------------------------- construction
def test_network_slopes_and_validation():
    assert HomogeneousNetwork((2, 2)).activation == "relu"
    assert HomogeneousNetwork((2, 2), "relu").negative_slope == 0.0
    assert HomogeneousNetwork((2, 2), "relu", negative_slope=0).negative_slope == 0.0
    assert HomogeneousNetwork((2, 2), "linear").negative_slope == 1.0
    assert HomogeneousNetwork((2, 2), "leaky_relu").negative_slope == 0.01
    assert HomogeneousNetwork((2, 2), "leaky_relu", negative_slope=1.0).is_linear
    assert not HomogeneousNetwork((2, 2), "leaky_relu", negative_slope=0.0).is_linear
    with pytest.raises(ValueError, match="activation must be one of"):
        HomogeneousNetwork((2, 2), "tanh")
    with pytest.raises(ValueError, match=r"negative_slope must lie in \[0, 1\]; got negative_slope=1.5"):
        HomogeneousNetwork((2, 2), "leaky_relu", negative_slope=1.5)
    with pytest.raises(ValueError, match="negative_slope must lie"):
        HomogeneousNetwork((2, 2), "leaky_relu", negative_slope=float("nan"))
    with pytest.raises(ValueError, match="only meaningful for activation='leaky_relu'"):
        HomogeneousNetwork((2, 2), "relu", negative_slope=0.1)
    with pytest.raises(ValueError, match="only meaningful"):
        HomogeneousNetwork((2, 2), "linear", negative_slope=0.5)
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        HomogeneousNetwork((2, 2), "leaky_relu", negative_slope=True)
    with pytest.raises(ValueError, match="widths"):
        HomogeneousNetwork((2,), "relu")


def test_problem_dispatch_and_errors():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((2, 3)), rng.standard_normal((1, 3))
    relu = HomogeneousNetwork((2, 3, 1), "relu")
    prob = Problem(relu, X=X, Y=Y)
    assert type(prob) is HomogeneousProblem and isinstance(prob, Problem)
    assert "relu" in repr(prob)
    # Linear activation (or leaky slope 1) is a deep linear network: the plain Problem, whitened allowed.
    for net in (HomogeneousNetwork((2, 3, 1), "linear"), HomogeneousNetwork((2, 3, 1), "leaky_relu", negative_slope=1)):
        lin = Problem(net, target=rng.standard_normal((1, 2)))
        assert type(lin) is Problem
    with pytest.raises(ValueError, match="no whitened end-to-end loss"):
        Problem(relu, target=np.ones((1, 2)))
    with pytest.raises(ValueError, match="give either target or both X and Y"):
        Problem(relu, X=X)
    with pytest.raises(ValueError, match=r"X must have shape \(2, m\)"):
        Problem(relu, X=np.ones((3, 3)), Y=Y)
    with pytest.raises(TypeError, match="network must be"):
        Problem("relu", X=X, Y=Y)
    with pytest.raises(TypeError, match="network must be a HomogeneousNetwork"):
        HomogeneousProblem(DeepLinearNetwork((2, 1)), X=X, Y=Y)
    with pytest.raises(TypeError, match="no.*end-to-end|end-to-end matrix"):
        prob.end_to_end_loss(np.ones((1, 2)))
    with pytest.raises(TypeError, match="end-to-end matrix"):
        prob.residual(np.ones((1, 2)))
    w = tuple(rng.standard_normal(s) for s in relu.shapes)
    clone = copy.deepcopy(prob)
    assert type(clone) is HomogeneousProblem and clone.loss(w) == prob.loss(w)
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape"):
        prob.loss((w[0], np.ones((2, 3))))


@given(homogeneous_cases(activations=st.just(("leaky_relu", 1.0))))
def test_slope_one_matches_deep_linear_problem(case):
    """Slope 1 through the homogeneous code path equals the deep linear Problem (second order too)."""
    prob, weights, _ = case
    net = prob.network
    hom = HomogeneousProblem(net, X=prob.X, Y=prob.Y)  # direct: Problem() would dispatch to linear
    lin = Problem(DeepLinearNetwork(net.widths), X=prob.X, Y=prob.Y)
    scale = max(1.0, lin.loss(weights))
    # Same formulas evaluated in different association orders: rounding only (1e-12 relative).
    assert abs(hom.loss(weights) - lin.loss(weights)) <= 1e-12 * scale
    g_h, g_l = flatten(hom.gradient(weights)), flatten(lin.gradient(weights))
    assert np.allclose(g_h, g_l, rtol=1e-11, atol=1e-11 * max(1.0, np.abs(g_l).max()))
    h_h, h_l = hom.hessian(weights), lin.hessian(weights)
    assert np.allclose(h_h, h_l, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(h_l).max()))


# ---------------------------------------------------------------------------- first order
@given(homogeneous_cases())
def test_gradient_matches_complex_step_inside_pattern(case):
    prob, weights, _ = case
    grad = flatten(prob.gradient(weights))
    cs = complex_step_gradient(prob, weights)
    # Complex step with frozen masks is exact to rounding; the pattern is the one the gradient
    # uses, so agreement to 1e-10 relative holds even on a boundary (convention σ'(0) = α).
    assert np.allclose(grad, cs, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(cs).max()))


@given(homogeneous_cases())
def test_batched_loss_and_gradient_match_single(case):
    prob, weights, rng = case
    batch = tuple(np.stack([w, 0.5 * w, rng.standard_normal(w.shape)]) for w in weights)
    losses = prob.loss(batch)
    grads = prob.gradient(batch)
    for b in range(3):
        single = tuple(w[b] for w in batch)
        assert losses[b] == pytest.approx(prob.loss(single), rel=1e-13, abs=1e-300)
        for g_batch, g_single in zip(grads, prob.gradient(single)):
            assert np.allclose(g_batch[b], g_single, rtol=1e-12, atol=1e-14)


def test_relu_gradient_convention_at_zero():
    """σ'(0) = 0 for ReLU, α for leaky ReLU: a unit with z = 0 passes no gradient (ReLU)."""
    X = np.array([[1.0], [1.0]])
    Y = np.array([[3.0]])
    w1 = np.array([[1.0, -1.0], [1.0, 1.0]])  # unit 0 has z = 0 exactly, unit 1 has z = 2
    w2 = np.array([[2.0, 1.0]])
    for activation, slope in (("relu", None), ("leaky_relu", 0.25)):
        prob = Problem(HomogeneousNetwork((2, 2, 1), activation, negative_slope=slope), X=X, Y=Y)
        alpha = prob.network.negative_slope
        g1, g2 = prob.gradient((w1, w2))
        r = (2.0 * 0.0 + 1.0 * 2.0) - 3.0  # output 2, residual −1
        assert g2.tolist() == [[r * 0.0, r * 2.0]]
        assert g1.tolist() == [[r * 2.0 * alpha, r * 2.0 * alpha], [r, r]]
        assert prob.activation_pattern((w1, w2))[0].tolist() == [[False], [True]]
        assert prob.on_boundary((w1, w2))
        with pytest.raises(NonDifferentiableError, match="layer 0, neuron 0, sample 0") as info:
            prob.hessian((w1, w2))
        assert info.value.sites.tolist() == [[0, 0, 0]]
        for method in (prob.sharpness, prob.min_eigenvalue):
            with pytest.raises(NonDifferentiableError):
                method((w1, w2))
        with pytest.raises(NonDifferentiableError):
            prob.hvp((w1, w2), np.ones(6))


# ---------------------------------------------------------------------------- boundaries
def test_boundary_tolerance_is_the_rounding_bound():
    """Sign certified iff |z| exceeds the γ_n forward-error bound (Higham §3.5)."""
    net = HomogeneousNetwork((2, 1, 1), "relu")
    w = (np.array([[1.0, -1.0]]), np.array([[1.0]]))
    y = np.array([[0.0]])
    tiny = Problem(net, X=np.array([[1.0], [1.0 + 2.0**-52]]), Y=y)  # z = −2^−52 exactly
    assert tiny.network.pre_activations(w, tiny.X)[0].item() == -(2.0**-52)
    # γ_3 (|1| + |1 + 2^−52|) ≈ 6.7e-16 > 2.2e-16: the sign is not certified.
    assert tiny.on_boundary(w)
    clear = Problem(net, X=np.array([[1.0], [1.0 + 2.0**-40]]), Y=y)  # |z| = 9e-13 ≫ bound
    assert not clear.on_boundary(w)
    clear.hessian(w)


def test_boundary_ignores_zero_inputs_and_dead_layers():
    """A sample whose layer input is exactly zero nearby has no kink there: not flagged."""
    net = HomogeneousNetwork((1, 2, 2, 1), "relu")
    X = np.array([[0.0, 1.0, -1.0]])  # sample 0 is the zero input
    Y = np.zeros((1, 3))
    w1 = np.array([[1.0], [2.0]])      # sample 2: both units strictly inactive → layer-2 input 0
    w2 = np.array([[1.0, 0.0], [0.0, 1.0]])
    w3 = np.array([[1.0, 1.0]])
    prob = Problem(net, X=X, Y=Y)
    masks = prob.boundary_mask((w1, w2, w3))
    assert not any(m.any() for m in masks)
    assert not prob.on_boundary((w1, w2, w3))
    # A zero incoming row with a live input *is* a boundary (perturbing the row flips the sign).
    w2_dead = np.array([[0.0, 0.0], [0.0, 1.0]])
    assert prob.boundary_sites((w1, w2_dead, w3)).tolist() == [[1, 0, 1]]
    # Zero initialization of a ReLU net: every live pre-activation sits on the boundary.
    zero = tuple(np.zeros(s) for s in net.shapes)
    assert prob.on_boundary(zero)


def test_on_boundary_batched():
    net = HomogeneousNetwork((2, 1, 1), "relu")
    prob = Problem(net, X=np.array([[1.0], [1.0]]), Y=np.zeros((1, 1)))
    batch = (np.array([[[1.0, -1.0]], [[1.0, 0.5]]]), np.ones((2, 1, 1)))
    assert prob.on_boundary(batch).tolist() == [True, False]
    assert prob.activation_pattern(batch)[0].shape == (2, 1, 1)


# ---------------------------------------------------------------------------- second order
@given(homogeneous_cases())
def test_hessian_matches_finite_differences_of_gradient_inside_pattern(case):
    prob, weights, _ = case
    # Central differences with h = 1e-6 must not leave the pattern: require a relative margin
    # far above h (the pre-activations move by O(h) relative).
    assume(pattern_margin(prob, weights) > 1e-3)
    assert not prob.on_boundary(weights)
    hess = prob.hessian(weights)
    theta = flatten(weights)
    shapes = prob.network.shapes
    h = 1e-6
    fd = np.array([
        (flatten(prob.gradient(unflatten(theta + h * e, shapes))) - flatten(prob.gradient(unflatten(theta - h * e, shapes)))) / (2 * h)
        for e in np.eye(theta.size)
    ]).T
    # O(h²)·|∇³f| truncation + O(eps/h)·|∇f| rounding: ~1e-9 relative to the gradient scale.
    scale = max(1.0, np.abs(hess).max(), np.abs(flatten(prob.gradient(weights))).max())
    assert np.allclose(hess, fd, atol=1e-7 * scale, rtol=1e-6)
    # The pattern on both sides of every difference is the same (else the test is meaningless).
    pattern = prob.activation_pattern(weights)
    for e in np.eye(theta.size)[:3]:
        for side in (theta + h * e, theta - h * e):
            assert all(np.array_equal(a, b) for a, b in zip(prob.activation_pattern(unflatten(side, shapes)), pattern))


@given(homogeneous_cases())
def test_hvp_matches_hessian_and_eigenvalues(case):
    prob, weights, rng = case
    assume(not prob.on_boundary(weights))
    hess = prob.hessian(weights)
    v = rng.standard_normal(hess.shape[0])
    hv = prob.hvp(weights, v)
    assert np.allclose(hv, hess @ v, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(hess).max() * np.abs(v).max()))
    hv_tuple = prob.hvp(weights, unflatten(v, prob.network.shapes))
    assert np.array_equal(flatten(hv_tuple), hv)
    eig = np.linalg.eigvalsh(hess)
    assert prob.sharpness(weights) == pytest.approx(eig[-1], rel=1e-12, abs=1e-12)
    assert prob.min_eigenvalue(weights) == pytest.approx(eig[0], rel=1e-12, abs=1e-12)


def test_lanczos_path_agrees_and_checks_boundary(monkeypatch):
    rng = np.random.default_rng(3)
    net = HomogeneousNetwork((3, 5, 4, 2), "leaky_relu", negative_slope=0.2)
    prob = Problem(net, X=rng.standard_normal((3, 6)), Y=rng.standard_normal((2, 6)))
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    assert not prob.on_boundary(w)
    dense = np.linalg.eigvalsh(prob.hessian(w))
    monkeypatch.setattr(hessian_module, "DENSE_MAX_PARAMS", 0)  # force eigsh on the HVP operator
    # eigsh with tol=1e-12 on a 43×43 operator converges to rounding of the extreme eigenvalues.
    assert prob.sharpness(w) == pytest.approx(dense[-1], rel=1e-9)
    assert prob.min_eigenvalue(w) == pytest.approx(dense[0], rel=1e-9, abs=1e-9)
    zero = tuple(np.zeros(s) for s in net.shapes)
    with pytest.raises(NonDifferentiableError):
        prob.sharpness(zero)


def test_hessian_equals_sympy_hessian_of_the_pattern_polynomial():
    """Three levels agree (pydy style): SymPy's exact Hessian of the frozen-pattern polynomial,
    evaluated at a rational point, equals the analytic forward-over-backward Hessian."""
    import sympy as sm

    from linflow.symbolic.matrix import weight_matrices

    net = HomogeneousNetwork((2, 3, 2, 1), "leaky_relu", negative_slope=0.25)
    X = np.array([[1.0, -0.5, 2.0], [0.5, 1.5, -1.0]])
    Y = np.array([[0.75, -1.0, 0.5]])
    prob = Problem(net, X=X, Y=Y)
    for seed in range(100):  # exact dyadic weights; the first draw off every boundary
        rng = np.random.default_rng(seed)
        weights = tuple(np.round(rng.standard_normal(s) * 8) / 8 for s in net.shapes)
        if not prob.on_boundary(weights):
            break
    assert not prob.on_boundary(weights)
    masks = [np.where(z > 0, 1.0, 0.25) for z in net.pre_activations(weights, X)]
    sym = weight_matrices(net.widths)
    params = [e for w in sym for e in w]
    loss = 0
    for i in range(X.shape[1]):
        a = sm.Matrix([sm.Rational(str(v)) for v in X[:, i]])
        for k, w in enumerate(sym):
            a = w * a
            if k < len(sym) - 1:
                a = sm.diag(*[sm.Rational(str(v)) for v in masks[k][:, i]]) * a
        loss += (a[0, 0] - sm.Rational(str(Y[0, i]))) ** 2 / 2
    poly = sm.Poly(loss / X.shape[1], *params)
    point = [sm.Rational(str(v)) for v in flatten(weights)]
    grad = np.array([poly.diff(p).eval(point) for p in params], dtype=np.float64)
    exact = np.array([[poly.diff(p).diff(q).eval(point) for q in params] for p in params], dtype=np.float64)
    assert np.allclose(flatten(prob.gradient(weights)), grad, rtol=1e-14, atol=1e-14)
    assert np.allclose(prob.hessian(weights), exact, rtol=1e-13, atol=1e-13)
