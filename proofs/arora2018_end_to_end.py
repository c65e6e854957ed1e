"""Claim: for balanced weights (W_{j+1}ᵀW_{j+1} = W_jW_jᵀ), gradient flow moves the end-to-end
matrix by W_e' = −Σ_{j=1}^N (W_eW_eᵀ)^{(j−1)/N} ∇L(W_e) (W_eᵀW_e)^{(N−j)/N}.

W_e' = −Σ_j A_jA_jᵀ D B_jᵀB_j (product rule, D = ∇L(W_e), A_j = W_N⋯W_{j+1}, B_j = W_{j−1}⋯W_1),
so it suffices that A_jA_jᵀ = (W_eW_eᵀ)^{(N−j)/N} and B_jᵀB_j = (W_eᵀW_e)^{(j−1)/N} under
balancedness, i.e. that W_NW_Nᵀ and W_1ᵀW_1 are the N-th roots: (1) N = 2 product rule with
MatrixSymbols; (2) exact identities (W_2W_2ᵀ)² − W_eW_eᵀ = W_2B_1W_2ᵀ and
(W_1ᵀW_1)² − W_eᵀW_e = −W_1ᵀB_1W_1, and for N = 3, W_eW_eᵀ − (W_3W_3ᵀ)³ is an explicit
combination of B_1, B_2 — so balanced ⇒ W_eW_eᵀ = (W_NW_Nᵀ)^N and, by uniqueness of PSD roots,
the fractional powers are the partial products; (3) numerically at balanced weights
(linflow.init.balanced, widths (3, 4, 4, 2)): the formula (PSD powers by eigh) matches
Σ_j A_j(−G_j)B_j from linflow.Problem to 1e-10 relative.

Source: Arora, Cohen & Hazan (ICML 2018), Thm 1; theory/deep-linear [paper].
"""

import numpy as np
import sympy as sm

from linflow import DeepLinearNetwork, Problem, init, partial_product

CLAIM = "balanced weights: W_e' = −Σ_j (W_eW_eᵀ)^{(j−1)/N} ∇L (W_eᵀW_e)^{(N−j)/N}"
SOURCE = "Arora, Cohen & Hazan 2018, Thm 1; theory/deep-linear [paper]"


def _psd_power(m: np.ndarray, p: float) -> np.ndarray:
    if p == 0:
        return np.eye(m.shape[0])
    lam, vec = np.linalg.eigh(m)
    return (vec * np.clip(lam, 0.0, None) ** p) @ vec.T


def main() -> None:
    d0, d1, d2, d3 = sm.symbols("d_0 d_1 d_2 d_3", integer=True, positive=True)
    w1, w2 = sm.MatrixSymbol("W_1", d1, d0), sm.MatrixSymbol("W_2", d2, d1)
    d = sm.MatrixSymbol("D", d2, d0)
    we = w2 * w1
    velocity = (-d * w1.T) * w1 + w2 * (-w2.T * d)  # W_2'W_1 + W_2W_1'
    assert sm.expand((velocity - (-(w2 * w2.T) * d - d * (w1.T * w1))).doit()).is_ZeroMatrix
    b1 = w2.T * w2 - w1 * w1.T
    assert sm.expand((w2 * w2.T * w2 * w2.T - we * we.T - w2 * b1 * w2.T).doit()).is_ZeroMatrix
    assert sm.expand((w1.T * w1 * w1.T * w1 - we.T * we + w1.T * b1 * w1).doit()).is_ZeroMatrix
    w3 = sm.MatrixSymbol("W_3", d3, d2)
    b2 = w3.T * w3 - w2 * w2.T
    we3 = w3 * w2 * w1
    # B_2² written out: SymPy keeps (MatAdd)**2 as an unexpandable MatPow.
    b2_squared = (w3.T * w3 * w3.T * w3 - w3.T * w3 * w2 * w2.T
                  - w2 * w2.T * w3.T * w3 + w2 * w2.T * w2 * w2.T)
    combo = (-w3 * w2 * b1 * w2.T * w3.T - w3 * b2 * w3.T * w3 * w3.T
             - w3 * w3.T * w3 * b2 * w3.T + w3 * b2_squared * w3.T)
    assert sm.expand((we3 * we3.T - w3 * w3.T * w3 * w3.T * w3 * w3.T - combo).doit()).is_ZeroMatrix
    # (3) numeric check of the fractional-power formula.
    rng = np.random.default_rng(7)
    widths = (3, 4, 4, 2)
    n = len(widths) - 1
    prob = Problem(DeepLinearNetwork(widths), target=rng.standard_normal((2, 3)))
    weights = init.balanced(widths, rng.standard_normal((2, 3)), seed=3)
    grads = prob.gradient(weights)
    direct = sum(
        partial_product(weights, j + 1, n) @ (-grads[j]) @ partial_product(weights, 0, j) for j in range(n)
    )
    e2e = partial_product(weights, 0, n)
    dl = prob.end_to_end_gradient(e2e)
    formula = -sum(
        _psd_power(e2e @ e2e.T, (j - 1) / n) @ dl @ _psd_power(e2e.T @ e2e, (n - j) / n) for j in range(1, n + 1)
    )
    scale = np.abs(direct).max()
    # 1e-10 relative: eigh-based fractional powers of matrices with condition ~1e2 lose a few digits.
    assert np.abs(direct - formula).max() <= 1e-10 * scale, np.abs(direct - formula).max()


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
