"""In-engine observables of the CUDA kernels (simulator or GPU): loss, gradient norm and sharpness
at the observed steps agree with the CPU engine's and with dense ``eigh`` of the recorded
weights; NaN after divergence; the run itself is unchanged. Tiny sizes: the simulator runs every
CUDA thread as a Python thread (a block kernel's 32 threads synchronize at every reduction)."""

import numpy as np
import pytest
from descent_agreement import loss_cases, loss_data
from hypothesis import given, settings
from hypothesis import strategies as st

import linflow._descent_cuda as cuda_engine
from linflow import DeepLinearNetwork, HomogeneousNetwork, Problem, flatten, init, simulate_descent
from linflow._descent_cuda import make_kernel, shared_bytes, uses_block_kernel
from linflow._hessian import dense_hessian
from linflow.observables import SHARPNESS_TOL

pytestmark = [pytest.mark.cudasim, pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]

NAMES = ("loss", "grad_norm", "sharpness")
# Lanczos stops at the residual bound ‖Hy − θy‖ ≤ tol·|θ| (tol = SHARPNESS_TOL): θ is then within
# tol·|θ| ≤ tol·(spectral radius) of an eigenvalue; the checks allow exactly that much.
SHARPNESS_RTOL = SHARPNESS_TOL
# Loss and gradient norm: the same products summed in another order (1e-12 relative, as
# tests/descent_agreement.py).
RTOL = 1e-12


def _runs(problem, weights0, lr, every=1, **kw):
    """The CUDA run with observables every ``every`` steps (weights recorded there too), the same
    run without, and the CPU engine's observables."""
    kw = dict(learning_rate=lr, record_weights=True, record_every=every, **kw)
    gpu = simulate_descent(problem, weights0, backend="cuda", observe=NAMES, observe_every=every, **kw)
    plain = simulate_descent(problem, weights0, backend="cuda", **kw)
    cpu = simulate_descent(problem, weights0, backend="numba", observe=NAMES, observe_every=every, **kw)
    return gpu, plain, cpu


def _check(problem, gpu, plain, cpu, same_counts=False):
    assert gpu.backend == "cuda" and "hvp_count" in gpu.extra  # computed in the kernel
    # Observing leaves the run as it was: the same kernel loop, bit for bit.
    for a, b in zip(plain.weights, gpu.weights):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(plain.losses, gpu.losses)
    np.testing.assert_array_equal(gpu.observable_steps, cpu.observable_steps)
    n_checked = 0
    for b in range(gpu.learning_rates.size):
        for i, k in enumerate(gpu.observable_steps):
            w = tuple(x[b, np.searchsorted(gpu.steps, k)] for x in gpu.weights)
            if gpu.divergence_step[b] >= 0 and k >= gpu.divergence_step[b]:
                assert all(np.isnan(gpu.observables[name][b, i]) for name in NAMES)
                assert np.isnan(gpu.extra["sharpness_residual"][b, i])
                continue
            n_checked += 1
            eig = np.linalg.eigvalsh(dense_hessian(problem, w))
            radius = np.max(np.abs(eig))
            got = gpu.observables["sharpness"][b, i]
            assert abs(got - eig[-1]) <= SHARPNESS_RTOL * radius + 1e-300, (got, eig[-3:])
            # both engines within tol·|θ| of the top eigenvalue: within twice that of each other
            assert abs(got - cpu.observables["sharpness"][b, i]) <= 2 * SHARPNESS_RTOL * radius + 1e-300
            assert gpu.extra["sharpness_residual"][b, i] <= SHARPNESS_TOL * abs(got) + 1e-300
            loss = float(problem.loss(w))
            g = np.linalg.norm(flatten(problem.gradient(w)))
            for name, want in (("loss", loss), ("grad_norm", g)):
                assert abs(gpu.observables[name][b, i] - want) <= RTOL * max(want, 1.0)
                assert abs(gpu.observables[name][b, i] - cpu.observables[name][b, i]) <= RTOL * max(want, 1.0)
    assert n_checked > 0
    assert np.all(gpu.extra["hvp_count"] > 0)
    if same_counts:  # the CPU engine's schedule: the same products (unless a check sits at rounding level)
        np.testing.assert_array_equal(gpu.extra["hvp_count"], cpu.extra["hvp_count"])


