"""Discrete Scalar RMSProp / RMSProp in the reference descent loop."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from linflow import DeepLinearNetwork, Problem, Status, init, simulate_descent
from linflow.network import flatten, unflatten


def _problem(seed=0, widths=(3, 3, 2)):
    rng = np.random.default_rng(seed)
    net = DeepLinearNetwork(widths)
    return Problem(net, target=rng.standard_normal((widths[-1], widths[0]))), init.gaussian(widths, std=0.5, seed=seed)


@pytest.mark.parametrize("optimizer", ["scalar_rmsprop", "rmsprop"])
def test_nu_recursion_and_update_match_hand_computation(optimizer):
    prob, w = _problem(1)
    eta, beta2, eps = 0.03, 0.9, 1e-3
    res = simulate_descent(prob, w, learning_rate=eta, n_steps=3, optimizer=optimizer, beta2=beta2, eps=eps,
                           record_weights=True)
    theta = flatten(w)
    g = flatten(prob.gradient(w))
    nu = g @ g if optimizer == "scalar_rmsprop" else g * g  # ν_0 = s(g_0)
    for k in range(3):
        g = flatten(prob.gradient(unflatten(theta, prob.network.shapes)))
        nu = beta2 * nu + (1 - beta2) * (g @ g if optimizer == "scalar_rmsprop" else g * g)
        theta = theta - eta * g / (np.sqrt(nu) + eps)
        recorded = flatten(tuple(wr[k + 1] for wr in res.weights))
        # Same operations in a different order (per layer vs flat): rounding only.
        assert np.allclose(recorded, theta, rtol=1e-13, atol=1e-15)
    final_nu = res.extra["nu"]
    final_nu = final_nu if optimizer == "scalar_rmsprop" else flatten(final_nu)
    assert np.allclose(final_nu, nu, rtol=1e-13)


def test_first_scalar_rmsprop_step_is_a_normalized_gradient_step():
    prob, w = _problem(2)
    g = flatten(prob.gradient(w))
    res = simulate_descent(prob, w, learning_rate=0.1, n_steps=1, optimizer="scalar_rmsprop", beta2=0.99)
    # ν_0 = ‖g_0‖² makes ν_1 = ν_0, so θ_1 = θ_0 − η g_0/‖g_0‖ (exact up to rounding).
    assert np.allclose(flatten(res.trajectory(0)), flatten(w) - 0.1 * g / np.linalg.norm(g), rtol=0, atol=1e-15)


@pytest.mark.parametrize("optimizer", ["scalar_rmsprop", "rmsprop"])
def test_small_steps_track_the_preconditioned_gradient_flow(optimizer):
    """With η → 0 and 1 − β₂ → 0 together, RMSProp follows dθ/dt = −ηg/√ν, dν/dt = c(s(g) − ν)
    (time in steps, c = (1 − β₂)/β₂): the error shrinks linearly (Euler's method)."""
    prob, w = _problem(3)
    shapes = prob.network.shapes
    n = prob.network.n_params
    errors = []
    for scale in (1.0, 0.5):
        eta, beta2, n_steps = 0.01 * scale, 1 - 0.01 * scale, int(200 / scale)
        c = (1 - beta2) / beta2
        res = simulate_descent(prob, w, learning_rate=eta, n_steps=n_steps, optimizer=optimizer, beta2=beta2)
        g0 = flatten(prob.gradient(w))
        nu0 = np.atleast_1d(g0 @ g0) if optimizer == "scalar_rmsprop" else g0 * g0

        def rhs(_t, y):
            theta, nu = y[:n], y[n:]
            g = flatten(prob.gradient(unflatten(theta, shapes)))
            s = np.atleast_1d(g @ g) if optimizer == "scalar_rmsprop" else g * g
            return np.concatenate([-eta * g / np.sqrt(nu), c * (s - nu)])

        sol = solve_ivp(rhs, (0, n_steps), np.concatenate([flatten(w), nu0]), rtol=1e-11, atol=1e-13)
        errors.append(np.linalg.norm(flatten(res.trajectory(0)) - sol.y[:n, -1]))
    # Halving both η and 1 − β₂ (and doubling the steps) halves the Euler error: ratio ≈ 2,
    # accept 1.6–2.4 (the O(η²) remainder shifts it by a few percent here).
    assert errors[0] < 0.05
    assert 1.6 < errors[0] / errors[1] < 2.4


def test_rmsprop_divergence_is_reported():
    prob, w = _problem(4)
    # RMSProp steps are normalized (|Δθ| ≈ η per coordinate), so a huge η grows the loss only
    # polynomially: use a low divergence threshold.
    res = simulate_descent(prob, w, learning_rate=np.array([1e-3, 1e3]), n_steps=50, optimizer="rmsprop",
                           beta2=0.9, divergence_threshold=1e6)
    assert res.status[0] is Status.MAX_STEPS and res.status[1] is Status.DIVERGED
    assert np.all(np.isfinite(res.final_weights[0][1]))


def test_zero_gradient_coordinates_do_not_move():
    # W_1 = 0 row gives zero gradient on W_2's matching column at θ_0: ν = 0 there, update 0.
    prob = Problem(DeepLinearNetwork((2, 2, 1)), target=[[1.0, 0.5]])
    w = (np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[0.0, 0.0]]))
    res = simulate_descent(prob, w, learning_rate=0.1, n_steps=1, optimizer="rmsprop", beta2=0.9)
    assert np.all(np.isfinite(res.final_weights[0]))
    assert res.final_weights[1][0, 1] == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(optimizer="adam"), "optimizer"),
        (dict(optimizer="rmsprop"), "beta2"),
        (dict(optimizer="rmsprop", beta2=1.0), "beta2"),
        (dict(optimizer="scalar_rmsprop", beta2=0.9, eps=-1.0), "eps"),
        (dict(optimizer="gd", beta2=0.9), "beta2"),
        (dict(optimizer="rmsprop", beta2=0.9, backend="cuda"), "backend"),
    ],
)
def test_bad_optimizer_arguments(kwargs, match):
    prob, w = _problem(0)
    with pytest.raises(ValueError, match=match):
        simulate_descent(prob, w, learning_rate=0.1, n_steps=2, **kwargs)


