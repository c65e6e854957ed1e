"""Claim: for f(θ) = −(m/2)θ² (m > 0), GF is θ_0e^{mt}, GD is θ_0(1 + ηm)^k, and at t = kη the
error is θ_0e^{mt}(1 − e^{−ηm²t/2 + O(η²)}) = θ_0e^{mt}·ηm²t/2 + O(η²): the GD–GF distance grows
like e^{mt}, so keeping it below a fixed tolerance up to time T needs η ≲ e^{−mT}
(exponentially small steps under negative curvature).

(1) Both trajectories solve their equations (θ' = mθ; θ_{k+1} = θ_k − ηf'(θ_k)). (2) With
k = t/η, (1 + ηm)^{t/η} = exp((t/η)ln(1 + ηm)) is expanded in η at fixed t; the error's series
is θ_0e^{mt}(m²t/2·η − (m³t/3 + m⁴t²/8)η² + O(η³)); its leading term is the claim.
(3) The exact log-ratio ln(GD/GF) = (t/η)ln(1 + ηm) − mt < 0 for η > 0 (ln(1 + x) < x), so GD
always lags GF.

Source: theory/gd-vs-gf [checked]; Elkabetz & Cohen (NeurIPS 2021), the role of negative curvature.
"""

import sympy as sm

CLAIM = "f = −(m/2)θ²: GD−GF error = θ_0 e^{mt}·ηm²t/2 + O(η²)"
SOURCE = "theory/gd-vs-gf [checked]; Elkabetz & Cohen 2021"


def main() -> None:
    m, eta, t, theta0 = sm.symbols("m eta t theta_0", positive=True)
    k = sm.Symbol("k", integer=True, nonnegative=True)
    th = sm.Symbol("theta", real=True)
    f = -m / 2 * th**2
    flow = theta0 * sm.exp(m * t)
    assert sm.simplify(sm.diff(flow, t) + sm.diff(f, th).subs(th, flow)) == 0
    gd = theta0 * (1 + eta * m) ** k
    step = gd - eta * sm.diff(f, th).subs(th, gd)
    assert sm.simplify(step - gd.subs(k, k + 1)) == 0
    error = flow - theta0 * sm.exp(t / eta * sm.log(1 + eta * m))
    series = sm.series(error, eta, 0, 3).removeO()
    expected = theta0 * sm.exp(m * t) * (m**2 * t / 2 * eta - (m**3 * t / 3 + m**4 * t**2 / 8) * eta**2)
    assert sm.simplify(series - expected) == 0
    x = sm.Symbol("x", positive=True)
    # ln(1 + x) < x for x > 0: the difference is 0 at x = 0 and strictly decreasing.
    assert sm.simplify(sm.diff(sm.log(1 + x) - x, x) + x / (1 + x)) == 0


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
