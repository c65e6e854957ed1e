"""Central flows (Cohen et al. 2025): closed forms, edge holding, scalar edge of stability."""

import numpy as np
import pytest

from linflow import DeepLinearNetwork, Problem, Status, integrate_central_flow, integrate_flow, simulate_descent
from linflow._central_flow_claims import (
    measure_edge_sharpness,
    measure_loss_monotonicity,
    measure_tracking,
    scalar_edge_instance,
)
from linflow._edge_eigen import dense_hessian
from linflow._third_derivative import third_derivative_contraction
from linflow.central_flow import _Config, _evaluate
from linflow.network import flatten, unflatten
from linflow.optimizers import as_optimizer


def _config(problem, eta, optimizer="gd", beta2=None, ablation=None):
    return _Config(problem=problem, eta=eta, optimizer=as_optimizer(optimizer, beta2), dt=0.25,
                   ablation=ablation, edge_threshold=1.95, edge_tolerance=0.05, max_oscillation_ratio=10.0,
                   n_eigenvalues=3, dense=True, sdcp_tol=1e-13)


def _sharpening_point(seed_start=0):
    """A random (3,3,2) network at which GF increases the sharpness (⟨−∇L, ∇S⟩ > 0)."""
    for seed in range(seed_start, seed_start + 200):
        rng = np.random.default_rng(seed)
        prob = Problem(DeepLinearNetwork((3, 3, 2)), target=rng.standard_normal((2, 3)))
        w = tuple(0.5 * rng.standard_normal(s) for s in prob.network.shapes)
        lam, vecs = np.linalg.eigh(prob.hessian(w))
        grad_s = third_derivative_contraction(prob, w, vecs[:, -1], vecs[:, -1])
        g = flatten(prob.gradient(w))
        if -g @ grad_s > 0 and lam[-1] - lam[-2] > 0.1:
            return prob, w, lam[-1], vecs[:, -1], g, grad_s
    raise AssertionError("no sharpening point found")


def test_gd_single_eigenvalue_matches_closed_form_and_holds_the_edge():
    prob, w, S, u, g, grad_s = _sharpening_point()
    eta = 2.0 / S  # exactly at the edge: the folded residual vanishes
    ev = _evaluate(_config(prob, eta), flatten(w), None, None, None)
    assert ev.k == 1
    sigma2 = eta * ev.X[0, 0]  # X is in the basis u·√η; σ² in the unit eigenvector basis
    expected = 2 * (-g @ grad_s) / (grad_s @ grad_s)  # theory/central-flows [paper]
    # Same quantities through the SDCP scaling: rounding only (1e-10 relative).
    assert sigma2 == pytest.approx(expected, rel=1e-10)
    assert abs(grad_s @ ev.dtheta) <= 1e-10 * np.linalg.norm(grad_s) * np.linalg.norm(ev.dtheta)  # dS/dt = 0
    # Predicted time-averaged loss L + ½⟨Σ, H⟩ = L + σ²S/2 = L + tr Σ/η at the edge.
    assert ev.predicted_loss == pytest.approx(ev.loss + ev.sigma_trace / eta, rel=1e-12)


def test_scalar_rmsprop_single_eigenvalue_matches_closed_form():
    prob, w, S, u, g, grad_s = _sharpening_point()
    eta, beta2 = 4 * np.linalg.norm(g) / S, 0.9  # ν = (ηS/2)² > ‖g‖²: ν decays, the edge binds
    c = (1 - beta2) / beta2
    nu = (eta * S / 2) ** 2  # at the edge ηS/√ν = 2
    ev = _evaluate(_config(prob, eta, "scalar_rmsprop", beta2), flatten(w), nu, None, None)
    sigma2 = (eta / np.sqrt(nu)) * ev.X[0, 0]
    # theory/central-flows [checked]: σ² = [2⟨−∇L,∇S⟩ + c(S²/2 − 2‖∇L‖²/η²)] / [‖∇S‖² + 2cS²/η²].
    expected = (2 * (-g @ grad_s) + c * (S**2 / 2 - 2 * (g @ g) / eta**2)) / (grad_s @ grad_s + 2 * c * S**2 / eta**2)
    assert expected > 0
    assert sigma2 == pytest.approx(expected, rel=1e-10)
    # d(ηS/√ν)/dt = η(dS/dt)/√ν − (ηS/2)ν^{−3/2} dν/dt = 0 on the edge.
    rate = eta * (grad_s @ ev.dtheta) / np.sqrt(nu) - 0.5 * eta * S * nu**-1.5 * ev.dnu
    assert abs(rate) <= 1e-9


def _lam_hat(prob, theta, nu, eta):
    d = np.sqrt(eta / np.sqrt(nu))
    h = dense_hessian(prob, unflatten(theta, prob.network.shapes))
    return np.linalg.eigvalsh(d[:, None] * h * d[None, :])[-1]


