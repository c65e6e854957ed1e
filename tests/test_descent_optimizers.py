"""Every optimizer on the numba engine against the NumPy reference (weights, losses, statuses,
final optimizer state), and the update rules against hand computations."""

import numpy as np
import pytest
from hypothesis import given, settings

from descent_agreement import assert_agrees_with_reference, loss_cases, optimizer_cases
from linflow import DeepLinearNetwork, HomogeneousNetwork, Problem, Status, flatten, init, simulate_descent
from linflow._descent_numba import LANES
from linflow.network import unflatten
from linflow.optimizers import GD, Adam, Momentum, Optimizer, RMSProp, ScalarRMSProp, as_optimizer


@settings(max_examples=40)
@given(optimizer_cases(max_width=5, max_depth=4))
def test_numba_matches_reference_for_every_optimizer(case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    fast = simulate_descent(case.problem, case.weights0, backend="numba", **kw)
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    assert_agrees_with_reference(fast, ref, case)


def _problem(seed=0, widths=(3, 3, 2)):
    rng = np.random.default_rng(seed)
    net = DeepLinearNetwork(widths)
    return Problem(net, target=rng.standard_normal((widths[-1], widths[0]))), init.gaussian(widths, std=0.5, seed=seed)


def _hand_directions(opt, grads):
    """Directions u_0, u_1, … of ``opt`` for the flat gradients ``grads``, written out from the
    PyTorch documentation's formulas (independently of linflow.optimizers)."""
    out = []
    v = m = s = np.zeros_like(grads[0])
    for k, g in enumerate(grads, start=1):
        if isinstance(opt, Momentum):
            v = opt.beta * v + g
            out.append(g + opt.beta * v if opt.nesterov else v)
        elif isinstance(opt, Adam):
            m = opt.beta1 * m + (1 - opt.beta1) * g
            s = opt.beta2 * s + (1 - opt.beta2) * g * g
            out.append((m / (1 - opt.beta1**k)) / (np.sqrt(s / (1 - opt.beta2**k)) + opt.eps))
    return out


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("opt", [Momentum(0.9), Momentum(0.8, nesterov=True), Adam(0.9, 0.99, 1e-3), Adam(0.0, 0.5, 0.0)])
def test_momentum_and_adam_follow_their_definitions(opt, backend):
    prob, w = _problem(1)
    eta, n = 0.02, 4
    # An array of one η: a batched run (every field keeps its trajectory axis).
    res = simulate_descent(prob, w, learning_rate=np.array([eta]), n_steps=n, optimizer=opt, record_weights=True,
                           backend=backend)
    shapes = prob.network.shapes
    thetas = [flatten(tuple(wr[0, k] for wr in res.weights)) for k in range(n + 1)]
    grads = [flatten(prob.gradient(unflatten(t, shapes))) for t in thetas[:-1]]
    for k, u in enumerate(_hand_directions(opt, grads)):
        # Same formulas, different association of a few operations: rounding only (θ = O(1)).
        assert np.allclose(thetas[k + 1], thetas[k] - eta * u, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_rmsprop_zero_initialization_is_pytorchs(backend):
    """``nu_init="zero"``: ν_1 = (1−β₂)g_0², so the first step is η g_0/(√(1−β₂)|g_0| + ε)."""
    prob, w = _problem(2)
    g = flatten(prob.gradient(w))
    res = simulate_descent(prob, w, learning_rate=0.01, n_steps=1, backend=backend,
                           optimizer=RMSProp(0.99, 1e-8, nu_init="zero"))
    expected = flatten(w) - 0.01 * g / (np.sqrt(0.01 * g * g) + 1e-8)
    assert np.allclose(flatten(res.trajectory(0)), expected, rtol=1e-13, atol=1e-15)


def test_relu_network_runs_every_optimizer_alike_on_both_engines():
    rng = np.random.default_rng(5)
    net = HomogeneousNetwork((3, 5, 4, 2), activation="leaky_relu", negative_slope=0.1)
    prob = Problem(net, X=rng.standard_normal((3, 9)), Y=rng.standard_normal((2, 9)))
    w0 = init.gaussian(net.widths, std=0.5, seed=rng, batch=LANES + 2)
    for opt in (Momentum(0.9), RMSProp(0.9, 1e-6), Adam()):
        kw = dict(learning_rate=0.005, n_steps=25, optimizer=opt)
        a = simulate_descent(prob, w0, backend="numba", **kw)
        b = simulate_descent(prob, w0, backend="numpy", **kw)
        np.testing.assert_array_equal(a.status_codes, b.status_codes)
        # Stable small steps: rounding-level agreement (tests/descent_agreement.py).
        assert np.allclose(flatten(a.final_weights), flatten(b.final_weights), rtol=1e-12, atol=1e-13)


def test_diverged_trajectory_keeps_the_state_of_its_last_good_iterate():
    prob, w = _problem(4)
    opt = Momentum(0.9)
    lr = np.array([1e-3, 50.0])
    runs = [simulate_descent(prob, w, learning_rate=lr, n_steps=30, optimizer=opt, backend=b) for b in ("numba", "numpy")]
    for res in runs:
        assert res.status[0] is Status.MAX_STEPS and res.status[1] is Status.DIVERGED
        k = int(res.divergence_step[1])
        # Rerun the diverging trajectory for k − 1 steps: same weights and velocity.
        short = simulate_descent(prob, w, learning_rate=np.array([50.0]), n_steps=k - 1, optimizer=opt,
                                 backend="numpy")
        assert np.allclose(flatten(res.trajectory(1)), flatten(short.final_weights), rtol=1e-12)
        assert np.allclose(flatten(tuple(v[1] for v in res.extra["velocity"])),
                           flatten(tuple(v[0] for v in short.extra["velocity"])), rtol=1e-12)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Momentum(1.0), "beta"),
        (lambda: Momentum(-0.1), "beta"),
        (lambda: Momentum(0.9, nesterov="yes"), "nesterov"),
        (lambda: Adam(beta1=1.5), "beta1"),
        (lambda: Adam(beta2=0.0), "beta2"),
        (lambda: Adam(eps=np.nan), "eps"),
        (lambda: RMSProp(0.9, nu_init="ones"), "nu_init"),
        (lambda: ScalarRMSProp(None), "beta2"),
        (lambda: as_optimizer(GD(), beta2=0.9), "beta2"),
        (lambda: as_optimizer("gd", eps=1e-3), "eps"),
        (lambda: as_optimizer("sgd"), "optimizer"),
    ],
)
def test_bad_hyperparameters_name_the_argument(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_string_shorthands_are_the_objects():
    assert as_optimizer("gd") == GD()
    assert as_optimizer("rmsprop", 0.9, 1e-3) == RMSProp(0.9, 1e-3)
    assert as_optimizer("scalar_rmsprop", 0.5) == ScalarRMSProp(0.5, 0.0)


class _SignDescent(Optimizer):
    """A user optimizer (no engine code): u = sign(g)."""

    def init(self, params):
        return ()

    def update(self, grads, state):
        return tuple(np.sign(g) for g in grads), state


def test_user_optimizer_runs_on_the_reference_and_is_refused_by_compiled_engines():
    prob, w = _problem(7)
    res = simulate_descent(prob, w, learning_rate=0.01, n_steps=1, optimizer=_SignDescent())
    assert res.backend == "numpy"
    g = flatten(prob.gradient(w))
    assert np.array_equal(flatten(res.trajectory(0)), flatten(w) - 0.01 * np.sign(g))
    for backend in ("numba", "cuda"):
        with pytest.raises(ValueError, match="backend='numpy'"):
            simulate_descent(prob, w, learning_rate=0.01, n_steps=1, optimizer=_SignDescent(), backend=backend)


@settings(max_examples=25)
@given(optimizer_cases(base=loss_cases(max_width=4, max_depth=3, max_batch=6, max_steps=15)))
def test_numba_matches_reference_for_every_optimizer_and_loss(case):
    kw = dict(learning_rate=case.learning_rate, **case.kwargs)
    fast = simulate_descent(case.problem, case.weights0, backend="numba", **kw)
    ref = simulate_descent(case.problem, case.weights0, backend="numpy", **kw)
    assert_agrees_with_reference(fast, ref, case)
