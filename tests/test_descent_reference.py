"""NumPy reference GD: balancedness drift, statuses, batching and recording."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from linflow import DeepLinearNetwork, Problem, Status, balancedness, init, simulate_descent


@given(st.integers(2, 5), st.integers(0, 2**31), st.floats(0.01, 0.2))
def test_gd_changes_balancedness_by_exact_eta_squared_term(depth, seed, eta):
    rng = np.random.default_rng(seed)
    widths = tuple(int(d) for d in rng.integers(1, 5, size=depth + 1))
    net = DeepLinearNetwork(widths)
    prob = Problem(net, target=rng.standard_normal((widths[-1], widths[0])))
    w = tuple(0.5 * rng.standard_normal(s) for s in net.shapes)
    g = prob.gradient(w)
    w_next = simulate_descent(prob, w, learning_rate=eta, n_steps=1).trajectory(0)
    before, after = balancedness(w), balancedness(w_next)
    for j in range(depth - 1):
        predicted = eta**2 * (g[j + 1].T @ g[j + 1] - g[j] @ g[j].T)
        change = after[j] - before[j]
        # Exact identity; rounding of the O(1) matrices B_j dominates: 1e-12 relative to them.
        scale = max(1.0, np.abs(before[j]).max(), np.abs(after[j]).max())
        assert np.abs(change - predicted).max() <= 1e-12 * scale * widths[j + 1]


def test_batched_learning_rates_match_individual_runs():
    rng = np.random.default_rng(0)
    net = DeepLinearNetwork((3, 3, 2))
    prob = Problem(net, target=rng.standard_normal((2, 3)))
    w = init.gaussian(net.widths, std=0.3, seed=1)
    etas = np.array([0.05, 0.1, 0.2])
    batch = simulate_descent(prob, w, learning_rate=etas, n_steps=50, record_every=10)
    assert batch.losses.shape == (3, 6)
    assert list(batch.steps) == [0, 10, 20, 30, 40, 50]
    for i, eta in enumerate(etas):
        single = simulate_descent(prob, w, learning_rate=float(eta), n_steps=50, record_every=10)
        assert not single.batched and single.status is Status.MAX_STEPS
        assert single.losses.shape == (6,) and single.final_loss.shape == () and single.final_weights[0].shape == (3, 3)
        assert np.array_equal(single.losses, batch.losses[i])
        assert all(np.array_equal(a, b[i]) for a, b in zip(single.final_weights, batch.final_weights))


def test_huge_step_reports_divergence_with_step_index():
    net = DeepLinearNetwork((2, 2, 2, 2))
    prob = Problem(net, target=np.eye(2))
    w = init.gaussian(net.widths, std=1.0, seed=0)
    res = simulate_descent(prob, w, learning_rate=np.array([1e-3, 50.0]), n_steps=100)
    assert res.status[0] is Status.MAX_STEPS
    assert res.status[1] is Status.DIVERGED
    k = res.divergence_step[1]
    assert 1 <= k <= 100
    assert np.all(np.isfinite(res.final_weights[0][1])) and np.isfinite(res.final_loss[1])
    assert np.all(np.isnan(res.losses[1, k:])) and np.all(np.isfinite(res.losses[1, :k]))
    assert res.divergence_step[0] == -1


def test_loss_tolerance_marks_convergence_and_records_weights():
    net = DeepLinearNetwork((1, 1, 1))
    prob = Problem(net, target=[[1.0]])
    w = (np.array([[0.6]]), np.array([[0.6]]))
    res = simulate_descent(prob, w, learning_rate=0.1, n_steps=300, loss_tolerance=1e-12, record_weights=True)
    assert res.status is Status.CONVERGED
    k = res.converged_step
    assert res.losses[k] <= 1e-12 < res.losses[k - 1]
    assert res.weights[0].shape == (301, 1, 1)  # unbatched: no trajectory axis
    assert res.weights[0][-1, 0, 0] == res.final_weights[0][0, 0]


def test_reference_distance_is_zero_for_own_path():
    net = DeepLinearNetwork((2, 3, 2))
    prob = Problem(net, target=np.eye(2))
    w = init.gaussian(net.widths, std=0.5, seed=2)
    run = simulate_descent(prob, w, learning_rate=0.05, n_steps=20, record_weights=True)
    from linflow import flatten

    path = flatten(run.weights)
    again = simulate_descent(prob, w, learning_rate=0.05, n_steps=20, reference=path)
    assert again.reference_distance == 0.0
    shifted = simulate_descent(prob, w, learning_rate=0.05, n_steps=20, reference=path + 0.1)
    assert shifted.reference_distance == pytest.approx(0.1 * np.sqrt(net.n_params))
