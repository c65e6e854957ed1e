"""linflow.symbolic against the numeric engine, at three levels (as pydy does).

1. symbolic identity (the heavy ones live in proofs/, run by tests/test_proofs.py);
2. code generated from the SymPy expressions (linflow._codegen) vs hand-written NumPy;
3. both vs the numeric model (linflow.Problem, simulate_descent, integrate_flow, exact).
"""

import functools

import numpy as np
import pytest
import sympy as sm
from hypothesis import assume, given, strategies as st
from scipy.optimize import brentq

import linflow
from linflow import DeepLinearNetwork, Problem, exact, init, integrate_flow, simulate_descent
from linflow._codegen import numpy_array_function, numpy_function, ordered_symbols
from linflow.symbolic import (
    ScalarNetwork,
    balanced_flow_antiderivative,
    balanced_flow_n2_solution,
    gfs_sharpness_n2,
    homogeneous,
    matrix,
    minimal_sharpness,
)


def _scalar_problem(depth, y):
    return Problem(DeepLinearNetwork((1,) * (depth + 1)), target=[[y]])


def _as_weights(w):
    return tuple(np.array([[x]]) for x in w)


def _signed(mags, signs):
    return np.array([m * (-1.0 if signs >> i & 1 else 1.0) for i, m in enumerate(mags)])


@functools.lru_cache(maxsize=None)
def _scalar_functions(depth):
    """Generated gradient / Hessian / loss of the scalar net, arguments (w_1…w_N, y)."""
    net = ScalarNetwork(depth)
    args = (*net.weights, net.target)
    return (
        numpy_array_function(net.gradient(), args),
        numpy_array_function(net.hessian(), args),
        numpy_function(net.loss(), args)[0],
    )


def _handwritten(w, y):
    """theory.md §4 formulas in plain NumPy: ∂_i f = (π − y)π_{−i}, H_ij = π_{−i}π_{−j} + (π − y)π_{−ij}."""
    n = len(w)
    pi = np.prod(w)
    pm = np.array([np.prod(np.delete(w, i)) for i in range(n)])
    hess = np.outer(pm, pm)
    for i in range(n):
        for j in range(n):
            if i != j:
                hess[i, j] += (pi - y) * np.prod(np.delete(w, [i, j]))
    return (pi - y) * pm, hess


depths = st.integers(1, 6)
targets = st.floats(-2.0, 2.0).filter(lambda v: abs(v) > 0.05)
magnitudes = st.lists(st.floats(0.2, 1.6), min_size=6, max_size=6)
sign_masks = st.integers(0, 63)


@given(depths, targets, magnitudes, sign_masks)
def test_scalar_generated_code_matches_handwritten_numpy_and_model(depth, y, mags, signs):
    w = _signed(mags[:depth], signs)
    grad_fn, hess_fn, loss_fn = _scalar_functions(depth)
    grad_gen = grad_fn(*w, y)[:, 0]
    hess_gen = hess_fn(*w, y)
    grad_hand, hess_hand = _handwritten(w, y)
    prob = _scalar_problem(depth, y)
    grad_model = np.array([g[0, 0] for g in prob.gradient(_as_weights(w))])
    # Entries are O(10); products of ≤ 6 factors: a few ulps of relative error.
    for a, b in ((grad_gen, grad_hand), (grad_gen, grad_model)):
        assert np.allclose(a, b, rtol=1e-13, atol=1e-13)
    assert np.allclose(hess_gen, hess_hand, rtol=1e-13, atol=1e-13)
    assert np.allclose(hess_gen, prob.hessian(_as_weights(w)), rtol=1e-12, atol=1e-12)
    assert loss_fn(*w, y) == pytest.approx(prob.loss(_as_weights(w)), rel=1e-13, abs=1e-15)


def test_generated_code_is_vectorized_over_batches():
    grad_fn, hess_fn, _ = _scalar_functions(3)
    rng = np.random.default_rng(0)
    w = rng.uniform(0.3, 1.5, size=(3, 7))
    y = rng.uniform(0.5, 2.0, size=7)
    batch = hess_fn(*w, y)
    assert batch.shape == (7, 3, 3)
    for b in range(7):
        assert np.array_equal(batch[b], hess_fn(*w[:, b], y[b]))
    assert grad_fn(*w, 1.0).shape == (7, 3, 1)  # scalar y broadcasts


