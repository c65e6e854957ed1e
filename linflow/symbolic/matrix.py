"""Deep linear matrix networks with small concrete shapes in SymPy (theory.md §3).

Weights are explicit matrices of real symbols (``W1_00``, …), the loss is the whitened
``½‖W_e − Φ‖_F²`` with ``W_e = W_N ⋯ W_1`` and ``W_j`` of shape ``(d_j, d_{j−1})`` (theory.md,
"Conventions"). The gradient is the chain rule through ``W_e = A_j W_j B_j``:
``G_j = ∂f/∂W_j = A_jᵀ (W_e − Φ) B_jᵀ`` with ``A_j = W_N⋯W_{j+1}``, ``B_j = W_{j−1}⋯W_1``.

Also: Saxe et al.'s mode ODE and solution, and the two-layer λ-balanced closed form.
"""

from __future__ import annotations

from typing import Sequence

import sympy as sm

from .._validation import check_widths

__all__ = [
    "weight_matrices",
    "target_matrix",
    "end_to_end",
    "gradients",
    "balancedness",
    "balancedness_flow_derivative",
    "balancedness_gd_change",
    "balancedness_gd_drift",
    "saxe_mode_rhs",
    "saxe_mode_solution",
    "saxe_learning_time_n2",
    "two_layer_flow_matrix",
    "two_layer_closed_form",
    "two_layer_riccati_residual",
]


def weight_matrices(widths: Sequence[int], *, name: str = "W") -> tuple:
    """Matrices of real symbols ``W1, …, WN`` with ``Wj`` of shape ``(d_j, d_{j−1})``.

    Examples
    --------
    >>> w = weight_matrices((2, 1, 1))
    >>> w[0], w[1]
    (Matrix([[W1_00, W1_01]]), Matrix([[W2_00]]))
    """
    widths = check_widths(widths)
    out = []
    for j in range(len(widths) - 1):
        rows, cols = widths[j + 1], widths[j]
        out.append(sm.ImmutableMatrix(rows, cols, lambda r, c: sm.Symbol(f"{name}{j + 1}_{r}{c}", real=True)))
    return tuple(out)


def target_matrix(rows: int, cols: int, *, name: str = "Phi") -> sm.ImmutableMatrix:
    """A ``rows × cols`` matrix of real symbols (the whitened target Φ)."""
    return sm.ImmutableMatrix(rows, cols, lambda r, c: sm.Symbol(f"{name}_{r}{c}", real=True))


def _product(mats, identity_size: int) -> sm.ImmutableMatrix:
    out = sm.eye(identity_size)
    for m in mats:
        out = m * out
    return sm.ImmutableMatrix(out)


def end_to_end(weights) -> sm.ImmutableMatrix:
    """``W_e = W_N ⋯ W_1``."""
    return _product(weights, weights[0].shape[1])


def gradients(weights, target) -> tuple:
    """``G_j = A_jᵀ(W_e − Φ)B_jᵀ``, the gradient of ``½‖W_e − Φ‖_F²`` (Arora et al. 2018, eq. (5))."""
    n = len(weights)
    d = end_to_end(weights) - sm.ImmutableMatrix(target)
    out = []
    for j in range(n):
        b = _product(weights[:j], weights[0].shape[1])
        a = _product(weights[j + 1 :], weights[j].shape[0])
        out.append(sm.ImmutableMatrix(a.T * d * b.T))
    return tuple(out)


def balancedness(weights) -> tuple:
    """``B_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ``, j = 1, …, N−1."""
    return tuple(
        sm.ImmutableMatrix(weights[j + 1].T * weights[j + 1] - weights[j] * weights[j].T)
        for j in range(len(weights) - 1)
    )


