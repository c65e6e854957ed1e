"""The bound registry: names, metadata, evaluators vs SymPy, errors, and bounds vs the model."""

import zlib

import numpy as np
import pytest
import sympy as sm
from hypothesis import given, strategies as st

import linflow
import linflow.bounds as lb
from linflow import DeepLinearNetwork, Problem, init, integrate_flow
from linflow.cli import main

REQUIRED = (
    "stability_threshold", "min_sharpness_scalar", "min_sharpness_balanced", "arora2019_balancedness",
    "arora2019_step_size", "arora2019_iterations", "gf_margin_rate", "gf_margin_rate_square", "ec21_error_recursion",
    "ec21_error_bound", "deep_linear_lambda_min", "smoothness_ball", "imbalance_rate_n2",
    "saxe_learning_time",
)


def test_registry_has_the_stable_names_and_complete_metadata():
    names = lb.names()
    assert set(REQUIRED) <= set(names) and len(names) == len(set(names))
    assert [b.name for b in lb.all()] == list(names)
    for b in lb.all():
        assert lb.get(b.name) is b
        assert isinstance(b.expr, sm.Expr) and b.hypotheses and b.description
        assert b.source.tag in ("checked", "paper", "recalled") and b.source.paper and b.source.theorem
        assert set(b.symbols) == set(b.parameter_names)
        assert {p.symbol for p in b.parameters} >= b.expr.free_symbols
        for p in b.parameters:
            assert p.meaning and str(p.domain)
        assert b.relation in (r"\le", r"\ge", "=") and b.relation in b.latex()
        assert sm.latex(b.expr) in b.latex()
    # theory.md tags Arora et al. 2019 and the Kreisler step condition [recalled].
    for name in ("arora2019_balancedness", "arora2019_step_size", "arora2019_iterations", "kreisler2023_step_size"):
        assert lb.get(name).source.tag == "recalled"
        assert "recalled" in str(lb.get(name).source)


def test_get_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError, match="did you mean stability_threshold"):
        lb.get("stability_treshold")
    with pytest.raises(TypeError, match="name must be a str"):
        lb.get(3)


def test_arora2019_example_from_theory_md():
    # theory.md §3: N = 3, c = 0.5, ‖Φ‖_F = 1 → η_max ≈ 5.98e-7, δ_max ≈ 3.62e-5 (3 digits quoted).
    eta = lb.get("arora2019_step_size").evaluate(depth=3, margin=0.5, target_norm=1.0)
    delta = lb.get("arora2019_balancedness").evaluate(depth=3, margin=0.5, target_norm=1.0)
    assert f"{eta:.2e}" == "5.98e-07" and f"{delta:.2e}" == "3.62e-05"
    assert delta == pytest.approx(1 / 27648, rel=1e-15)
    t = lb.get("arora2019_iterations").evaluate(depth=3, margin=0.5, learning_rate=eta, initial_loss=1.0, epsilon=1e-3)
    assert t == pytest.approx(np.log(1e3) / (eta * 0.5 ** (4 / 3)), rel=1e-14)


# ---------------------------------------------------------------------- evaluator vs SymPy
def _draw(param, rng):
    name, dom = param.name, param.domain
    if dom is lb.DEPTH or dom is lb.DEPTH2:
        return int(rng.integers(2, 7))
    if dom is lb.COUNT:
        return int(rng.integers(0, 200))
    if dom is lb.UNIT_INTERVAL:
        return float(rng.uniform(0.05, 0.95))
    if dom is lb.NONPOSITIVE:
        return -float(rng.uniform(0.0, 5.0))
    if dom is lb.REAL or dom is lb.NONZERO:
        return float(rng.choice([-1, 1]) * rng.uniform(0.1, 3.0))
    scale = {"learning_rate": 0.01, "epsilon": 0.1, "initial_strength": 0.01, "time": 2.0}.get(name, 1.0)
    return float(scale * rng.uniform(0.1, 3.0))


def _valid_params(bound, rng):
    for _ in range(1000):
        params = {p.name: _draw(p, rng) for p in bound.parameters}
        arrays = {k: np.asarray(v, float) for k, v in params.items()}
        if all(np.all(c.check(*(arrays[n] for n in c.names))) for c in bound.constraints):
            return params
    raise AssertionError(f"no valid draw for {bound.name}")


