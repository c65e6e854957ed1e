"""Claim: the numerical example in theory/deep-linear of Arora, Cohen, Golowich & Hu (ICLR 2019), Thm 1 — for
N = 3, c = 0.5, ‖Φ‖_F = 1 the step-size bound is η_max ≈ 5.98e-7 and the balancedness bound
δ_max ≈ 3.62e-5 — follows from the recalled formulas δ ≤ c²/(256N³‖Φ‖_F^{2(N−1)/N}) and
η ≤ c^{(4N−2)/N}/(6144N³‖Φ‖_F^{(6N−4)/N}).

Exact evaluation: δ_max = 1/27648, η_max = 2^{−10/3}/165888; both round to the quoted three
digits, and the registry's generated evaluators agree with the exact values to 1e-15 relative.
This checks arithmetic and implementation only: the constants themselves are [recalled], not
read from the paper, and are not verified here.

Source: Arora, Cohen, Golowich & Hu 2019, Thm 1; theory/deep-linear [recalled].
"""

import sympy as sm

from linflow.bounds import get

CLAIM = "Arora et al. 2019 example (N=3, c=0.5, ‖Φ‖_F=1): η_max ≈ 5.98e-7, δ_max ≈ 3.62e-5"
SOURCE = "Arora, Cohen, Golowich & Hu 2019, Thm 1; theory/deep-linear [recalled]"


def main() -> None:
    values = {"depth": 3, "margin": sm.Rational(1, 2), "target_norm": 1}
    for name, exact, quoted in (
        ("arora2019_balancedness", sm.Rational(1, 27648), "3.62e-05"),
        ("arora2019_step_size", 2 ** sm.Rational(-10, 3) / 165888, "5.98e-07"),
    ):
        bound = get(name)
        subs = {bound.symbols[k].symbol: v for k, v in values.items()}
        assert sm.simplify(bound.expr.subs(subs) - exact) == 0, name
        assert f"{float(exact):.2e}" == quoted, (name, float(exact))  # the quoted 3 digits
        numeric = bound.evaluate(depth=3, margin=0.5, target_norm=1.0)
        # 1e-15 relative: a handful of float64 operations.
        assert abs(numeric - float(exact)) <= 1e-15 * float(exact), (name, numeric)


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
