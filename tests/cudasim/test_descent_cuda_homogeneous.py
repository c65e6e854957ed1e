"""ReLU / leaky-ReLU networks on the CUDA engine (simulator or GPU) against the reference.

Tiny sizes: the simulator runs every CUDA thread as a Python thread.
"""

import numpy as np
import pytest
from _homogeneous_cases import homogeneous_descent_cases
from descent_agreement import Case, assert_agrees_with_reference
from hypothesis import given, settings

from linflow import HomogeneousNetwork, Problem, init, simulate_descent
from linflow._descent_cuda import make_kernel, uses_block_kernel

pytestmark = [pytest.mark.cudasim, pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]


@pytest.mark.parametrize("widths", [(2, 3, 2), (3, 4, 1, 2), (5, 3, 2)])  # (5, 3, 2): block kernel
@pytest.mark.parametrize("activation,slope", [("relu", None), ("leaky_relu", 0.3)])
def test_cuda_matches_reference_on_relu_networks(widths, activation, slope):
    rng = np.random.default_rng(0)
    net = HomogeneousNetwork(widths, activation, negative_slope=slope)
    prob = Problem(net, X=rng.standard_normal((widths[0], 3)), Y=rng.standard_normal((widths[-1], 3)))
    lr = np.array([0.05, 0.1, 60.0])
    w0 = init.near_identity(widths, std=0.3, seed=1, batch=len(lr))
    n_steps = 8
    kw = dict(n_steps=n_steps, record_every=3, record_weights=True, loss_tolerance=0.5,
              reference=rng.standard_normal((n_steps + 1, net.n_params)))
    gpu = simulate_descent(prob, w0, backend="cuda", learning_rate=lr, **kw)
    ref = simulate_descent(prob, w0, backend="numpy", learning_rate=lr, **kw)
    assert gpu.backend == "cuda"
    assert_agrees_with_reference(gpu, ref, Case(prob, w0, lr, np.ones(len(lr), dtype=bool), kw))
    np.testing.assert_allclose(gpu.reference_distance, ref.reference_distance, rtol=1e-12)
    if uses_block_kernel(widths):
        assert make_kernel(tuple(widths), 3, False, net.negative_slope)[1]


@settings(max_examples=6)
@given(homogeneous_descent_cases(max_width=5, max_depth=3, max_batch=3, max_steps=6))
def test_cuda_matches_reference_random_relu(case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    gpu = simulate_descent(case.problem, case.weights0, backend="cuda", **kw)
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    assert_agrees_with_reference(gpu, ref, case)
