"""Claim: at a global minimum of f(w) = ½(w_1⋯w_N − y)² (y ≠ 0) the Hessian is ggᵀ with
g_i = y/w_i, its spectrum is {y²Σ1/w_i² (once), 0 (N − 1 times)}, and the smallest sharpness over
all minima is N|y|^{2(N−1)/N}, attained exactly where |w_i| = |y|^{1/N} (the AM–GM equality case).

Steps: (1) with π = y the Hessian of ScalarNetwork equals ggᵀ; (2) H g = ‖g‖²g and H v = 0 for a
basis of g^⊥; (3) at |w_i| = |y|^{1/N} the sharpness equals N|y|^{2−2/N} for *symbolic* N;
(4) minimality for every N: put a_i = 1/w_i² = e^{x_i}; the minima are Σx_i = −ln y², and
S/y² = Σe^{x_i} is strictly convex with gradient (e^{x_i}) parallel to the constraint normal
(1, …, 1) only where all x_i are equal, so that symmetric point is the unique minimizer (AM–GM
with equality iff all a_i are equal); the Lagrange system is solved symbolically for N = 2…5 to
confirm uniqueness, and for N = 2 the AM–GM gap is the square (√a_1 − √a_2)².

Source: theory/scalar [checked].
"""

import sympy as sm

from linflow.symbolic import ScalarNetwork, minimal_sharpness

CLAIM = "sharpness at scalar minima is y²Σ1/w_i², minimal N|y|^{2(N−1)/N} at |w_i| = |y|^{1/N}"
SOURCE = "theory/scalar [checked] (AM–GM)"


def main() -> None:
    for depth in range(2, 7):
        net = ScalarNetwork(depth)
        on_minimum = {net.target: net.product}
        h = net.hessian().subs(on_minimum)
        ggt = net.hessian_at_minimum().subs(on_minimum)
        assert sm.simplify(h - ggt) == sm.zeros(depth, depth), depth
        g = sm.ImmutableMatrix([net.target / w for w in net.weights])
        hm = net.hessian_at_minimum()
        norm2 = (g.T * g)[0, 0]
        assert sm.simplify(hm * g - norm2 * g) == sm.zeros(depth, 1)
        for k in range(1, depth):  # v_k = g_k e_0 − g_0 e_k spans g^⊥
            v = sm.zeros(depth, 1)
            v[0], v[k] = g[k], -g[0]
            assert sm.simplify(hm * v) == sm.zeros(depth, 1)
        assert sm.simplify(norm2 - net.sharpness_at_minimum()) == 0
        assert net.spectrum_at_minimum() == {net.sharpness_at_minimum(): 1, 0: depth - 1}
        # Balanced point: w_i = |y|^{1/N} gives the minimal sharpness.
        balanced = net.sharpness_at_minimum().subs(net.balanced_minimum())
        # Both sides are even in y (they involve y² and |y| only): compare for y > 0.
        y_pos = sm.Symbol("Y", positive=True)
        for side in (balanced, net.minimal_sharpness()):
            assert side.subs(net.target, -net.target) == side
        gap = (balanced - net.minimal_sharpness()).subs(net.target, y_pos)
        assert sm.simplify(gap) == 0, depth
        # Lagrange: minimize Σ a_i subject to Π a_i = 1/y² (a_i = 1/w_i² > 0): unique solution.
        a = sm.symbols(f"a_1:{depth + 1}", positive=True)
        lam = sm.Symbol("lambda")
        y2 = sm.Symbol("Y", positive=True)  # y² > 0
        lagrangian = sm.Add(*a) - lam * (sm.Add(*[sm.log(x) for x in a]) + sm.log(y2))
        sols = sm.solve([sm.diff(lagrangian, x) for x in (*a, lam)], (*a, lam), dict=True)
        assert len(sols) == 1 and len({sols[0][x] for x in a}) == 1, (depth, sols)
    # Symbolic N: N terms y²/|y|^{2/N} sum to N|y|^{2−2/N}.
    n = sm.Symbol("N", integer=True, positive=True)
    y = sm.Symbol("y", positive=True)  # even in y, as above
    at_balanced = n * y**2 / (y ** (1 / n)) ** 2
    assert sm.simplify(at_balanced - minimal_sharpness(n, y)) == 0
    # AM–GM gap for N = 2 is a perfect square.
    a1, a2 = sm.symbols("a_1 a_2", positive=True)
    assert sm.expand(a1 + a2 - 2 * sm.sqrt(a1 * a2) - (sm.sqrt(a1) - sm.sqrt(a2)) ** 2) == 0


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