@pytest.mark.parametrize("name", lb.names())
def test_numeric_evaluator_agrees_with_sympy_expression(name):
    bound = lb.get(name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # stable across processes
    for _ in range(3 if name == "saxe_learning_time" else 6):
        params = _valid_params(bound, rng)
        subs = {bound.symbols[k].symbol: sm.nsimplify(v, rational=True) for k, v in params.items()}
        reference = complex(bound.expr.subs(subs).evalf(25))
        assert reference.imag == 0
        value = bound.evaluate(**params)
        # 1e-12 relative: generated code and Gauss–Legendre quadrature vs 25-digit evaluation.
        assert value == pytest.approx(reference.real, rel=1e-12, abs=1e-300), params


@pytest.mark.parametrize("name", lb.names())
def test_evaluate_is_vectorized(name):
    bound = lb.get(name)
    rng = np.random.default_rng(1)
    draws = [_valid_params(bound, rng) for _ in range(5)]
    arrays = {k: np.array([d[k] for d in draws]) for k in bound.parameter_names}
    out = bound.evaluate(**arrays)
    assert out.shape == (5,)
    for i, d in enumerate(draws):
        assert out[i] == pytest.approx(bound.evaluate(**d), rel=1e-14)
    assert isinstance(bound.evaluate(**draws[0]), float)


def test_evaluate_reports_missing_unknown_and_out_of_domain_parameters():
    b = lb.get("min_sharpness_scalar")
    with pytest.raises(TypeError, match=r"missing \['target'\]"):
        b.evaluate(depth=3)
    with pytest.raises(TypeError, match=r"unknown \['y'\]"):
        b.evaluate(depth=3, target=1.0, y=2.0)
    with pytest.raises(ValueError, match="depth .* must be an integer ≥ 1; got depth=2.5"):
        b.evaluate(depth=2.5, target=1.0)
    with pytest.raises(ValueError, match="target"):
        b.evaluate(depth=2, target=0.0)
    with pytest.raises(ValueError, match="learning_rate .* must be > 0"):
        lb.get("stability_threshold").evaluate(learning_rate=np.array([0.1, -0.1]))
    with pytest.raises(ValueError, match="must be finite"):
        lb.get("stability_threshold").evaluate(learning_rate=np.inf)
    with pytest.raises(TypeError, match="real number"):
        lb.get("stability_threshold").evaluate(learning_rate=True)
    with pytest.raises(TypeError, match="real number"):
        lb.get("stability_threshold").evaluate(learning_rate="0.1")
    with pytest.raises(ValueError, match="do not broadcast"):
        b.evaluate(depth=np.array([2, 3]), target=np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="requires learning_rate \\* smoothness ≤ 1"):
        lb.get("ec21_error_recursion").evaluate(
            previous_error=0.0, learning_rate=0.5, curvature_lower=-1.0, smoothness=4.0, gradient_bound=1.0
        )
    with pytest.raises(ValueError, match="u_0 < αs"):
        lb.get("saxe_learning_time").evaluate(depth=2, singular_value=1.0, initial_strength=0.95, fraction=0.9)


def test_cli_bounds_prints_registry_and_latex(capsys):
    assert main(["bounds"]) == 0
    text = capsys.readouterr().out
    for name in REQUIRED:
        assert name in text
    assert "[recalled]" in text and "formula:" in text
    assert main(["bounds", "--latex", "stability_threshold"]) == 0
    latex = capsys.readouterr().out
    assert r"\frac{2}{\eta}" in latex and r"\label{bound:stability_threshold}" in latex
    assert main(["bounds", "no_such_bound"]) == 2


# ---------------------------------------------------------------------- bounds vs the model
@given(st.integers(2, 4), st.integers(0, 2**31))
def test_min_sharpness_balanced_matches_model(depth, seed):
    rng = np.random.default_rng(seed)
    widths = (3,) + (3,) * (depth - 1) + (2,)
    phi = rng.standard_normal((2, 3))
    prob = Problem(DeepLinearNetwork(widths), target=phi)
    w = init.balanced(widths, phi, seed=int(rng.integers(1 << 30)))
    smax = np.linalg.norm(phi, 2)
    value = lb.get("min_sharpness_balanced").evaluate(depth=depth, sigma_max=smax)
    assert prob.sharpness(w) == pytest.approx(value, rel=1e-9)


@given(st.floats(0.2, 2.0), st.floats(0.1, 1.5), st.floats(0.1, 1.5))
def test_imbalance_rate_n2_holds_along_flow(y, a, b):
    prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[y]])
    times = np.linspace(0.0, 3.0, 13)
    flow = integrate_flow(prob, (np.array([[a]]), np.array([[b]])), t_span=(0.0, 3.0), t_eval=times)
    bound = lb.get("imbalance_rate_n2").evaluate(initial_loss=flow.losses[0], imbalance=a**2 - b**2, time=times)
    # The bound is an inequality, ℓ' = −2(w_1² + w_2²)ℓ ≤ −2|δ|ℓ; slack 1e-9 for the integrator.
    assert np.all(flow.losses <= bound * (1 + 1e-9) + 1e-15)


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31))
def test_gf_margin_rate_holds_along_flow(depth, d0, dn, seed):
    # Any shape (d_0 ≠ d_N included); the square form only when d_0 = d_N.
    rng = np.random.default_rng(seed)
    r = min(d0, dn)
    q1, _ = np.linalg.qr(rng.standard_normal((dn, dn)))
    q2, _ = np.linalg.qr(rng.standard_normal((d0, d0)))
    sing = np.linspace(1.5, 1.0, r)
    phi = (q1[:, :r] * sing) @ q2[:, :r].T
    c = 0.4
    e = rng.standard_normal((dn, d0))
    e *= (sing.min() - c) * rng.uniform(0.2, 1.0) / np.linalg.norm(e)  # ‖W_e(0) − Φ‖_F ≤ σ_min − c
    widths = (d0, *(max(d0, dn),) * (depth - 1), dn)
    w0 = init.balanced(widths, phi + e, seed=1)
    prob = Problem(DeepLinearNetwork(widths), target=phi)
    times = np.linspace(0.0, 2.0, 9)
    flow = integrate_flow(prob, w0, t_span=(0.0, 2.0), t_eval=times, rtol=1e-12, atol=1e-14)
    names = ["gf_margin_rate"] + (["gf_margin_rate_square"] if d0 == dn else [])
    for name in names:
        bound = lb.get(name).evaluate(depth=depth, margin=c, initial_loss=flow.losses[0], time=times)
        assert np.all(flow.losses <= bound * (1 + 1e-8) + 1e-14), name  # integrator slack


