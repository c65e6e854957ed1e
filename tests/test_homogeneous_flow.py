"""Gradient flow and gradient descent on ReLU / leaky-ReLU networks."""

import numpy as np
import pytest
from scipy.integrate import quad

from linflow import (
    HomogeneousNetwork,
    Problem,
    Status,
    compare_descent_to_flow,
    flatten,
    integrate_flow,
    simulate_descent,
    unflatten,
)
from linflow.rescaling import layer_balance, neuron_balance


def _scalar_problem(activation, slope=None):
    """h(x) = w2 σ(w1 x), x = 1, y = −1: from w1 = 0.6, w2 = 1 the flow drives w1 through 0."""
    net = HomogeneousNetwork((1, 1, 1), activation, negative_slope=slope)
    return Problem(net, X=[[1.0]], Y=[[-1.0]]), (np.array([[0.6]]), np.array([[1.0]]))


def _crossing_time():
    """Before the crossing f = ½(w1w2 + 1)², w2² = w1² − c: t* = ∫_0^{0.6} dw1 / ((w1 s + 1) s)."""
    c = 0.6**2 - 1.0
    s = lambda u: np.sqrt(u * u - c)  # noqa: E731
    return quad(lambda u: 1.0 / ((u * s(u) + 1.0) * s(u)), 0.0, 0.6, epsabs=1e-14, epsrel=1e-14)[0]


@pytest.mark.parametrize("activation,slope", [("relu", None), ("leaky_relu", 0.1)])
def test_transversal_crossing_time_matches_quadrature(activation, slope):
    prob, w0 = _scalar_problem(activation, slope)
    res = integrate_flow(prob, w0, t_span=(0.0, 4.0), t_eval=np.linspace(0.0, 4.0, 9))
    assert res.status is Status.SUCCESS and res.success
    assert res.pattern_changes == 1
    assert res.pattern_change_sites.tolist() == [[0, 0, 0]]
    # Root of the dense output (xtol 4 eps) on a path accurate to rtol = 1e-10: t* to ~1e-10.
    assert res.pattern_change_times[0] == pytest.approx(_crossing_time(), abs=1e-9)
    assert np.all(np.diff(res.losses) <= 1e-15)  # GF decreases the loss
    if activation == "relu":
        # After the crossing the unit is dead and the gradient vanishes: θ(t) stays put,
        # with w2² = w2(0)² − w1(0)² (conserved balance) and loss ½(0 + 1)².
        assert abs(res.final_weights[0].item()) < 1e-9
        assert res.final_weights[1].item() == pytest.approx(0.8, abs=1e-9)
        assert res.losses[-1] == pytest.approx(0.5, abs=1e-12)
    else:
        assert res.final_weights[0].item() < 0  # the leaky unit keeps learning on the negative side
        assert res.losses[-1] < 0.5


def test_gd_to_gf_order_one_through_a_pattern_change():
    """Elkabetz & Cohen 2021, Thm 1: GD is Euler's method, error O(η) at fixed horizon — here
    across an activation-pattern change (the transversal crossing above)."""
    for activation, slope in (("relu", None), ("leaky_relu", 0.1)):
        prob, w0 = _scalar_problem(activation, slope)
        cmp = compare_descent_to_flow(prob, w0, [0.02, 0.01, 0.005], 3.0, backend="numpy")
        # The slope of log error against log η is 1 up to the O(η²) remainder (measured 1.007).
        assert 0.95 <= cmp.order <= 1.05
        assert np.all(np.diff(cmp.max_distance) < 0)


def _sliding_case():
    rng = np.random.default_rng(0)
    net = HomogeneousNetwork((3, 6, 6, 2), "relu")
    prob = Problem(net, X=rng.standard_normal((3, 10)), Y=rng.standard_normal((2, 10)))
    return prob, tuple(0.7 * rng.standard_normal(s) for s in net.shapes)


