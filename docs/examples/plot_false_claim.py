"""
A plausible claim, falsified and shrunk
=======================================

A claim of your own is a measure, a bound (or a property) and a Hypothesis strategy of
instances; :func:`linflow.check_claim` searches for a violation with a fixed seed and shrinks the
one it finds to a minimal, reproducible counterexample.

The conjecture: *on scalar deep linear networks* ``f(w) = ½(w_1⋯w_N − y)²`` *with positive initial
weights, GD with a step below the stability threshold at initialization, η < 2/S(θ_0), always
converges to a global minimum.* It is false: the curvature at the start says nothing about the
curvature of the minima, and every minimum has sharpness at least ``N|y|^{2(N−1)/N}``
(:func:`linflow.symbolic.minimal_sharpness`, proved in ``proofs/min_sharpness_amgm.py``). A flat
start admits steps at which no minimum is stable.
"""

import numpy as np
from hypothesis import strategies as st

import linflow
import linflow.strategies as lst
from linflow.strategies import Instance


@st.composite
def positive_scalar_runs(draw):
    """Depth 2–3 scalar nets, positive initial weights, η drawn below 2/S(θ_0)."""
    n = draw(st.integers(2, 3))
    y = draw(st.floats(0.5, 2.0))
    weights = tuple(np.array([[draw(st.floats(0.1, 1.5))]]) for _ in range(n))
    problem = linflow.Problem(linflow.DeepLinearNetwork((1,) * (n + 1)), target=[[y]])
    eta = draw(lst.learning_rates(2.0 / problem.sharpness(weights), min_fraction=0.05, max_fraction=0.99))
    return Instance((1,) * (n + 1), np.array([[y]]), weights, eta)


def converges(instance: Instance) -> bool:
    """GD reaches loss ≤ 1e-20 (a global minimum) within 3000 steps."""
    run = linflow.simulate_descent(
        instance.problem, instance.weights, learning_rate=instance.learning_rate, n_steps=3000, loss_tolerance=1e-20
    )
    return bool(np.all(run.converged_step >= 0))


claim = linflow.Claim(
    "gd_below_initial_threshold_converges",
    source="a plausible-looking conjecture, not a theorem",
    description="Scalar nets, positive weights: GD with η < 2/S(θ_0) converges to a global minimum.",
    instances=positive_scalar_runs(),
    measure=converges,
    relation="property",
)
report = linflow.check_claim(claim, examples=100, seed=0)
print(f"verdict: {report.verdict} after {report.instances} instances")
if report.counterexample is not None:
    inst = report.counterexample.instance
    n, y = inst.depth, float(inst.target[0, 0])
    print(
        f"shrunk counterexample: w(0) = {[float(w[0, 0]) for w in inst.weights]}, y = {y:g}, "
        f"η = {inst.learning_rate:.4g}"
    )
    print(f"a stable minimum needs η ≤ 2/(N|y|^(2(N−1)/N)) = {2.0 / (n * abs(y) ** (2.0 * (n - 1) / n)):.4g}")
    print("reproduce with:\n" + report.counterexample.snippet())
