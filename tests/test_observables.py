"""Observables along descent (``simulate_descent(observe=...)``): the run is unchanged, and every
observable agrees with its independent computation from the recorded weights."""

import numpy as np
import pytest
from descent_agreement import descent_cases
from hypothesis import given, settings
from hypothesis import strategies as st

from linflow import (
    DeepLinearNetwork,
    Problem,
    balancedness,
    end_to_end,
    flatten,
    init,
    simulate_descent,
)
from linflow._hessian import dense_hessian
from linflow.observables import OBSERVABLES
from linflow.optimizers import Adam, RMSProp, ScalarRMSProp

# Observables built from dense eigh / SVD of the same float64 matrices agree to rounding: the
# Hessian entries are sums of a few products of O(1) weights, so 1e-9 relative (of the largest
# eigenvalue in magnitude) leaves ~6 orders of margin over double rounding.
RTOL = 1e-9
# Lanczos: ARPACK tol 1e-10 on the Ritz values; the stated guarantee is 1e-8 relative.
LANCZOS_RTOL = 1e-8
WEIGHT_NAMES = ("loss", "grad_norm", "sharpness", "top_eigenvalues", "lambda_min", "effective_sharpness",
                "end_to_end_singular_values", "balancedness")


def _points(res, b):
    """The recorded weights of trajectory b as a list of single-network tuples (finite ones)."""
    n = res.steps.size
    return [tuple(w[b, i] for w in res.weights) for i in range(n)]


def _eig(problem, w):
    return np.linalg.eigvalsh(dense_hessian(problem, w))


@settings(max_examples=25, deadline=None)
@given(descent_cases(max_width=4, max_depth=4, max_batch=4, max_steps=12), st.sampled_from(["numpy", "numba"]),
       st.integers(1, 3))
def test_observed_run_equals_plain_run(case, backend, observe_every):
    kw = dict(learning_rate=case.learning_rate, backend=backend, **case.kwargs)
    plain = simulate_descent(case.problem, case.weights0, **kw)
    seen = simulate_descent(case.problem, case.weights0, observe=("sharpness", "grad_norm"),
                            observe_every=observe_every, **kw)
    np.testing.assert_array_equal(plain.steps, seen.steps)
    assert (plain.weights is None) == (seen.weights is None)
    # Observing the sharpness of a narrow single network runs the 8-lane engine where the plain
    # run takes the BLAS path: then equal to rounding only (tests/test_speed_paths.py).
    if plain.extra.get("path") == seen.extra.get("path"):
        for a, b in zip(plain.final_weights, seen.final_weights):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(plain.losses, seen.losses)
        np.testing.assert_array_equal(plain.status_codes, seen.status_codes)
        np.testing.assert_array_equal(plain.divergence_step, seen.divergence_step)
        np.testing.assert_array_equal(plain.converged_step, seen.converged_step)
        np.testing.assert_array_equal(plain.balancedness_drift, seen.balancedness_drift)
        if plain.weights is not None:
            for a, b in zip(plain.weights, seen.weights):
                np.testing.assert_array_equal(a, b)
    else:
        assert seen.extra.get("path") is None and "hvp_count" in seen.extra
    n_obs = seen.observable_steps.size
    assert seen.observables["sharpness"].shape == (case.learning_rate.size, n_obs)
    # NaN exactly after divergence.
    for b, k in enumerate(seen.divergence_step):
        after = seen.observable_steps >= k if k >= 0 else np.zeros(n_obs, bool)
        assert np.all(np.isnan(seen.observables["sharpness"][b, after]))
        assert np.all(np.isfinite(seen.observables["grad_norm"][b, ~after]))


@settings(max_examples=20, deadline=None)
@given(descent_cases(max_width=4, max_depth=4, max_batch=3, max_steps=10), st.sampled_from(["numpy", "numba"]))
def test_observables_match_independent_computation(case, backend):
    kw = dict(case.kwargs, record_weights=True)
    every = kw["record_every"]
    res = simulate_descent(case.problem, case.weights0, learning_rate=case.learning_rate, backend=backend,
                           observe=WEIGHT_NAMES, observe_every=every, **kw)
    np.testing.assert_array_equal(res.observable_steps, res.steps)
    obs = res.observables
    p = case.problem
    k = min(3, p.network.n_params)
    for b in range(case.learning_rate.size):
        b0 = balancedness(tuple(w[b] for w in case.weights0))
        for i, w in enumerate(_points(res, b)):
            if not np.all(np.isfinite(flatten(w))):
                assert all(np.all(np.isnan(obs[name][b, i])) for name in WEIGHT_NAMES)
                continue
            eig = _eig(p, w)
            scale = max(np.max(np.abs(eig)), 1.0)
            # numba: in-engine Lanczos, within its residual tolerance (tests/test_observables_engine.py)
            assert abs(obs["sharpness"][b, i] - eig[-1]) <= (RTOL if backend == "numpy" else LANCZOS_RTOL) * scale
            assert abs(obs["effective_sharpness"][b, i] - eig[-1]) <= RTOL * scale  # GD: P = I
            assert abs(obs["lambda_min"][b, i] - eig[0]) <= RTOL * scale
            np.testing.assert_allclose(obs["top_eigenvalues"][b, i], eig[::-1][:k], rtol=0, atol=RTOL * scale)
            loss = p.loss(w)
            assert abs(obs["loss"][b, i] - loss) <= 1e-12 * max(loss, 1.0)  # same formula, summed alike
            # The engine's loss: numba sums in its own order (1e-12 relative, as in descent_agreement).
            assert abs(obs["loss"][b, i] - res.losses[b, i]) <= 1e-12 * max(loss, 1.0)
            g = np.linalg.norm(flatten(p.gradient(w)))
            assert abs(obs["grad_norm"][b, i] - g) <= 1e-12 * max(g, 1.0)
            sv = np.linalg.svd(end_to_end(w), compute_uv=False)
            np.testing.assert_allclose(obs["end_to_end_singular_values"][b, i], sv, rtol=0,
                                       atol=1e-12 * max(sv[0], 1.0))
            bal = [np.linalg.norm(x - y) for x, y in zip(balancedness(w), b0)]
            scale = max(max(bal, default=0), 1.0)
            np.testing.assert_allclose(obs["balancedness"][b, i], bal, rtol=0, atol=1e-12 * scale)


