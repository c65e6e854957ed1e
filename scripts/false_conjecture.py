"""Two false conjectures, falsified by linflow with shrunk counterexamples.

Conjecture 1 (false): "On scalar deep linear networks ``f(w) = ½(w_1⋯w_N − y)²``, gradient
descent with a step below the stability threshold *at initialization*, ``η < 2/S(θ_0)``, always
converges to a global minimum."

Hypothesis shrinks a counterexample to ``w = (1, −1)``, ``y = 1``, ``η = 0.25``: balanced weights
of opposite signs. GD keeps ``w_1 = −w_2`` and shrinks both to the saddle at 0 — the conjecture
fails for a reason that has nothing to do with the step size.

Conjecture 2 (false, the natural repair): "... with *positive* initial weights, GD with
``η < 2/S(θ_0)`` always converges to a global minimum."

It fails too, now because of the step size: the sharpness at initialization says nothing about
the sharpness of the minima, and every minimum has sharpness ≥ ``N|y|^{2(N−1)/N}``
(theory.md §4). A low-curvature initialization admits ``η ≥ 2/(N|y|^{2(N−1)/N})``, at which no
minimum is (strictly) stable (the built-in claim ``scalar_unstable_step_no_convergence``).
Hypothesis shrinks it to ``w = (1, 0.5)``, ``y = 1``, ``η = 1``: ``S(θ_0) = 1`` allows any
``η < 2``, but ``η = 1 = 2/(N|y|^{2(N−1)/N})`` leaves only the balanced minimum ``(1, 1)``
marginally stable, and GD does not reach it.

Run it as a script (checks both, prints the shrunk counterexamples as snippets)::

    python scripts/false_conjecture.py

or check it with the command line, like any claim file of your own::

    linflow check --module scripts/false_conjecture.py

(exit status 1: the conjectures are violated; the shrunk counterexamples are printed).
"""

import numpy as np
from hypothesis import strategies as st

import linflow
import linflow.strategies as lst
from linflow.strategies import Instance


@st.composite
def scalar_runs(draw, positive=False):
    """Scalar nets of depth 2–3, nonzero initial weights, η drawn below 2/S(θ_0)."""
    n = draw(st.integers(2, 3))
    y = draw(st.floats(0.5, 2.0))
    # Nonzero weights: w = 0 is a saddle GD never leaves, a counterexample too trivial to teach.
    signs = st.just(1.0) if positive else st.sampled_from([1.0, -1.0])
    w0 = [draw(st.floats(0.1, 1.5)) * draw(signs) for _ in range(n)]
    weights = tuple(np.array([[w]]) for w in w0)
    problem = linflow.Problem(linflow.DeepLinearNetwork((1,) * (n + 1)), target=[[y]])
    sharpness0 = problem.sharpness(weights)
    eta = draw(lst.learning_rates(2.0 / sharpness0, min_fraction=0.05, max_fraction=0.99))
    return Instance((1,) * (n + 1), np.array([[y]]), weights, eta)


def converges(instance: Instance) -> bool:
    """True when GD reaches loss ≤ 1e-20 (a global minimum) within 3000 steps."""
    run = linflow.simulate_descent(
        instance.problem, instance.weights, learning_rate=instance.learning_rate,
        n_steps=3000, loss_tolerance=1e-20,
    )
    return bool(run.converged_step >= 0)


conjecture = linflow.Claim(
    "gd_below_initial_threshold_converges",
    source="a plausible-looking but false conjecture (not from theory.md)",
    description="Scalar nets: GD with η < 2/S(θ_0) always converges to a global minimum.",
    instances=scalar_runs(),
    measure=converges,
    relation="property",
)

repaired = linflow.Claim(
    "gd_below_initial_threshold_converges_positive",
    source="the repaired conjecture, still false (not from theory.md)",
    description="Scalar nets with positive initial weights: GD with η < 2/S(θ_0) always converges.",
    instances=scalar_runs(positive=True),
    measure=converges,
    relation="property",
)


if __name__ == "__main__":
    for claim in (conjecture, repaired):
        report = linflow.check_claim(claim, examples=100, seed=0)
        print(f"{claim.name}: {report.verdict} after {report.instances} instances "
              f"({report.shrink_evaluations} more evaluations to shrink the counterexample)")
        if report.counterexample is None:
            continue
        inst = report.counterexample.instance
        n, y = inst.depth, float(inst.target[0, 0])
        w = [float(x[0, 0]) for x in inst.weights]
        print(f"  w(0) = {w}, y = {y:g}, η = {inst.learning_rate:.4g}; "
              f"a stable minimum needs η ≤ 2/(N|y|^(2(N−1)/N)) = {2.0 / (n * abs(y) ** (2.0 * (n - 1) / n)):.4g}")
        print("  reproduce with:\n")
        print("\n".join("    " + line for line in report.counterexample.snippet().splitlines()))
        print()
