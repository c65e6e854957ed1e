"""The built-in claims as property tests, and the numeric ingredients they rely on.

Every built-in claim tagged [checked] or [paper] must hold on every Hypothesis instance (the
`ci` profile: derandomized, 25 examples). [recalled] claims are checked by `linflow check` and
reported; a violation there is a finding about the recalled statement, not a test failure.
"""

import math

import numpy as np
import pytest
from hypothesis import given

import linflow
import linflow.claims as lc
from linflow.claims import _numerics as nm

# The central-flow claims (~1 s per instance) are property-tested with fewer examples in
# tests/test_claims_central.py.
BUILTIN = [
    c.name for c in lc.all()
    if c.module_path is None and c.measure.__module__.startswith("linflow.claims.")
    and c.measure.__module__ != "linflow.claims.central_flows"
]
# An extrapolated claim goes beyond its theorem, but it held wherever it was measured: tested too.
MUST_HOLD = [c.name for c in lc.all() if c.name in BUILTIN and c.tag in ("checked", "paper", "extrapolated")]
RECALLED = [c.name for c in lc.all() if c.name in BUILTIN and c.tag == "recalled"]


def test_every_issue_item_has_a_builtin_claim():
    assert len(BUILTIN) >= 12
    assert set(RECALLED) == {"arora2019_convergence", "kreisler_gfs_sharpness_decreases"}
    # Beyond the theorem's step size, and checked at a certified one as well.
    assert lc.get("scalar_output_global_convergence").tag == "extrapolated"
    assert lc.get("scalar_output_convergence_certified_step").tag == "paper"


@pytest.mark.parametrize("name", MUST_HOLD)
def test_checked_and_paper_claims_hold(name):
    claim = lc.get(name)

    @given(claim.instances)
    def holds_on(instance):
        result = claim.assert_holds(instance)
        assert result.verdict in ("holds", "hypotheses_not_met")

    holds_on()


@pytest.mark.parametrize("name", BUILTIN)
def test_canonical_instances(name):
    claim = lc.get(name)
    assert claim.canonical, f"{name} has no canonical instance"
    for instance in claim.canonical:
        result = claim.evaluate(instance)
        assert result.verdict == "holds", (name, result)


@pytest.mark.parametrize("name", RECALLED)
def test_recalled_claims_produce_a_report(name):
    report = linflow.check_claim(lc.get(name), examples=3)
    assert report.verdict in ("holds", "violated") and report.instances >= 3
    assert report.tag == "recalled"


# ---------------------------------------------------------------------------- bounds
def test_arora2019_constants_match_the_theory_example():
    # theory.md §3: N=3, c=0.5, ‖Φ‖_F=1 → η_max ≈ 5.98e-7, δ_max ≈ 3.62e-5.
    assert nm.bound_value("arora2019_step_size", depth=3, margin=0.5, target_norm=1.0) == pytest.approx(5.98e-7, rel=1e-3)
    assert nm.bound_value("arora2019_balancedness", depth=3, margin=0.5, target_norm=1.0) == pytest.approx(3.62e-5, rel=1e-3)


def test_vectorized_certificate_agrees_with_linflow_curvature():
    from linflow import curvature

    problem = linflow.Problem(linflow.DeepLinearNetwork((2, 2, 2)), target=np.diag([1.0, 0.5]))
    w0 = (0.5 * np.eye(2), 0.5 * np.eye(2) + 0.1)
    eta, steps = 0.002, 300
    t = eta * np.arange(steps + 1)
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, t[-1]), t_eval=t, rtol=1e-12, atol=1e-14)
    norms = nm.path_norms(problem, flow.weights)
    for eps in (1e-3, 1e-2, 1e-1):
        fast = nm.ec21_certificate(*norms, eta, eps)
        slow = curvature.error_certificate(problem, flow.weights, learning_rate=eta, epsilon=eps)
        assert np.allclose(fast["E"], slow.bound, rtol=1e-12, atol=0.0) and fast["valid"] == slow.valid
    beta, lam = nm.ball_curvature_bounds(norms[0][:5], norms[1][:5], 0.05)
    for k in range(5):
        w = tuple(x[k] for x in flow.weights)
        assert beta[k] == pytest.approx(curvature.smoothness_bound(problem, w, epsilon=0.05), rel=1e-13)
        assert lam[k] == pytest.approx(curvature.lambda_min_lower_bound(problem, w, epsilon=0.05), rel=1e-13)


def test_gfs_sharpness_matches_the_registry_n2_form():
    for row in np.array([[0.3, 1.2], [-0.7, 0.2]]):
        delta = row[0] ** 2 - row[1] ** 2
        expected = nm.bound_value("gfs_sharpness_n2", imbalance=delta, target=0.8)
        assert float(nm.gfs_sharpness(row, 0.8)) == pytest.approx(expected, rel=1e-13)


def test_gfs_sharpness_n2_closed_form():
    # theory.md §4: N = 2, φ = √(δ² + 4y²), δ = w_1² − w_2².
    rng = np.random.default_rng(0)
    w = rng.uniform(-2, 2, size=(50, 2))
    y = 1.3
    delta = w[:, 0] ** 2 - w[:, 1] ** 2
    assert np.allclose(nm.gfs_sharpness(w, y), np.sqrt(delta**2 + 4 * y * y), rtol=1e-13)


def test_gfs_sharpness_is_the_sharpness_of_the_gf_limit():
    w0 = np.array([0.3, 0.8, 1.1])
    y = 1.5
    problem = linflow.Problem(linflow.DeepLinearNetwork((1, 1, 1, 1)), target=[[y]])
    flow = linflow.integrate_flow(problem, tuple(np.array([[x]]) for x in w0), t_span=(0.0, 60.0))
    assert flow.losses[-1] < 1e-20
    # 1e-9: the GF limit is reached to ~1e-11 in the weights; the sharpness is smooth in them.
    assert problem.sharpness(flow.final_weights) == pytest.approx(float(nm.gfs_sharpness(w0, y)), rel=1e-9)


