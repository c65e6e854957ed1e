"""The CUDA engine (in numba's simulator, or on a GPU) against the NumPy reference.

Tiny sizes: the simulator runs every CUDA thread as a Python thread.
"""

import numpy as np
import pytest
from descent_agreement import Case, assert_agrees_with_reference, descent_cases
from hypothesis import given, settings

from linflow import DeepLinearNetwork, Problem, Status, init, simulate_descent
from linflow._descent_cuda import THREAD_MAX_WIDTH, make_kernel, uses_block_kernel

# The simulator evaluates with NumPy scalars, which warn on the overflow of a diverging run.
pytestmark = [pytest.mark.cudasim, pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")]


def _case(widths, whitened, lr, seed=0, **kw):
    rng = np.random.default_rng(seed)
    net = DeepLinearNetwork(widths)
    if whitened:
        prob = Problem(net, target=rng.standard_normal((widths[-1], widths[0])))
    else:
        prob = Problem(net, X=rng.standard_normal((widths[0], 3)), Y=rng.standard_normal((widths[-1], 3)))
    lr = np.asarray(lr, dtype=float)
    w0 = init.near_identity(widths, std=0.3, seed=seed + 1, batch=len(lr))
    return Case(prob, w0, lr, np.ones(len(lr), dtype=bool), kw)


@pytest.mark.parametrize("widths", [(2, 3, 2), (3, 1, 4, 2), (5, 3, 2)])
@pytest.mark.parametrize("whitened", [True, False])
def test_cuda_matches_reference_with_a_diverging_trajectory(widths, whitened):
    n_steps = 8
    p = DeepLinearNetwork(widths).n_params
    ref_path = np.random.default_rng(5).standard_normal((n_steps + 1, p))
    case = _case(widths, whitened, [0.05, 0.1, 40.0], n_steps=n_steps, record_every=3,
                 record_weights=True, loss_tolerance=0.5, reference=ref_path)
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    gpu = simulate_descent(case.problem, case.weights0, backend="cuda", **kw)
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    assert gpu.backend == "cuda"
    assert uses_block_kernel(widths) == (max(widths) > THREAD_MAX_WIDTH)
    assert gpu.status[2] is Status.DIVERGED and gpu.divergence_step[2] >= 1
    assert_agrees_with_reference(gpu, ref, case)
    np.testing.assert_allclose(gpu.reference_distance, ref.reference_distance, rtol=1e-12)


@settings(max_examples=6)
@given(descent_cases(max_width=5, max_depth=3, max_batch=3, max_steps=6))
def test_cuda_matches_reference_random(case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    gpu = simulate_descent(case.problem, case.weights0, backend="cuda", **kw)
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    assert_agrees_with_reference(gpu, ref, case)


def test_kernel_factory_caches_per_architecture():
    k1 = make_kernel((2, 3, 2), 2, True)
    assert make_kernel((2, 3, 2), 2, True) is k1
    assert make_kernel((2, 3, 2), 2, False) is not k1


@pytest.mark.parametrize("widths", [(2, 3, 2), (5, 3, 2)])  # thread and block kernels
def test_cuda_untracked_balancedness(widths):
    # track_balancedness=False: drift NaN, everything else as tracked (and as the reference).
    case = _case(widths, True, [0.05, 40.0], n_steps=6, record_every=2)
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    on = simulate_descent(case.problem, case.weights0, backend="cuda", **kw)
    off = simulate_descent(case.problem, case.weights0, backend="cuda", track_balancedness=False, **kw)
    assert np.all(np.isnan(off.balancedness_drift)) and np.all(np.isfinite(on.balancedness_drift))
    assert np.array_equal(on.status_codes, off.status_codes)
    assert np.array_equal(on.losses, off.losses, equal_nan=True)
    for a, b in zip(on.final_weights, off.final_weights):
        assert np.array_equal(a, b)