@given(st.integers(2, 4), st.integers(0, 2**31), st.floats(0.0, 0.3))
def test_uniform_curvature_bounds_hold_in_the_ball(depth, seed, eps):
    rng = np.random.default_rng(seed)
    widths = (2,) * (depth + 1)
    net = DeepLinearNetwork(widths)
    prob = Problem(net, target=rng.standard_normal((2, 2)))
    w = tuple(rng.standard_normal(s) * 0.7 for s in net.shapes)
    rho = max(np.linalg.norm(x, 2) for x in w)
    g = np.linalg.norm(prob.end_to_end_gradient(linflow.end_to_end(w)), 2)
    params = dict(depth=depth, gradient_norm=g, layer_norm=rho, epsilon=eps)
    low = lb.get("deep_linear_lambda_min").evaluate(**params)
    high = lb.get("smoothness_ball").evaluate(**params)
    for _ in range(3):
        v = rng.standard_normal(net.n_params)
        v *= eps * rng.uniform() / max(np.linalg.norm(v), 1e-300)
        point = net.unflatten(net.flatten(w) + v)
        eigs = np.linalg.eigvalsh(prob.hessian(point))
        # Rigorous bounds; 1e-10 relative slack for eigvalsh rounding.
        assert eigs[0] >= low - 1e-10 * abs(low) - 1e-12
        assert np.abs(eigs).max() <= high * (1 + 1e-10)
