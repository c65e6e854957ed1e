"""Integrations never spin: non-finite fields stop with DIVERGED, budgets with BUDGET_EXHAUSTED,
tiny states integrate (underflow-safe DOP853), early stops report consistent records."""

import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import linflow
from linflow import (
    DeepLinearNetwork,
    HomogeneousNetwork,
    Problem,
    Status,
    integrate_flow,
)

# A guard that a run returned (it used to spin forever): the budget below is the wall-clock
# one given to the run; 30 s on top covers first-call imports on a loaded, shared 2-core
# machine (a 5 s slack was exceeded once under load).
_BUDGET_S = 2.0
_SLACK_S = 30.0


def _problem(widths, relu, seed):
    rng = np.random.default_rng(seed)
    if relu:
        net = HomogeneousNetwork(widths, "relu")
        return Problem(net, X=rng.standard_normal((widths[0], 4)), Y=rng.standard_normal((widths[-1], 4)))
    return Problem(DeepLinearNetwork(widths), target=rng.standard_normal((widths[-1], widths[0])))


@given(
    widths=st.lists(st.integers(1, 3), min_size=3, max_size=4).map(tuple),
    exponent=st.floats(60.0, 300.0),
    relu=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_overflowing_weights_stop_with_a_status_not_a_hang(widths, exponent, relu, seed):
    problem = _problem(widths, relu, seed)
    rng = np.random.default_rng(seed)
    w0 = tuple(10.0**exponent * (1.0 + rng.random(s)) for s in problem.network.shapes)
    start = time.monotonic()
    res = integrate_flow(problem, w0, t_span=(0.0, 1.0), max_seconds=_BUDGET_S)
    assert time.monotonic() - start < _BUDGET_S + _SLACK_S
    assert res.status in (Status.DIVERGED, Status.BUDGET_EXHAUSTED, Status.SUCCESS, Status.FAILED, Status.LEFT_REGIME)
    if res.status is Status.DIVERGED:
        assert "t=" in res.message
    # Whatever happened, the records are consistent and end where the run stopped.
    assert res.t.size == res.losses.size == res.weights[0].shape[0] >= 1
    assert all(np.all(np.isfinite(w)) for w in res.final_weights)
    if res.status is not Status.SUCCESS:
        assert res.t[-1] <= 1.0


def test_non_finite_loss_at_the_start_is_divergence_at_t0():
    problem = _problem((2, 2, 2), False, 0)
    w0 = (np.full((2, 2), 1e200), np.full((2, 2), 1e200))  # W_e overflows: the loss is inf
    res = integrate_flow(problem, w0, t_span=(0.5, 1.0), t_eval=[0.5, 0.75, 1.0])
    assert res.status is Status.DIVERGED and "t=0.5" in res.message
    assert res.t.tolist() == [0.5] and res.final_weights[0][0, 0] == 1e200


@given(max_steps=st.integers(1, 40), relu=st.booleans(), seed=st.integers(0, 100))
def test_step_budget_stops_long_horizons(max_steps, relu, seed):
    problem = _problem((2, 3, 2), relu, seed)
    w0 = linflow.init.gaussian(problem.network.widths, std=0.5, seed=seed)
    t_eval = np.linspace(0.0, 1e6, 5)
    res = integrate_flow(problem, w0, t_span=(0.0, 1e6), t_eval=t_eval, max_steps=max_steps)
    if res.status is Status.BUDGET_EXHAUSTED:
        assert f"max_steps={max_steps}" in res.message
        assert res.t[-1] < 1e6 and res.t[0] == 0.0
        np.testing.assert_array_equal(res.t[:-1], t_eval[t_eval < res.t[-1]])
    else:  # a ReLU run may stop earlier in a sliding mode
        assert res.status is Status.LEFT_REGIME


def test_wall_clock_budget_stops_a_long_run():
    problem = _problem((3, 3, 3), False, 1)
    w0 = linflow.init.gaussian(problem.network.widths, std=0.5, seed=1)
    start = time.monotonic()
    res = integrate_flow(problem, w0, t_span=(0.0, 1e9), max_seconds=0.5, max_steps=10**9, rtol=1e-13, atol=1e-15)
    assert time.monotonic() - start < 0.5 + _SLACK_S
    assert res.status is Status.BUDGET_EXHAUSTED and "max_seconds=0.5" in res.message


@given(exponent=st.floats(-250.0, -120.0), seed=st.integers(0, 1000), as_lists=st.booleans())
def test_tiny_states_integrate_without_spurious_failure(exponent, seed, as_lists):
    # Widths (2, 1, 1) from W_1 = 0 and a tiny W_2 (the state of an intermittent failure):
    # SciPy's DOP853 squared error norms underflowed (0/0 = NaN) and it gave up with "step size
    # less than spacing"; here it integrates, with weights given as lists too.
    rng = np.random.default_rng(seed)
    problem = Problem(DeepLinearNetwork((2, 1, 1)), target=rng.standard_normal((1, 2)))
    w0 = ([[0.0, 0.0]], [[10.0**exponent]])
    if not as_lists:
        w0 = tuple(np.array(w) for w in w0)
    res = integrate_flow(problem, w0, t_span=(0.0, 1.0), t_eval=[0.0, 0.5, 1.0], rtol=1e-12, atol=1e-14)
    assert res.status is Status.SUCCESS, res.message
    assert res.t.tolist() == [0.0, 0.5, 1.0]
    # Linearized flow around 0 grows at most like e^{‖Φ‖t}: still tiny at t = 1.
    assert np.all(np.abs(np.concatenate([w.ravel() for w in res.final_weights])) < 10.0 ** (exponent + 3))


def test_stable_dop853_error_norm_equals_scipys_where_scipys_is_finite():
    from scipy.integrate import DOP853

    from linflow._flow_guard import StableDOP853

    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 6))
        fun = lambda t, y: -y  # noqa: E731
        ours, theirs = StableDOP853(fun, 0.0, np.ones(n), 1.0), DOP853(fun, 0.0, np.ones(n), 1.0)
        K = rng.standard_normal(ours.K.shape) * 10.0 ** rng.uniform(-5, 5)
        scale = 10.0 ** rng.uniform(-3, 3, size=n)
        h = 10.0 ** rng.uniform(-4, 0)
        # Same formula without squaring: equal to rounding (a few ulps of each factor).
        assert ours._estimate_error_norm(K, h, scale) == pytest.approx(theirs._estimate_error_norm(K, h, scale), rel=1e-13)