@pytest.mark.parametrize("ablation", [None, "no_penalty"])
def test_rmsprop_flow_holds_the_preconditioned_edge(ablation):
    """At λ_max(P^{−1/2}HP^{−1/2}) = 2 with X > 0 the flow keeps that eigenvalue fixed
    (checked by central differences of the eigenvalue along (dθ/dt, dν/dt))."""
    held = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        prob = Problem(DeepLinearNetwork((3, 3, 2)), target=rng.standard_normal((2, 3)))
        w = tuple(0.5 * rng.standard_normal(s) for s in prob.network.shapes)
        theta, g = flatten(w), flatten(prob.gradient(w))
        nu = g * g * rng.uniform(0.1, 0.5, size=g.size) + 1e-3
        eta = 0.1
        nu = nu * (_lam_hat(prob, theta, nu, eta) / 2) ** 2  # rescale ν to sit exactly on the edge
        ev = _evaluate(_config(prob, eta, "rmsprop", 0.9, ablation), theta, nu, None, None)
        if ev.k != 1 or ev.X[0, 0] <= 0:
            continue
        h = 1e-6
        rate = (_lam_hat(prob, theta + h * ev.dtheta, nu + h * ev.dnu, eta)
                - _lam_hat(prob, theta - h * ev.dtheta, nu - h * ev.dnu, eta)) / (2 * h)
        # Central difference of a simple eigenvalue: O(h²) truncation + 1e-16/h rounding ≈ 1e-10;
        # without the σ² terms the rate is O(0.01–1) here.
        assert abs(rate) <= 1e-7
        held += 1
    assert held >= 2  # the scan must exercise the active case


@pytest.mark.parametrize("depth", [3, 4])
def test_scalar_network_at_the_edge(depth):
    inst = scalar_edge_instance(depth, n_steps=800)  # GD needs ~600 steps to settle (D = 3)
    eta = inst.learning_rate
    flow = integrate_central_flow(inst.problem, inst.weights0, learning_rate=eta, n_steps=inst.n_steps)
    assert flow.status is Status.SUCCESS
    assert flow.effective_sharpness[0] < 1.2  # starts well below the edge
    # Reference (theory/central-flows): central flow ends at ηS = 2.000 ± 1e-3 ...
    assert abs(flow.effective_sharpness[-1] - 2.0) <= 1e-3
    # ... while GD stays within 2 % below 2 and GF overshoots (ratio 2.5 / 2.85 by design).
    gd = simulate_descent(inst.problem, inst.weights0, learning_rate=eta, n_steps=inst.n_steps, backend="numpy")
    gd_s = eta * inst.problem.sharpness(gd.trajectory(0))
    assert 1.96 <= gd_s <= 2.0
    gf = integrate_flow(inst.problem, inst.weights0, t_span=(0, eta * inst.n_steps))
    assert eta * inst.problem.sharpness(gf.final_weights) > 2.4
    track = measure_tracking(inst, flow=flow)
    assert track["ratio"] <= 0.2
    edge = measure_edge_sharpness(inst, flow=flow)
    # Euler substeps overshoot the edge by O(dt²) at most: 1e-3 is the target's tolerance.
    assert edge["max_excess"] <= 1e-3 and edge["max_gap_active"] <= 1e-3 and edge["active_fraction"] > 0.5
    mono = measure_loss_monotonicity(inst, flow=flow)
    assert mono["max_increase"] <= 0.0


def test_scalar_rmsprop_flow_reaches_effective_sharpness_two():
    """Scalar RMSProp: along the flow ηS/√ν rises to 2 and stays there, and the flow predicts
    the discrete optimizer's time-averaged loss and second moment at the edge."""
    inst = scalar_edge_instance(3)
    eta, beta2, n = 0.1, 0.9, 400
    flow = integrate_central_flow(inst.problem, inst.weights0, learning_rate=eta, n_steps=n,
                                  optimizer="scalar_rmsprop", beta2=beta2, record_every=10)
    assert flow.status is Status.SUCCESS
    assert flow.effective_sharpness[0] < 0.5
    late = flow.effective_sharpness[flow.t >= 100]
    assert np.all(np.abs(late - 2.0) <= 1e-3)  # pinned at the edge (Euler overshoot ≪ 1e-3)
    S = flow.sharpness[:, 0]
    assert np.allclose(eta * S / np.sqrt(flow.nu), flow.effective_sharpness, rtol=1e-10)
    rms = simulate_descent(inst.problem, inst.weights0, learning_rate=eta, n_steps=n, optimizer="scalar_rmsprop",
                           beta2=beta2, backend="numpy")
    # At the edge RMSProp oscillates with E‖∇L‖² = ν and loss ≈ ½σ²S. The flow's prediction is
    # leading order in the oscillation; measured agreement is ~3 %, so 10 % is a real check.
    assert flow.predicted_loss[-1] == pytest.approx(rms.losses[-100:].mean(), rel=0.1)
    assert flow.nu[-1] == pytest.approx(rms.extra["nu"], rel=0.1)


