"""Deep linear network model: analytic gradient, Hessian and HVP against independent derivatives."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from linflow import DeepLinearNetwork, Problem, balancedness, end_to_end, flatten, unflatten


@st.composite
def problems_and_points(draw, data_loss=None):
    depth = draw(st.integers(1, 5))
    widths = tuple(draw(st.lists(st.integers(1, 5), min_size=depth + 1, max_size=depth + 1)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    net = DeepLinearNetwork(widths)
    use_data = draw(st.booleans()) if data_loss is None else data_loss
    if use_data:
        m = draw(st.integers(1, 6))
        prob = Problem(net, X=rng.standard_normal((widths[0], m)), Y=rng.standard_normal((widths[-1], m)))
    else:
        prob = Problem(net, target=rng.standard_normal((widths[-1], widths[0])))
    weights = tuple(0.8 * rng.standard_normal(s) for s in net.shapes)
    return prob, weights, rng


def _complex_step_gradient(prob, weights):
    """∂f/∂θ_i = Im f(θ + ih e_i)/h, exact to rounding for real-analytic f (h = 1e-30)."""
    theta = flatten(weights)
    h = 1e-30
    grad = np.empty_like(theta)
    for i in range(theta.size):
        z = theta.astype(complex)
        z[i] += 1j * h
        ws = unflatten_complex(z, prob.network.shapes)
        e2e = ws[0]
        for w in ws[1:]:
            e2e = w @ e2e
        r = e2e - prob.target if prob.is_whitened else e2e @ prob.X - prob.Y
        scale = 0.5 if prob.is_whitened else 0.5 / prob.n_samples
        grad[i] = (scale * np.sum(r * r)).imag / h
    return grad


def unflatten_complex(z, shapes):
    out, start = [], 0
    for a, b in shapes:
        out.append(z[start : start + a * b].reshape(a, b))
        start += a * b
    return out


@given(problems_and_points())
def test_gradient_matches_complex_step_and_central_differences(case):
    prob, weights, _ = case
    grad = flatten(prob.gradient(weights))
    # Complex step has no subtractive cancellation: agreement to rounding (1e-10 relative).
    cs = _complex_step_gradient(prob, weights)
    scale = max(1.0, np.abs(cs).max())
    assert np.allclose(grad, cs, rtol=1e-10, atol=1e-10 * scale)
    # Central differences: O(h²) truncation + O(eps/h) rounding, h = 1e-6 → ~1e-6 relative.
    theta = flatten(weights)
    h = 1e-6
    fd = np.array([
        (prob.loss(unflatten(theta + h * e, prob.network.shapes)) - prob.loss(unflatten(theta - h * e, prob.network.shapes))) / (2 * h)
        for e in np.eye(theta.size)
    ])
    fscale = max(1.0, abs(prob.loss(weights)))
    assert np.allclose(grad, fd, rtol=1e-5, atol=1e-5 * fscale)


@given(problems_and_points())
def test_hessian_symmetric_is_jacobian_of_gradient_and_matches_hvp(case):
    prob, weights, rng = case
    hess = prob.hessian(weights)
    theta = flatten(weights)
    p = theta.size
    assert hess.shape == (p, p)
    # hessian() symmetrizes, so compare the raw HVP columns too: asymmetry is rounding only.
    raw = np.array([prob.hvp(weights, e) for e in np.eye(p)]).T
    scale = max(1.0, np.abs(raw).max())
    assert np.abs(raw - raw.T).max() <= 1e-12 * scale * p
    # Jacobian of the analytic gradient by complex step on the gradient formula is not available
    # (the gradient code is real); central differences of the gradient, h = 1e-6: error ~1e-6.
    h = 1e-6
    jac = np.array([
        (flatten(prob.gradient(unflatten(theta + h * e, prob.network.shapes)))
         - flatten(prob.gradient(unflatten(theta - h * e, prob.network.shapes)))) / (2 * h)
        for e in np.eye(p)
    ]).T
    assert np.allclose(hess, jac, rtol=1e-5, atol=1e-5 * scale)
    v = rng.standard_normal(p)
    assert np.allclose(prob.hvp(weights, v), hess @ v, rtol=1e-12, atol=1e-12 * scale * np.abs(v).sum())
    vt = unflatten(v, prob.network.shapes)
    assert np.allclose(flatten(prob.hvp(weights, vt)), hess @ v, rtol=1e-12, atol=1e-12 * scale * np.abs(v).sum())


def test_sharpness_and_min_eigenvalue_are_extreme_eigenvalues():
    rng = np.random.default_rng(3)
    net = DeepLinearNetwork((3, 4, 2))
    prob = Problem(net, target=rng.standard_normal((2, 3)))
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    eig = np.linalg.eigvalsh(prob.hessian(w))
    assert prob.sharpness(w) == pytest.approx(eig[-1], rel=1e-12)
    assert prob.min_eigenvalue(w) == pytest.approx(eig[0], rel=1e-12)


def test_lanczos_path_for_large_networks_matches_dense(monkeypatch):
    import linflow._hessian as hessian_module

    rng = np.random.default_rng(5)
    net = DeepLinearNetwork((6, 8, 8, 3))
    prob = Problem(net, target=rng.standard_normal((3, 6)))
    w = tuple(0.5 * rng.standard_normal(s) for s in net.shapes)
    dense = np.linalg.eigvalsh(prob.hessian(w))
    monkeypatch.setattr(hessian_module, "DENSE_MAX_PARAMS", 10)
    # eigsh with tol 1e-12 on a well-separated top eigenvalue: 1e-9 relative is ample.
    assert prob.sharpness(w) == pytest.approx(dense[-1], rel=1e-9)


def test_end_to_end_flatten_roundtrip_and_batch_shapes():
    net = DeepLinearNetwork((2, 3, 4))
    rng = np.random.default_rng(0)
    w = tuple(rng.standard_normal((5,) + s) for s in net.shapes)
    flat = flatten(w)
    assert flat.shape == (5, net.n_params)
    back = unflatten(flat, net.shapes)
    assert all(np.array_equal(a, b) for a, b in zip(w, back))
    e2e = end_to_end(w)
    assert e2e.shape == (5, 4, 2)
    assert np.allclose(e2e[2], w[1][2] @ w[0][2])
    prob = Problem(net, target=np.ones((4, 2)))
    losses = prob.loss(w)
    assert losses.shape == (5,)
    assert losses[1] == pytest.approx(prob.loss(tuple(x[1] for x in w)))
    assert [b.shape for b in balancedness(w)] == [(5, 3, 3)]


def test_data_loss_with_identity_inputs_equals_whitened_loss():
    rng = np.random.default_rng(1)
    net = DeepLinearNetwork((3, 2, 2))
    phi = rng.standard_normal((2, 3))
    w = tuple(rng.standard_normal(s) for s in net.shapes)
    # X = √m·I over m = d0 samples makes XXᵀ/m = I: the two losses coincide.
    m = 3
    x = np.sqrt(m) * np.eye(3)
    data = Problem(net, X=x, Y=phi @ x)
    white = Problem(net, target=phi)
    assert data.loss(w) == pytest.approx(white.loss(w), rel=1e-13)
    assert np.allclose(data.hessian(w), white.hessian(w), atol=1e-12)