def test_ball_bounds_contain_the_true_curvature():
    rng = np.random.default_rng(1)
    problem = linflow.Problem(linflow.DeepLinearNetwork((2, 3, 3, 2)), target=rng.standard_normal((2, 2)))
    for _ in range(5):
        w = linflow.init.gaussian((2, 3, 3, 2), std=0.6, seed=rng)
        eps = 0.1
        norms, loss_grad, _ = nm.path_norms(problem, tuple(x[None] for x in w))
        upper, lower = nm.ball_curvature_bounds(norms, loss_grad, eps)
        for _ in range(10):
            d = rng.standard_normal(problem.network.n_params)
            point = linflow.unflatten(linflow.flatten(w) + eps * rng.uniform() * d / np.linalg.norm(d), problem.network.shapes)
            eig = np.linalg.eigvalsh(problem.hessian(point))
            assert eig[0] >= lower[0] - 1e-12 and max(abs(eig[0]), eig[-1]) <= upper[0] + 1e-12


def test_lambda_min_bound_is_tight_at_zero_for_depth_two():
    # theory.md §2: for N = 2 at θ = 0 the bound equals −‖Φ‖₂.
    phi = np.diag([2.0, 0.5])
    problem = linflow.Problem(linflow.DeepLinearNetwork((2, 2, 2)), target=phi)
    zero = (np.zeros((2, 2)), np.zeros((2, 2)))
    norms, loss_grad, _ = nm.path_norms(problem, tuple(x[None] for x in zero))
    assert nm.ball_curvature_bounds(norms, loss_grad, 0.0)[1][0] == pytest.approx(problem.min_eigenvalue(zero))
    assert problem.min_eigenvalue(zero) == pytest.approx(-2.0)


def test_ec21_certificate_bounds_the_true_distance():
    from linflow import curvature

    problem = linflow.Problem(linflow.DeepLinearNetwork((2, 2, 2)), target=np.diag([1.0, 0.5]))
    w0 = (0.5 * np.eye(2), 0.5 * np.eye(2) + 0.1)
    eta, steps = 0.002, 500
    t = eta * np.arange(steps + 1)
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, t[-1]), t_eval=t, rtol=1e-12, atol=1e-14)
    eps = nm.best_epsilon(*nm.path_norms(problem, flow.weights), eta)
    cert = curvature.error_certificate(problem, flow.weights, learning_rate=eta, epsilon=eps)
    assert cert.valid, cert.message
    gd = linflow.simulate_descent(problem, w0, learning_rate=eta, n_steps=steps, reference=linflow.flatten(flow.weights))
    assert 0 < gd.reference_distance <= cert.bound.max()


def test_claims_report_tightness_for_every_bound_claim():
    for claim in lc.all():
        if claim.name in BUILTIN and claim.relation in ("<=", ">=", "converges"):
            result = claim.evaluate(claim.canonical[0])
            assert result.ratio is not None and math.isfinite(result.ratio), claim.name


# ---------------------------------------------------------------------------- margin rates
def test_margin_rate_general_form_holds_and_square_form_fails_on_a_non_square_target():
    import linflow.bounds as lb
    from linflow.claims._convergence import NON_SQUARE_COUNTEREXAMPLE as inst

    assert lc.get("gf_margin_rate").evaluate(inst).verdict == "holds"
    assert lc.get("gf_margin_rate_square").evaluate(inst).verdict == "hypotheses_not_met"
    # The square form's bound itself, measured on the flow (widths (2, 2, 2, 1), c = 0.7).
    c = 1.0 - np.linalg.norm(linflow.end_to_end(inst.weights) - inst.target)
    assert c == pytest.approx(0.7, rel=1e-12)
    flow = linflow.integrate_flow(inst.problem, inst.weights, t_span=(0.0, 3.0), t_eval=[0.0, 3.0], rtol=1e-12, atol=1e-14)
    loss0, loss3 = flow.losses
    assert 2 * 3 * c ** (4 / 3) == pytest.approx(3.73, abs=0.01)  # the square form's rate
    assert -np.log(loss3 / loss0) / 3.0 == pytest.approx(2.0, abs=0.05)  # the measured mean rate
    params = dict(depth=3, margin=c, initial_loss=loss0, time=3.0)
    assert loss3 / lb.get("gf_margin_rate_square").evaluate(**params) > 150  # the audit's factor ≈ 172
    assert loss3 / lb.get("gf_margin_rate").evaluate(**params) < 0.2


def test_margin_instances_cover_the_theorems_shapes():
    from hypothesis import HealthCheck, settings

    from linflow.claims._common import margin_of
    from linflow.claims._convergence import _margin_instances

    seen = set()

    @settings(max_examples=150, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_margin_instances())
    def collect(inst):
        d0, dn = inst.widths[0], inst.widths[-1]
        sigma_min = np.linalg.svd(inst.target, compute_uv=False).min()
        features = {
            "depth 1": inst.depth == 1, "d0 < dN": d0 < dn, "d0 > dN": d0 > dn, "square": d0 == dn,
            "scalar output": dn == 1, "scalar input": d0 == 1, "margin < 5% of σ_min": margin_of(inst) < 0.05 * sigma_min,
        }
        seen.update(name for name, present in features.items() if present)

    collect()
    assert {"depth 1", "d0 < dN", "d0 > dN", "square", "scalar output", "scalar input", "margin < 5% of σ_min"} <= seen
