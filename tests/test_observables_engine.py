"""Observables computed inside the 8-lane CPU engine (loss, gradient norm, sharpness by
warm-started Lanczos): they agree with dense ``eigh`` / the reference's formulas at the recorded
weights, and the run itself is unchanged."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linflow import DeepLinearNetwork, Problem, flatten, init, simulate_descent
from linflow._hessian import dense_hessian
from linflow.losses import MatrixCompletion, MatrixSensing, Regression, Whitened
from linflow.observables import SHARPNESS_TOL

# The sharpness stops at the residual bound ‖Hy − θy‖ ≤ tol·|θ| (tol = SHARPNESS_TOL = 1e-8):
# θ is then within tol·|θ| of an eigenvalue. The assertion below allows exactly that much
# (relative to the spectral radius, ≥ |θ|), not more.
SHARPNESS_RTOL = SHARPNESS_TOL
# Loss and gradient norm: the same products summed in another order, 1e-12 relative as in
# tests/descent_agreement.py.
RTOL = 1e-12


@st.composite
def engine_problems(draw):
    """A deep linear network with one of the losses the engine observes, and a batch."""
    depth = draw(st.integers(1, 4))
    widths = tuple(draw(st.lists(st.integers(1, 4), min_size=depth + 1, max_size=depth + 1)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    d0, dn = widths[0], widths[-1]
    kind = draw(st.sampled_from(["whitened", "regression", "regression_through_w_e", "sensing", "completion"]))
    if kind == "whitened":
        loss = Whitened(rng.standard_normal((dn, d0)))
    elif kind.startswith("regression"):
        m = draw(st.integers(1, 3)) if kind == "regression" else draw(st.integers(40, 60))
        loss = Regression(rng.standard_normal((d0, m)), rng.standard_normal((dn, m)))
    elif kind == "sensing":
        m = draw(st.integers(1, 6))
        loss = MatrixSensing(rng.standard_normal((m, dn, d0)), rng.standard_normal(m))
    else:
        mask = rng.random((dn, d0)) < 0.7
        mask.flat[draw(st.integers(0, dn * d0 - 1))] = True
        loss = MatrixCompletion(mask, rng.standard_normal((dn, d0)))
    problem = Problem(DeepLinearNetwork(widths), loss)
    batch = draw(st.integers(1, 11))  # partial chunks of 8 lanes included
    weights0 = init.near_identity(widths, std=draw(st.sampled_from([0.01, 0.3, 1.0])), seed=rng, batch=batch)
    lr = rng.uniform(0.0, 0.3, batch) if draw(st.booleans()) else rng.uniform(0.0, 5.0, batch)
    return problem, weights0, lr


@settings(max_examples=40, deadline=None)
@given(engine_problems(), st.integers(1, 3), st.integers(1, 12))
def test_in_engine_observables_match_dense_eigh(case, every, n_steps):
    problem, weights0, lr = case
    names = ("loss", "grad_norm", "sharpness")
    kw = dict(learning_rate=lr, n_steps=n_steps, record_every=every, record_weights=True)
    res = simulate_descent(problem, weights0, observe=names, observe_every=every, **kw)
    assert "hvp_count" in res.extra  # computed in the engine, not from the recorded weights
    plain = simulate_descent(problem, weights0, **kw)
    if plain.extra.get("path") == res.extra.get("path"):
        # Same path: bit for bit. (Observing the sharpness of a narrow single network runs the
        # 8-lane engine where a plain run takes the BLAS path; the paths agree to rounding,
        # tests/test_speed_paths.py.)
        for a, b in zip(plain.weights, res.weights):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(plain.losses, res.losses)
    np.testing.assert_array_equal(res.observable_steps, res.steps)
    for b in range(lr.size):
        for i in range(res.steps.size):
            w = tuple(x[b, i] for x in res.weights)
            if not np.all(np.isfinite(flatten(w))):
                assert all(np.isnan(res.observables[name][b, i]) for name in names)
                continue
            eig = np.linalg.eigvalsh(dense_hessian(problem, w))
            radius = np.max(np.abs(eig))
            got = res.observables["sharpness"][b, i]
            assert abs(got - eig[-1]) <= SHARPNESS_RTOL * radius + 1e-300, (got, eig[-3:])
            assert res.extra["sharpness_residual"][b, i] <= SHARPNESS_TOL * abs(got) + 1e-300
            loss = float(problem.loss(w))
            assert abs(res.observables["loss"][b, i] - loss) <= RTOL * max(loss, 1.0)
            g = np.linalg.norm(flatten(problem.gradient(w)))
            assert abs(res.observables["grad_norm"][b, i] - g) <= RTOL * max(g, 1.0)


def test_sharpness_tolerance_option_and_methods():
    problem = Problem(DeepLinearNetwork((3, 3, 3)), target=np.diag([3.0, 2.0, 1.0]))
    w0 = init.near_identity((3, 3, 3), std=0.3, seed=0, batch=5)
    kw = dict(learning_rate=0.1, n_steps=20, observe=("sharpness",))
    dense = simulate_descent(problem, w0, observe_options={"sharpness": {"method": "dense"}}, **kw)
    assert "hvp_count" not in dense.extra
    loose = simulate_descent(problem, w0, observe_options={"sharpness": {"tol": 1e-3}}, **kw)
    tight = simulate_descent(problem, w0, **kw)
    # A looser residual tolerance stops earlier: fewer Hessian-vector products.
    assert np.all(loose.extra["hvp_count"] <= tight.extra["hvp_count"])
    assert np.all(loose.extra["sharpness_residual"] <= 1e-3 * np.abs(loose.observables["sharpness"]))
    np.testing.assert_allclose(tight.observables["sharpness"], dense.observables["sharpness"], rtol=1e-8)


def test_degenerate_top_eigenvalue_and_vanishing_hessian():
    # Φ = I with a balanced identity start: the top eigenvalue is repeated (every mode alike).
    problem = Problem(DeepLinearNetwork((3, 3, 3)), target=np.eye(3))
    w0 = (0.5 * np.eye(3), 0.5 * np.eye(3))
    res = simulate_descent(problem, w0, learning_rate=0.1, n_steps=6, observe=("sharpness",), record_weights=True)
    for i in range(res.steps.size):
        w = tuple(x[i] for x in res.weights)
        eig = np.linalg.eigvalsh(dense_hessian(problem, w))
        assert np.sum(np.isclose(eig, eig[-1], rtol=1e-12)) > 1
        assert res.observables["sharpness"][i] == pytest.approx(eig[-1], rel=SHARPNESS_RTOL)
    # Depth 3 at θ = 0: the Hessian vanishes (an invariant Krylov subspace at once).
    zero = Problem(DeepLinearNetwork((2, 2, 2, 2)), target=np.eye(2))
    w0 = tuple(np.zeros((2, 2)) for _ in range(3))
    res = simulate_descent(zero, w0, learning_rate=0.1, n_steps=2, observe=("sharpness", "grad_norm"))
    np.testing.assert_array_equal(res.observables["sharpness"], 0.0)
    np.testing.assert_array_equal(res.observables["grad_norm"], 0.0)


def test_bad_tolerance_is_refused():
    problem = Problem(DeepLinearNetwork((2, 2)), target=np.eye(2))
    w0 = (np.eye(2),)
    for tol in (0.0, 1.0, -1e-3, float("nan"), "1e-8", True):
        with pytest.raises((ValueError, TypeError), match="tol"):
            simulate_descent(problem, w0, learning_rate=0.1, n_steps=2, observe=("sharpness",),
                             observe_options={"sharpness": {"tol": tol}})


def test_observables_too_large_for_memory_are_refused_before_the_run(monkeypatch):
    # 1 MiB limit; 1,000 trajectories × 1,001 observed steps × (4 + 2) float64 ≈ 46 MiB.
    monkeypatch.setenv("LINFLOW_MEMORY_LIMIT_GIB", str(1 / 1024))
    problem = Problem(DeepLinearNetwork((2, 2)), target=np.eye(2))
    w0 = init.near_identity((2, 2), std=0.1, seed=0, batch=1000)
    with pytest.raises(ValueError, match="observe_every=1 would need .* MiB for the observables"):
        simulate_descent(problem, w0, learning_rate=0.1, n_steps=1000, record_every=1000,
                         observe=("sharpness", "grad_norm"))