def test_stable_ablation_crosses_the_edge_and_central_flow_does_not():
    inst = scalar_edge_instance(3, n_steps=200)
    stable = integrate_central_flow(inst.problem, inst.weights0, learning_rate=inst.learning_rate,
                                    n_steps=inst.n_steps, ablation="stable", edge_tolerance=10.0)
    assert all(x.size == 0 for x in stable.sigma)
    assert stable.effective_sharpness.max() > 2.3  # GF-like: overshoots toward 2.5


def test_starting_beyond_the_edge_leaves_the_regime():
    inst = scalar_edge_instance(3)
    res = integrate_central_flow(inst.problem, inst.weights0, learning_rate=3 * inst.learning_rate, n_steps=10)
    assert res.status is Status.LEFT_REGIME
    assert res.stop_time == 0.0 and "effective sharpness" in res.message


def test_lobpcg_eigensolver_agrees_with_dense():
    rng = np.random.default_rng(0)
    net = DeepLinearNetwork((4, 6, 6, 3))
    prob = Problem(net, X=rng.standard_normal((4, 20)), Y=rng.standard_normal((3, 20)))
    w = tuple(0.6 * rng.standard_normal(s) for s in net.shapes)
    eta = 1.9 / prob.sharpness(w)
    runs = [integrate_central_flow(prob, w, learning_rate=eta, n_steps=5, eigensolver=e) for e in ("dense", "lobpcg")]
    # Eigenvectors to ~1e-9 (LOBPCG residual tolerance): trajectories agree to 1e-7.
    assert np.allclose(runs[0].flat_weights, runs[1].flat_weights, atol=1e-7)
    assert np.allclose(runs[0].sharpness, runs[1].sharpness, rtol=1e-7)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(optimizer="adam"), "optimizer"),
        (dict(optimizer="rmsprop"), "beta2"),
        (dict(ablation="no_penalty"), "no_penalty"),
        (dict(ablation="bogus"), "ablation"),
        (dict(edge_threshold=2.0), "edge_threshold"),
        (dict(substeps=0), "substeps"),
        (dict(nu0=1.0), "nu0"),
        (dict(eigensolver="arpack"), "eigensolver"),
    ],
)
def test_bad_arguments(kwargs, match):
    inst = scalar_edge_instance(3)
    with pytest.raises(ValueError, match=match):
        integrate_central_flow(inst.problem, inst.weights0, learning_rate=0.1, n_steps=2, **kwargs)


def test_zero_second_moment_without_eps_is_rejected():
    prob = Problem(DeepLinearNetwork((2, 2, 1)), target=[[1.0, 0.5]])
    w = (np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[0.0, 0.0]]))
    with pytest.raises(ValueError, match="eps"):
        integrate_central_flow(prob, w, learning_rate=0.1, n_steps=2, optimizer="rmsprop", beta2=0.9)
    # With a tiny ε the preconditioner η/(√ν + ε) is huge on the dead coordinates: the flow
    # starts far beyond the edge and says so instead of crashing.
    res = integrate_central_flow(prob, w, learning_rate=0.1, n_steps=2, optimizer="rmsprop", beta2=0.9, eps=1e-8)
    assert res.status is Status.LEFT_REGIME and res.stop_time == 0.0
    res = integrate_central_flow(prob, w, learning_rate=0.1, n_steps=2, optimizer="rmsprop", beta2=0.9, eps=1.0)
    assert res.status is Status.SUCCESS


def test_entering_the_edge_abruptly_lands_on_it_at_the_default_substeps():
    # A draw of linflow.claims.central_flows.edge_instances where ηS jumps from 1.0 past the
    # edge within GD's first step. Without refining the crossing substep, 4 substeps overshot to
    # ηS = 2.07 and stopped with a spurious LEFT_REGIME at t = 0.5.
    w0 = (0.22877754660324415, 2.452727053661458, 2.2807172503859516, 0.37951170428914005)
    prob = Problem(DeepLinearNetwork((1,) * 5), target=[[1.1]])
    weights = tuple(np.array([[v]]) for v in w0)
    res = integrate_central_flow(prob, weights, learning_rate=0.2140811486076564, n_steps=12)
    assert res.status.name == "SUCCESS"
    assert res.effective_sharpness[0] < 1.1 and res.n_critical[2] >= 1  # enters within 2 steps
    # The central flow's accuracy target ηS = 2 ± 1e-3 (measured 2.8e-4 at most on this draw).
    assert np.max(res.effective_sharpness) <= 2.0 + 1e-3
    assert np.all(np.diff(res.losses) < 0)
    # The refinement changes only the crossing substep: the time grid is intact.
    np.testing.assert_array_equal(res.t, np.arange(13.0))