@given(st.integers(2, 6), st.floats(0.3, 3.0), magnitudes, sign_masks)
def test_sharpness_at_minimum_and_minimal_sharpness_match_model(depth, y, mags, signs):
    net = ScalarNetwork(depth)
    w = _signed(mags[:depth], signs & ~1)  # w_1 > 0 carries the sign fix below
    w *= (abs(y) / np.prod(np.abs(w))) ** (1.0 / depth)
    w[0] *= np.sign(y) * np.sign(np.prod(w))  # now π = y exactly (a global minimum)
    prob = _scalar_problem(depth, y)
    subs = dict(zip(net.weights, w)) | {net.target: y}
    symbolic_s = float(net.sharpness_at_minimum().subs(subs))
    model_s = prob.sharpness(_as_weights(w))
    assert symbolic_s == pytest.approx(model_s, rel=1e-10)
    f_min, args = numpy_function(minimal_sharpness(depth, net.target), (net.target,))
    s_min = float(f_min(y))
    balanced = np.full(depth, abs(y) ** (1.0 / depth))
    balanced[0] *= np.sign(y)
    assert prob.sharpness(_as_weights(balanced)) == pytest.approx(s_min, rel=1e-10)
    # AM–GM: no minimum is flatter than the balanced one (1e-10: eigvalsh rounding).
    assert model_s >= s_min * (1 - 1e-10)
    spectrum = net.spectrum_at_minimum()
    model_eigs = np.linalg.eigvalsh(prob.hessian(_as_weights(w)))
    assert np.allclose(np.sort(model_eigs)[:-1], 0.0, atol=1e-9 * model_s)
    assert sum(spectrum.values()) == depth


@given(st.integers(2, 6), targets, magnitudes, sign_masks, st.floats(0.01, 0.3))
def test_gd_balancing_factor_matches_simulate_descent(depth, y, mags, signs, eta):
    net = ScalarNetwork(depth)
    w = _signed(mags[:depth], signs)
    prob = _scalar_problem(depth, y)
    res = simulate_descent(prob, _as_weights(w), learning_rate=eta, n_steps=1)
    w_next = np.array([layer[0, 0] for layer in res.final_weights])
    f, _ = numpy_function(net.gd_balancing_factor(0, 1), (*net.weights, net.target, net.learning_rate))
    predicted = (w[0] ** 2 - w[1] ** 2) * f(*w, y, eta)
    # Relative to the terms that cancel (w_i² ≤ 2.6): a few ulps.
    assert w_next[0] ** 2 - w_next[1] ** 2 == pytest.approx(predicted, rel=1e-10, abs=1e-13)


@given(st.floats(0.3, 2.0), st.floats(0.2, 1.5), st.floats(0.2, 1.5))
def test_gfs_sharpness_n2_matches_flow_limit(y, a, b):
    prob = _scalar_problem(2, y)
    w0 = _as_weights([a, b])
    flow = integrate_flow(prob, w0, t_span=(0.0, 60.0))
    assert flow.success
    delta = a**2 - b**2
    f, _ = numpy_function(gfs_sharpness_n2(), ordered_symbols(gfs_sharpness_n2()))  # (delta, y)
    # The flow converges exponentially (rate ≥ √(δ²+4y²) − …); after t = 60 only the
    # integrator tolerance (rtol 1e-10) is left.
    assert prob.sharpness(flow.final_weights) == pytest.approx(float(f(delta, y)), rel=1e-7)


@given(st.integers(2, 4), st.floats(0.5, 2.0), magnitudes)
def test_gf_limit_equation_gives_flow_limit_for_any_depth(depth, y, mags):
    net = ScalarNetwork(depth)
    w = np.array(mags[:depth])
    prob = _scalar_problem(depth, y)
    flow = integrate_flow(prob, _as_weights(w), t_span=(0.0, 80.0))
    c = sm.Symbol("c", real=True)
    eq, _ = numpy_function(net.gf_limit_equation(c), (*net.weights, net.target, c))
    # Π(w_i² + c) − y² increases in c on c > −min w_i²: one root there.
    root = brentq(lambda cc: float(eq(*w, y, cc)), -np.min(w**2) + 1e-14, 10.0 * y**2 + 10.0, xtol=1e-15)
    limit = np.array([layer[0, 0] for layer in flow.final_weights])
    assume(abs(np.prod(limit) - y) < 1e-6 * y)  # converged by t = 80 (not a tiny-product start)
    assert np.allclose(limit**2, w**2 + root, rtol=1e-6, atol=1e-8)
    phi, _ = numpy_function(net.gfs_sharpness(c), (*net.weights, net.target, c))
    assert prob.sharpness(flow.final_weights) == pytest.approx(float(phi(*w, y, root)), rel=1e-6)