@pytest.mark.parametrize("kind,widths", [("whitened", (2, 3, 2)), ("regression", (2, 3, 1, 2)),
                                         ("sensing", (3, 2, 2)), ("completion", (2, 2, 3))])
def test_thread_kernel_observables_match_cpu_and_dense_eigh(kind, widths):
    # Five trajectories (a partial block of threads), the last one diverging within the run.
    rng = np.random.default_rng(11)
    problem = Problem(DeepLinearNetwork(widths), loss_data(kind, rng, widths[0], widths[-1], 4))
    assert not uses_block_kernel(widths)
    w0 = init.near_identity(widths, std=0.3, seed=12, batch=5)
    sharp = np.array([problem.sharpness(tuple(w[i] for w in w0)) for i in range(5)])
    lr = np.array([0.05, 0.3, 0.6, 0.9, 60.0]) * 2.0 / sharp
    gpu, plain, cpu = _runs(problem, w0, lr, n_steps=5, divergence_threshold=1e6)
    assert gpu.divergence_step[-1] >= 1 and np.all(gpu.divergence_step[:-1] < 0)
    _check(problem, gpu, plain, cpu, same_counts=True)


def test_partial_last_block_of_threads(monkeypatch):
    # Two threads per block: five trajectories in three blocks, the last one half empty.
    monkeypatch.setattr(cuda_engine, "THREADS_PER_BLOCK", 2)
    problem = Problem(DeepLinearNetwork((2, 2, 2)), target=np.diag([2.0, 0.5]))
    w0 = init.near_identity((2, 2, 2), std=0.3, seed=9, batch=5)
    sharp = np.array([problem.sharpness(tuple(w[i] for w in w0)) for i in range(5)])
    lr = np.array([0.1, 0.5, 0.9, 60.0, 0.3]) * 2.0 / sharp
    gpu, plain, cpu = _runs(problem, w0, lr, every=2, n_steps=4, divergence_threshold=1e6)
    assert gpu.divergence_step[3] >= 1
    _check(problem, gpu, plain, cpu)


@settings(max_examples=20, deadline=None)
@given(loss_cases(kinds=("whitened", "regression", "sensing", "completion"), relu=False, max_width=3, max_depth=3,
                  max_batch=5, max_steps=6), st.integers(1, 3))
def test_observables_on_drawn_problems(case, every):
    kw = {k: v for k, v in case.kwargs.items() if k not in ("record_every", "record_weights")}
    gpu, plain, cpu = _runs(case.problem, case.weights0, case.learning_rate, every=every, **kw)
    _check(case.problem, gpu, plain, cpu)


def test_block_kernel_observables_match_cpu_and_dense_eigh():
    # Width 5: one block of 32 threads per trajectory, Lanczos scratch in shared memory.
    widths = (5, 2, 1)
    problem = Problem(DeepLinearNetwork(widths), target=np.random.default_rng(3).standard_normal((1, 5)))
    assert uses_block_kernel(widths)
    w0 = init.near_identity(widths, std=0.3, seed=4, batch=2)
    sharp = np.array([problem.sharpness(tuple(w[i] for w in w0)) for i in range(2)])
    lr = np.array([0.4, 60.0]) * 2.0 / sharp
    gpu, plain, cpu = _runs(problem, w0, lr, n_steps=2, divergence_threshold=1e6)
    assert gpu.divergence_step[1] >= 1
    _check(problem, gpu, plain, cpu, same_counts=True)


def test_observe_every_and_a_subset_of_names():
    problem = Problem(DeepLinearNetwork((2, 2, 2)), target=np.diag([2.0, 1.0]))
    w0 = init.near_identity((2, 2, 2), std=0.3, seed=5, batch=3)
    kw = dict(learning_rate=np.array([0.1, 0.2, 0.3]), n_steps=5, observe_every=2)
    gpu = simulate_descent(problem, w0, backend="cuda", observe=("grad_norm",), **kw)
    cpu = simulate_descent(problem, w0, backend="numba", observe=("grad_norm",), **kw)
    np.testing.assert_array_equal(gpu.observable_steps, [0, 2, 4, 5])
    assert set(gpu.observables) == {"grad_norm"} and "hvp_count" not in gpu.extra
    np.testing.assert_allclose(gpu.observables["grad_norm"], cpu.observables["grad_norm"], rtol=RTOL)


