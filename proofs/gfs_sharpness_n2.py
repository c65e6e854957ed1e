"""Claim: for f(w) = ½(w_1w_2 − y)² (y ≠ 0), gradient flow from w converges to the minimum with
w_i*² = w_i² + c, c the root of (w_1² + c)(w_2² + c) = y² with w_i² + c > 0, and the sharpness
there (the GF-solution sharpness) is φ(w) = √(δ² + 4y²), δ = w_1² − w_2².

GF conserves δ (proofs/balancedness_scalar.py), so the limit has w_i*² = w_i² + c and, being a
minimum, w_1*²w_2*² = y². The quadratic has roots c± = (−(a + b) ± √((a − b)² + 4y²))/2
(a = w_1², b = w_2²); only c₊ keeps both w_i² + c positive; φ = y²/(a + c) + y²/(b + c) = a + b + 2c₊.

Source: theory/scalar [checked]; GFS sharpness of Kreisler, Nacson, Soudry & Carmon (ICML 2023).
"""

import sympy as sm

from linflow.symbolic import ScalarNetwork, gfs_sharpness_n2

CLAIM = "N = 2 GF-solution sharpness equals √(δ² + 4y²)"
SOURCE = "theory/scalar [checked]; Kreisler et al. 2023 (GFS sharpness)"


def main() -> None:
    net = ScalarNetwork(2)
    w1, w2 = net.weights
    y = net.target
    a, b = sm.symbols("a b", nonnegative=True)  # a = w_1², b = w_2²
    c = sm.Symbol("c", real=True)
    equation = net.gf_limit_equation(c).subs({w1**2: a, w2**2: b})
    roots = sm.solve(equation, c)
    assert len(roots) == 2
    disc = sm.sqrt((a - b) ** 2 + 4 * y**2)
    c_plus = (-(a + b) + disc) / 2
    c_minus = (-(a + b) - disc) / 2
    assert any(sm.simplify(r - c_plus) == 0 for r in roots)
    assert any(sm.simplify(r - c_minus) == 0 for r in roots)
    # a + c₊ = ((a − b) + disc)/2 > 0 because disc² − (a − b)² = 4y² > 0 (y ≠ 0); symmetric for b;
    # a + c₋ = ((a − b) − disc)/2 < 0, so c₋ is not a limit.
    assert sm.expand(disc**2 - (a - b) ** 2 - 4 * y**2) == 0
    phi = net.gfs_sharpness(c).subs({w1**2: a, w2**2: b, c: c_plus})
    delta = sm.Symbol("delta", real=True)
    target_form = gfs_sharpness_n2(delta, y).subs(delta, a - b)
    assert sm.simplify(phi - target_form) == 0
    # The limit is a minimum: the product of the limiting squares is y².
    assert sm.simplify((a + c_plus) * (b + c_plus) - y**2) == 0


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