@given(st.floats(0.3, 2.0), st.floats(0.01, 0.9), st.floats(0.1, 3.0))
def test_balanced_n2_closed_form_matches_flow_and_exact(y, frac, t):
    p0 = frac * y
    sol = balanced_flow_n2_solution()
    f, args = numpy_function(sol, sorted(sol.free_symbols, key=str))  # (pi_0, t, y)
    assert [str(a) for a in args] == ["pi_0", "t", "y"]
    symbolic = float(f(p0, t, y))
    assert symbolic == pytest.approx(float(exact.scalar_balanced_n2(y, p0, t)), rel=1e-13)
    root = np.sqrt(p0)
    flow = integrate_flow(_scalar_problem(2, y), _as_weights([root, root]), t_span=(0.0, t))
    product = flow.final_weights[0][0, 0] * flow.final_weights[1][0, 0]
    assert product == pytest.approx(symbolic, rel=1e-8)  # integrator rtol 1e-10


@pytest.mark.parametrize("depth", [3, 4])
def test_balanced_flow_antiderivative_gives_flow_times(depth):
    anti, (p, y) = balanced_flow_antiderivative(depth)
    F, _ = numpy_function(sm.re(anti) if anti.has(sm.I) else anti, (p, y))
    y_val, p0 = 1.3, 0.05
    w0 = np.full(depth, p0 ** (1.0 / depth))
    times = np.array([0.5, 1.0, 2.0, 3.5])
    flow = integrate_flow(_scalar_problem(depth, y_val), _as_weights(w0), t_span=(0.0, times[-1]), t_eval=times)
    products = np.prod([layer[:, 0, 0] for layer in flow.weights], axis=0)
    predicted_t = F(products, y_val) - F(p0, y_val)
    assert np.allclose(predicted_t, times, rtol=1e-7)  # integrator tolerance


def test_balanced_flow_antiderivative_validates_depth():
    with pytest.raises(TypeError, match="depth"):
        balanced_flow_antiderivative(2.0)
    with pytest.raises(ValueError, match="depth"):
        ScalarNetwork(0)
    with pytest.raises(ValueError, match="indices"):
        ScalarNetwork(3).partial_product(0, 3)


@functools.lru_cache(maxsize=None)
def _matrix_functions(widths):
    weights = matrix.weight_matrices(widths)
    target = matrix.target_matrix(widths[-1], widths[0])
    eta = sm.Symbol("eta", positive=True)
    args = [e for w in weights for e in w] + list(target) + [eta]
    grads = [numpy_array_function(g, args) for g in matrix.gradients(weights, target)]
    drift = [numpy_array_function(d, args) for d in matrix.balancedness_gd_drift(weights, target, eta)]
    return grads, drift


@given(st.sampled_from([(2, 3, 2), (1, 2, 2, 1)]), st.integers(0, 2**31), st.floats(0.01, 0.2))
def test_matrix_gradients_and_gd_drift_match_model(widths, seed, eta):
    rng = np.random.default_rng(seed)
    net = DeepLinearNetwork(widths)
    weights = tuple(rng.standard_normal(s) * 0.8 for s in net.shapes)
    target = rng.standard_normal((widths[-1], widths[0]))
    args = [*np.concatenate([w.ravel() for w in weights]), *target.ravel(), eta]
    grads, drift = _matrix_functions(widths)
    prob = Problem(net, target=target)
    for g_fn, g_model in zip(grads, prob.gradient(weights)):
        assert np.allclose(g_fn(*args), g_model, rtol=1e-12, atol=1e-12)
    stepped = simulate_descent(prob, weights, learning_rate=eta, n_steps=1).final_weights
    for j, d_fn in enumerate(drift):
        change = linflow.balancedness(stepped)[j] - linflow.balancedness(weights)[j]
        assert np.allclose(change, d_fn(*args), rtol=1e-10, atol=1e-12)


