"""Memory estimates before large allocations, streamed comparisons, consistent result shapes,
backends agreeing on every field, and no order fitted from runs that do not track GF."""

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import linflow
from linflow import DeepLinearNetwork, Problem, Status, init, simulate_descent
from linflow._validation import MEMORY_LIMIT_ENV, memory_limit

NET = DeepLinearNetwork((2, 3, 2))
PROB = Problem(NET, target=np.eye(2))
W0 = init.gaussian(NET.widths, std=0.5, seed=0)


# ---------------------------------------------------------------- memory
@given(exponent=st.integers(9, 15), batch=st.integers(1, 4))
def test_recorded_losses_beyond_the_limit_are_refused_before_allocating(exponent, batch):
    w = init.gaussian(NET.widths, std=0.5, seed=0, batch=batch)
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"n_steps=10+ .*GiB|n_steps=10+ .*TiB|n_steps=10+ .*PiB"):
        simulate_descent(PROB, w, learning_rate=0.1, n_steps=10**exponent)
    assert time.monotonic() - start < 1.0  # refused up front, nothing allocated


@given(batch=st.integers(10**5, 2 * 10**5))
@settings(max_examples=5)
def test_recorded_weights_beyond_the_limit_are_refused(batch):
    # Losses (≤ 1.6 GB) fit under the 2 GiB default, the 12 parameters per record do not.
    w = tuple(np.broadcast_to(x, (batch,) + x.shape) for x in W0)
    with pytest.raises(ValueError, match="record_weights=True"):
        simulate_descent(PROB, w, learning_rate=0.1, n_steps=1000, record_weights=True, backend="numpy")


def test_memory_limit_follows_the_environment(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1e-6")  # ~1 KiB
    assert memory_limit() == pytest.approx(1e-6 * 2**30)
    with pytest.raises(ValueError, match=MEMORY_LIMIT_ENV):
        simulate_descent(PROB, W0, learning_rate=0.1, n_steps=1000)
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "-3")
    with pytest.raises(ValueError, match=MEMORY_LIMIT_ENV):
        memory_limit()
    monkeypatch.delenv(MEMORY_LIMIT_ENV)
    assert memory_limit() == 2 * 2**30


@given(rows=st.integers(1, 6000), cols=st.integers(1, 6000), seed=st.integers(0, 2**31))
@settings(max_examples=10)
def test_orthogonal_draws_only_the_layer(rows, cols, seed):
    if rows * cols > 20_000:
        cols = max(1, 20_000 // rows)
    (w,) = init.orthogonal((cols, rows), seed=seed, scale=2.0)
    assert w.shape == (rows, cols)
    gram = w.T @ w if rows >= cols else w @ w.T
    # Householder QR: orthonormal to ~n·eps; 1e-12 is loose for n ≤ 6000.
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-12 * max(rows, cols))


def test_orthogonal_tall_layer_is_fast_and_haar_in_distribution():
    start = time.monotonic()
    (w,) = init.orthogonal((3, 6000), seed=0)
    assert time.monotonic() - start < 1.0  # a 6000×6000 draw took 30 s
    # First entries of Haar columns: mean 0, variance 1/n. Over 400 draws of a 50×2 layer the
    # sample variance of 800 entries is within 25 % of 1/50 (its relative sd is √(2/800) = 5 %).
    draws = np.array([init.orthogonal((2, 50), seed=s)[0][0] for s in range(400)]).ravel()
    assert abs(draws.mean()) < 4 * np.sqrt(1 / 50 / draws.size)
    assert draws.var() == pytest.approx(1 / 50, rel=0.25)