def balancedness_flow_derivative(weights, target) -> tuple:
    """``dB_j/dt`` along GF ``W_j' = −G_j`` (product rule); identically zero (theory.md §3 [checked]).

    Returned *unexpanded*; ``sympy.expand`` of every entry is 0 (``proofs/balancedness_matrix.py``).
    """
    v = [-g for g in gradients(weights, target)]
    return tuple(
        sm.ImmutableMatrix(
            v[j + 1].T * weights[j + 1] + weights[j + 1].T * v[j + 1]
            - v[j] * weights[j].T - weights[j] * v[j].T
        )
        for j in range(len(weights) - 1)
    )


def balancedness_gd_change(weights, target, learning_rate) -> tuple:
    """``B_j(W − ηG) − B_j(W)``: the exact change of balancedness in one GD step."""
    g = gradients(weights, target)
    stepped = tuple(w - learning_rate * gj for w, gj in zip(weights, g))
    return tuple(sm.ImmutableMatrix(a - b) for a, b in zip(balancedness(stepped), balancedness(weights)))


def balancedness_gd_drift(weights, target, learning_rate) -> tuple:
    """``η²(G_{j+1}ᵀG_{j+1} − G_jG_jᵀ)``, which equals :func:`balancedness_gd_change` exactly.

    theory.md §3 [checked]: the first-order terms cancel because ``W_{j+1}ᵀG_{j+1} = G_jW_jᵀ``.
    """
    g = gradients(weights, target)
    return tuple(
        sm.ImmutableMatrix(learning_rate**2 * (g[j + 1].T * g[j + 1] - g[j] * g[j].T))
        for j in range(len(weights) - 1)
    )


# ---------------------------------------------------------------------- Saxe et al. 2014
def _saxe_symbols():
    u, s, u0, tau = sm.symbols("u s u_0 tau", positive=True)
    return u, s, u0, tau, sm.Symbol("t", nonnegative=True)


def saxe_mode_rhs(depth=2, strength=None, singular_value=None, tau=None) -> sm.Expr:
    """``u' = N u^{2−2/N}(s − u)/τ``: one mode of a balanced N-layer net (τ = 1 is GF).

    For N = 2 this is Saxe, McClelland & Ganguli (2014) ``τu' = 2u(s − u)``
    (theory.md §3 [paper]); for N ≥ 2 it is the singular-value dynamics
    ``σ_r' = −Nσ_r^{2−2/N}⟨∇L, u_r v_rᵀ⟩`` of Arora, Cohen, Hu & Luo 2019 (NeurIPS, Thm 3) for
    one mode aligned with the target (``⟨∇L, u_r v_rᵀ⟩ = u − s``).
    """
    u, s, _, _, _ = _saxe_symbols()
    u = u if strength is None else strength
    s = s if singular_value is None else singular_value
    tau = sm.S.One if tau is None else tau
    n = sm.S(depth)
    return n * u ** (2 - 2 / n) * (s - u) / tau


def saxe_mode_solution(t=None, singular_value=None, strength0=None, tau=None) -> sm.Expr:
    """``u(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/u_0)`` (Saxe et al. 2014; theory.md §3 [paper])."""
    _, s, u0, tau_s, t_s = _saxe_symbols()
    t = t_s if t is None else t
    s = s if singular_value is None else singular_value
    u0 = u0 if strength0 is None else strength0
    tau = tau_s if tau is None else tau
    e = sm.exp(2 * s * t / tau)
    return s * e / (e - 1 + s / u0)


def saxe_learning_time_n2(singular_value=None, strength0=None, fraction=None, tau=None) -> sm.Expr:
    """Time for a mode to grow from ``u_0`` to ``αs`` (N = 2): ``(τ/2s) ln(α(s − u_0)/(u_0(1 − α)))``.

    Inverts :func:`saxe_mode_solution` (Saxe et al. 2014's learning time
    ``t = (τ/2s) ln(u_f(s − u_0)/(u_0(s − u_f)))`` with ``u_f = αs``). Valid for
    ``0 < u_0 < αs < s``.
    """
    _, s, u0, tau_s, _ = _saxe_symbols()
    s = s if singular_value is None else singular_value
    u0 = u0 if strength0 is None else strength0
    alpha = sm.Symbol("alpha", positive=True) if fraction is None else fraction
    tau = tau_s if tau is None else tau
    return tau / (2 * s) * sm.log(alpha * (s - u0) / (u0 * (1 - alpha)))


