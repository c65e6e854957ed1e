"""Claim: Saxe et al.'s mode strength u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u_0) solves
τu' = 2u(s − u) with u(0) = u_0; it is the GF of a balanced two-layer mode; and the learning
time to reach u = αs is t_α = (τ/2s) ln(α(s − u_0)/(u_0(1 − α))).

(1) Differentiate the solution and substitute. (2) A mode u = ab of ½(ab − s)² under GF
(a' = −(ab − s)b, b' = −(ab − s)a) with a = b has u' = 2u(s − u) (τ = 1). (3) u(t_α) = αs,
and t_α equals ∫_{u_0}^{αs} τ du / (2u(s − u)) (d/dα of both sides agree and both vanish at
α = u_0/s). (4) linflow.exact.saxe_mode and the registry bound saxe_learning_time agree with the
symbolic forms at a rational point.

Source: Saxe, McClelland & Ganguli (ICLR 2014); theory/deep-linear [paper].
"""

import numpy as np
import sympy as sm

from linflow import exact
from linflow.bounds import get
from linflow.symbolic import matrix

CLAIM = "Saxe mode solution solves τu' = 2u(s − u); learning time inverts it"
SOURCE = "Saxe, McClelland & Ganguli 2014; theory/deep-linear [paper]"


def main() -> None:
    u, s, u0, tau = sm.symbols("u s u_0 tau", positive=True)
    t = sm.Symbol("t", nonnegative=True)
    alpha = sm.Symbol("alpha", positive=True)
    sol = matrix.saxe_mode_solution(t, s, u0, tau)
    assert sm.simplify(sm.diff(sol, t) - matrix.saxe_mode_rhs(2, sol, s, tau)) == 0
    assert sm.simplify(sol.subs(t, 0) - u0) == 0
    # (2) balanced two-layer mode.
    a, b = sm.symbols("a b", positive=True)
    du = (-(a * b - s) * b) * b + a * (-(a * b - s) * a)
    assert sm.expand(du.subs(b, a) - matrix.saxe_mode_rhs(2, a * a, s)) == 0
    # (3) learning time.
    t_alpha = matrix.saxe_learning_time_n2(s, u0, alpha, tau)
    assert sm.simplify(sol.subs(t, t_alpha) - alpha * s) == 0
    integrand = tau / (2 * u * (s - u))
    assert sm.simplify(sm.diff(t_alpha, alpha) - s * integrand.subs(u, alpha * s)) == 0
    assert sm.simplify(t_alpha.subs(alpha, u0 / s)) == 0
    # (4) numeric agreement at a rational point.
    vals = {s: sm.Rational(3, 2), u0: sm.Rational(1, 100), tau: 1, t: sm.Rational(7, 5)}
    ref = float(sol.subs(vals))
    num = float(exact.saxe_mode(1.5, 0.01, 1.4))
    assert abs(num - ref) <= 1e-14 * ref, (num, ref)
    ta = float(t_alpha.subs(vals | {alpha: sm.Rational(9, 10)}))
    tb = get("saxe_learning_time").evaluate(depth=2, singular_value=1.5, initial_strength=0.01, fraction=0.9)
    assert np.isclose(ta, tb, rtol=1e-13, atol=0), (ta, tb)


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
