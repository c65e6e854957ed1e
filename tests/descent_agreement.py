"""Shared by the engine tests (numba here, cuda under tests/cudasim): random GD cases and the
comparison of an engine's result with the NumPy reference.

Why the tolerances are what they are
------------------------------------
Every engine sums the matrix products in its own order (the reference calls BLAS through
stacked ``@``), so results differ by rounding. Gradient descent then propagates these
differences: while the step is stable (``η λ_max(∇²f) < 2`` along the way) they stay at the
level of a few ulps per step; once the dynamics is locally unstable (edge of stability,
chaos, blow-up) ANY two correct implementations drift apart at the rate of the instability,
which is a property of the dynamics, not of the engine. Measured here: a trajectory whose
loss rose again from 0.2 to 0.95 (sharpness past 2/η) drifted from 1e-16 to 2e-9 relative
between steps 15 and 30; at the edge of stability a 1-ulp perturbation of θ_0 moves the
reference itself by 1e-8 relative within 30 steps. The cases below therefore draw each trajectory's step size from
two regimes with a known outcome: *stable* (``η = c·2/S_0``, ``c ∈ [0.02, 0.25]``) and *fast
divergence* (``c ∈ [20, 100]``: the loss overflows within a few steps). Stable trajectories
whose reference loss ever increases have entered an unstable phase; for them only status,
steps and NaN pattern are compared.

Measured worst cases of the numba engine over four runs of 200–500 Hypothesis cases of this
kind (~1,300 trajectories per 400 cases, widths 1–6, depths 1–6, both losses; statuses,
divergence and convergence steps identical in every case): trajectories that did not
diverge, final weights 2.6e-13 and losses 3.7e-13 relative (1.2e-12 only for losses of
~1e-6, within the rounding floor below); diverged trajectories, whose last kept iterate and last
losses come out of a blow-up, weights 1.0e-12 and losses 1.3e-12 (a loss of 9e55, N = 5).
In a blow-up the GD map (``∇f`` has degree 2N−1 in the weights) and the loss (degree 2N)
amplify relative differences by up to ~2N, so diverged trajectories are held to 2N·1e-12;
all others to 1e-12.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import strategies as st
from loss_data import draw_loss

from linflow import DeepLinearNetwork, HomogeneousNetwork, Problem, init
from linflow.optimizers import GD, Adam, Momentum, RMSProp, ScalarRMSProp

#: Relative agreement of weights (max-norm per trajectory and recorded step) and of losses.
WEIGHT_RTOL = 1e-12
LOSS_RTOL = 1e-12


class Case(NamedTuple):
    problem: Problem
    weights0: tuple
    learning_rate: np.ndarray
    stable: np.ndarray  # bool per trajectory: drawn from the stable regime
    kwargs: dict


def stability_regimes(draw, rng, batch: int):
    """Per trajectory: stable (``η = c·2/S_0``, c ∈ [0.02, 0.25]) or divergent (c ∈ [20, 100]);
    returns the flags and c."""
    stable = np.array(draw(st.lists(st.booleans(), min_size=batch, max_size=batch)))
    return stable, np.where(stable, rng.uniform(0.02, 0.25, batch), rng.uniform(20.0, 100.0, batch))


@st.composite
def descent_cases(draw, *, max_width=6, max_depth=6, max_batch=8, max_steps=30) -> Case:
    """A random problem (whitened or data), batch of initializations and per-trajectory η."""
    depth = draw(st.integers(1, max_depth))
    widths = tuple(draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1)))
    seed = draw(st.integers(0, 2**32 - 1))
    batch = draw(st.integers(1, max_batch))
    rng = np.random.default_rng(seed)
    net = DeepLinearNetwork(widths)
    if draw(st.booleans()):
        problem = Problem(net, target=rng.standard_normal((widths[-1], widths[0])))
    else:
        m = draw(st.integers(1, 8))
        problem = Problem(net, X=rng.standard_normal((widths[0], m)), Y=rng.standard_normal((widths[-1], m)))
    weights0 = init.near_identity(widths, std=0.3, seed=rng, batch=batch)
    sharpness = np.array([problem.sharpness(tuple(w[i] for w in weights0)) for i in range(batch)])
    stable, c = stability_regimes(draw, rng, batch)
    n_steps = draw(st.integers(1, max_steps))
    loss0 = float(np.max(problem.loss(weights0)))
    kwargs = dict(
        n_steps=n_steps,
        record_every=draw(st.integers(1, 4)),
        loss_tolerance=draw(st.sampled_from([None, 0.5 * loss0, 1e-3])),
        record_weights=draw(st.booleans()),
    )
    return Case(problem, weights0, c * 2.0 / sharpness, stable, kwargs)


@st.composite
def optimizers(draw):
    """Any optimizer of :mod:`linflow.optimizers` with drawn hyper-parameters."""
    kind = draw(st.sampled_from(["gd", "momentum", "scalar_rmsprop", "rmsprop", "adam"]))
    beta = st.sampled_from([0.5, 0.9, 0.99])
    eps = st.sampled_from([0.0, 1e-8, 1e-3])
    nu_init = st.sampled_from(["first_gradient", "zero"])
    if kind == "gd":
        return GD()
    if kind == "momentum":
        return Momentum(draw(beta), nesterov=draw(st.booleans()))
    if kind == "adam":
        return Adam(draw(st.sampled_from([0.0, 0.9])), draw(beta), draw(st.sampled_from([1e-8, 1e-3])))
    cls = ScalarRMSProp if kind == "scalar_rmsprop" else RMSProp
    # ν_0 = 0 with ε = 0 divides by √ν_1 = √(1−β₂)|g_0|: fine unless g_0 has zero entries.
    return cls(draw(beta), draw(eps), nu_init=draw(nu_init))


@st.composite
def optimizer_cases(draw, base=None, **kwargs) -> Case:
    """A :func:`descent_cases` case (or one of the strategy ``base``) run by a drawn optimizer.

    Step sizes are rescaled per optimizer so that the two regimes keep their meaning: momentum
    β multiplies the effective step by ~1/(1 − β), so stable η is ``c(1 − β)·2/S``; the
    adaptive optimizers move every coordinate by ~η per step, so stable η is ``c/20``
    (1e-3 … 1.25e-2) and the divergent regime η = ``c·50`` (10³ … 5·10³). Their losses grow
    only polynomially in η, so the divergence threshold is the base case's, or 10 × the
    largest initial loss (at least 10): a divergent first step crosses it at once, before
    rounding differences can grow through further explosive steps; stable runs never do.
    """
    case = draw(descent_cases(**kwargs) if base is None else base)
    optimizer = draw(optimizers())
    lr = case.learning_rate.copy()
    if isinstance(optimizer, Momentum):
        lr = np.where(case.stable, lr * (1.0 - optimizer.beta), lr)
    elif optimizer.adaptive:
        sharpness = np.array([case.problem.sharpness(tuple(w[i] for w in case.weights0)) for i in range(len(lr))])
        c = lr * np.maximum(sharpness, 1e-3) / 2.0  # the c of η = c·2/S (S clamped as in loss_cases)
        lr = np.where(case.stable, c / 20.0, c * 50.0)
    loss0 = float(np.max(case.problem.loss(case.weights0)))
    threshold = case.kwargs.get("divergence_threshold", 10.0 * max(loss0, 1.0))
    extra = dict(optimizer=optimizer, divergence_threshold=threshold)
    return Case(case.problem, case.weights0, lr, case.stable, dict(case.kwargs, **extra))


def loss_data(kind: str, rng, d0: int, dn: int, m: int):
    """A built-in loss of ``kind`` with random data for a network ``d_0 → d_N`` (m samples or
    measurements); ``None`` when the kind does not fit (logistic needs ``d_N = 1``)."""
    if kind == "logistic" and dn != 1:
        return None
    return draw_loss(kind, rng, d0, dn, m)


#: Losses of W_e (deep linear networks only) and losses of the outputs (linear or ReLU).
END_TO_END_KINDS = ("whitened", "sensing", "completion")
OUTPUT_KINDS = ("regression", "logistic", "cross_entropy")


@st.composite
def loss_cases(draw, *, kinds=END_TO_END_KINDS + OUTPUT_KINDS, relu=True, max_width=5, max_depth=4,
               max_batch=8, max_steps=25) -> Case:
    """A random network (deep linear, or ReLU / leaky ReLU for the losses of the outputs), a
    built-in loss with random data, a batch of initializations and per-trajectory η.

    Regimes as in :func:`descent_cases` (stable ``η = c·2/S_0``, c ∈ [0.02, 0.25]; divergent
    c ∈ [20, 100]). The classification losses grow only linearly in the outputs (a divergent
    step of a depth-1 cross-entropy problem measured 10–150 from an initial ~1), so the
    divergence threshold is 10 × the largest initial loss (at least 10): a divergent step
    crosses it at once, before rounding differences can grow, and a stable run never reaches it.
    """
    kind = draw(st.sampled_from(kinds))
    depth = draw(st.integers(1, max_depth))
    widths = list(draw(st.lists(st.integers(1, max_width), min_size=depth + 1, max_size=depth + 1)))
    if kind == "logistic":
        widths[-1] = 1
    elif kind == "cross_entropy":
        widths[-1] = max(widths[-1], 2)
    widths = tuple(widths)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    activated = relu and kind in OUTPUT_KINDS and depth > 1 and draw(st.booleans())
    if activated:
        net = HomogeneousNetwork(widths, activation="leaky_relu", negative_slope=draw(st.sampled_from([0.0, 0.1])))
    else:
        net = DeepLinearNetwork(widths)
    loss = loss_data(kind, rng, widths[0], widths[-1], draw(st.integers(1, 8)))
    problem = Problem(net, loss)
    batch = draw(st.integers(1, max_batch))
    weights0 = init.near_identity(widths, std=0.3, seed=rng, batch=batch)
    sharpness = np.array([problem.sharpness(tuple(w[i] for w in weights0)) for i in range(batch)])
    sharpness = np.maximum(sharpness, 1e-3)  # flat start (e.g. a dead ReLU layer): any η is stable
    stable, c = stability_regimes(draw, rng, batch)
    loss0 = float(np.max(problem.loss(weights0)))
    kwargs = dict(
        n_steps=draw(st.integers(1, max_steps)),
        record_every=draw(st.integers(1, 4)),
        record_weights=draw(st.booleans()),
        divergence_threshold=10.0 * max(loss0, 1.0),
    )
    return Case(problem, weights0, c * 2.0 / sharpness, stable, kwargs)


def _flat(weights, batch) -> np.ndarray:
    return np.concatenate([w.reshape(batch, -1) for w in weights], axis=1)


def loss_floor(problem: Problem) -> float:
    """Losses below this are at the rounding floor of the residual ``r = H_N − Y``.

    An ulp-level difference in ``H_N`` changes ``f = c‖r‖²`` by ``~2c‖r‖·ε‖H_N‖``, i.e. by more
    than 1e-12 relative once ``‖r‖ < ~1e-3 ‖Y‖``; below ``1e-6`` of the target's own loss scale
    (the loss at ``W_e = 0``: ``c‖Y‖²``, at least ``c``) losses are compared absolutely, at
    ``1e-12`` times this floor. The same holds for every squared-type loss (sensing, completion)
    and, with the loss at 0 as the scale, for the classification losses.
    """
    net = problem.network
    loss = problem.loss_function
    at_zero = float(loss.value(np.zeros((net.widths[-1], net.widths[0]))))
    if loss.kind in ("whitened", "regression"):
        scale = 0.5 if loss.kind == "whitened" else 0.5 / loss.n_samples
        return 1e-6 * max(at_zero, scale)
    return 1e-6 * at_zero


def assert_agrees_with_reference(result, reference, case: Case) -> None:
    """Compare an engine's :class:`DescentResult` with the reference's (see module docstring)."""
    batch = len(case.learning_rate)
    np.testing.assert_array_equal(result.status_codes, reference.status_codes)
    np.testing.assert_array_equal(result.divergence_step, reference.divergence_step)
    np.testing.assert_array_equal(result.converged_step, reference.converged_step)
    np.testing.assert_array_equal(result.steps, reference.steps)
    np.testing.assert_array_equal(np.isnan(result.losses), np.isnan(reference.losses))
    assert result.losses.shape == reference.losses.shape

    # NaN after divergence: only increases between recorded (finite) losses count.
    with np.errstate(invalid="ignore"):
        rises = np.diff(reference.losses, axis=1) > 0
    unstable_phase = np.any(rises, axis=1) & case.stable
    # A trajectory of the divergent regime (η ≫ 2/S) that has not diverged is in an unstable
    # phase by construction (the classification losses, which grow only linearly, can stay below
    # any threshold): statuses and steps only.
    unstable_phase |= ~case.stable & (reference.divergence_step < 0)
    compare = ~unstable_phase
    depth = case.problem.network.depth
    diverged = reference.divergence_step >= 0
    w_rtol = np.where(diverged, 2 * depth * WEIGHT_RTOL, WEIGHT_RTOL)
    l_rtol = np.where(diverged, 2 * depth * LOSS_RTOL, LOSS_RTOL)
    floor = loss_floor(case.problem)

    def close_losses(a, b):
        rtol = l_rtol if a.ndim == 1 else l_rtol[:, None]
        with np.errstate(invalid="ignore"):
            ok = np.isnan(a) & np.isnan(b)
            ok |= np.abs(a - b) <= rtol * np.maximum(np.abs(b), floor)
            ok |= (a == b)  # equal infinities (divergence at step 0)
        return ok

    wa, wb = _flat(result.final_weights, batch), _flat(reference.final_weights, batch)
    scale = np.maximum(np.abs(wb).max(axis=1), 1e-300)
    werr = np.abs(wa - wb).max(axis=1) / scale
    assert np.all((werr <= w_rtol)[compare]), f"final weights differ: {werr[compare].max():.3g}"
    assert np.all(close_losses(result.final_loss, reference.final_loss)[compare]), (
        result.final_loss[compare], reference.final_loss[compare])
    assert np.all(close_losses(result.losses, reference.losses)[compare]), (
        result.losses[compare], reference.losses[compare])
    # Balancedness matrices are O(|W|²) and their drift a difference of such: agreement is
    # absolute at that scale (times the width, the length of the sums).
    w0 = _flat(case.weights0, batch)
    big = np.maximum(np.maximum(np.abs(w0).max(axis=1), scale), 1.0) ** 2
    derr = np.abs(result.balancedness_drift - reference.balancedness_drift)
    tol = w_rtol * max(case.problem.network.widths) * big
    assert np.all((derr <= tol)[compare]), f"drift differs: {derr[compare].max():.3g}"
    # Optimizer state (momentum, ν, …): sums of gradients g (or of g ⊙ g for "nu"). A gradient
    # is formed from the residual, so like the loss it has a rounding floor: once ‖g‖ falls
    # below 1e-3 ‖g_0‖ (the loss below ~1e-6 of its start) its relative error exceeds 1e-12.
    # States are compared relative to their own scale or that floor (1e-3 ‖g_0‖, squared for ν).
    g0 = np.linalg.norm(_flat(case.problem.gradient(case.weights0), batch), axis=1)
    for key, ref_state in reference.extra.items():
        got = result.extra[key]
        ref_parts = ref_state if isinstance(ref_state, tuple) else (ref_state,)
        got_parts = got if isinstance(got, tuple) else (got,)
        a = np.concatenate([np.reshape(x, (batch, -1)) for x in got_parts], axis=1)
        b = np.concatenate([np.reshape(x, (batch, -1)) for x in ref_parts], axis=1)
        state_floor = (1e-3 * g0) ** 2 if key == "nu" else 1e-3 * g0
        state_scale = np.maximum(np.maximum(np.abs(b).max(axis=1), state_floor), 1e-300)
        serr = np.abs(a - b).max(axis=1) / state_scale
        assert np.all((serr <= w_rtol)[compare]), f"optimizer state {key!r} differs: {serr[compare].max():.3g}"
    if reference.weights is None:
        assert result.weights is None
    else:
        for a, b in zip(result.weights, reference.weights):
            assert a.shape == b.shape
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
            diff = np.nan_to_num(np.abs(a - b)).reshape(batch, -1).max(axis=1)
            rec_scale = np.nanmax(np.abs(b).reshape(batch, -1), axis=1, initial=1e-300)
            assert np.all((diff <= w_rtol * rec_scale)[compare])
