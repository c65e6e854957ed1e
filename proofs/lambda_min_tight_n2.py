"""Claim: for f = ½‖W_2W_1 − Φ‖_F² at θ = 0 the Hessian's eigenvalues are ±σ_i(Φ) (each with
multiplicity d_1 = hidden width), so λ_min(∇²f(0)) = −‖Φ‖₂: the deep-linear curvature bound
λ_min ≥ −(N − 1)‖∇L‖₂ max_{i<j}Π_{k∉{i,j}}‖W_k‖₂ (= −‖Φ‖₂ here) is attained.

Checked for widths (2, 2, 2) and Φ = diag(s_1, s_2) with symbolic s_1 > s_2 > 0: the Hessian of
the loss (sympy.hessian of an 8-variable quartic) at 0 has the characteristic polynomial
(λ² − s_1²)²(λ² − s_2²)²; and the registry bound deep_linear_lambda_min(depth=2, gradient_norm=s_1,
layer_norm=0, epsilon=0) evaluates to −s_1 symbolically.

Source: the deep-linear curvature bound derived in this project (the curvature ingredient of the
argument of Elkabetz & Cohen, NeurIPS 2021; not a lemma of that paper) [checked].
"""

import sympy as sm

from linflow.bounds import get
from linflow.symbolic import matrix

CLAIM = "N = 2 at θ = 0: spectrum ±σ_i(Φ), λ_min = −‖Φ‖₂ (curvature bound is tight)"
SOURCE = "deep-linear λ_min bound derived in this project (Elkabetz & Cohen 2021 setting) [checked]"


def main() -> None:
    s1, s2 = sm.symbols("s_1 s_2", positive=True)
    phi = sm.diag(s1, s2)
    weights = matrix.weight_matrices((2, 2, 2))
    residual = matrix.end_to_end(weights) - phi
    loss = sm.Rational(1, 2) * sum(e**2 for e in residual)
    params = [e for w in weights for e in w]
    hess = sm.hessian(loss, params).subs({p: 0 for p in params})
    lam = sm.Symbol("lambda")
    charpoly = hess.charpoly(lam).as_expr()
    assert sm.expand(charpoly - (lam**2 - s1**2) ** 2 * (lam**2 - s2**2) ** 2) == 0
    bound = get("deep_linear_lambda_min")
    sym = {name: p.symbol for name, p in bound.symbols.items()}
    value = bound.expr.subs({sym["depth"]: 2, sym["gradient_norm"]: s1, sym["layer_norm"]: 0, sym["epsilon"]: 0})
    assert sm.simplify(value + s1) == 0


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