# ---------------------------------------------------------------- result shapes
@given(
    widths=st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple),
    n_steps=st.integers(1, 12),
    record_every=st.integers(1, 5),
    backend=st.sampled_from(["numpy", "numba"]),
    record_weights=st.booleans(),
)
def test_unbatched_runs_drop_the_batch_axis_everywhere_batched_keep_it(widths, n_steps, record_every, backend,
                                                                      record_weights):
    net = DeepLinearNetwork(widths)
    prob = Problem(net, target=np.ones((widths[-1], widths[0])))
    w = init.gaussian(widths, std=0.4, seed=1)
    kw = dict(n_steps=n_steps, record_every=record_every, backend=backend, record_weights=record_weights,
              reference=np.zeros((n_steps + 1, net.n_params)))
    single = simulate_descent(prob, w, learning_rate=0.05, **kw)
    batch = simulate_descent(prob, w, learning_rate=np.array([0.05]), **kw)
    r = batch.steps.size
    assert not single.batched and batch.batched
    assert single.losses.shape == (r,) and batch.losses.shape == (1, r)
    for field in ("final_loss", "status_codes", "divergence_step", "converged_step", "balancedness_drift",
                  "learning_rates", "reference_distance"):
        a, b = getattr(single, field), getattr(batch, field)
        assert np.shape(a) == () and np.shape(b) == (1,), field
        assert np.array_equal(a, b[0], equal_nan=True), field
    for a, b, shape in zip(single.final_weights, batch.final_weights, net.shapes):
        assert a.shape == shape and b.shape == (1,) + shape and np.array_equal(a, b[0])
    if record_weights:
        for a, b, shape in zip(single.weights, batch.weights, net.shapes):
            assert a.shape == (r,) + shape and b.shape == (1, r) + shape
    assert single.status is Status.from_code(int(batch.status_codes[0])) and batch.status == (single.status,)
    assert [x.shape for x in single.trajectory(0)] == list(net.shapes)


@given(
    exponent=st.floats(100.0, 160.0),
    depth=st.integers(2, 4),
    seed=st.integers(0, 1000),
)
def test_backends_agree_on_every_field_when_balancedness_overflows(exponent, depth, seed):
    # W_1 huge and W_2 tiny: the product (and the loss) is O(1) but B_1 = W_2ᵀW_2 − W_1W_1ᵀ
    # overflows. The drift is then +inf on every backend (numpy gave NaN, numba 0.0).
    rng = np.random.default_rng(seed)
    widths = (2,) * (depth + 1)
    prob = Problem(DeepLinearNetwork(widths), target=rng.standard_normal((2, 2)))
    c = 10.0**exponent
    w = [np.diag(rng.uniform(0.5, 1.0, 2)) for _ in range(depth)]
    w[0], w[1] = w[0] * c, w[1] / c
    runs = [simulate_descent(prob, tuple(w), learning_rate=0.01, n_steps=5, loss_tolerance=1e-30, backend=b)
            for b in ("numpy", "numba")]
    a, b = runs
    assert a.status is b.status
    for field in ("divergence_step", "converged_step", "status_codes"):
        assert getattr(a, field) == getattr(b, field), field
    overflow = not np.all(np.isfinite(w[0] @ w[0].T))
    if overflow:
        assert a.balancedness_drift == b.balancedness_drift == np.inf
    else:
        assert np.isfinite(a.balancedness_drift) and np.isfinite(b.balancedness_drift)
    # Losses are O(1): rounding differences of the two engines only (see tests/descent_agreement.py).
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- compare
def test_streamed_comparison_matches_a_direct_recorded_run(monkeypatch):
    import linflow.compare as cmp_module

    monkeypatch.setattr(cmp_module, "_CHUNK_STEPS", 7)  # many chunk boundaries
    problem, w0 = cmp_module.default_problem(0)
    res = linflow.compare_descent_to_flow(problem, w0, [0.04, 0.02], 1.0)
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, 1.0))
    for eta, dist, losses in zip(res.learning_rates, res.distances, res.descent_losses):
        n = int(round(1.0 / eta))
        run = simulate_descent(problem, w0, learning_rate=float(eta), n_steps=n, record_weights=True, backend="numpy")
        direct = np.linalg.norm(linflow.flatten(run.weights) - flow.sol(eta * np.arange(n + 1)).T, axis=1)
        # GD restarted from its own final iterate is the same arithmetic: equal GD paths; the
        # flow is the same dense output: distances agree to rounding.
        np.testing.assert_array_equal(losses, run.losses)
        np.testing.assert_allclose(dist, direct, rtol=1e-12, atol=1e-15)
    assert res.fitted.all() and res.notes == ("", "") and abs(res.order - 1.0) < 0.2


