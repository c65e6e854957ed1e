"""Every built-in loss on the numba engine against the NumPy reference (Hypothesis over
shapes, batches, linear and ReLU networks), EndToEnd losses with numba.njit functions, and the
engines' refusals."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings

from descent_agreement import assert_agrees_with_reference, loss_cases, loss_data
from linflow import DeepLinearNetwork, Problem, flatten, init, simulate_descent
from linflow import losses as ll


@settings(max_examples=60)
@given(loss_cases())
def test_numba_matches_reference_for_every_loss(case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    fast = simulate_descent(case.problem, case.weights0, backend="numba", **kw)
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    assert_agrees_with_reference(fast, ref, case)


@pytest.mark.parametrize("kind", ["regression", "logistic", "cross_entropy"])
def test_linear_output_losses_through_the_end_to_end_matrix(kind):
    """Many samples (m ≫ d_0): the engine forms ∇ℓ(W_e X) Xᵀ instead of per-sample products."""
    from linflow._descent_numba import end_to_end_is_cheaper

    rng = np.random.default_rng(1)
    widths = (2, 3, 3, 1 if kind == "logistic" else 3)
    loss = loss_data(kind, rng, widths[0], widths[-1], 64)
    assert end_to_end_is_cheaper(widths, 64)
    prob = Problem(DeepLinearNetwork(widths), loss)
    w0 = init.near_identity(widths, std=0.3, seed=2, batch=5)
    kw = dict(learning_rate=0.05, n_steps=30, record_weights=True)
    a = simulate_descent(prob, w0, backend="numba", **kw)
    b = simulate_descent(prob, w0, backend="numpy", **kw)
    # Stable small steps: rounding-level agreement (tests/descent_agreement.py).
    assert np.allclose(flatten(a.final_weights), flatten(b.final_weights), rtol=1e-12, atol=0)
    assert np.allclose(a.losses, b.losses, rtol=1e-12, atol=0)
    assert np.all(np.diff(b.losses, axis=1) < 0)  # the run is in the stable regime compared


@numba.njit
def _quartic_value(e):
    return 0.25 * np.sum(e**4) - np.sum(e)


@numba.njit
def _quartic_gradient(e):
    return e**3 - 1.0


def test_end_to_end_loss_with_njit_functions_runs_in_the_engine():
    loss = ll.EndToEnd(_quartic_value, _quartic_gradient, name="quartic")
    prob = Problem(DeepLinearNetwork((2, 3, 2)), loss)
    w0 = init.near_identity((2, 3, 2), std=0.3, seed=3, batch=11)
    kw = dict(learning_rate=np.linspace(0.01, 0.1, 11), n_steps=40, record_every=5)
    a = simulate_descent(prob, w0, backend="numba", **kw)
    b = simulate_descent(prob, w0, backend="numpy", **kw)
    np.testing.assert_array_equal(a.status_codes, b.status_codes)
    assert np.allclose(flatten(a.final_weights), flatten(b.final_weights), rtol=1e-12, atol=0)
    assert np.allclose(a.losses, b.losses, rtol=1e-12, atol=0)
    assert np.all(b.losses[:, -1] < b.losses[:, 0])  # it does descend


def test_end_to_end_loss_with_python_callables_names_the_remedy():
    loss = ll.EndToEnd(lambda e: 0.5 * float(np.sum(e * e)), lambda e: e)
    prob = Problem(DeepLinearNetwork((2, 2)), loss)
    w0 = (np.eye(2),)
    with pytest.raises(ValueError, match=r"numba\.njit.*backend='numpy'"):
        simulate_descent(prob, w0, learning_rate=0.1, n_steps=2, backend="numba")
    res = simulate_descent(prob, w0, learning_rate=np.array([0.1]), n_steps=2, backend="numpy")
    assert np.isclose(res.final_loss[0], 0.5 * 2 * 0.81**2)  # W ← 0.9 W twice


@numba.njit
def _bad_gradient(e):
    return np.zeros(3)


def test_end_to_end_gradient_of_the_wrong_shape_is_refused():
    prob = Problem(DeepLinearNetwork((2, 2)), ll.EndToEnd(_quartic_value, _bad_gradient))
    with pytest.raises(ValueError, match="shaped like W_e"):
        simulate_descent(prob, (np.eye(2),), learning_rate=0.1, n_steps=2, backend="numba")


@pytest.mark.parametrize("kind", ["logistic", "cross_entropy"])
def test_cuda_refuses_classification_losses_before_looking_for_a_gpu(kind):
    rng = np.random.default_rng(0)
    dn = 1 if kind == "logistic" else 3
    prob = Problem(DeepLinearNetwork((2, 2, dn)), loss_data(kind, rng, 2, dn, 4))
    with pytest.raises(ValueError, match="squared-type"):
        simulate_descent(prob, init.near_identity((2, 2, dn), std=0.1, seed=0), learning_rate=0.1, n_steps=2,
                         backend="cuda")