# ---------------------------------------------------------------------- two-layer λ-balanced
def two_layer_flow_matrix(target, lam) -> sm.ImmutableMatrix:
    """``F = [[−λ/2·I, Sᵀ], [S, λ/2·I]]`` of the two-layer λ-balanced flow (theory.md §3 [checked])."""
    s = sm.ImmutableMatrix(target)
    d2, d0 = s.shape
    top = (-lam / 2 * sm.eye(d0)).row_join(s.T)
    bottom = s.row_join(lam / 2 * sm.eye(d2))
    return sm.ImmutableMatrix(top.col_join(bottom))


def two_layer_riccati_residual(weights, target) -> sm.ImmutableMatrix:
    """``P' − (FP + PF − P²)`` at the current point, with ``P' = Q'Qᵀ + QQ'ᵀ`` from GF.

    ``Q = [W_1ᵀ; W_2]``, ``P = QQᵀ``, λ read off ``W_2ᵀW_2 − W_1W_1ᵀ = λI`` (the caller must give
    λ-balanced weights, e.g. exact rational ones). Zero means P solves the Riccati ODE
    ``P' = FP + PF − P²`` there (Braun, Dominé, Fitzgerald & Saxe 2022; theory.md §3).
    """
    if len(weights) != 2:
        raise ValueError(f"weights must be (W_1, W_2); got {len(weights)} layers")
    w1, w2 = (sm.ImmutableMatrix(w) for w in weights)
    imbalance = w2.T * w2 - w1 * w1.T
    lam = imbalance[0, 0]
    if sm.simplify(imbalance - lam * sm.eye(imbalance.shape[0])) != sm.zeros(*imbalance.shape):
        raise ValueError("weights must satisfy W_2ᵀW_2 − W_1W_1ᵀ = λI (λ-balanced)")
    g1, g2 = gradients((w1, w2), target)
    q = w1.T.col_join(w2)
    dq = (-g1).T.col_join(-g2)
    p = q * q.T
    dp = dq * q.T + q * dq.T
    f = two_layer_flow_matrix(target, lam)
    return sm.ImmutableMatrix(dp - (f * p + p * f - p * p))


def two_layer_closed_form(weights0, target, t) -> sm.ImmutableMatrix:
    """``P(t) = e^{Ft}Q_0[I + Q_0ᵀ(2F)^{−1}(e^{2Ft} − I)Q_0]^{−1}Q_0ᵀe^{Ft}`` in SymPy.

    For small concrete (e.g. rational) λ-balanced ``weights0 = (W_1, W_2)`` and target S;
    ``e^{Ft}`` by SymPy's matrix exponential, ``(2F)^{−1}(e^{2Ft} − I) = ∫_0^t e^{2Fs} ds``
    (F invertible is assumed). theory.md §3 [checked]; :func:`linflow.exact.two_layer_lambda_balanced`
    is the numeric version.
    """
    w1, w2 = (sm.ImmutableMatrix(w) for w in weights0)
    imbalance = w2.T * w2 - w1 * w1.T
    lam = imbalance[0, 0]
    f = sm.Matrix(two_layer_flow_matrix(target, lam))
    q0 = w1.T.col_join(w2)
    e = (f * t).exp()
    k = (2 * f).inv() * ((2 * f * t).exp() - sm.eye(f.shape[0]))
    middle = sm.eye(q0.shape[1]) + q0.T * k * q0
    return sm.ImmutableMatrix(e * q0 * middle.inv() * q0.T * e)
