"""Claim: for a bias-free network with activation σ(z) = σ'(z)·z (ReLU, leaky ReLU, linear) and
any loss of its outputs, the gradient G satisfies, for every hidden unit j of layer k,
⟨G_k[j, :], W_k[j, :]⟩ = ⟨G_{k+1}[:, j], W_{k+1}[:, j]⟩ and per layer ⟨G_k, W_k⟩ = ⟨G_{k+1}, W_{k+1}⟩.
Hence gradient flow conserves the per-neuron balance ‖W_{k+1}[:, j]‖² − ‖W_k[j, :]‖² and the
per-layer balance ‖W_{k+1}‖_F² − ‖W_k‖_F², and one GD step W⁺ = W − ηG changes them by exactly
η²(‖G_{k+1}[:, j]‖² − ‖G_k[j, :]‖²) and η²(‖G_{k+1}‖_F² − ‖G_k‖_F²).

Backpropagation computes the gradient of the polynomial h = W_N D_{N−1} W_{N−1} ⋯ D_1 W_1 x with
the masks D_k = diag(σ'(z_k)) held fixed. Here every mask entry is a *free symbol* (one per
unit and sample), so the proof covers every activation pattern, every slope α and every
convention for σ'(0) at once (σ(z) = d·z holds at z = 0 for any d). The loss enters only through
the output cotangents c_i = ∂ℓ/∂ŷ_i, also free symbols.

(1) Structure: for one sample, W_{k+1}ᵀG_{k+1} = M D and G_k W_kᵀ = D M with
M = W_{k+1}ᵀAᵀc xᵀBᵀW_kᵀ; for a diagonal D the diagonals of MD and DM agree (3×3, general M).
(2) Widths (2, 2, 2, 2), two samples, gradient obtained by differentiating the polynomial (no
hand-written backpropagation): the per-neuron and per-layer identities, the vanishing GF
derivative of every balance, and the exact η² GD change, all expanded to 0.

Source: theory/homogeneous [checked]; Du, Hu & Lee, "Algorithmic regularization in learning deep
homogeneous models: layers are automatically balanced", NeurIPS 2018, Thm 2.1 / Cor. 2.1
[recalled: theorem numbers not re-read].
"""

import sympy as sm

from linflow.symbolic import matrix

CLAIM = "per-neuron and per-layer balances: conserved by GF, exact η² change under GD (any pattern, any σ'(0))"
SOURCE = "theory/homogeneous [checked]; Du, Hu & Lee 2018 [recalled]"

WIDTHS = (2, 2, 2, 2)
SAMPLES = 2


def structure_identity() -> None:
    n = 3
    m = sm.Matrix(n, n, lambda r, c: sm.Symbol(f"M_{r}{c}", real=True))
    d = sm.diag(*sm.symbols(f"d_0:{n}", real=True))
    for j in range(n):
        assert sm.expand((m * d - d * m)[j, j]) == 0


def network_gradient(weights, xs, cs, masks):
    """G_k = ∂/∂W_k Σ_i ⟨c_i, h(x_i)⟩ with the masks frozen (a generic loss's chain rule)."""
    objective = 0
    for x, c, sample_masks in zip(xs, cs, masks):
        a = x
        for k, w in enumerate(weights):
            a = w * a
            if k < len(weights) - 1:
                a = sample_masks[k] * a
        objective += (c.T * a)[0, 0]
    objective = sm.expand(objective)
    return [w.applyfunc(lambda e: sm.diff(objective, e)) for w in weights]


def main() -> None:
    structure_identity()
    weights = matrix.weight_matrices(WIDTHS)
    xs = [sm.Matrix(WIDTHS[0], 1, lambda r, _, i=i: sm.Symbol(f"x{i}_{r}", real=True)) for i in range(SAMPLES)]
    cs = [sm.Matrix(WIDTHS[-1], 1, lambda r, _, i=i: sm.Symbol(f"c{i}_{r}", real=True)) for i in range(SAMPLES)]
    masks = [
        [sm.diag(*[sm.Symbol(f"d{i}_{k}{j}", real=True) for j in range(WIDTHS[k + 1])]) for k in range(len(WIDTHS) - 2)]
        for i in range(SAMPLES)
    ]
    grads = network_gradient(weights, xs, cs, masks)
    eta = sm.Symbol("eta", positive=True)

    def sq(v):
        return sum(e**2 for e in v)

    for k in range(len(weights) - 1):
        lower, upper, g_lower, g_upper = weights[k], weights[k + 1], grads[k], grads[k + 1]
        # Per-layer first-order identity: ⟨G_k, W_k⟩ = ⟨G_{k+1}, W_{k+1}⟩.
        layer_lower = sum(g * w for g, w in zip(g_lower, lower))
        layer_upper = sum(g * w for g, w in zip(g_upper, upper))
        assert sm.expand(layer_lower - layer_upper) == 0, k
        layer_gd = (sq(upper - eta * g_upper) - sq(lower - eta * g_lower)) - (sq(upper) - sq(lower))
        assert sm.expand(layer_gd - eta**2 * (sq(g_upper) - sq(g_lower))) == 0, k
        for j in range(lower.shape[0]):
            w_in, w_out = lower[j, :], upper[:, j]
            g_in, g_out = g_lower[j, :], g_upper[:, j]
            # Per-neuron first-order identity, and with it the GF derivative
            # d/dt(‖w_out‖² − ‖w_in‖²) = −2(⟨g_out, w_out⟩ − ⟨g_in, w_in⟩) = 0.
            first = sum(g * w for g, w in zip(g_in, w_in)) - sum(g * w for g, w in zip(g_out, w_out))
            assert sm.expand(first) == 0, (k, j)
            gf_derivative = -2 * sum(g * w for g, w in zip(g_out, w_out)) + 2 * sum(g * w for g, w in zip(g_in, w_in))
            assert sm.expand(gf_derivative) == 0, (k, j)
            change = (sq(w_out - eta * g_out) - sq(w_in - eta * g_in)) - (sq(w_out) - sq(w_in))
            assert sm.expand(change - eta**2 * (sq(g_out) - sq(g_in))) == 0, (k, j)


if __name__ == "__main__":
    main()
    print(f"PROVED: {CLAIM}")
