"""ReLU / leaky-ReLU networks on the numba engine against the NumPy reference."""

import numpy as np
import pytest
from _homogeneous_cases import homogeneous_descent_cases
from descent_agreement import Case, assert_agrees_with_reference
from hypothesis import given

from linflow import HomogeneousNetwork, Problem, Status, init, simulate_descent
from linflow._descent_numba import LANES
from linflow.rescaling import neuron_balance


@given(homogeneous_descent_cases())
def test_numba_matches_reference_on_relu_networks(case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    fast = simulate_descent(case.problem, case.weights0, backend="numba", **kw)
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    assert fast.backend == "numba"
    assert_agrees_with_reference(fast, ref, case)


@pytest.mark.parametrize("activation,slope", [("relu", None), ("leaky_relu", 0.2)])
def test_relu_lanes_diverge_independently_and_drift_is_per_neuron(activation, slope):
    rng = np.random.default_rng(3)
    net = HomogeneousNetwork((3, 5, 4, 2), activation, negative_slope=slope)
    prob = Problem(net, X=rng.standard_normal((3, 7)), Y=rng.standard_normal((2, 7)))
    batch = LANES + 3
    w0 = init.near_identity(net.widths, std=0.3, seed=4, batch=batch)
    lr = np.where(np.arange(batch) % 3 == 0, 40.0, 0.02)
    kw = dict(learning_rate=lr, n_steps=60, record_every=7, record_weights=True,
              reference=rng.standard_normal((61, net.n_params)))
    fast = simulate_descent(prob, w0, backend="numba", **kw)
    ref = simulate_descent(prob, w0, backend="numpy", **kw)
    # Large ReLU steps may also kill every unit (then GD stops moving): compare with the reference.
    assert np.array_equal(fast.diverged, ref.diverged) and fast.diverged.any()
    assert not fast.diverged[np.arange(batch) % 3 != 0].any()
    assert_agrees_with_reference(fast, ref, Case(prob, w0, lr, np.ones(batch, dtype=bool), kw))
    np.testing.assert_allclose(fast.reference_distance, ref.reference_distance, rtol=1e-12)
    # The drift monitored is that of the per-neuron balances (diagonals), not of the full B_j.
    kept = ~fast.diverged
    last = tuple(w[:, -1] for w in fast.weights)
    drift_last = np.max(
        [np.linalg.norm(a - b, axis=-1) for a, b in zip(neuron_balance(last), neuron_balance(w0))], axis=0
    )
    assert np.all(fast.balancedness_drift[kept] >= drift_last[kept] * (1 - 1e-12))


def test_dead_relu_network_is_stationary_on_both_engines():
    """All hidden units inactive on every sample: zero gradient, identical weights, MAX_STEPS."""
    net = HomogeneousNetwork((2, 3, 1), "relu")
    prob = Problem(net, X=np.array([[1.0, 2.0], [1.0, 0.5]]), Y=np.array([[1.0, -1.0]]))
    w0 = (-np.ones((3, 2)), np.ones((1, 3)))
    for backend in ("numba", "numpy"):
        res = simulate_descent(prob, w0, learning_rate=0.5, n_steps=10, backend=backend)
        assert res.status is Status.MAX_STEPS
        for a, b in zip(res.final_weights, w0):
            np.testing.assert_array_equal(a, b)
        assert res.balancedness_drift == 0.0