def test_central_flow_takes_the_optimizer_objects():
    from linflow import integrate_central_flow
    from linflow.optimizers import Adam, Momentum, RMSProp

    prob, w = _problem(5)
    by_string = integrate_central_flow(prob, w, learning_rate=0.05, n_steps=3, optimizer="rmsprop", beta2=0.9, eps=1e-3)
    by_object = integrate_central_flow(prob, w, learning_rate=0.05, n_steps=3, optimizer=RMSProp(0.9, 1e-3))
    np.testing.assert_array_equal(by_string.flat_weights, by_object.flat_weights)
    assert by_object.optimizer == RMSProp(0.9, 1e-3)
    for opt in (Momentum(0.9), Adam()):
        with pytest.raises(ValueError, match="central flows of GD, ScalarRMSProp and RMSProp"):
            integrate_central_flow(prob, w, learning_rate=0.05, n_steps=3, optimizer=opt)
    with pytest.raises(ValueError, match="beta2/eps belong to the optimizer"):
        integrate_central_flow(prob, w, learning_rate=0.05, n_steps=3, optimizer=RMSProp(0.9), beta2=0.9)


def test_central_flow_starts_from_the_optimizers_second_moment_convention():
    from linflow import integrate_central_flow
    from linflow.optimizers import ScalarRMSProp

    prob, w = _problem(6)
    g = flatten(prob.gradient(w))
    warm = integrate_central_flow(prob, w, learning_rate=0.01, n_steps=1, optimizer=ScalarRMSProp(0.9, 1e-2))
    cold = integrate_central_flow(prob, w, learning_rate=0.01, n_steps=1,
                                  optimizer=ScalarRMSProp(0.9, 1e-2, nu_init="zero"))
    assert np.isclose(warm.nu[0], g @ g, rtol=1e-14) and cold.nu[0] == 0.0
