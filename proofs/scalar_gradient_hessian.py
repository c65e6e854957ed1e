"""Claim: for f(w) = ½(w_1⋯w_N − y)², ∂_i f = (π − y)π_{−i}, H_ii = π_{−i}², and for i ≠ j
H_ij = π_{−i}π_{−j} + (π − y)π_{−ij} = (2π − y)π_{−ij}.

linflow.symbolic.ScalarNetwork builds ∇f and ∇²f from these structured formulas (fast for large
N); here they are compared entry by entry with sympy.diff of the loss, N = 1…7, and the two forms
of H_ij are shown equal.

Source: theory/scalar [checked].
"""

import sympy as sm

from linflow.symbolic import ScalarNetwork

CLAIM = "scalar-network gradient and Hessian formulas equal sympy.diff (N = 1…7)"
SOURCE = "theory/scalar [checked]"


def main() -> None:
    for depth in range(1, 8):
        net = ScalarNetwork(depth)
        loss, w = net.loss(), net.weights
        grad, hess = net.gradient(), net.hessian()
        for i in range(depth):
            assert sm.expand(grad[i] - sm.diff(loss, w[i])) == 0, (depth, i)
            for j in range(depth):
                assert sm.expand(hess[i, j] - sm.diff(loss, w[i], w[j])) == 0, (depth, i, j)
                if i != j:
                    theory_form = (net.partial_product(i) * net.partial_product(j)
                                   + net.residual * net.partial_product(i, j))
                    assert sm.expand(hess[i, j] - theory_form) == 0, (depth, i, j)
        assert hess == hess.T


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
