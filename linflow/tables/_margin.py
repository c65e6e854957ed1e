"""The setting of Arora, Cohen, Golowich & Hu 2019 (ICLR), Thm 1, shared by several tables.

Whitened loss ``½‖W_e − Φ‖_F²`` with a square target ``Φ = U diag(s) Vᵀ`` (``d × d``, random
``U, V``, singular values ``s ∝ linspace(1, 0.75, d)`` scaled to ``‖Φ‖_F``), widths
``(d, …, d)``, and *balanced* initializations (Procedure 1) with deficiency margin c:
``W_e(0) = Φ + (σ_min(Φ) − c)·D``, ``D`` a uniformly random unit-Frobenius direction, so
``‖W_e(0) − Φ‖_F = σ_min(Φ) − c`` exactly (the largest distance the theorem allows) and
``δ = 0`` (theory.md §3 [recalled]).
"""

from __future__ import annotations

import numpy as np

from .._validation import as_generator, check_positive
from ..init import balanced
from ..network import DeepLinearNetwork
from ..problem import Problem

#: σ_min/σ_max of the default target (well conditioned: margins c < σ_min stay sizeable).
SPECTRUM_RATIO = 0.75


def margin_spectrum(dim: int, target_norm: float) -> np.ndarray:
    """Singular values of the default target: ``∝ linspace(1, 0.75, dim)``, ``‖s‖_2 = target_norm``."""
    dim = check_positive(dim, "dim", integer=True)
    target_norm = check_positive(target_norm, "target_norm")
    s = np.linspace(1.0, SPECTRUM_RATIO, dim) if dim > 1 else np.ones(1)
    return s * (target_norm / np.linalg.norm(s))


def margin_target(dim: int, target_norm: float, seed) -> np.ndarray:
    """A ``dim × dim`` target with ``‖Φ‖_F = target_norm`` and ``σ_min/σ_max = 0.75``."""
    s = margin_spectrum(dim, target_norm)
    rng = as_generator(seed)
    u, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    v, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (u * s) @ v.T


def margin_problem(depth: int, target: np.ndarray) -> Problem:
    depth = check_positive(depth, "depth", integer=True)
    d = target.shape[0]
    return Problem(DeepLinearNetwork((d,) * (depth + 1)), target=target)


def margin_inits(problem: Problem, margin: float, n_inits: int, seed) -> tuple:
    """``n_inits`` balanced initializations with deficiency margin exactly ``margin``.

    Returns batched weights ``(B, d, d)`` per layer.

    Raises
    ------
    ValueError
        If ``margin`` is not in ``(0, σ_min(Φ))``.
    """
    target = problem.target
    sigma_min = float(np.linalg.svd(target, compute_uv=False)[-1])
    margin = check_positive(margin, "margin")
    if margin >= sigma_min:
        raise ValueError(
            f"margin must be below σ_min(Φ) = {sigma_min:.6g} (deficiency margin); got margin={margin!r}"
        )
    n_inits = check_positive(n_inits, "n_inits", integer=True)
    rng = as_generator(seed)
    widths = problem.network.widths
    draws = []
    for _ in range(n_inits):
        direction = rng.standard_normal(target.shape)
        w_e = target + (sigma_min - margin) * direction / np.linalg.norm(direction)
        draws.append(balanced(widths, w_e, seed=rng))
    return tuple(np.stack([d[j] for d in draws]) for j in range(len(widths) - 1))


def sigma_min(target: np.ndarray) -> float:
    return float(np.linalg.svd(target, compute_uv=False)[-1])


def sigma_max(target: np.ndarray) -> float:
    return float(np.linalg.svd(target, compute_uv=False)[0])
