"""Claim: gradient flow on f(w) = ½(w_1⋯w_N − y)² conserves every w_i² − w_j².

Along w' = −∇f, d/dt w_i² = −2w_i(π − y)π_{−i} = −2(π − y)π does not depend on i (because
w_iπ_{−i} = π for every i), so all differences w_i² − w_j² are constant. Checked by expanding
d/dt (w_i² − w_{i+1}²) to 0 for N = 2…8.

Source: theory/scalar [checked]; the scalar case of the balancedness invariant of Arora, Cohen &
Hazan (ICML 2018, Thm 1) and Du, Hu & Lee (NeurIPS 2018).
"""

import sympy as sm

from linflow.symbolic import ScalarNetwork

CLAIM = "scalar GF conserves w_i² − w_j² (N = 2…8)"
SOURCE = "theory/scalar [checked]; Arora, Cohen & Hazan 2018, Thm 1 (scalar case)"


def main() -> None:
    for depth in range(2, 9):
        net = ScalarNetwork(depth)
        grad = net.gradient()
        # The key identity: w_i ∂_i f = (π − y)π for every i.
        for i, w in enumerate(net.weights):
            assert sm.expand(w * grad[i] - net.residual * net.product) == 0, (depth, i)
        for q in net.conserved_quantities():
            assert sm.expand(net.flow_derivative(q)) == 0, (depth, q)


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
