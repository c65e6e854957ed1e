"""The numba engine (the default backend) against the NumPy reference, and its edge cases."""

import numpy as np
import pytest
from hypothesis import given

from descent_agreement import Case, assert_agrees_with_reference, descent_cases
from linflow import DeepLinearNetwork, Problem, Status, flatten, init, simulate_descent
from linflow._descent_numba import LANES


def _both(problem, weights0, **kw):
    return (
        simulate_descent(problem, weights0, backend="numba", **kw),
        simulate_descent(problem, weights0, backend="numpy", **kw),
    )


def _mixed_batch(problem, batch, *, seed, every, stable, unstable):
    """Near-identity starts; η = c·2/S per trajectory with c = ``unstable`` (diverges) for every
    ``every``-th one and ``stable`` otherwise. Returns ``(weights0, η, stable mask)``."""
    w0 = init.near_identity(problem.network.widths, std=0.2, seed=seed, batch=batch)
    sharpness = np.array([problem.sharpness(tuple(w[i] for w in w0)) for i in range(batch)])
    mask = np.arange(batch) % every != 0
    return w0, np.where(mask, stable, unstable) * 2.0 / sharpness, mask


@given(descent_cases())
def test_numba_matches_reference(case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    fast, ref = _both(case.problem, case.weights0, **kw)
    assert fast.backend == "numba"
    assert_agrees_with_reference(fast, ref, case)


def test_default_backend_is_numba():
    prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[1.0]])
    res = simulate_descent(prob, (np.array([[0.5]]), np.array([[0.5]])), learning_rate=0.1, n_steps=5)
    assert res.backend == "numba" and not res.batched and res.status is Status.MAX_STEPS


@pytest.mark.parametrize("whitened", [True, False])
def test_diverging_lanes_stop_while_others_go_on(whitened):
    # A batch that is not a multiple of LANES, with every third trajectory far too fast.
    rng = np.random.default_rng(3)
    net = DeepLinearNetwork((3, 4, 4, 2))
    if whitened:
        prob = Problem(net, target=rng.standard_normal((2, 3)))
    else:
        prob = Problem(net, X=rng.standard_normal((3, 7)), Y=rng.standard_normal((2, 7)))
    batch = 2 * LANES + 3
    w0 = init.near_identity(net.widths, std=0.2, seed=4, batch=batch)
    lr = np.where(np.arange(batch) % 3 == 0, 5.0, 0.02)
    kw = dict(learning_rate=lr, n_steps=60, record_every=7, record_weights=True,
              reference=rng.standard_normal((61, net.n_params)))
    fast, ref = _both(prob, w0, **kw)
    diverged = fast.diverged
    assert np.array_equal(diverged, np.arange(batch) % 3 == 0)
    assert np.all(fast.divergence_step[diverged] >= 1)
    assert np.all(np.isfinite(fast.final_loss))
    case = Case(prob, w0, lr, np.ones(batch, dtype=bool), kw)
    assert_agrees_with_reference(fast, ref, case)
    # Reference distance: max_k ‖θ_k − θ_ref(k)‖ over the steps before divergence.
    np.testing.assert_allclose(fast.reference_distance, ref.reference_distance, rtol=1e-12)


def test_divergence_at_step_zero_keeps_initial_weights():
    net = DeepLinearNetwork((2, 2, 2))
    prob = Problem(net, target=np.eye(2))
    w0 = init.gaussian(net.widths, std=3.0, seed=0, batch=3)
    loss0 = prob.loss(w0)
    fast, ref = _both(prob, w0, learning_rate=0.01, n_steps=4, divergence_threshold=0.5 * loss0.min())
    assert np.all(fast.divergence_step == 0) and np.all(fast.diverged)
    assert np.all(np.isnan(fast.losses))
    # The loss of the kept iterate θ_0, up to the engine's own summation order (a few ulps).
    np.testing.assert_allclose(fast.final_loss, loss0, rtol=1e-14)
    np.testing.assert_array_equal(ref.final_loss, loss0)
    for a, b in zip(fast.final_weights, w0):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the reference's matmul
def test_overflow_to_inf_is_a_divergence_not_a_nan_result():
    net = DeepLinearNetwork((2, 2, 2, 2, 2))
    prob = Problem(net, target=np.eye(2))
    w0 = tuple(np.stack([np.eye(2), 1e90 * np.eye(2)]) for _ in range(4))  # loss overflows in lane 1
    fast, ref = _both(prob, w0, learning_rate=0.01, n_steps=3)
    assert fast.status == (Status.MAX_STEPS, Status.DIVERGED) == ref.status
    assert fast.divergence_step[1] == 0 and fast.final_loss[1] == np.inf == ref.final_loss[1]
    assert np.all(np.isfinite(fast.final_weights[0]))


def test_own_path_as_reference_gives_zero_distance_and_records_last_step():
    net = DeepLinearNetwork((2, 3, 2))
    prob = Problem(net, target=np.eye(2))
    w = init.gaussian(net.widths, std=0.5, seed=2)
    run = simulate_descent(prob, w, learning_rate=0.05, n_steps=20, record_every=6, record_weights=True)
    assert list(run.steps) == [0, 6, 12, 18, 20]
    assert np.array_equal(run.weights[1][-1], run.final_weights[1])
    full = simulate_descent(prob, w, learning_rate=0.05, n_steps=20, record_weights=True)
    path = flatten(full.weights)
    again = simulate_descent(prob, w, learning_rate=0.05, n_steps=20, reference=path)
    assert again.reference_distance == 0.0  # same engine, same arithmetic: exactly zero


