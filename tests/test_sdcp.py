"""Semidefinite complementarity solver: KKT conditions, closed form for k = 1, edge cases."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from linflow._sdcp import kkt_residual, solve_sdcp


def _random_instance(rng, k, n=12, scale=1.0):
    """B = ½ Gram of k(k+1)/2 symmetric 'gradient' vectors (as in the central flow): PSD."""
    g = rng.standard_normal((k, k, n))
    g = g + g.transpose(1, 0, 2)
    B = 0.5 * scale * np.einsum("ijp,klp->ijkl", g, g)
    a = rng.standard_normal((k, k))
    return a + a.T, B


def _objective(alpha, B, X):
    return 0.5 * np.sum(X * np.einsum("ijkl,kl->ij", B, X)) + np.sum(alpha * X)


@given(st.integers(2, 4), st.integers(0, 2**31), st.sampled_from([1e-3, 1.0, 1e3]))
def test_solution_satisfies_kkt_conditions(k, seed, scale):
    alpha, B = _random_instance(np.random.default_rng(seed), k, scale=scale)
    sol = solve_sdcp(alpha, B)
    assert sol.converged
    # The solver's own tolerance is 1e-10 on the natural residual; the separate KKT violations
    # are bounded by it up to a factor O(‖X‖·‖B‖/scale) ≤ 1, so 1e-9 allows for rounding.
    assert sol.residual <= 1e-10
    assert sol.primal_violation <= 1e-12  # X is a PSD projection: exact up to rounding
    assert sol.dual_violation <= 1e-9
    assert sol.complementarity <= 1e-7  # ⟨X, Y⟩ ~ ‖X‖·residual: looser when ‖X‖ ≫ ‖α‖/‖B‖
    again = kkt_residual(alpha, B, sol.X)
    assert again["residual"] == pytest.approx(sol.residual, rel=1e-6, abs=1e-15)


@settings(max_examples=10)  # each example runs 4 BFGS solves
@given(st.integers(0, 2**31))
def test_objective_is_the_global_minimum(seed):
    rng = np.random.default_rng(seed)
    k = 3
    alpha, B = _random_instance(rng, k)
    sol = solve_sdcp(alpha, B)
    # Independent check: minimize over X = LLᵀ (Burer–Monteiro) from several starts with BFGS.
    best = np.inf
    for _ in range(4):
        res = minimize(lambda l: _objective(alpha, B, l.reshape(k, k) @ l.reshape(k, k).T),
                       rng.standard_normal(k * k), method="BFGS", options=dict(gtol=1e-12))
        best = min(best, res.fun)
    # BFGS stops at gradient 1e-12-ish: objective agreement to 1e-7 relative to its size.
    assert _objective(alpha, B, sol.X) <= best + 1e-7 * max(1.0, abs(best))


def test_k1_closed_form():
    B = np.full((1, 1, 1, 1), 4.0)
    assert solve_sdcp(np.array([[-2.0]]), B).X[0, 0] == 0.5  # X = −α/B
    assert solve_sdcp(np.array([[3.0]]), B).X[0, 0] == 0.0  # α ≥ 0: stable, X = 0
    bad = solve_sdcp(np.array([[-1.0]]), np.zeros((1, 1, 1, 1)))
    assert not bad.converged and not np.isfinite(bad.X[0, 0])


def test_iterative_solver_reproduces_k1_closed_form_on_a_decoupled_block():
    # Block-diagonal problem: the (0, 0) block is a k = 1 problem, the (1, 1) block is stable
    # (α > 0), and B couples nothing: FISTA must return the k = 1 closed form exactly.
    B = np.zeros((2, 2, 2, 2))
    B[0, 0, 0, 0] = 3.0
    B[1, 1, 1, 1] = 2.0
    B[0, 1, 0, 1] = B[1, 0, 1, 0] = 1.0
    alpha = np.diag([-1.5, 0.7])
    sol = solve_sdcp(alpha, B)
    assert sol.converged
    # 1e-9: the solver's tolerance (1e-10 relative on the residual) times ‖α‖/B ~ O(1).
    assert np.allclose(sol.X, [[0.5, 0.0], [0.0, 0.0]], atol=1e-9)


def test_psd_alpha_gives_zero_and_warm_start_is_faster():
    rng = np.random.default_rng(5)
    alpha, B = _random_instance(rng, 3)
    assert np.array_equal(solve_sdcp(alpha @ alpha, B).X, np.zeros((3, 3)))
    cold = solve_sdcp(alpha, B)
    warm = solve_sdcp(alpha, B, X0=cold.X)
    assert warm.converged and warm.iterations <= cold.iterations
    assert solve_sdcp(np.zeros((0, 0)), np.zeros((0, 0, 0, 0))).X.shape == (0, 0)


def test_unbounded_problem_is_reported_not_solved():
    B = np.zeros((2, 2, 2, 2))
    B[0, 0, 0, 0] = 1.0  # nothing restrains X_11 while α_11 < 0
    sol = solve_sdcp(np.diag([1.0, -1.0]), B, max_iter=200)
    assert not sol.converged


def test_non_finite_input_is_reported():
    sol = solve_sdcp(np.array([[np.nan]]), np.ones((1, 1, 1, 1)))
    assert not sol.converged


def test_closed_form_2x2_projection_matches_eigh():
    from linflow._sdcp import _project_psd_2x2

    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.standard_normal((2, 2))
        a = a + a.T
        w, v = np.linalg.eigh(a)
        # Both are exact formulas; rounding of O(1) entries: 1e-14.
        assert np.allclose(_project_psd_2x2(a), (v * np.maximum(w, 0)) @ v.T, atol=1e-14)
