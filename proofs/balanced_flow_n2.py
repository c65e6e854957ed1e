"""Claim: with balanced positive weights, gradient flow on ½(w_1⋯w_N − y)² moves the product by
π' = Nπ^{2−2/N}(y − π); for N = 2 the solution is π(t) = y / (1 + (y/π_0 − 1)e^{−2yt}).

(1) For w_i = π^{1/N} (balanced, positive; GF keeps it balanced), π' = Σ_i π_{−i}w_i' =
−(π − y)Σ_i π_{−i}² = Nπ^{2−2/N}(y − π), shown for symbolic N and expanded for N = 2…6.
(2) The N = 2 closed form satisfies the ODE and π(0) = π_0 (substitution and differentiation).
(3) sympy.dsolve of π' = 2π(y − π) with π(0) = π_0 returns the same function.

Source: theory/scalar [checked]; scalar case of Arora, Cohen & Hazan (ICML 2018), Thm 1.
"""

import sympy as sm

from linflow.symbolic import ScalarNetwork, balanced_flow_n2_solution, balanced_flow_rhs

CLAIM = "balanced scalar GF: π' = Nπ^{2−2/N}(y − π); N = 2 closed form solves it"
SOURCE = "theory/scalar [checked]; Arora, Cohen & Hazan 2018, Thm 1 (scalar case)"


def main() -> None:
    p, y = sm.symbols("pi y", positive=True)
    # (1) symbolic N: N identical terms π_{−i}² = (π^{1/N})^{2(N−1)}.
    n = sm.Symbol("N", integer=True, positive=True)
    velocity = (y - p) * n * (p ** (1 / n)) ** (2 * (n - 1))
    assert sm.simplify(sm.powsimp(velocity - balanced_flow_rhs(n, p, y), force=True)) == 0
    for depth in range(2, 7):
        net = ScalarNetwork(depth)
        grad = net.gradient()
        dpi = -sm.Add(*[net.partial_product(i) * grad[i] for i in range(depth)])
        root = p ** sm.Rational(1, depth)
        balanced = {w: root for w in net.weights} | {net.target: y}
        assert sm.simplify(dpi.subs(balanced) - balanced_flow_rhs(depth, p, y)) == 0, depth
    # (2) closed form.
    t = sm.Symbol("t", nonnegative=True)
    p0 = sm.Symbol("pi_0", positive=True)
    sol = balanced_flow_n2_solution(t, p0, y)
    assert sm.simplify(sm.diff(sol, t) - balanced_flow_rhs(2, sol, y)) == 0
    assert sm.simplify(sol.subs(t, 0) - p0) == 0
    # (3) dsolve agrees.
    f = sm.Function("f")
    ode = sm.Eq(f(t).diff(t), 2 * f(t) * (y - f(t)))
    solved = sm.dsolve(ode, f(t), ics={f(0): p0})
    assert sm.simplify(solved.rhs - sol) == 0


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
