"""linflow.analysis against closed forms: Saxe modes, known spectra, synthetic orbits, φ."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.stats import ortho_group

import linflow
from linflow import analysis


def _rotations(seed, m, n):
    rng = np.random.default_rng(seed)
    return ortho_group.rvs(m, random_state=rng), ortho_group.rvs(n, random_state=rng)


def _decoupled(u_mat, v_mat, strengths, depth):
    """Balanced decoupled weights with W_e = U diag(strengths) Vᵀ (square widths)."""
    a = np.diag(np.asarray(strengths) ** (1.0 / depth))
    if depth == 1:
        return (u_mat @ a @ v_mat.T,)
    return (a @ v_mat.T,) + (a,) * (depth - 2) + (u_mat @ a,)


# ----------------------------------------------------------------------------- modes
def test_mode_strengths_recover_planted_strengths_in_the_targets_basis():
    u_mat, v_mat = _rotations(0, 3, 3)
    target = u_mat @ np.diag([3.0, 2.0, 0.5]) @ v_mat.T
    weights = _decoupled(u_mat, v_mat, [0.1, 0.2, 0.3], depth=3)
    np.testing.assert_allclose(analysis.mode_strengths(weights, target), [0.1, 0.2, 0.3], rtol=1e-13)
    # Batched recorded paths (B, R, ...) and a plain end-to-end matrix give the same numbers.
    stacked = tuple(np.broadcast_to(w, (2, 4) + w.shape) for w in weights)
    assert analysis.mode_strengths(stacked, target).shape == (2, 4, 3)
    np.testing.assert_allclose(analysis.mode_strengths(target, target), [3.0, 2.0, 0.5], rtol=1e-13)


def test_depth_two_modes_and_learning_times_follow_saxe_closed_form():
    s, u0 = np.array([3.0, 1.5]), np.array([1e-3, 1e-3])
    u_mat, v_mat = _rotations(1, 2, 2)
    target = u_mat @ np.diag(s) @ v_mat.T
    problem = linflow.Problem(linflow.DeepLinearNetwork((2, 2, 2)), target=target)
    t = np.linspace(0.0, 6.0, 3001)
    flow = linflow.integrate_flow(problem, _decoupled(u_mat, v_mat, u0, 2), t_span=(0.0, 6.0), t_eval=t)
    modes = analysis.mode_strengths(flow.weights, target)
    growth = np.exp(2 * s * t[:, None])
    closed = s * growth / (growth - 1 + s / u0)
    # DOP853 at rtol 1e-10: the flow's weights are accurate to ~1e-9 relative along the path.
    np.testing.assert_allclose(modes, closed, rtol=1e-7, atol=1e-10)
    fraction = 0.5
    times = analysis.learning_times(modes, t, s, fraction=fraction)
    expected = np.log(fraction * (s / u0 - 1) / (1 - fraction)) / (2 * s)
    # Interpolation error ≤ Δt²·max|u''|/(8|u'|) with Δt = 2e-3: at the midpoint u'' = 0 and
    # |u'''|Δt³ terms are below 1e-6.
    np.testing.assert_allclose(times, expected, atol=1e-5)
    assert times[0] < times[1]  # the stronger mode is learned first


@pytest.mark.parametrize("depth", [3, 4])
def test_balanced_deep_modes_follow_the_deep_mode_equation(depth):
    s, u0 = np.array([2.0, 1.0]), np.array([0.05, 0.02])
    u_mat, v_mat = _rotations(depth, 2, 2)
    target = u_mat @ np.diag(s) @ v_mat.T
    problem = linflow.Problem(linflow.DeepLinearNetwork((2,) * (depth + 1)), target=target)
    t = np.linspace(0.0, 8.0, 2001)
    flow = linflow.integrate_flow(problem, _decoupled(u_mat, v_mat, u0, depth), t_span=(0.0, 8.0), t_eval=t)
    modes = analysis.mode_strengths(flow.weights, target)
    ode = solve_ivp(
        lambda _, u: depth * u ** (2 - 2 / depth) * (s - u), (0.0, 8.0), u0, t_eval=t, rtol=1e-11, atol=1e-13
    )
    # Both integrations at rtol ≤ 1e-10: agreement to 1e-7 leaves room for the error growth
    # through the sigmoidal transition.
    np.testing.assert_allclose(modes, ode.y.T, rtol=1e-7, atol=1e-9)
    times = analysis.learning_times(modes, t, s, fraction=0.9)
    np.testing.assert_allclose(times, analysis.learning_times(ode.y.T, t, s, fraction=0.9), atol=1e-6)


def test_learning_times_nan_when_never_reached_and_first_record_when_already_past():
    t = np.arange(4.0)
    strengths = np.array([[0.0, 2.0], [0.1, 2.0], [0.2, 2.0], [np.nan, 2.0]])
    times = analysis.learning_times(strengths, t, np.array([1.0, 2.0]))
    assert math.isnan(times[0]) and times[1] == 0.0
    with pytest.raises(ValueError, match="fraction"):
        analysis.learning_times(strengths, t, np.array([1.0, 2.0]), fraction=1.5)
    with pytest.raises(ValueError, match="times"):
        analysis.learning_times(strengths, t[::-1], np.array([1.0, 2.0]))


# ----------------------------------------------------------------------------- ranks
@pytest.mark.parametrize("k", [1, 2, 5])
def test_effective_rank_of_k_equal_singular_values_is_k(k):
    u_mat, v_mat = _rotations(k, 6, 5)
    sigma = np.zeros((6, 5))
    sigma[np.arange(k), np.arange(k)] = 2.5
    assert analysis.effective_rank(u_mat @ sigma @ v_mat.T) == pytest.approx(k, rel=1e-12)
    assert analysis.numerical_rank(u_mat @ sigma @ v_mat.T) == k


def test_effective_rank_of_a_known_spectrum_and_batches():
    u_mat, v_mat = _rotations(7, 3, 3)
    spectrum = np.array([4.0, 2.0, 2.0])  # p = (1/2, 1/4, 1/4): H = (3/2) log 2
    m = u_mat @ np.diag(spectrum) @ v_mat.T
    assert analysis.effective_rank(m) == pytest.approx(2 ** 1.5, rel=1e-12)
    batch = np.stack([m, np.eye(3), np.zeros((3, 3))])
    out = analysis.effective_rank(batch)
    assert out[0] == pytest.approx(2 ** 1.5, rel=1e-12) and out[1] == pytest.approx(3.0, rel=1e-12)
    assert math.isnan(out[2])


def test_numerical_rank_tolerance():
    u_mat, v_mat = _rotations(3, 4, 4)
    m = u_mat @ np.diag([1.0, 1e-3, 1e-9, 0.0]) @ v_mat.T
    assert analysis.numerical_rank(m) == 3  # 1e-9 is far above 4·ε: rounding cannot make it
    assert analysis.numerical_rank(m, rtol=1e-6) == 2
    with pytest.raises(ValueError, match="rtol"):
        analysis.numerical_rank(m, rtol=-1.0)


# ----------------------------------------------------------------------------- orbits
def _orbit(values, n, transient=0.0, decay=0.9):
    """A periodic orbit ``values`` repeated n times, plus a geometrically decaying transient."""
    base = np.resize(np.asarray(values, dtype=float), n)
    return base + transient * decay ** np.arange(n)


def test_period_detection_on_synthetic_orbits():
    fixed, two, four = _orbit([0.7], 400, 1.0), _orbit([1.0, 0.4], 400, 1.0), _orbit([1.0, 0.6, 0.9, 0.2], 400, 1.0)
    assert analysis.detect_period(fixed) == 1
    assert analysis.detect_period(two) == 2
    assert analysis.detect_period(four) == 4  # not 2: points two steps apart differ
    chaotic = np.empty(400)
    chaotic[0] = 0.3
    for k in range(399):  # logistic map at r = 4: no period
        chaotic[k + 1] = 4 * chaotic[k] * (1 - chaotic[k])
    batch = np.stack([fixed, two, four, chaotic])
    np.testing.assert_array_equal(analysis.detect_period(batch), [1, 2, 4, 0])
    assert analysis.detect_period(_orbit([1.0, 0.4], 12)) == 2  # shorter than 2·max_period: all of it
    diverged = two.copy()
    diverged[350:] = np.nan
    assert analysis.detect_period(diverged) == 0


def test_period_detection_on_gd_at_the_edge_of_a_scalar_network():
    # f = ½(w₁w₂ − 1)²; at the balanced minimum S = 2 (‖W_1‖² + ‖W_2‖²), so η = 1.05 > 2/S:
    # GD settles onto a period-2 orbit around the minimum (flip bifurcation just past the edge).
    problem = linflow.Problem(linflow.DeepLinearNetwork((1, 1, 1)), target=[[1.0]])
    w0 = (np.array([[0.9]]), np.array([[1.1]]))
    res = linflow.simulate_descent(problem, w0, learning_rate=1.05, n_steps=4000, backend="numpy")
    assert res.status.name != "DIVERGED"
    assert analysis.detect_period(res.losses) == 2
    averaged = analysis.running_average(res.losses, 2)
    tail = averaged[-100:]
    assert np.ptp(tail) <= 1e-9 * np.max(tail)  # the period average is constant on the orbit


def test_running_and_period_averages_of_an_orbit():
    x = _orbit([1.0, 3.0], 10)
    np.testing.assert_allclose(analysis.running_average(x, 2), np.full(9, 2.0))
    np.testing.assert_allclose(analysis.period_average(np.arange(7.0), 3), [1.0, 4.0])
    with pytest.raises(ValueError, match="window"):
        analysis.running_average(x, 11)


def test_edge_of_stability_first_step_and_share():
    eta = 0.1
    sharpness = np.array([10.0, 15.0, 19.4, 19.6, 20.3, 19.8, np.nan])  # ηS ≥ 1.95 from index 3
    eos = analysis.edge_of_stability(sharpness, eta, steps=np.arange(7) * 10)
    assert eos.first_step == 30
    assert eos.share_at_edge == pytest.approx(3 / 6)
    batch = analysis.edge_of_stability(np.stack([sharpness, sharpness / 2]), np.array([eta, eta]))
    np.testing.assert_array_equal(batch.first_step, [3, -1])
    with pytest.raises(ValueError, match="learning_rate"):
        analysis.edge_of_stability(sharpness, -0.1)


# ----------------------------------------------------------------------------- GFS sharpness
def test_gfs_sharpness_depth_two_closed_form():
    rng = np.random.default_rng(5)
    w = rng.uniform(0.1, 2.0, size=(50, 2))
    y = 1.7
    delta = w[:, 0] ** 2 - w[:, 1] ** 2
    # Bisection to float64 resolution of c: φ agrees to a few ulps of its size.
    np.testing.assert_allclose(analysis.gfs_sharpness(w, y), np.sqrt(delta**2 + 4 * y**2), rtol=1e-13)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_gfs_sharpness_is_the_sharpness_of_the_gradient_flow_limit(depth):
    rng = np.random.default_rng(depth)
    values = rng.uniform(0.4, 1.2, size=depth)
    problem = linflow.Problem(linflow.DeepLinearNetwork((1,) * (depth + 1)), target=[[1.5]])
    w0 = tuple(np.array([[v]]) for v in values)
    phi = analysis.gfs_sharpness(w0, problem)
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, 200.0))
    # At t = 200 the loss has decayed below 1e-20: the limit's sharpness to ~1e-9.
    assert problem.sharpness(flow.final_weights) == pytest.approx(phi, rel=1e-8)
    # Layer arrays with batch axes give the same value.
    batched = tuple(np.broadcast_to(w, (3,) + w.shape) for w in w0)
    np.testing.assert_allclose(analysis.gfs_sharpness(batched, problem), phi, rtol=1e-15)


def test_gfs_sharpness_rejects_bad_problems():
    with pytest.raises(ValueError, match="scalar"):
        analysis.gfs_sharpness([1.0, 1.0], linflow.Problem(linflow.DeepLinearNetwork((2, 1)), target=[[1.0, 1.0]]))
    with pytest.raises(ValueError, match="y"):
        analysis.gfs_sharpness([1.0, 1.0], 0.0)
    with pytest.raises(TypeError, match="problem"):
        analysis.gfs_sharpness([1.0, 1.0], "1")


def test_import_linflow_does_not_import_analysis_eagerly_but_attribute_works():
    assert linflow.analysis.gfs_sharpness is analysis.gfs_sharpness