@settings(max_examples=15, deadline=None)
@given(descent_cases(max_width=4, max_depth=3, max_batch=2, max_steps=6))
def test_lanczos_matches_dense_eigh(case):
    opts = {name: {"method": "lanczos"} for name in ("sharpness", "lambda_min")}
    kw = dict(case.kwargs, record_weights=True, record_every=1)
    p = case.problem.network.n_params
    if p < 3:  # ARPACK needs k < P; with k = 1, P ≥ 2 (and P = 2 is borderline): use dense there
        return
    res = simulate_descent(case.problem, case.weights0, learning_rate=case.learning_rate, backend="numpy",
                           observe=("sharpness", "lambda_min"), observe_options=opts, **kw)
    for b in range(case.learning_rate.size):
        for i, w in enumerate(_points(res, b)):
            if not np.all(np.isfinite(flatten(w))):
                continue
            eig = _eig(case.problem, w)
            scale = max(np.max(np.abs(eig)), 1e-300)
            assert abs(res.observables["sharpness"][b, i] - eig[-1]) <= LANCZOS_RTOL * scale
            assert abs(res.observables["lambda_min"][b, i] - eig[0]) <= LANCZOS_RTOL * scale


@pytest.mark.parametrize("cls", [RMSProp, ScalarRMSProp])
def test_effective_sharpness_of_rmsprop_matches_hand_preconditioner(cls):
    widths = (2, 3, 2)
    rng = np.random.default_rng(3)
    problem = Problem(DeepLinearNetwork(widths), target=rng.standard_normal((2, 2)))
    w0 = init.gaussian(widths, std=0.5, seed=3)
    opt = cls(0.9, 1e-8)
    eta = 0.01
    res = simulate_descent(problem, w0, learning_rate=eta, n_steps=8, optimizer=opt, record_weights=True,
                           observe=("effective_sharpness",))
    nu = None
    for i in range(res.steps.size):
        w = tuple(x[i] for x in res.weights)
        g = flatten(problem.gradient(w))
        s = g @ g if cls is ScalarRMSProp else g * g
        nu = s if nu is None else 0.9 * nu + 0.1 * s  # ν_0 = s(g_0), then ν_{k+1} = β ν_k + (1−β) s(g_k)
        nu_step = s if i == 0 else nu
        d = 1.0 / np.sqrt(np.sqrt(np.broadcast_to(nu_step, g.shape)) + 1e-8)
        h = dense_hessian(problem, w)
        expected = np.linalg.eigvalsh(d[:, None] * h * d[None, :])[-1]
        assert abs(res.observables["effective_sharpness"][i] - expected) <= RTOL * max(abs(expected), 1.0)


def test_gfs_sharpness_and_distance_closed_forms():
    problem = Problem(DeepLinearNetwork((1, 1, 1)), target=[[2.0]])
    w0 = (np.array([[0.3]]), np.array([[0.9]]))
    ref = np.array([1.0, 2.0])
    res = simulate_descent(problem, w0, learning_rate=0.05, n_steps=20, record_weights=True,
                           observe=("gfs_sharpness", "distance_to_reference"),
                           observe_options={"distance_to_reference": {"reference": ref}})
    a, c = res.weights[0][:, 0, 0], res.weights[1][:, 0, 0]
    # Depth 2: φ = √(δ² + 4y²), δ = w1² − w2² (Kreisler et al. 2023, closed form for N = 2).
    np.testing.assert_allclose(res.observables["gfs_sharpness"], np.sqrt((a**2 - c**2) ** 2 + 16.0), rtol=1e-12)
    np.testing.assert_allclose(res.observables["distance_to_reference"], np.hypot(a - 1.0, c - 2.0), rtol=1e-14)
    assert res.observables["gfs_sharpness"].shape == (21,)  # unbatched: no trajectory axis


