"""Initializations of deep linear networks.

Every function returns a tuple of float64 arrays with ``weights[j].shape == (d_{j+1}, d_j)``,
or with a leading axis B when ``batch=B`` is given. Randomness goes only through ``seed`` (an
int or a ``numpy.random.Generator``).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ._validation import (
    as_generator,
    as_real_array,
    check_finite_array,
    check_memory,
    check_positive,
    check_seed,
    check_widths,
)

__all__ = [
    "balanced",
    "random_balanced",
    "gaussian",
    "identity",
    "near_identity",
    "orthogonal",
    "spectral",
]


def _random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Haar-distributed orthogonal matrix (QR of a Gaussian with the sign fix)."""
    return _random_semi_orthogonal(rng, n, n)


def _random_semi_orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Haar-distributed ``rows × cols`` matrix with orthonormal columns (or rows, if wider).

    QR of a ``max × min`` Gaussian with the signs of ``diag(R)`` moved into Q (Mezzadri 2007,
    "How to generate random matrices from the classical compact groups", §5): the columns are
    distributed as the first ``min`` columns of a Haar orthogonal matrix, at O(max·min²) cost
    and O(max·min) memory instead of the O(max³) / O(max²) of a full ``max × max`` draw.
    """
    tall, short = max(rows, cols), min(rows, cols)
    q, r = np.linalg.qr(rng.standard_normal((tall, short)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0  # a zero pivot has probability 0; keep Q's column as is
    q = q * signs
    return q if rows >= cols else q.T


def balanced(widths: Sequence[int], end_to_end_matrix, *, seed=None) -> tuple:
    """Exactly balanced weights with a prescribed end-to-end matrix (Procedure 1).

    From the SVD ``W_e = UΣVᵀ`` set ``W_N ≃ UΣ^{1/N}``, ``W_j ≃ Σ^{1/N}``, ``W_1 ≃ Σ^{1/N}Vᵀ``
    (≃: equal up to zero padding), so that ``W_{j+1}ᵀW_{j+1} = W_jW_jᵀ`` for all j.

    Parameters
    ----------
    widths : sequence of int
    end_to_end_matrix : array_like, shape (d_N, d_0)
    seed : int or Generator, optional
        If given, hidden layers are rotated by random orthogonal ``O_j``
        (``W_j → O_j W_j O_{j−1}ᵀ``), which keeps both the product and exact balancedness.

    Raises
    ------
    ValueError
        If the rank of the matrix exceeds the narrowest hidden width.

    References
    ----------
    Arora, Cohen, Golowich & Hu 2019 (ICLR), "Procedure 1" (balanced initialization).
    """
    widths = check_widths(widths)
    rng = None if seed is None else as_generator(seed)
    _check_size(widths, None, rotations=True)
    n = len(widths) - 1
    w_e = check_finite_array(end_to_end_matrix, "end_to_end_matrix", shape=(widths[-1], widths[0]))
    if n == 1:
        return (w_e.copy(),)
    u, s, vt = np.linalg.svd(w_e, full_matrices=False)
    hidden = min(widths[1:-1])
    tol = max(w_e.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)
    rank = int(np.sum(s > tol))
    if rank > hidden:
        raise ValueError(
            f"end_to_end_matrix has rank {rank} > narrowest hidden width {hidden}; "
            f"no balanced factorization exists for widths={widths}"
        )
    k = min(len(s), hidden)
    root = s[:k] ** (1.0 / n)
    weights = []
    for j in range(n):
        w = np.zeros((widths[j + 1], widths[j]))
        if j == 0:
            w[:k, :] = root[:, None] * vt[:k, :]
        elif j == n - 1:
            w[:, :k] = u[:, :k] * root[None, :]
        else:
            w[:k, :k] = np.diag(root)
        weights.append(w)
    if rng is not None:
        rotations = [None] + [_random_orthogonal(rng, widths[j]) for j in range(1, n)] + [None]
        for j in range(n):
            if rotations[j + 1] is not None:
                weights[j] = rotations[j + 1] @ weights[j]
            if rotations[j] is not None:
                weights[j] = weights[j] @ rotations[j].T
    return tuple(weights)


def _check_size(widths: tuple, batch, *, rotations: bool = False):
    """Refuse initializations larger than the memory limit before drawing anything.

    ``batch × P`` floats for the weights, plus (``rotations``: balanced initializations) one
    ``d × d`` rotation per hidden width and the SVD of the ``d_N × d_0`` end-to-end matrix.
    """
    batch = 1 if batch is None else check_positive(batch, "batch", integer=True)
    n_params = float(sum(a * b for a, b in zip(widths[1:], widths[:-1])))
    extra = float(sum(d * d for d in widths[1:-1])) + 3.0 * widths[0] * widths[-1] if rotations else 0.0
    check_memory(8.0 * (batch * n_params + extra), argument=f"widths={widths} with batch={batch}",
                 what="the initial weights", advice="use smaller widths or a smaller batch")


def _batched(draw, batch: Optional[int]):
    if batch is None:
        return draw()
    batch = check_positive(batch, "batch", integer=True)
    samples = [draw() for _ in range(batch)]
    return tuple(np.stack([s[j] for s in samples]) for j in range(len(samples[0])))


def random_balanced(widths: Sequence[int], *, scale: float, seed, batch: Optional[int] = None) -> tuple:
    """Balanced weights whose end-to-end matrix is Gaussian with Frobenius norm ``scale``.

    The near-zero balanced initialization of Elkabetz & Cohen 2021 (Prop. 2 / Thm. 3) and of
    Arora et al. 2019 (a random ``W_e`` followed by Procedure 1). Hidden layers are randomly
    rotated, so the weights are not merely diagonal.
    """
    widths = check_widths(widths)
    scale = check_positive(scale, "scale")
    rng = as_generator(seed)
    _check_size(widths, batch, rotations=True)

    def draw():
        w_e = rng.standard_normal((widths[-1], widths[0]))
        w_e *= scale / np.linalg.norm(w_e)
        if min(widths[1:-1], default=widths[0]) < min(widths[0], widths[-1]):
            u, s, vt = np.linalg.svd(w_e, full_matrices=False)
            k = min(widths[1:-1])
            w_e = (u[:, :k] * s[:k]) @ vt[:k]
            w_e *= scale / np.linalg.norm(w_e)
        return balanced(widths, w_e, seed=rng)

    return _batched(draw, batch)


def gaussian(widths: Sequence[int], *, std: float, seed, batch: Optional[int] = None) -> tuple:
    """Independent ``N(0, std²)`` entries in every layer."""
    widths = check_widths(widths)
    std = check_positive(std, "std")
    rng = as_generator(seed)
    _check_size(widths, batch)

    def draw():
        return tuple(std * rng.standard_normal((widths[j + 1], widths[j])) for j in range(len(widths) - 1))

    return _batched(draw, batch)


def identity(widths: Sequence[int], *, scale: float = 1.0) -> tuple:
    """``W_j = scale · I`` (rectangular identities, i.e. zero padded)."""
    widths = check_widths(widths)
    scale = check_positive(scale, "scale")
    _check_size(widths, None)
    return tuple(scale * np.eye(widths[j + 1], widths[j]) for j in range(len(widths) - 1))


def near_identity(
    widths: Sequence[int], *, std: float, seed, scale: float = 1.0, batch: Optional[int] = None
) -> tuple:
    """``W_j = scale · I + N(0, std²)`` perturbations."""
    widths = check_widths(widths)
    std = check_positive(std, "std")
    rng = as_generator(seed)
    _check_size(widths, batch)
    base = identity(widths, scale=scale)

    def draw():
        return tuple(w + std * rng.standard_normal(w.shape) for w in base)

    return _batched(draw, batch)


def orthogonal(widths: Sequence[int], *, seed, scale: float = 1.0, batch: Optional[int] = None) -> tuple:
    """``scale`` times Haar (semi-)orthogonal matrices in every layer.

    Layer j has orthonormal columns when ``d_{j+1} ≥ d_j`` and orthonormal rows otherwise; only
    a ``max(d_j, d_{j+1}) × min(d_j, d_{j+1})`` Gaussian is drawn per layer.
    """
    widths = check_widths(widths)
    scale = check_positive(scale, "scale")
    rng = as_generator(seed)
    _check_size(widths, batch)

    def draw():
        out = []
        for j in range(len(widths) - 1):
            out.append(scale * _random_semi_orthogonal(rng, widths[j + 1], widths[j]))
        return tuple(out)

    return _batched(draw, batch)


def spectral(widths: Sequence[int], target, *, mode_strength, seed=None) -> tuple:
    """Saxe et al.'s decoupled initialization aligned with the target's SVD.

    With ``Φ = U S Vᵀ`` the end-to-end matrix starts at ``U diag(u_0) Vᵀ`` and is split in
    balanced factors, so each singular mode evolves independently under GF with
    ``u' = N u^{2−2/N}(s − u)`` (Saxe, McClelland & Ganguli 2014, §2, balanced depth-N form).

    Parameters
    ----------
    target : array_like, shape (d_N, d_0)
    mode_strength : float or array_like
        Initial strengths ``u_0 > 0`` of the modes (one value or one per singular value).
    seed : optional
        Random hidden rotations (see :func:`balanced`).

    References
    ----------
    Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear dynamics of learning in
    deep linear neural networks", §2.
    """
    widths = check_widths(widths)
    if seed is not None:
        check_seed(seed)
    phi = check_finite_array(target, "target", shape=(widths[-1], widths[0]))
    u, s, vt = np.linalg.svd(phi, full_matrices=False)
    strength = as_real_array(mode_strength, "mode_strength")
    if strength.ndim > 1 or strength.size not in (1, s.size):
        raise ValueError(
            f"mode_strength must be one number or one per singular value of target ({s.size}); "
            f"got mode_strength.shape={strength.shape}"
        )
    strength = np.broadcast_to(strength.reshape(-1), s.shape)
    if not np.all(np.isfinite(strength)) or np.any(strength <= 0):
        raise ValueError(f"mode_strength must be positive and finite; got mode_strength={strength.tolist()}")
    return balanced(widths, (u * strength) @ vt, seed=seed)
