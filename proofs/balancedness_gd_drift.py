"""Claim: one GD step changes B_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ by exactly η²(G_{j+1}ᵀG_{j+1} − G_jG_jᵀ).

With W⁺ = W − ηG, B_j(W⁺) − B_j(W) = −η(G_{j+1}ᵀW_{j+1} + W_{j+1}ᵀG_{j+1} − G_jW_jᵀ − W_jG_jᵀ)
+ η²(G_{j+1}ᵀG_{j+1} − G_jG_jᵀ); the first-order term is the GF derivative, which vanishes
because W_{j+1}ᵀG_{j+1} = G_jW_jᵀ = (A W_{j+1})ᵀ D (W_j B)ᵀ. General proof with MatrixSymbols
of symbolic sizes (any depth, any loss of W_e), plus explicit entries for widths (2, 2, 2) and
(1, 2, 2, 1) with the whitened loss.

Source: theory/deep-linear [checked] (the drift that Arora, Cohen, Golowich & Hu, ICLR 2019, control to
keep GD δ-balanced).
"""

import sympy as sm

from linflow.symbolic import matrix

CLAIM = "GD changes B_j by exactly η²(G_{j+1}ᵀG_{j+1} − G_jG_jᵀ) per step"
SOURCE = "theory/deep-linear [checked]"


def general_identity():
    dn, r, p, q, d0 = sm.symbols("d_N r p q d_0", integer=True, positive=True)
    eta = sm.Symbol("eta", positive=True)
    a = sm.MatrixSymbol("A", dn, r)
    upper = sm.MatrixSymbol("W_next", r, p)
    lower = sm.MatrixSymbol("W_j", p, q)
    b = sm.MatrixSymbol("B", q, d0)
    d = sm.MatrixSymbol("D", dn, d0)
    g_lower = (a * upper).T * d * b.T
    g_upper = a.T * d * (lower * b).T

    def bal(u, w):
        return u.T * u - w * w.T

    change = bal(upper - eta * g_upper, lower - eta * g_lower) - bal(upper, lower)
    return change - eta**2 * (g_upper.T * g_upper - g_lower * g_lower.T)


def main() -> None:
    assert sm.expand(general_identity().doit()).is_ZeroMatrix
    eta = sm.Symbol("eta", positive=True)
    for widths in ((2, 2, 2), (1, 2, 2, 1)):
        weights = matrix.weight_matrices(widths)
        target = matrix.target_matrix(widths[-1], widths[0])
        change = matrix.balancedness_gd_change(weights, target, eta)
        drift = matrix.balancedness_gd_drift(weights, target, eta)
        for c, d in zip(change, drift):
            assert sm.expand(c - d) == sm.zeros(*c.shape), widths


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
