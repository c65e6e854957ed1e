"""Claim: for a two-layer net with W_2ᵀW_2 − W_1W_1ᵀ = λI, Q = [W_1ᵀ; W_2] and P = QQᵀ solve
P' = FP + PF − P², F = [[−λ/2·I, Sᵀ], [S, λ/2·I]], and the closed form
P(t) = e^{Ft}Q_0[I + Q_0ᵀ(2F)^{−1}(e^{2Ft} − I)Q_0]^{−1}Q_0ᵀe^{Ft} solves that ODE.

(1) GF gives the Riccati ODE: P' = Q'Qᵀ + QQ'ᵀ with Q' from W_1' = −W_2ᵀR, W_2' = −RW_1ᵀ
(R = W_2W_1 − S) equals FP + PF − P² — with symbolic entries for widths (1, 1, 1) and
(2, 1, 2), and at exact rational λ-balanced points for widths (2, 2, 2) and (3, 2, 2).
(2) The closed form solves it, for every size, by a non-commutative product rule: with
E = e^{Ft} (E' = FE = EF, Eᵀ = E), K = (2F)^{−1}(e^{2Ft} − I) (K' = E², checked eigenvalue-wise)
and M = I + Q_0ᵀKQ_0 ((M^{−1})' = −M^{−1}M'M^{−1}, checked on a generic 2×2), P = EQ_0M^{−1}Q_0ᵀE
has P' = FP + PF − P² identically. (3) At exact parameters with rational eigenvalues ±5/4
(λ = 3/2, S = 1, W_1 = 1/4, W_2 = 5/4) the explicit P(t) satisfies the ODE and
P(0) = Q_0Q_0ᵀ (exactly, as rational functions of z = e^{t/4}); linflow.exact.two_layer_lambda_balanced
matches it at t = 0.7.

Source: theory/deep-linear [checked]; Braun, Dominé, Fitzgerald & Saxe (NeurIPS 2022), λ-balanced
two-layer solutions.
"""

import numpy as np
import sympy as sm

from linflow import exact
from linflow.symbolic import matrix

CLAIM = "two-layer λ-balanced GF: P = QQᵀ solves P' = FP + PF − P², closed form solves it"
SOURCE = "theory/deep-linear [checked]; Braun, Dominé, Fitzgerald & Saxe 2022"

R = sm.Rational


def _rotation(a, b, c):
    """Rational 2×2 rotation from a Pythagorean triple a² + b² = c²."""
    return sm.Matrix([[R(a, c), -R(b, c)], [R(b, c), R(a, c)]])


def noncommutative_closed_form_residual():
    e, f, q, qt, minv = sm.symbols("E F Q Q^T M^-1", commutative=False)
    factors = [e, q, minv, qt, e]
    m_dot = qt * e * e * q
    derivs = [f * e, 0, -minv * m_dot * minv, 0, e * f]
    dp = 0
    for k, d in enumerate(derivs):
        before = sm.Mul(*factors[:k]) if k else 1
        after = sm.Mul(*factors[k + 1:]) if k < len(factors) - 1 else 1
        dp += before * d * after
    p = sm.Mul(*factors)
    return sm.expand(dp - (f * p + p * f - p * p))


def main() -> None:
    # (1) Riccati ODE from gradient flow.
    for widths in ((1, 1, 1), (2, 1, 2)):
        w = matrix.weight_matrices(widths)
        target = matrix.target_matrix(widths[2], widths[0], name="S")
        assert sm.expand(matrix.two_layer_riccati_residual(w, target)).is_zero_matrix, widths
    s22 = sm.Matrix([[1, R(1, 3)], [-2, R(1, 7)]])
    w1, w2 = R(1, 2) * _rotation(3, 4, 5), R(3, 2) * _rotation(5, 12, 13)
    assert matrix.two_layer_riccati_residual((w1, w2), s22).is_zero_matrix
    rows3 = sm.Matrix([[1, 2, 2], [2, 1, -2]]) / 3  # orthonormal rows
    w1 = R(2, 3) * rows3
    s23 = sm.Matrix([[R(1, 2), 0, -1], [2, R(1, 5), 1]])
    assert matrix.two_layer_riccati_residual((w1, w2), s23).is_zero_matrix
    # (2) general closed form, non-commutative.
    assert noncommutative_closed_form_residual() == 0
    mu = sm.Symbol("mu", nonzero=True)
    t = sm.Symbol("t", real=True)
    assert sm.simplify(sm.diff((sm.exp(2 * mu * t) - 1) / (2 * mu), t) - sm.exp(2 * mu * t)) == 0
    assert sm.limit((sm.exp(2 * mu * t) - 1) / (2 * mu), mu, 0) == t  # F singular: K = t on its kernel
    g = sm.Matrix(2, 2, [sm.Function(f"m{i}")(t) for i in range(4)])
    assert (sm.diff(g.inv(), t) + g.inv() * sm.diff(g, t) * g.inv()).applyfunc(sm.cancel).is_zero_matrix
    # (3) explicit closed form at exact parameters (eigenvalues ±5/4).
    w1, w2 = sm.Matrix([[R(1, 4)]]), sm.Matrix([[R(5, 4)]])
    s11 = sm.Matrix([[1]])
    p = matrix.two_layer_closed_form((w1, w2), s11, t)
    f = matrix.two_layer_flow_matrix(s11, R(3, 2))
    # With z = e^{t/4} every entry is a rational function of z (exponents are multiples of
    # 5t/4): d/dt = (z/4) d/dz, and cancel() decides zero exactly.
    z = sm.Symbol("z", positive=True)
    pz = p.subs(t, 4 * sm.log(z))
    residual = pz.diff(z) * z / 4 - (f * pz + pz * f - pz * pz)
    assert residual.applyfunc(sm.cancel).is_zero_matrix
    q0 = w1.T.col_join(w2)
    assert (pz.subs(z, 1) - q0 * q0.T).applyfunc(sm.cancel).is_zero_matrix
    ref = np.array(p.subs(t, R(7, 10)).evalf(30), dtype=np.float64)
    num = exact.two_layer_lambda_balanced((np.array([[0.25]]), np.array([[1.25]])), np.array([[1.0]]), 0.7)
    assert np.allclose(num, ref, rtol=1e-12, atol=1e-14), (num, ref)


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
