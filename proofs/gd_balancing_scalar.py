"""Claim: one GD step on f(w) = ½(w_1⋯w_N − y)² gives exactly
(w_i⁺)² − (w_j⁺)² = (w_i² − w_j²)(1 − η²(π − y)²π_{−ij}²).

(w_i⁺)² = w_i² − 2η(π − y)π + η²(π − y)²π_{−i}², and π_{−i}² − π_{−j}² = π_{−ij}²(w_j² − w_i²).
Checked by expansion for every pair, N = 2…8.

Source: theory/scalar [checked].
"""

import itertools

import sympy as sm

from linflow.symbolic import ScalarNetwork

CLAIM = "exact one-step GD balancing identity for scalar nets (N = 2…8)"
SOURCE = "theory/scalar [checked]"


def main() -> None:
    for depth in range(2, 9):
        net = ScalarNetwork(depth)
        step = net.gd_step()
        w = net.weights
        for i, j in itertools.combinations(range(depth), 2):
            lhs = step[i] ** 2 - step[j] ** 2
            rhs = (w[i] ** 2 - w[j] ** 2) * net.gd_balancing_factor(i, j)
            assert sm.expand(lhs - rhs) == 0, (depth, i, j)


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