def test_converged_step_and_tolerance():
    prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[1.0]])
    w = (np.array([[0.6]]), np.array([[0.6]]))
    fast, ref = _both(prob, w, learning_rate=0.1, n_steps=300, loss_tolerance=1e-12)
    assert fast.status is Status.CONVERGED
    assert fast.converged_step == ref.converged_step > 0


@pytest.mark.parametrize("whitened", [True, False])
def test_untracked_balancedness_is_nan_and_changes_nothing_else(whitened):
    # track_balancedness=False only drops the drift bookkeeping: identical trajectories
    # (same kernel arithmetic, so bit for bit), statuses and steps; the drift is NaN.
    rng = np.random.default_rng(5)
    net = DeepLinearNetwork((3, 4, 4, 2))
    if whitened:
        prob = Problem(net, target=rng.standard_normal((2, 3)))
    else:
        prob = Problem(net, X=rng.standard_normal((3, 7)), Y=rng.standard_normal((2, 7)))
    batch = LANES + 3
    w0 = init.near_identity(net.widths, std=0.2, seed=6, batch=batch)
    lr = np.where(np.arange(batch) % 4 == 0, 5.0, 0.02)
    kw = dict(learning_rate=lr, n_steps=40, record_every=9)
    for backend in ("numba", "numpy"):
        on = simulate_descent(prob, w0, backend=backend, **kw)
        off = simulate_descent(prob, w0, backend=backend, track_balancedness=False, **kw)
        assert np.all(np.isnan(off.balancedness_drift)) and np.all(np.isfinite(on.balancedness_drift))
        assert np.array_equal(on.status_codes, off.status_codes) and on.diverged.any()
        assert np.array_equal(on.divergence_step, off.divergence_step)
        assert np.array_equal(on.losses, off.losses, equal_nan=True)
        for a, b in zip(on.final_weights, off.final_weights):
            assert np.array_equal(a, b)


def test_track_balancedness_must_be_bool():
    prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[1.0]])
    w0 = (np.array([[0.5]]), np.array([[0.5]]))
    with pytest.raises(TypeError, match="track_balancedness"):
        simulate_descent(prob, w0, learning_rate=0.1, n_steps=2, track_balancedness="no")


def test_linear_data_loss_with_many_samples_runs_through_end_to_end_matrix():
    # m ≫ d_0: the engine forms W_e and the residual W_e X − Y instead of propagating the
    # samples; a realizable target (Y = Φ X) drives the loss towards zero, where the loss must
    # still come from the residual to agree with the reference; every fourth lane diverges.
    from linflow._descent_numba import end_to_end_is_cheaper

    rng = np.random.default_rng(11)
    widths, m = (4, 6, 5, 3), 500
    assert end_to_end_is_cheaper(widths, m)
    x = rng.standard_normal((4, m))
    prob = Problem(DeepLinearNetwork(widths), X=x, Y=0.5 * rng.standard_normal((3, 4)) @ x)
    w0, lr, stable = _mixed_batch(prob, LANES + 3, seed=5, every=4, stable=0.5, unstable=50.0)
    kw = dict(learning_rate=lr, n_steps=150, record_every=10, record_weights=True)
    fast, ref = _both(prob, w0, **kw)
    assert np.array_equal(fast.diverged, ~stable)
    assert np.all(fast.final_loss[stable] < 1e-6 * ref.losses[stable, 0])  # near zero loss
    assert_agrees_with_reference(fast, ref, Case(prob, w0, lr, stable, kw))


@pytest.mark.parametrize("data", [None, 3, 13])
def test_block_edges_of_wide_odd_layers(data):
    # The product kernels work in 4×4 blocks; a dimension that is not a multiple of 4 moves
    # its last block back (overlapping the previous one) and one below 4 clamps its indices.
    # Widths ≡ 1, 2, 3 (mod 4) above 4, and m = 3 (per-sample data path, a clamped block) and
    # m = 13 (through the end-to-end matrix), against the reference.
    from linflow._descent_numba import end_to_end_is_cheaper

    rng = np.random.default_rng(21)
    widths = (5, 9, 6, 11, 7)
    net = DeepLinearNetwork(widths)
    if data is None:
        prob = Problem(net, target=rng.standard_normal((7, 5)))
    else:
        assert end_to_end_is_cheaper(widths, data) == (data == 13)
        prob = Problem(net, X=rng.standard_normal((5, data)), Y=rng.standard_normal((7, data)))
    w0, lr, stable = _mixed_batch(prob, LANES + 5, seed=22, every=5, stable=0.3, unstable=60.0)
    kw = dict(learning_rate=lr, n_steps=25, record_every=4, record_weights=True)
    fast, ref = _both(prob, w0, **kw)
    assert np.array_equal(fast.diverged, ~stable)
    assert_agrees_with_reference(fast, ref, Case(prob, w0, lr, stable, kw))
