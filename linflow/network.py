"""Deep linear network architecture, weight layout and weight-space invariants.

Conventions (theory/index, "Conventions"): ``W_j ∈ R^{d_j × d_{j-1}}`` so that
``weights[j].shape == (widths[j + 1], widths[j])`` and ``W_e = W_N ⋯ W_1``. Flat parameter
vectors concatenate ``weights[j].ravel()`` (C order) for ``j = 0, …, N-1``.

Every function here also accepts *batched* weights: arrays with a leading trajectory axis,
``weights[j].shape == (B, widths[j + 1], widths[j])``; matrix products then broadcast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._validation import as_real_array, check_int, check_weight_chain, check_weights, check_widths

Weights = tuple  # tuple[np.ndarray, ...]: one float64 array per layer

__all__ = [
    "DeepLinearNetwork",
    "LayeredArchitecture",
    "end_to_end",
    "partial_product",
    "balancedness",
    "flatten",
    "unflatten",
]


class LayeredArchitecture:
    """Layer bookkeeping shared by every fully connected architecture without biases.

    Subclasses store ``widths`` ``(d_0, …, d_N)``; weights are ``W_j ∈ R^{d_{j+1} × d_j}``.
    """

    widths: tuple

    @property
    def depth(self) -> int:
        """Number of weight matrices N."""
        return len(self.widths) - 1

    @property
    def shapes(self) -> tuple:
        """Shapes ``(d_{j+1}, d_j)`` of the weight matrices, first layer first."""
        w = self.widths
        return tuple((w[j + 1], w[j]) for j in range(self.depth))

    @property
    def n_params(self) -> int:
        """Total number of parameters P (length of a flat parameter vector)."""
        return int(sum(a * b for a, b in self.shapes))

    @property
    def is_scalar(self) -> bool:
        """True when every width is 1 (the scalar network of theory/scalar when linear)."""
        return all(d == 1 for d in self.widths)

    def check(self, weights, name: str = "weights") -> Weights:
        """Validate ``weights`` against this architecture and return them as float64 arrays.

        Accepts a single network (arrays of shape ``(d_{j+1}, d_j)``) or a batch (leading axis).

        Raises
        ------
        TypeError, ValueError
            Wrong container, wrong number of layers, wrong shapes, non-finite entries.
        """
        return check_weights(weights, self.shapes, name=name)

    def flatten(self, weights) -> np.ndarray:
        """Concatenate ``weights[j].ravel()``; batched weights give shape ``(B, P)``."""
        return flatten(weights)

    def unflatten(self, vector) -> Weights:
        """Inverse of :meth:`flatten`; a ``(B, P)`` array gives batched weights."""
        return unflatten(vector, self.shapes)


@dataclass(frozen=True)
class DeepLinearNetwork(LayeredArchitecture):
    """A fully connected linear network ``x ↦ W_N ⋯ W_1 x`` without biases.

    Parameters
    ----------
    widths : sequence of int, length N + 1 ≥ 2
        Layer widths ``(d_0, …, d_N)``: input ``d_0``, output ``d_N``. All widths 1 give the
        scalar network ``w_N ⋯ w_1`` of theory/scalar.

    Examples
    --------
    >>> net = DeepLinearNetwork((4, 4, 4, 2))
    >>> net.depth, net.n_params, net.shapes
    (3, 40, ((4, 4), (4, 4), (2, 4)))
    """

    widths: tuple

    def __init__(self, widths: Sequence[int]):
        object.__setattr__(self, "widths", check_widths(widths))


def flatten(weights) -> np.ndarray:
    """Flat parameter vector(s): ``concatenate([W.ravel() for W in weights])``.

    Leading axes are kept: batched weights ``(B, d_{j+1}, d_j)`` give ``(B, P)``, recorded
    batched paths ``(B, R, d_{j+1}, d_j)`` give ``(B, R, P)``.

    Raises
    ------
    TypeError, ValueError
        ``weights`` is not a non-empty tuple/list of real arrays with at least 2 dimensions and
        one common leading shape.
    """
    arrays = check_weight_chain(weights, "weights", chain=False, max_ndim=None)
    lead = arrays[0].shape[:-2]
    return np.concatenate([w.reshape(lead + (-1,)) for w in arrays], axis=-1)


def unflatten(vector, shapes) -> Weights:
    """Split a flat parameter vector (or a ``(B, P)`` array) into weight matrices of ``shapes``."""
    vector = as_real_array(vector, "vector")
    try:
        pairs = [tuple(pair) for pair in shapes]
    except TypeError as exc:
        raise TypeError(f"shapes must be a sequence of (rows, cols) pairs; got shapes={shapes!r}") from exc
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"shapes must be a sequence of (rows, cols) pairs; got shapes={shapes!r}")
    shapes = tuple((check_int(a, "shapes", minimum=1), check_int(b, "shapes", minimum=1)) for a, b in pairs)
    if not shapes or any(a < 1 or b < 1 for a, b in shapes):
        raise ValueError(f"shapes must be a non-empty sequence of positive (rows, cols) pairs; got shapes={shapes!r}")
    total = sum(a * b for a, b in shapes)
    if vector.ndim == 0 or vector.shape[-1] != total:
        raise ValueError(
            f"vector must have {total} entries in its last axis for shapes {tuple(shapes)}; "
            f"got vector.shape={vector.shape}"
        )
    lead = vector.shape[:-1]
    out, start = [], 0
    for a, b in shapes:
        out.append(vector[..., start : start + a * b].reshape(lead + (a, b)).copy())
        start += a * b
    return tuple(out)


def partial_product(weights, start: int, stop: int) -> np.ndarray:
    """Product ``W_{stop-1} ⋯ W_{start}`` (0-based layer indices), identity when empty.

    The identity has size ``weights[start].shape[-1]`` (or ``weights[stop-1].shape[-2]`` when
    ``start == len(weights)``) and broadcasts against batched weights.

    Raises
    ------
    TypeError, ValueError
        Malformed ``weights`` (see :func:`flatten`; consecutive layers must chain), or
        ``start``/``stop`` not ints with ``0 ≤ start ≤ stop ≤ len(weights)``.
    """
    weights = check_weight_chain(weights, "weights")
    start = check_int(start, "start", minimum=0, maximum=len(weights))
    stop = check_int(stop, "stop", minimum=start)
    if stop > len(weights):
        raise ValueError(f"stop must be ≤ len(weights) = {len(weights)}; got stop={stop}")
    return _partial_product(weights, start, stop)


def _partial_product(weights, start: int, stop: int) -> np.ndarray:
    """Unvalidated :func:`partial_product` for inner loops."""
    if start == stop:
        if start < len(weights):
            d = weights[start].shape[-1]
        else:
            d = weights[start - 1].shape[-2]
        return np.eye(d)
    out = weights[start]
    for j in range(start + 1, stop):
        out = weights[j] @ out
    return out


def prefix_suffix_products(weights) -> tuple:
    """Partial products ``B_j = W_{j−1}⋯W_1`` (prefix, j = 0..N) and ``A_j = W_N⋯W_{j+1}``
    (suffix, j = 0..N−1), 0-based, so that ``W_e = A_j W_j B_j`` for every j.

    ``prefix[0]`` and ``suffix[N−1]`` are identities; batched weights broadcast.
    """
    n = len(weights)
    prefix = [np.eye(weights[0].shape[-1])]
    for j in range(n):
        prefix.append(weights[j] @ prefix[j])
    suffix: list = [None] * n
    suffix[n - 1] = np.eye(weights[-1].shape[-2])
    for j in range(n - 2, -1, -1):
        suffix[j] = suffix[j + 1] @ weights[j + 1]
    return prefix, suffix


def end_to_end(weights) -> np.ndarray:
    """End-to-end matrix ``W_e = W_N ⋯ W_1`` (batched weights give a batch of matrices)."""
    weights = check_weight_chain(weights, "weights")
    return _partial_product(weights, 0, len(weights))


def _end_to_end(weights) -> np.ndarray:
    """Unvalidated :func:`end_to_end` for inner loops."""
    return _partial_product(weights, 0, len(weights))


def balancedness(weights) -> list:
    """Balancedness matrices ``B_j = W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ``, ``j = 1, …, N−1``.

    Constant along gradient flow; changes by exactly ``η²(G_{j+1}ᵀG_{j+1} − G_jG_jᵀ)`` per GD
    step (theory/deep-linear [checked]; Arora, Cohen & Hazan 2018, Thm 1 for the GF statement).

    Returns
    -------
    list of ndarray
        ``N − 1`` square matrices of size ``d_j`` (batched if the weights are).

    Raises
    ------
    TypeError, ValueError
        Malformed ``weights`` or layers that do not chain (see :func:`partial_product`).
    """
    return _balancedness(check_weight_chain(weights, "weights"))


def _balancedness(weights) -> list:
    """Unvalidated :func:`balancedness` for inner loops."""
    out = []
    for j in range(len(weights) - 1):
        upper, lower = weights[j + 1], weights[j]
        out.append(np.swapaxes(upper, -1, -2) @ upper - lower @ np.swapaxes(lower, -1, -2))
    return out
