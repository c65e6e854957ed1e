"""Matrix sensing and completion on the CUDA engine (simulator or GPU) against the NumPy
reference: thread and block kernels, a diverging trajectory. Tiny sizes (the simulator runs
every CUDA thread as a Python thread)."""

import numpy as np
import pytest
from hypothesis import given, settings

from descent_agreement import Case, assert_agrees_with_reference, loss_cases, loss_data
from linflow import DeepLinearNetwork, Problem, Status, init, simulate_descent

pytestmark = [pytest.mark.cudasim, pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]


@pytest.mark.parametrize("kind", ["sensing", "completion"])
@pytest.mark.parametrize("widths", [(2, 3, 2), (5, 2, 3)])  # one thread / one block per trajectory
def test_cuda_squared_losses_of_the_end_to_end_matrix(kind, widths):
    rng = np.random.default_rng(7)
    prob = Problem(DeepLinearNetwork(widths), loss_data(kind, rng, widths[0], widths[-1], 4))
    w0 = init.near_identity(widths, std=0.3, seed=8, batch=3)
    sharp = np.array([prob.sharpness(tuple(w[i] for w in w0)) for i in range(3)])
    lr = np.array([0.1, 0.2, 60.0]) * 2.0 / sharp
    case = Case(prob, w0, lr, np.array([True, True, False]),
                dict(n_steps=6, record_every=2, record_weights=True, divergence_threshold=1e6))
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    gpu = simulate_descent(prob, w0, backend="cuda", **kw)
    ref = simulate_descent(prob, w0, backend="numpy", **kw)
    assert gpu.status[2] is Status.DIVERGED
    assert_agrees_with_reference(gpu, ref, case)


@settings(max_examples=5)
@given(loss_cases(kinds=("whitened", "regression", "sensing", "completion"), max_width=3, max_depth=2,
                  max_batch=3, max_steps=5))
def test_cuda_matches_reference_random_squared_losses(case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    gpu = simulate_descent(case.problem, case.weights0, backend="cuda", **kw)
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    assert_agrees_with_reference(gpu, ref, case)
