"""Claim: the time balanced GF needs to move π from π_0 to π (0 < π_0, π < y) is
t(π) = ∫_{π_0}^{π} du / (N u^{2−2/N}(y − u)); linflow's antiderivatives of this integrand for
N = 2, 3, 4, 6 differentiate back to it, and agree with numeric quadrature.

SymPy 1.14 integrate() silently drops terms of this integral for some N with positive=True
symbols (theory/numerics; it does for N = 5), so balanced_flow_antiderivative verifies every
candidate by differentiating it back and rejects wrong ones. Here: (1) d/dπ F = integrand,
independently re-checked at exact points with 40 digits; (2) F(π) − F(π_0) equals the Integral
evaluated by mpmath quadrature; (3) for N = 2 it equals the inverse of the closed form,
t = (1/2y) ln(π(y − π_0)/(π_0(y − π))); (4) the registry bound saxe_learning_time (same ODE,
s = y, u_0 = π_0, αs = π) agrees.

Source: theory/scalar [checked] (implicit t(π)) and theory/numerics (SymPy pitfall).
"""

import sympy as sm

from linflow.bounds import get
from linflow.symbolic import balanced_flow_antiderivative, balanced_flow_rhs, balanced_flow_time

CLAIM = "implicit time-to-reach integral of the balanced flow: verified antiderivatives N = 2, 3, 4, 6"
SOURCE = "theory/scalar [checked], theory/numerics"


def main() -> None:
    p0_val, p_val, y_val = sm.Rational(1, 20), sm.Rational(7, 10), sm.Rational(3, 2)
    bound = get("saxe_learning_time")
    for depth in (2, 3, 4, 6):
        anti, (p, y) = balanced_flow_antiderivative(depth)
        integrand = 1 / balanced_flow_rhs(depth, p, y)
        for pv in (sm.Rational(1, 7), sm.Rational(1, 2), sm.Rational(9, 10)):
            # 1e-30 at 40 digits: rounding is ~1e-39, a wrong antiderivative is off by O(1).
            err = sm.N((sm.diff(anti, p) - integrand).subs({p: pv, y: 1}), 40)
            assert abs(err) < 1e-30, (depth, pv, err)
        exact = sm.N(anti.subs({p: p_val, y: y_val}) - anti.subs({p: p0_val, y: y_val}), 30)
        assert abs(sm.im(exact)) < 1e-25, (depth, exact)
        quad = sm.N(balanced_flow_time(depth, p0_val, p_val, y_val), 30)
        assert abs(sm.re(exact) - quad) < 1e-20 * abs(quad), (depth, exact, quad)
        numeric = bound.evaluate(depth=depth, singular_value=float(y_val), initial_strength=float(p0_val),
                                 fraction=float(p_val / y_val))
        # Gauss–Legendre evaluator: agreement to 1e-12 relative (float64 rounding).
        assert abs(numeric - float(quad)) < 1e-12 * float(quad), (depth, numeric, quad)
        if depth == 2:
            closed = sm.log(p * (y - p0_val) / (p0_val * (y - p))) / (2 * y)
            assert abs(sm.N((closed.subs({p: p_val, y: y_val})) - quad, 30)) < 1e-20


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
