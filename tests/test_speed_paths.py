"""The per-shape paths of the default engine agree with the NumPy reference.

The BLAS path (``linflow/_descent_blas.py``) is forced on the small Hypothesis cases of the
SIMD engine's tests (same tolerances: ``tests/descent_agreement.py``, statuses and steps
exact), and reached through the default engine's rule on wide shapes.
"""

import time

import numpy as np
import pytest
from _homogeneous_cases import homogeneous_descent_cases
from descent_agreement import LOSS_RTOL, WEIGHT_RTOL, Case, assert_agrees_with_reference, descent_cases
from hypothesis import given

from linflow import (
    DeepLinearNetwork,
    HomogeneousNetwork,
    Problem,
    Status,
    init,
    simulate_descent,
)
from linflow._descent_blas import (
    BLAS_MIN_SIZE,
    blas_min_size,
    prefers_blas,
    product_size,
    run_descent_blas,
)
from linflow.descent import prepare_descent
from linflow.optimizers import RMSProp


def _blas_and_reference(case: Case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    fast = run_descent_blas(prepare_descent(case.problem, case.weights0, **kw))
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    return fast, ref


@given(descent_cases())
def test_blas_path_matches_reference(case):
    fast, ref = _blas_and_reference(case)
    assert fast.extra["path"] == "blas"
    assert_agrees_with_reference(fast, ref, case)


@given(homogeneous_descent_cases())
def test_blas_path_matches_reference_on_relu_networks(case):
    fast, ref = _blas_and_reference(case)
    assert_agrees_with_reference(fast, ref, case)


def _mixed_case(problem, batch, *, seed, n_steps, every=3, **kwargs):
    """Near-identity starts; η = 0.2·2/S, the last of every ``every`` trajectories at 50·2/S
    (diverges)."""
    w0 = init.near_identity(
        problem.network.widths, std=0.2 / np.sqrt(max(problem.network.widths)), seed=seed, batch=batch
    )
    sharpness = np.array([problem.sharpness(tuple(w[i] for w in w0)) for i in range(batch)])
    stable = np.arange(batch) % every != every - 1
    lr = np.where(stable, 0.2, 50.0) * 2.0 / sharpness
    kw = dict(n_steps=n_steps, record_every=3, record_weights=True, loss_tolerance=1e-3, **kwargs)
    return Case(problem, w0, lr, stable, kw)


def _wide_problems():
    rng = np.random.default_rng(11)
    wide = DeepLinearNetwork((40, 48, 48, 36))
    yield Problem(wide, target=rng.standard_normal((36, 40)) / 6)
    narrow_many = DeepLinearNetwork((6, 24, 24, 3))  # m ≫ d: through W_e
    yield Problem(narrow_many, X=rng.standard_normal((6, 800)), Y=rng.standard_normal((3, 800)))
    relu = HomogeneousNetwork((6, 24, 24, 2), "leaky_relu", negative_slope=0.2)
    yield Problem(relu, X=rng.standard_normal((6, 300)), Y=rng.standard_normal((2, 300)))


@pytest.mark.parametrize("problem", list(_wide_problems()), ids=["wide", "data-e2e", "relu-data"])
@pytest.mark.parametrize("batch", [1, 2])
def test_default_engine_takes_blas_path_on_wide_shapes_and_agrees(problem, batch):
    case = _mixed_case(problem, batch, seed=batch, n_steps=25, every=2 if batch > 1 else 10)
    assert prefers_blas(problem, batch)
    fast = simulate_descent(problem, case.weights0, learning_rate=case.learning_rate, **case.kwargs)
    ref = simulate_descent(problem, case.weights0, learning_rate=case.learning_rate, backend="numpy", **case.kwargs)
    assert fast.backend == "numba" and fast.extra.get("path") == "blas"
    if batch > 1:
        assert fast.status[1] is Status.DIVERGED and fast.status[0] is not Status.DIVERGED
    assert_agrees_with_reference(fast, ref, case)


def test_reference_distance_and_untracked_balancedness_on_the_blas_path():
    problem = next(_wide_problems())
    case = _mixed_case(problem, 2, seed=3, n_steps=6, every=5)
    own = simulate_descent(problem, case.weights0, learning_rate=case.learning_rate, n_steps=6, record_weights=True)
    path = np.concatenate([w.reshape(2, 7, -1) for w in own.weights], axis=2)
    again = simulate_descent(
        problem, case.weights0, learning_rate=case.learning_rate, n_steps=6, reference=path, track_balancedness=False
    )
    np.testing.assert_array_equal(again.reference_distance, 0.0)
    assert np.all(np.isnan(again.balancedness_drift))
    np.testing.assert_array_equal(again.final_loss, own.final_loss)


def test_path_rule_is_deterministic_and_keeps_narrow_batches_on_simd_lanes():
    narrow = Problem(DeepLinearNetwork((8,) * 5), target=np.eye(8))
    assert product_size(narrow.network.widths, 8) == pytest.approx(8.0)
    assert not prefers_blas(narrow, 10_000) and not prefers_blas(narrow, 8)
    assert prefers_blas(narrow, 1)  # one trajectory: 7 of the 8 SIMD lanes would idle
    tiny = Problem(DeepLinearNetwork((4,) * 5), target=np.eye(4))
    assert not prefers_blas(tiny, 1)
    wide = Problem(DeepLinearNetwork((128,) * 5), target=np.eye(128))
    assert prefers_blas(wide, 1) and prefers_blas(wide, 10_000)
    edge = Problem(DeepLinearNetwork((92,) * 3), target=np.eye(92))  # just below BLAS_MIN_SIZE
    assert not prefers_blas(edge, 16) and prefers_blas(edge, 15)  # 15: one SIMD lane would idle
    assert blas_min_size(1) < blas_min_size(2) < blas_min_size(4) < blas_min_size(8) == BLAS_MIN_SIZE
    assert not prefers_blas(wide, 1, optimizer=RMSProp(beta2=0.9))
    w0 = init.near_identity(narrow.network.widths, std=0.1, seed=0, batch=16)
    assert "path" not in simulate_descent(narrow, w0, learning_rate=0.05, n_steps=3).extra


@pytest.mark.parametrize("batch", [1, 2])
def test_matrix_completion_on_the_blas_path_agrees(batch):
    from linflow.losses import MatrixCompletion

    rng = np.random.default_rng(21)
    d = 30
    truth = rng.standard_normal((d, 2)) @ rng.standard_normal((2, d)) / 2
    mask = rng.random((d, d)) < 0.3
    problem = Problem(DeepLinearNetwork((d, d, d, d)), MatrixCompletion(mask, np.where(mask, truth, np.nan)))
    w0 = init.near_identity(problem.network.widths, std=0.3 / np.sqrt(d), seed=rng, batch=batch)
    lr = np.full(batch, 20.0)  # the 1/|Ω| ≈ 1/270 of the loss scales the Hessian down: stable
    kw = dict(learning_rate=lr, n_steps=40, record_every=4, record_weights=True)
    fast = simulate_descent(problem, w0, **kw)
    ref = simulate_descent(problem, w0, backend="numpy", **kw)
    assert fast.extra.get("path") == "blas" and np.all(fast.final_loss < 0.5 * fast.losses[:, 0])
    # A stable run: the tolerances of tests/descent_agreement.py (its loss floor is that of the
    # squared losses, so the comparison is written out here).
    np.testing.assert_array_equal(fast.status_codes, ref.status_codes)
    np.testing.assert_allclose(fast.losses, ref.losses, rtol=LOSS_RTOL)
    for a, b in zip(fast.final_weights, ref.final_weights):
        assert np.abs(a - b).max() <= WEIGHT_RTOL * np.abs(b).max()
    np.testing.assert_allclose(fast.balancedness_drift, ref.balancedness_drift, rtol=0, atol=WEIGHT_RTOL * d)


BLAS_CHILD = """
import time
import numpy as np
import linflow
net = linflow.DeepLinearNetwork((64, 64, 64))
problem = linflow.Problem(net, target=np.eye(64) * 0.5)
w0 = linflow.init.gaussian(net.widths, std=0.1, seed=0)
assert linflow.simulate_descent(problem, w0, learning_rate=1e-3, n_steps=3).extra["path"] == "blas"
print("started", flush=True)
try:  # minutes of work
    linflow.simulate_descent(problem, w0, learning_rate=1e-6, n_steps=10_000_000, record_every=10_000_000)
    print("finished", flush=True)
except KeyboardInterrupt:
    t = time.perf_counter()
    linflow.simulate_descent(problem, w0, learning_rate=1e-3, n_steps=3)
    print(f"next call {time.perf_counter() - t:.3f}", flush=True)
"""


def test_sigint_stops_a_blas_path_run_within_a_step(tmp_path):
    from interrupts import interrupt, start_child, wait_for_line

    script = tmp_path / "child.py"
    script.write_text(BLAS_CHILD)
    child = start_child([str(script)], tmp_path)
    wait_for_line(child.stdout, "started", child)  # imports and a first compilation: bounded, not timed
    time.sleep(1.0)  # inside the long run
    _, out, err = interrupt(child)  # a step takes microseconds: exits well within the bound
    assert child.returncode == 0, err
    assert "finished" not in out and float(out.split("next call")[1]) < 2.0


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("n_steps", [1, 2, 3, 4])
def test_blas_path_leaves_the_initial_weights_alone(batch, n_steps):
    # The path runs each trajectory in its private copy of θ_0 and returns the final weights in
    # it (three buffers rotate: the final ones are θ_0's buffer after 3, 6, … steps).
    widths = (3, 5, 4)
    problem = Problem(DeepLinearNetwork(widths), target=np.arange(12.0).reshape(4, 3) / 10)
    w0 = init.near_identity(widths, std=0.3, seed=4, batch=batch)
    kept = tuple(w.copy() for w in w0)
    fast = run_descent_blas(prepare_descent(problem, w0, learning_rate=0.05, n_steps=n_steps))
    ref = simulate_descent(problem, w0, learning_rate=0.05, n_steps=n_steps, backend="numpy")
    for w, k, final, expected in zip(w0, kept, fast.final_weights, ref.final_weights):
        np.testing.assert_array_equal(w, k)
        assert not np.shares_memory(final, w)
        np.testing.assert_allclose(final, expected, rtol=WEIGHT_RTOL, atol=0)