def _assert_field_points_into_boundary(prob, weights, site):
    """Independent check with the true gradient: push θ to either side of the surface z_s = 0
    and measure ż_s = ⟨∇z_s, −∇f⟩ by central differences; both must point into the surface."""
    layer, neuron, sample = (int(i) for i in site)
    shapes = prob.network.shapes
    theta = flatten(weights)

    def z_site(vec):
        return prob.network.pre_activations(unflatten(vec, shapes), prob.X)[layer][neuron, sample]

    assert abs(z_site(theta)) < 1e-9
    h = 1e-7
    grad_z = np.array([(z_site(theta + h * e) - z_site(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    unit = grad_z / (grad_z @ grad_z)
    for side in (+1.0, -1.0):
        point = theta + (side * 1e-9 - z_site(theta)) * unit
        assert np.sign(z_site(point)) == side
        rate = grad_z @ -flatten(prob.gradient(unflatten(point, shapes)))
        assert side * rate < 0, "the field must point back into the boundary on both sides"


def test_sliding_mode_stops_with_left_regime_and_is_real():
    prob, w0 = _sliding_case()
    res = integrate_flow(prob, w0, t_span=(0.0, 1.0))
    assert res.status is Status.LEFT_REGIME and not res.success
    assert "sliding mode" in res.message
    t_stop = res.t[-1]
    assert res.pattern_change_times[-1] == t_stop and 0.0 < t_stop < 1.0
    _assert_field_points_into_boundary(prob, res.final_weights, res.pattern_change_sites[-1])


def test_short_excursion_is_located_not_confused_with_the_restart_point():
    """A unit that crosses with a small rate and comes back within one step: the return crossing
    must be located after the first (not at the restart point), and the stop is a real slide."""
    widths, m = (3, 6, 6, 2), 10
    rng = np.random.default_rng(16)
    net = HomogeneousNetwork(widths, "relu")
    prob = Problem(net, X=rng.standard_normal((widths[0], m)), Y=rng.standard_normal((widths[-1], m)))
    w0 = tuple(rng.standard_normal(s) / np.sqrt(s[1]) for s in net.shapes)
    res = integrate_flow(prob, w0, t_span=(0.0, 10.0))
    assert res.status is Status.LEFT_REGIME
    last, previous = res.pattern_change_sites[-1], res.pattern_change_sites[-2]
    assert last.tolist() == previous.tolist()  # out and back in, same unit
    # Measured: up at t = 0.210517, back down at 0.217569 (a ż ≈ 1e-3 excursion of height ~1e-6).
    assert res.pattern_change_times[-1] - res.pattern_change_times[-2] > 1e-3
    _assert_field_points_into_boundary(prob, res.final_weights, last)


def test_flow_conserves_neuron_and_layer_balance_across_pattern_changes():
    """theory.md §5 [checked]: per-neuron and per-layer balances are GF invariants."""
    prob, w0 = _sliding_case()
    res = integrate_flow(prob, w0, t_span=(0.0, 0.2), t_eval=np.linspace(0.0, 0.2, 5))
    assert res.success and res.pattern_changes >= 1
    start = neuron_balance(w0)
    for r in range(res.t.size):
        point = tuple(w[r] for w in res.weights)
        for now, then in zip(neuron_balance(point), start):
            # rtol 1e-10 / atol 1e-12 per step over ~50 steps, entries of size ~1: ≤ 1e-9.
            assert np.max(np.abs(now - then)) < 1e-9
        assert np.max(np.abs(layer_balance(point) - layer_balance(w0))) < 1e-9


def test_flow_validation_and_linear_activation_has_no_pattern_report():
    prob, w0 = _scalar_problem("relu")
    with pytest.raises(ValueError, match="method must be one of"):
        integrate_flow(prob, w0, t_span=(0.0, 1.0), method="Euler")
    lin = Problem(HomogeneousNetwork((1, 1, 1), "linear"), X=[[1.0]], Y=[[-1.0]])
    res = integrate_flow(lin, w0, t_span=(0.0, 1.0))
    assert res.pattern_changes is None and res.success


def test_reference_descent_matches_independent_loop_and_reports_neuron_drift():
    rng = np.random.default_rng(5)
    net = HomogeneousNetwork((3, 4, 3, 2), "leaky_relu", negative_slope=0.2)
    X, Y = rng.standard_normal((3, 7)), rng.standard_normal((2, 7))
    prob = Problem(net, X=X, Y=Y)
    w0 = tuple(0.6 * rng.standard_normal(s) for s in net.shapes)
    eta, steps = 0.05, 40
    res = simulate_descent(prob, w0, learning_rate=eta, n_steps=steps, backend="numpy")
    # Independent GD: per-sample forward/backward in plain loops.
    w = [x.copy() for x in w0]
    drift = 0.0
    b0 = neuron_balance(w0)
    for _ in range(steps):
        grads = [np.zeros_like(x) for x in w]
        for i in range(X.shape[1]):
            acts, masks = [X[:, i]], []
            for k, wk in enumerate(w):
                z = wk @ acts[-1]
                if k < len(w) - 1:
                    masks.append(np.where(z > 0, 1.0, 0.2))
                    acts.append(masks[-1] * z)
            delta = (z - Y[:, i]) / X.shape[1]
            for k in range(len(w) - 1, -1, -1):
                grads[k] += np.outer(delta, acts[k])
                if k:
                    delta = masks[k - 1] * (w[k].T @ delta)
        w = [x - eta * g for x, g in zip(w, grads)]
        drift = max(drift, max(np.linalg.norm(a - b) for a, b in zip(neuron_balance(w), b0)))
    for got, want in zip(res.final_weights, w):
        assert np.allclose(got, want, rtol=1e-12, atol=1e-13)
    assert res.balancedness_drift == pytest.approx(drift, rel=1e-9)
    assert res.balancedness_drift > 0  # GD drifts by the η² terms


def test_reference_descent_divergence_status():
    prob, w0 = _scalar_problem("leaky_relu", 0.3)
    res = simulate_descent(prob, w0, learning_rate=np.array([0.01, 50.0]), n_steps=200, backend="numpy")
    assert res.status == (Status.MAX_STEPS, Status.DIVERGED)
    assert res.divergence_step[1] > 0 and np.isfinite(res.final_loss).all()


def test_default_backend_runs_relu_on_numba():
    prob, w0 = _scalar_problem("relu")
    res = simulate_descent(prob, w0, learning_rate=0.1, n_steps=5)
    assert res.backend == "numba"


def test_simultaneous_crossings_of_duplicate_samples_switch_together():
    """Two identical samples cross at the same instant: both units switch at once (a transversal
    crossing), instead of a mixed pattern that would look like a sliding mode."""
    net = HomogeneousNetwork((1, 3, 1, 1), "relu")
    X = np.array([[-1.0, 0.0, 0.0, -1.0, 0.0]])  # samples 0 and 3 coincide
    prob = Problem(net, X=X, Y=np.array([[1.0, 0.0, 0.0, 0.0, 0.0]]))
    w0 = (np.array([[0.0], [-1.0], [-0.5]]), np.array([[0.0, 0.0, 1.0]]), np.array([[-1.0]]))
    res = integrate_flow(prob, w0, t_span=(0.0, 2.0))
    assert res.status is Status.SUCCESS
    assert res.pattern_change_sites.tolist() == [[1, 0, 0], [1, 0, 3]]
    assert res.pattern_change_times[0] == res.pattern_change_times[1]
    # After the crossing both samples are inactive in layer 1 and the gradient vanishes.
    assert np.linalg.norm(flatten(prob.gradient(res.final_weights))) < 1e-12


def test_gd_gf_error_across_a_parking_crossing_is_order_eta_with_an_erratic_constant():
    """Measured finding: a unit that GF parks on its boundary right after crossing (its field
    vanishes on the inactive side) is overshot by GD by a fraction of a step, so the GD–GF
    error stays O(η) but is not smooth in η: the fitted slope over η, η/2 is not ≈ 1."""
    net = HomogeneousNetwork((3, 3, 1), "relu")
    prob = Problem(net, X=np.array([[1.0, 0.0], [0.25, 0.0], [0.0, 0.0]]), Y=np.zeros((1, 2)))
    w0 = (0.5 * np.eye(3), np.array([[0.5, 1.0, 0.0]]))
    flow = integrate_flow(prob, w0, t_span=(0.0, 1.0))
    assert flow.success and flow.pattern_change_sites.tolist() == [[0, 1, 0]]
    etas = np.array([0.02, 0.01, 0.005, 0.0025])
    cmp = compare_descent_to_flow(prob, w0, etas, 1.0, backend="numpy")
    ratios = cmp.max_distance / etas
    assert np.all(ratios < 0.2)  # O(η): max distance / η measured 0.041–0.104 over these η
    assert np.any(np.diff(cmp.max_distance) > 0)  # but not monotone in η (measured 4.1e-4 → 5.2e-4)


def test_regular_crossing_behind_a_width_one_layer_does_not_end_the_flow():
    # Found by Hypothesis: when the single first-layer ReLU switches off for sample 5, the three
    # units behind it get input 0 for that sample, so their z becomes 0 without crossing
    # anything. They must not count as stuck on a boundary: the crossing at t ≈ 0.0772 is
    # regular (the field carries the live unit into its new side) and the flow goes on.
    from linflow.claims.homogeneous import _measure_pattern_changes, HomogeneousInstance

    rng = np.random.default_rng(0)
    widths = (3, 1, 3, 1)
    X, Y = rng.standard_normal((3, 9)), rng.standard_normal((1, 9))
    weights = tuple(rng.standard_normal((widths[j + 1], widths[j])) / np.sqrt(widths[j]) for j in range(3))
    inst = HomogeneousInstance(widths, "relu", 0.0, X, Y, weights, None, 5.0, None)
    flow = integrate_flow(inst.problem, weights, t_span=(0.0, 5.0))
    first = flow.pattern_change_times[0]
    assert 0.077 < first < 0.078 and tuple(flow.pattern_change_sites[0]) == (0, 0, 5)
    assert flow.t[-1] > 1.0  # stopped right there before the fix
    assert _measure_pattern_changes(inst).value