def test_deep_saxe_mode_matches_matrix_flow():
    # A (3, 3, 3, 2) net from Saxe's decoupled init: each mode follows u' = 3u^{4/3}(s − u);
    # the registry's learning time (quadrature of that ODE) predicts when u reaches 0.9·s.
    rng = np.random.default_rng(4)
    phi = rng.standard_normal((2, 3))
    u, s, vt = np.linalg.svd(phi, full_matrices=False)
    widths = (3, 3, 3, 2)
    w0 = init.spectral(widths, phi, mode_strength=0.02, seed=1)
    prob = Problem(DeepLinearNetwork(widths), target=phi)
    bound = linflow.bounds.get("saxe_learning_time")
    predicted = bound.evaluate(depth=3, singular_value=s, initial_strength=0.02, fraction=0.9)
    flow = integrate_flow(prob, w0, t_span=(0.0, float(predicted.max()) * 1.5))
    shapes = prob.network.shapes

    def strength(t, r):
        e2e = linflow.end_to_end(linflow.unflatten(flow.sol(t), shapes))
        return u[:, r] @ e2e @ vt[r] - 0.9 * s[r]

    for r in range(2):
        t_hit = brentq(strength, 0.0, float(predicted.max()) * 1.5, args=(r,), xtol=1e-12)
        assert t_hit == pytest.approx(predicted[r], rel=1e-6)  # flow rtol 1e-10, dense output


@given(st.integers(0, 2**31))
def test_relu_pieces_match_numeric_forward(seed):
    pieces, weights, x = _relu_pieces()
    rng = np.random.default_rng(seed)
    values = {e: rng.standard_normal() for w in weights for e in w} | {xi: rng.standard_normal() for xi in x}
    alpha = 0.1
    w_num = [np.array(w.subs(values), dtype=float) for w in weights]
    h, pattern = np.array([values[xi] for xi in x]), []
    for j, w in enumerate(w_num):
        z = w @ h
        if j < len(w_num) - 1:
            pattern.extend(bool(v > 0) for v in z)
            z = np.where(z > 0, z, alpha * z)
        h = z
    expr = pieces[tuple(pattern)].subs(values | {sm.Symbol("alpha", nonnegative=True): alpha})
    assert float(expr) == pytest.approx(float(h[0]), rel=1e-12, abs=1e-12)


@functools.lru_cache(maxsize=None)
def _relu_pieces():
    return homogeneous.relu_network_pieces((2, 2, 2, 1))


def test_codegen_argument_order_and_errors():
    a, b = sm.symbols("a b")
    f, order = numpy_function(3 * b + a**2)
    assert order == (a, b) and float(f(1.0, 2.0)) == 7.0
    g, _ = numpy_function(sm.Integer(2), (a,))
    assert g(np.zeros(4)).shape == (4,)  # constants broadcast to the input shape
    with pytest.raises(ValueError, match="missing"):
        numpy_function(a + b, (a,))
    with pytest.raises(ValueError, match="missing"):
        numpy_array_function(sm.Matrix([[a, b]]), (a,))


def test_import_linflow_does_not_import_sympy():
    import subprocess
    import sys

    code = "import sys, linflow; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("depth", [2, 5, 12])
def test_fast_structured_products_equal_sympy_canonical_forms(depth):
    # ScalarNetwork builds products with Mul._from_args on canonically ordered factors; they must
    # be structurally identical to SymPy's own Mul (w_10 sorts before w_2: depth 12 checks it).
    net = ScalarNetwork(depth)
    w, y = net.weights, net.target
    hess, at_min = net.hessian(), net.hessian_at_minimum()
    for i in range(depth):
        assert hess[i, i] == sm.Mul(*[w[k] for k in range(depth) if k != i]) ** 2
        for j in range(i + 1, depth):
            rest = [w[k] for k in range(depth) if k not in (i, j)]
            assert hess[i, j] == sm.Mul(2 * net.product - y, *rest)
            assert at_min[i, j] == y**2 / (w[i] * w[j])
