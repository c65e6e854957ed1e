"""Claim: gradient flow conserves the balancedness matrices B_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ.

General proof (all shapes, all depths): write W_e = A W_{j+1} W_j B with A = W_N⋯W_{j+2},
B = W_{j−1}⋯W_1 and D = ∇L(W_e), so G_j = (A W_{j+1})ᵀ D Bᵀ and G_{j+1} = Aᵀ D (W_j B)ᵀ. Then
dB_j/dt = −(G_{j+1}ᵀW_{j+1} + W_{j+1}ᵀG_{j+1}) + G_jW_jᵀ + W_jG_jᵀ, which SymPy's
non-commutative matrix-expression algebra expands to 0 (A, B, D, W_j, W_{j+1} are
MatrixSymbols of symbolic sizes; L is any differentiable loss of W_e). Also checked with
explicit symbol entries for widths (2, 2, 2), (1, 2, 2, 1) and (2, 1, 3) and the whitened loss.

Source: Arora, Cohen & Hazan (ICML 2018), Thm 1; Du, Hu & Lee (NeurIPS 2018); theory/deep-linear
[checked].
"""

import sympy as sm

from linflow.symbolic import matrix

CLAIM = "GF conserves B_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ (general MatrixSymbol proof + explicit shapes)"
SOURCE = "Arora, Cohen & Hazan 2018, Thm 1; theory/deep-linear [checked]"


def general_derivative():
    """dB_j/dt along GF in MatrixSymbols of symbolic sizes (should expand to 0)."""
    dn, r, p, q, d0 = sm.symbols("d_N r p q d_0", integer=True, positive=True)
    a = sm.MatrixSymbol("A", dn, r)
    upper = sm.MatrixSymbol("W_next", r, p)
    lower = sm.MatrixSymbol("W_j", p, q)
    b = sm.MatrixSymbol("B", q, d0)
    d = sm.MatrixSymbol("D", dn, d0)
    g_lower = (a * upper).T * d * b.T
    g_upper = a.T * d * (lower * b).T
    return -(g_upper.T * upper + upper.T * g_upper) + g_lower * lower.T + lower * g_lower.T


def main() -> None:
    assert sm.expand(general_derivative().doit()).is_ZeroMatrix
    for widths in ((2, 2, 2), (1, 2, 2, 1), (2, 1, 3)):
        weights = matrix.weight_matrices(widths)
        target = matrix.target_matrix(widths[-1], widths[0])
        for deriv in matrix.balancedness_flow_derivative(weights, target):
            assert sm.expand(deriv) == sm.zeros(*deriv.shape), widths


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