def test_observe_every_and_record_every_differ():
    problem = Problem(DeepLinearNetwork((2, 2, 2)), target=np.eye(2))
    w0 = init.gaussian((2, 2, 2), std=0.5, seed=1)
    res = simulate_descent(problem, w0, learning_rate=0.1, n_steps=10, record_every=4, observe=("loss",),
                           observe_every=3)
    np.testing.assert_array_equal(res.steps, [0, 4, 8, 10])
    np.testing.assert_array_equal(res.observable_steps, [0, 3, 6, 9, 10])
    assert res.weights is None
    np.testing.assert_array_equal(res.observables["loss"][[0, 4]], res.losses[[0, 3]])


@pytest.mark.parametrize("kwargs, match", [
    (dict(observe=("sharp",)), "observe entries"),
    (dict(observe=("loss", "loss")), "twice"),
    (dict(observe=("loss",), observe_every=0), "observe_every"),
    (dict(observe=("top_eigenvalues",), observe_options={"top_eigenvalues": {"k": 99}}), "k"),
    (dict(observe=("sharpness",), observe_options={"sharpness": {"method": "qr"}}), "method"),
    (dict(observe=("sharpness",), observe_options={"loss": {}}), "not observed"),
    (dict(observe=("distance_to_reference",)), "reference"),
    (dict(observe=("gfs_sharpness",)), "scalar network"),
    (dict(observe=("effective_sharpness",), optimizer=Adam(0.9, 0.99, 1e-8)), "effective_sharpness"),
    (dict(observe=("effective_sharpness",), optimizer=RMSProp(0.9), backend="numba"), "NumPy reference"),
])
def test_bad_observe_arguments(kwargs, match):
    problem = Problem(DeepLinearNetwork((2, 2)), target=np.eye(2))
    with pytest.raises((ValueError, TypeError), match=match):
        simulate_descent(problem, (np.eye(2),), learning_rate=0.1, n_steps=3, **kwargs)


def test_registry_lists_every_observable():
    assert set(WEIGHT_NAMES) | {"gfs_sharpness", "distance_to_reference"} == set(OBSERVABLES)


def test_integrate_flow_records_observables_at_its_times():
    from linflow import integrate_flow

    problem = Problem(DeepLinearNetwork((2, 3, 2)), target=np.diag([1.5, 0.5]))
    w0 = init.gaussian((2, 3, 2), std=0.4, seed=4)
    t = np.linspace(0.0, 2.0, 5)
    res = integrate_flow(problem, w0, t_span=(0.0, 2.0), t_eval=t, observe=("sharpness", "loss", "balancedness"))
    for i in range(t.size):
        w = tuple(x[i] for x in res.weights)
        eig = _eig(problem, w)
        assert abs(res.observables["sharpness"][i] - eig[-1]) <= RTOL * max(abs(eig).max(), 1.0)
    np.testing.assert_array_equal(res.observables["loss"], res.losses)
    # Gradient flow conserves B_j (Arora, Cohen & Hazan 2018, Thm 1): drift at the solver's
    # tolerance (rtol 1e-10 on O(1) weights), far below 1e-6.
    assert res.observables["balancedness"].shape == (5, 1) and np.max(res.observables["balancedness"]) < 1e-6


@pytest.mark.parametrize("optimizer", ["gd", RMSProp(0.9, 1e-8)])
def test_integrate_central_flow_records_observables_at_its_times(optimizer):
    from linflow import integrate_central_flow

    problem = Problem(DeepLinearNetwork((2, 2, 2)), target=np.diag([2.0, 1.0]))
    w0 = tuple(init.near_identity((2, 2, 2), std=0.2, seed=1))
    names = ("loss", "sharpness", "effective_sharpness", "grad_norm")
    res = integrate_central_flow(problem, w0, learning_rate=0.1, n_steps=12, record_every=4, optimizer=optimizer,
                                 observe=names)
    assert set(res.observables) == set(names)
    for i in range(res.t.size):
        w = tuple(x[i] for x in res.weights)
        eig = _eig(problem, w)
        scale = max(np.max(np.abs(eig)), 1.0)
        assert abs(res.observables["sharpness"][i] - eig[-1]) <= RTOL * scale
        assert abs(res.observables["loss"][i] - res.losses[i]) <= 1e-12 * max(res.losses[i], 1.0)
        assert res.observables["grad_norm"][i] ** 2 == pytest.approx(res.grad_norm_sq[i], rel=1e-10)
        if optimizer == "gd":
            assert res.observables["effective_sharpness"][i] == pytest.approx(eig[-1], rel=1e-9)
        else:
            # λ_max(P^{-1/2} H P^{-1/2}), P = diag(√ν + ε): η times it is the flow's own effective sharpness.
            assert 0.1 * res.observables["effective_sharpness"][i] == pytest.approx(res.effective_sharpness[i],
                                                                                    rel=1e-8)