def test_looser_tolerance_takes_fewer_products():
    problem = Problem(DeepLinearNetwork((3, 3, 3)), target=np.diag([3.0, 2.0, 1.0]))
    w0 = init.near_identity((3, 3, 3), std=0.3, seed=0, batch=3)
    kw = dict(learning_rate=0.1, n_steps=4, observe=("sharpness",), backend="cuda")
    loose = simulate_descent(problem, w0, observe_options={"sharpness": {"tol": 1e-3}}, **kw)
    tight = simulate_descent(problem, w0, **kw)
    assert np.all(loose.extra["hvp_count"] <= tight.extra["hvp_count"])
    assert loose.extra["hvp_count"].sum() < tight.extra["hvp_count"].sum()
    assert np.all(loose.extra["sharpness_residual"] <= 1e-3 * np.abs(loose.observables["sharpness"]))
    # (the residual bound 1e-3·|θ| bounds the error by the same amount)
    np.testing.assert_allclose(loose.observables["sharpness"], tight.observables["sharpness"], rtol=1e-3)


def test_degenerate_top_eigenvalue_and_vanishing_hessian():
    # Φ = I from a balanced 0.5·I start: the top eigenvalue is repeated (every mode alike).
    problem = Problem(DeepLinearNetwork((3, 3, 3)), target=np.eye(3))
    w0 = (0.5 * np.eye(3), 0.5 * np.eye(3))
    res = simulate_descent(problem, w0, learning_rate=0.1, n_steps=3, backend="cuda", observe=("sharpness",),
                           record_weights=True)
    for i in range(res.steps.size):
        w = tuple(x[i] for x in res.weights)
        eig = np.linalg.eigvalsh(dense_hessian(problem, w))
        assert np.sum(np.isclose(eig, eig[-1], rtol=1e-12)) > 1
        assert abs(res.observables["sharpness"][i] - eig[-1]) <= SHARPNESS_RTOL * np.max(np.abs(eig))
    # Depth 3 at θ = 0: the Hessian vanishes (an invariant Krylov subspace at once).
    zero = Problem(DeepLinearNetwork((2, 2, 2, 2)), target=np.eye(2))
    w0 = tuple(np.zeros((2, 2)) for _ in range(3))
    res = simulate_descent(zero, w0, learning_rate=0.1, n_steps=2, backend="cuda", observe=("sharpness", "grad_norm"))
    np.testing.assert_array_equal(res.observables["sharpness"], 0.0)
    np.testing.assert_array_equal(res.observables["grad_norm"], 0.0)


def test_relu_network_observables_come_from_recorded_weights():
    rng = np.random.default_rng(6)
    net = HomogeneousNetwork((2, 3, 2), "relu")
    problem = Problem(net, X=rng.standard_normal((2, 3)), Y=rng.standard_normal((2, 3)))
    w0 = init.near_identity((2, 3, 2), std=0.3, seed=7, batch=2)
    kw = dict(learning_rate=np.array([0.1, 0.2]), n_steps=2, observe=("sharpness",))
    gpu = simulate_descent(problem, w0, backend="cuda", **kw)
    ref = simulate_descent(problem, w0, backend="numpy", **kw)
    assert "hvp_count" not in gpu.extra
    np.testing.assert_allclose(gpu.observables["sharpness"], ref.observables["sharpness"], rtol=1e-10)


def test_observing_kernel_refuses_what_it_cannot_hold():
    with pytest.raises(ValueError, match="deep linear network"):
        make_kernel((2, 3, 2), 3, False, 0.0, observing=True)
    widths = (24, 24, 2)  # the plain block kernel fits in 48 KiB, with the Lanczos basis it does not
    assert shared_bytes(widths, 24, False, False) <= 48 * 1024 < shared_bytes(widths, 24, False, True)
    make_kernel(widths, 24, True)
    with pytest.raises(ValueError, match="in-engine observables in 49152 bytes of shared memory"):
        make_kernel(widths, 24, True, observing=True)