@given(big=st.lists(st.floats(0.6, 5.0), min_size=1, max_size=3), seed=st.integers(0, 20))
@settings(max_examples=10)
def test_order_is_never_fitted_from_runs_that_do_not_track_gf(big, seed):
    # The default problem's 2/S is ≈ 0.35: these η make GD diverge or leave GF.
    problem, w0 = linflow.compare.default_problem(seed)
    small = [0.02, 0.01]
    res = linflow.compare_descent_to_flow(problem, w0, sorted(set(big)) + small, 2.0)
    unstable = np.array([eta > 0.5 for eta in res.learning_rates])
    assert not res.fitted[unstable].any()
    for note, status, fitted in zip(res.notes, res.statuses, res.fitted):
        assert fitted == (note == "")
        if status is Status.DIVERGED:
            assert "diverged" in note
    if res.fitted.sum() >= 2:
        expected = linflow.fit_order(res.learning_rates[res.fitted], res.max_distance[res.fitted])
        assert res.order == expected
    else:
        assert np.isnan(res.order) and "no order fitted" in res.order_message


def test_relative_divergence_is_reported_before_the_absolute_cap():
    problem, w0 = linflow.compare.default_problem(0)
    res = linflow.compare_descent_to_flow(problem, w0, [1.2, 0.01, 0.005], 6.0)
    assert res.statuses[0] is Status.DIVERGED and not res.fitted[0]
    # The run stopped long before its loss reached the absolute 1e100 cap.
    assert np.nanmax(res.descent_losses[0]) < 1e6 * problem.loss(w0)
    assert res.fitted[1:].all() and abs(res.order - 1.0) < 0.2


def test_certificate_with_a_tiny_step_is_refused_with_the_estimate():
    flow = linflow.integrate_flow(PROB, W0, t_span=(0.0, 10.0))
    with pytest.raises(ValueError, match=r"learning_rate=1e-12 .*[TP]iB"):
        linflow.curvature.error_certificate(PROB, flow, learning_rate=1e-12, epsilon=0.1)


# ---------------------------------------------------------------- central flow
def test_stable_rmsprop_flow_does_not_rise_through_euler_instability():
    # A data problem with a positive minimum: ∇L → 0, so ν → 0 and the effective sharpness
    # η/√ν·λ grows without bound. With one Euler step per substep (dt = 1/4) the loss rose
    # once λ̂ > 8 while the status said SUCCESS; now substeps are split, and past 64 splits
    # the flow stops with LEFT_REGIME.
    rng = np.random.default_rng(0)
    problem = Problem(DeepLinearNetwork((2, 2, 2)), X=rng.standard_normal((2, 5)), Y=rng.standard_normal((2, 5)))
    w0 = init.gaussian((2, 2, 2), std=0.5, seed=1)
    flow = linflow.integrate_central_flow(problem, w0, learning_rate=0.05, n_steps=100, optimizer="rmsprop",
                                          beta2=0.9, ablation="stable", edge_tolerance=1e3)
    assert flow.effective_sharpness.max() > 8.0  # the regime that used to fail was reached
    # Non-increasing to rounding: relative 1e-12 of the loss (its terms are O(1) sums).
    assert np.all(np.diff(flow.losses) <= 1e-12 * flow.losses[:-1])
    assert flow.status in (Status.SUCCESS, Status.LEFT_REGIME)
    if flow.status is Status.LEFT_REGIME:
        assert "too stiff" in flow.message


def test_central_flow_budget_stops_it():
    problem, w0 = linflow.compare.default_problem(0)
    flow = linflow.integrate_central_flow(problem, w0, learning_rate=0.1, n_steps=10**6, max_seconds=0.3)
    assert flow.status is Status.BUDGET_EXHAUSTED and "max_seconds" in flow.message
    assert flow.stop_time < 10**6 and flow.t[-1] == flow.stop_time


def test_cli_compare_marks_rows_it_does_not_fit(capsys):
    from linflow.cli import main

    assert main(["compare", "--learning-rates", "1.5", "0.04", "0.02", "--horizon", "2"]) == 0
    out = capsys.readouterr().out
    assert "not fitted: GD left GF" in out  # one step of η = 1.5 (2/S ≈ 0.35) lands far off
    assert "fitted over 2 step sizes (1 left out" in out
