"""Claim: if the output h is L-homogeneous in the parameters θ, then ⟨∇h, θ⟩ = L·h and
∇²h·θ = (L − 1)∇h; for a network whose layers each enter 1-homogeneously, ⟨∇_{W_k}h, W_k⟩ = h.

(1) Euler's theorem itself: for h(cθ) = c^L h(θ), d/dc at c = 1 gives ⟨∇h, θ⟩ = L·h, and the
gradient of that identity gives ∇²h·θ + ∇h = L∇h; both steps are checked on a generic
homogeneous polynomial of degree 3 built from undetermined coefficients. (2) Deep linear nets:
h = W_3W_2W_1x (widths (2, 2, 2, 1), L = 3), all identities expanded to 0. (3) ReLU and leaky
ReLU (slope α symbolic) nets, widths (2, 2, 1) and (2, 2, 2, 1): on every activation pattern h is
a polynomial, L = number of layers; every identity holds on every piece, hence on the open
dense set where the pattern is locally constant.

Consequence (theory/homogeneous): under GF of any loss ℓ(h), d/dt(‖W_{k+1}‖_F² − ‖W_k‖_F²) =
−2ℓ'(h)(⟨∇_{W_{k+1}}h, W_{k+1}⟩ − ⟨∇_{W_k}h, W_k⟩) = 0.

Source: theory/homogeneous [checked]; Euler's homogeneous function theorem; Du, Hu & Lee (NeurIPS
2018) for the conservation law.
"""

import itertools

import sympy as sm

from linflow.symbolic import homogeneous, matrix

CLAIM = "Euler identities ⟨∇h,θ⟩ = Lh, ∇²h·θ = (L−1)∇h, per-layer, for linear and (leaky) ReLU nets"
SOURCE = "theory/homogeneous [checked]; Euler's theorem"


def _check(expr, layers, degree):
    params = [e for layer in layers for e in layer]
    first, second = homogeneous.euler_residuals(expr, params, degree)
    assert sm.expand(first) == 0
    assert sm.expand(second).is_zero_matrix
    for r in homogeneous.layer_euler_residuals(expr, layers):
        assert sm.expand(r) == 0


def main() -> None:
    # (1) generic homogeneous cubic in three variables, and Euler's theorem from h(cθ) = c^L h(θ).
    xs = sm.symbols("x_0:3", real=True)
    monomials = [sm.Mul(*m) for m in itertools.combinations_with_replacement(xs, 3)]
    coeffs = sm.symbols(f"k_0:{len(monomials)}")
    h = sm.Add(*[c * m for c, m in zip(coeffs, monomials)])
    c = sm.Symbol("c", positive=True)
    assert sm.expand(h.subs({x: c * x for x in xs}, simultaneous=True) - c**3 * h) == 0
    first, second = homogeneous.euler_residuals(h, xs, 3)
    assert sm.expand(first) == 0 and sm.expand(second).is_zero_matrix
    # (2) deep linear network.
    w = matrix.weight_matrices((2, 2, 2, 1))
    x = sm.ImmutableMatrix(sm.symbols("x_0:2", real=True))
    _check((w[2] * w[1] * w[0] * x)[0, 0], w, 3)
    # (3) every activation pattern of (leaky) ReLU nets.
    for widths in ((2, 2, 1), (2, 2, 2, 1)):
        pieces, weights, _ = homogeneous.relu_network_pieces(widths)
        assert len(pieces) == 2 ** sum(widths[1:-1])
        for out in pieces.values():
            _check(out, weights, len(weights))


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
