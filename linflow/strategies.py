"""Hypothesis strategies for deep linear networks, in the style of ``hypothesis.extra.numpy``.

Public, documented strategies that researchers use in their own property tests and that the
built-in claims of :mod:`linflow.claims` draw their instances from. Every strategy builds what it
promises *by construction* (no rejection sampling): balanced weights are exactly balanced,
δ-balanced weights satisfy ``‖W_{j+1}ᵀW_{j+1} − W_jW_jᵀ‖_F ≤ δ``, margin weights satisfy
``‖W_e − Φ‖_F ≤ σ_min(Φ) − c``. Bounds are keyword-only ``min_*``/``max_*`` arguments with small
defaults; bad arguments raise :class:`hypothesis.errors.InvalidArgument` with the values in the
message, when the strategy is created.

Arguments called ``widths`` or ``target`` accept either a concrete value or a strategy for one.
Random rotations are drawn as ``None`` (no rotation) or an integer seed, so that shrinking moves
towards unrotated, diagonal weights: shrunk counterexamples are as readable as possible.

Conventions (theory/index): ``weights[j].shape == (d_{j+1}, d_j)``, ``W_e = W_N ⋯ W_1``, whitened
loss ``½‖W_e − Φ‖_F²``.

Examples
--------
>>> from hypothesis import given, settings
>>> import linflow.strategies as lst
>>> from linflow import balancedness
>>> @settings(max_examples=5, derandomize=True, database=None)
... @given(lst.balanced_weights(lst.widths(min_depth=2)))
... def test_balanced(w):
...     assert all(abs(b).max() < 1e-9 for b in balancedness(w))
>>> test_balanced()
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from . import losses as _losses
from ._validation import check_finite_array, check_positive
from .init import _random_orthogonal
from .init import balanced as _factor_balanced
from .network import DeepLinearNetwork, balancedness, end_to_end
from .problem import Problem

__all__ = [
    "Instance",
    "MarginWeights",
    "widths",
    "networks",
    "targets",
    "weights",
    "balanced_weights",
    "delta_balanced_weights",
    "deficiency_margin_weights",
    "near_zero_weights",
    "learning_rates",
    "problems",
    "instances",
    "CompletionData",
    "SensingData",
    "ClassificationData",
    "LOSS_KINDS",
    "completion_data",
    "sensing_data",
    "classification_data",
    "losses",
]

#: The built-in loss kinds (``loss.kind``) that :func:`losses` and :func:`problems` can draw.
LOSS_KINDS = ("whitened", "regression", "sensing", "completion", "logistic", "cross_entropy")

#: Largest 32-bit seed for the hidden rotations and singular vectors.
_MAX_SEED = 2**32 - 1


class Instance(NamedTuple):
    """One problem instance: architecture, whitened target, initial weights, step, horizon.

    ``learning_rate`` and ``horizon`` are ``None`` when a claim does not use them. The
    :attr:`network` and :attr:`problem` properties rebuild the linflow objects, so an instance
    is plain data (ints, floats and float64 arrays) that prints and saves reproducibly.
    """

    widths: tuple
    target: np.ndarray
    weights: tuple
    learning_rate: Optional[float] = None
    horizon: Optional[float] = None

    @property
    def network(self) -> DeepLinearNetwork:
        return DeepLinearNetwork(self.widths)

    @property
    def problem(self) -> Problem:
        """The whitened problem ``½‖W_e − Φ‖_F²`` of this instance."""
        return Problem(self.network, target=self.target)

    @property
    def depth(self) -> int:
        return len(self.widths) - 1


class MarginWeights(NamedTuple):
    """Weights drawn by :func:`deficiency_margin_weights` with the guarantees they satisfy.

    ``margin`` is the requested c (the weights satisfy ``‖W_e − Φ‖_F ≤ σ_min(Φ) − margin``),
    ``delta`` the requested balancedness bound (``‖B_j‖_F ≤ delta`` for every j).
    """

    weights: tuple
    margin: float
    delta: float


class CompletionData(NamedTuple):
    """Drawn by :func:`completion_data`: observed ``mask``, ``values`` (NaN off the mask) and
    the low-rank ``truth`` they observe."""

    mask: np.ndarray
    values: np.ndarray
    truth: np.ndarray

    @property
    def loss(self) -> "_losses.MatrixCompletion":
        return _losses.MatrixCompletion(self.mask, self.values)


class SensingData(NamedTuple):
    """Drawn by :func:`sensing_data`: measurements ``A`` (m, d_N, d_0), ``b = ⟨A_i, truth⟩``."""

    A: np.ndarray
    b: np.ndarray
    truth: np.ndarray

    @property
    def loss(self) -> "_losses.MatrixSensing":
        return _losses.MatrixSensing(self.A, self.b)


class ClassificationData(NamedTuple):
    """Drawn by :func:`classification_data`: inputs ``X`` (d_0, m) and ``labels`` (m,): ±1 for
    ``n_classes=1`` (a scalar output, the logistic loss), class indices otherwise."""

    X: np.ndarray
    labels: np.ndarray
    n_classes: int

    @property
    def loss(self):
        if self.n_classes == 1:
            return _losses.Logistic(self.X, self.labels)
        return _losses.CrossEntropy(self.X, self.labels, n_classes=self.n_classes)


# ---------------------------------------------------------------------------- argument checks
def _check_int(value, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(f"{name} must be an int; got {name}={value!r}")
    if value < minimum:
        raise InvalidArgument(f"{name} must be ≥ {minimum}; got {name}={value!r}")
    return int(value)


def _check_float(value, name: str, *, positive: bool = False, nonnegative: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a finite real number; got {name}={value!r}")
    if positive and value <= 0:
        raise InvalidArgument(f"{name} must be positive; got {name}={value!r}")
    if nonnegative and value < 0:
        raise InvalidArgument(f"{name} must be ≥ 0; got {name}={value!r}")
    return float(value)


def _check_order(low, high, low_name: str, high_name: str) -> None:
    if low > high:
        raise InvalidArgument(
            f"{low_name} must be ≤ {high_name}; got {low_name}={low!r}, {high_name}={high!r}"
        )


def _check_widths_value(value) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) < 2:
        raise InvalidArgument(f"widths must be a sequence of at least 2 ints; got widths={value!r}")
    for d in value:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1:
            raise InvalidArgument(f"widths must hold ints ≥ 1; got widths={tuple(value)!r}")
    return tuple(int(d) for d in value)


def _as_strategy(value, check=None) -> SearchStrategy:
    """A strategy as is; a concrete value (validated by ``check``) as ``st.just``."""
    if isinstance(value, SearchStrategy):
        return value
    return st.just(check(value) if check is not None else value)


def _rotation_seeds() -> SearchStrategy:
    # None (no rotation) first, so that shrinking goes to unrotated weights.
    return st.none() | st.integers(0, _MAX_SEED)


def _orthogonal(seed: Optional[int], n: int) -> np.ndarray:
    if seed is None:
        return np.eye(n)
    return _random_orthogonal(np.random.default_rng(seed), n)


# ---------------------------------------------------------------------------- architectures
def widths(
    *,
    min_depth: int = 1,
    max_depth: int = 3,
    min_width: int = 1,
    max_width: int = 3,
    input_width: Optional[int] = None,
    output_width: Optional[int] = None,
    min_hidden_width: Optional[int] = None,
) -> SearchStrategy:
    """Layer widths ``(d_0, …, d_N)`` with depth N in ``[min_depth, max_depth]``.

    Parameters
    ----------
    min_depth, max_depth : int
        Number N of weight matrices (N ≥ 1).
    min_width, max_width : int
        Range of every width not fixed otherwise.
    input_width, output_width : int, optional
        Fix ``d_0`` or ``d_N`` (``output_width=1``: scalar output; ``max_width=1``: the scalar
        network of theory/scalar).
    min_hidden_width : int, optional
        Lower bound on the hidden widths ``d_1, …, d_{N−1}`` (e.g. ≥ ``min(d_0, d_N)``, which
        :func:`deficiency_margin_weights` needs).

    Examples
    --------
    >>> from hypothesis import find
    >>> find(widths(min_depth=2, max_depth=2, max_width=1), lambda w: True)
    (1, 1, 1)
    """
    min_depth = _check_int(min_depth, "min_depth")
    max_depth = _check_int(max_depth, "max_depth")
    _check_order(min_depth, max_depth, "min_depth", "max_depth")
    min_width = _check_int(min_width, "min_width")
    max_width = _check_int(max_width, "max_width")
    _check_order(min_width, max_width, "min_width", "max_width")
    if input_width is not None:
        input_width = _check_int(input_width, "input_width")
    if output_width is not None:
        output_width = _check_int(output_width, "output_width")
    hidden_low = min_width
    if min_hidden_width is not None:
        hidden_low = max(min_width, _check_int(min_hidden_width, "min_hidden_width"))
        if hidden_low > max_width and max_depth > 1:
            raise InvalidArgument(
                f"min_hidden_width must be ≤ max_width; got min_hidden_width={min_hidden_width!r}, "
                f"max_width={max_width!r}"
            )

    @st.composite
    def draw_widths(draw):
        depth = draw(st.integers(min_depth, max_depth))
        d0 = input_width if input_width is not None else draw(st.integers(min_width, max_width))
        dn = output_width if output_width is not None else draw(st.integers(min_width, max_width))
        hidden = [draw(st.integers(hidden_low, max(hidden_low, max_width))) for _ in range(depth - 1)]
        return (d0, *hidden, dn)

    return draw_widths()


_default_widths = widths  # parameters named ``widths`` below shadow the function


def networks(**kwargs) -> SearchStrategy:
    """:class:`linflow.DeepLinearNetwork` objects; keyword arguments as for :func:`widths`."""
    return widths(**kwargs).map(DeepLinearNetwork)


# ---------------------------------------------------------------------------- matrices
def targets(
    shape,
    *,
    min_singular_value: float = 0.5,
    max_singular_value: float = 2.0,
) -> SearchStrategy:
    """Target matrices Φ of ``shape`` whose singular values lie in the given range.

    ``Φ = U diag(s) Vᵀ`` with ``s`` drawn in ``[min_singular_value, max_singular_value]`` and
    ``U``, ``V`` Haar rotations (or the identity, which is what shrinking moves to).

    Parameters
    ----------
    shape : (int, int) or strategy
        ``(d_N, d_0)`` (for widths ``w``: ``(w[-1], w[0])``).
    min_singular_value, max_singular_value : float
        ``0 ≤ min ≤ max``; all ``min(shape)`` singular values lie in this range.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import find
    >>> phi = find(targets((2, 3), min_singular_value=0.5), lambda phi: phi[0, 1] != 0)
    >>> bool(np.linalg.svd(phi, compute_uv=False).min() >= 0.5)
    True
    """
    low = _check_float(min_singular_value, "min_singular_value", nonnegative=True)
    high = _check_float(max_singular_value, "max_singular_value", nonnegative=True)
    _check_order(low, high, "min_singular_value", "max_singular_value")

    def check_shape(value):
        value = tuple(value) if hasattr(value, "__len__") else value
        if not isinstance(value, tuple) or len(value) != 2:
            raise InvalidArgument(f"shape must be a pair (d_N, d_0); got shape={value!r}")
        return tuple(_check_int(d, "shape entry") for d in value)

    shape_strategy = _as_strategy(shape, check_shape)

    @st.composite
    def draw_target(draw):
        rows, cols = check_shape(draw(shape_strategy))
        r = min(rows, cols)
        s = draw(st.lists(st.floats(low, high), min_size=r, max_size=r))
        s = np.sort(np.asarray(s, dtype=np.float64))[::-1]
        u = _orthogonal(draw(_rotation_seeds()), rows)[:, :r]
        v = _orthogonal(draw(_rotation_seeds()), cols)[:, :r]
        return (u * s) @ v.T

    return draw_target()


def weights(widths, *, min_value: float = -1.0, max_value: float = 1.0) -> SearchStrategy:
    """Unstructured weights: every entry a float in ``[min_value, max_value]``.

    Returns a tuple of float64 arrays, ``weights[j].shape == (d_{j+1}, d_j)``; shrinks to zeros
    (or the bound closest to zero).
    """
    low = _check_float(min_value, "min_value")
    high = _check_float(max_value, "max_value")
    _check_order(low, high, "min_value", "max_value")
    widths_strategy = _as_strategy(widths, _check_widths_value)
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)

    @st.composite
    def draw_weights(draw):
        w = _check_widths_value(draw(widths_strategy))
        out = []
        for j in range(len(w) - 1):
            n = w[j + 1] * w[j]
            flat = draw(st.lists(elements, min_size=n, max_size=n))
            out.append(np.asarray(flat, dtype=np.float64).reshape(w[j + 1], w[j]))
        return tuple(out)

    return draw_weights()


_default_weights = weights  # parameters named ``weights`` below shadow the function


def _end_to_end_for(draw, w: tuple, low: float, high: float) -> np.ndarray:
    """An end-to-end matrix realizable by widths ``w``: rank ≤ narrowest hidden width."""
    rows, cols = w[-1], w[0]
    rank = min(rows, cols, *(w[1:-1] or (rows,)))
    s = draw(st.lists(st.floats(low, high), min_size=rank, max_size=rank))
    s = np.sort(np.asarray(s, dtype=np.float64))[::-1]
    u = _orthogonal(draw(_rotation_seeds()), rows)[:, :rank]
    v = _orthogonal(draw(_rotation_seeds()), cols)[:, :rank]
    return (u * s) @ v.T


def balanced_weights(
    widths,
    *,
    end_to_end=None,
    min_singular_value: float = 0.1,
    max_singular_value: float = 2.0,
) -> SearchStrategy:
    """Exactly balanced weights, ``W_{j+1}ᵀW_{j+1} = W_jW_jᵀ`` (Procedure 1).

    Parameters
    ----------
    widths : tuple of int or strategy
    end_to_end : array_like or strategy, optional
        The end-to-end matrix ``W_e`` to factor; by default one is drawn with singular values in
        ``[min_singular_value, max_singular_value]`` and rank ≤ the narrowest hidden width.

    Notes
    -----
    Arora, Cohen, Golowich & Hu 2019, Procedure 1: from ``W_e = UΣVᵀ`` set ``W_N ≃ UΣ^{1/N}``,
    ``W_j ≃ Σ^{1/N}``, ``W_1 ≃ Σ^{1/N}Vᵀ``, then rotate hidden layers by drawn orthogonal
    matrices (which keeps both the product and exact balancedness).
    """
    low = _check_float(min_singular_value, "min_singular_value", nonnegative=True)
    high = _check_float(max_singular_value, "max_singular_value", nonnegative=True)
    _check_order(low, high, "min_singular_value", "max_singular_value")
    widths_strategy = _as_strategy(widths, _check_widths_value)
    product_strategy = None if end_to_end is None else _as_strategy(
        end_to_end, lambda m: check_finite_array(m, "end_to_end", ndim=2))

    @st.composite
    def draw_balanced(draw):
        w = _check_widths_value(draw(widths_strategy))
        if product_strategy is None:
            w_e = _end_to_end_for(draw, w, low, high)
        else:
            w_e = check_finite_array(draw(product_strategy), "end_to_end", ndim=2)
        return _factor_balanced(w, w_e, seed=draw(_rotation_seeds()))

    return draw_balanced()


def _perturbation_size(weights: tuple, delta: float) -> float:
    """Frobenius size e of a per-layer perturbation that keeps every ``‖ΔB_j‖_F ≤ delta``.

    ``ΔB_j = W_{j+1}ᵀE_{j+1} + E_{j+1}ᵀW_{j+1} + E_{j+1}ᵀE_{j+1} − (W_jE_jᵀ + E_jW_jᵀ + E_jE_jᵀ)``,
    so ``‖ΔB_j‖_F ≤ 4ae + 2e²`` with ``a = max_k ‖W_k‖₂``, ``e = max_k ‖E_k‖_F``; the positive
    root of ``2e² + 4ae = δ`` is ``e = 2δ / (4a + √(16a² + 8δ))`` (the stable form).
    """
    a = max(float(np.linalg.norm(wk, 2)) for wk in weights)
    return 2.0 * delta / (4.0 * a + math.sqrt(16.0 * a * a + 8.0 * delta))


def _perturb(draw, weights: tuple, size: float) -> tuple:
    """``W_k + E_k`` with ``‖E_k‖_F ≤ size``, the direction and the fraction drawn."""
    fraction = draw(st.floats(0.0, 1.0))
    out = []
    for wk in weights:
        n = wk.size
        direction = np.asarray(draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n)))
        norm = float(np.linalg.norm(direction))
        if norm == 0.0 or fraction == 0.0:
            out.append(wk.copy())
            continue
        out.append(wk + (fraction * size / norm) * direction.reshape(wk.shape))
    return tuple(out)


def _shrink_towards(weights: tuple, base: tuple, ok) -> tuple:
    """Halve ``weights − base`` until ``ok(weights)``; ``base`` itself when 60 halvings fail.

    The perturbation sizes are chosen so that ``ok`` holds at once; this is a safeguard.
    """
    for _ in range(60):
        if ok(weights):
            return weights
        weights = tuple(0.5 * (a + b) for a, b in zip(weights, base))
    return base


def _max_imbalance(weights: tuple) -> float:
    return max((float(np.linalg.norm(b)) for b in balancedness(weights)), default=0.0)


def delta_balanced_weights(
    widths,
    *,
    max_delta: float,
    min_singular_value: float = 0.1,
    max_singular_value: float = 2.0,
) -> SearchStrategy:
    """δ-balanced weights: ``‖W_{j+1}ᵀW_{j+1} − W_jW_jᵀ‖_F ≤ max_delta`` for every j.

    Balanced weights (:func:`balanced_weights`) plus a drawn perturbation whose size is chosen
    so that the guarantee holds (see ``_perturbation_size``); shrinks to the balanced weights.

    Notes
    -----
    δ-balancedness is the hypothesis of Arora, Cohen, Golowich & Hu 2019, Def. 1 [recalled].
    """
    delta = _check_float(max_delta, "max_delta", nonnegative=True)
    base = balanced_weights(
        widths, min_singular_value=min_singular_value, max_singular_value=max_singular_value
    )

    @st.composite
    def draw_delta_balanced(draw):
        w = draw(base)
        # 0.99: keep a relative margin over the round-off of the exact balancedness (~1e-16).
        out = _perturb(draw, w, _perturbation_size(w, 0.99 * delta))
        return _shrink_towards(out, w, lambda x: _max_imbalance(x) <= max(delta, _max_imbalance(w)))

    return draw_delta_balanced()


def deficiency_margin_weights(
    widths,
    target,
    *,
    margin: float,
    max_delta: float = 0.0,
    min_distance: float = 0.0,
    max_fraction: float = 0.5,
) -> SearchStrategy:
    """Weights with deficiency margin c: ``‖W_e − Φ‖_F ≤ σ_min(Φ) − c``, and δ-balanced.

    ``W_e = Φ + R`` with ``‖R‖_F`` a drawn fraction of ``σ_min(Φ) − c``, factored by
    Procedure 1 and perturbed within ``max_delta`` (balancedness) while keeping the margin.

    Parameters
    ----------
    widths : tuple of int or strategy
        Hidden widths must be ≥ ``min(d_0, d_N)`` (W_e near a full-rank Φ has full rank).
    target : array_like or strategy
        Φ with ``σ_min(Φ) > margin``.
    margin : float
        c > 0.
    max_delta : float
        δ ≥ 0 (0: exactly balanced).
    min_distance : float
        Lower bound on ``‖W_e − Φ‖_F`` before the δ-perturbation (0 allows ``W_e = Φ``);
        at most half the radius ``σ_min(Φ) − c``.
    max_fraction : float
        Upper bound on ``‖W_e − Φ‖_F`` before the δ-perturbation, as a fraction of the radius
        ``σ_min(Φ) − c``, in ``[1/2, 1]``. The default ½ leaves room for the δ-perturbation;
        1 reaches the boundary of the margin hypothesis (the actual margin is then as small as
        c), which exactly balanced draws (``max_delta=0``) can use.

    Returns
    -------
    strategy of MarginWeights

    Notes
    -----
    Arora, Cohen, Golowich & Hu 2019, Def. 2 (deficiency margin) [recalled].
    """
    c = _check_float(margin, "margin", positive=True)
    delta = _check_float(max_delta, "max_delta", nonnegative=True)
    min_distance = _check_float(min_distance, "min_distance", nonnegative=True)
    max_fraction = _check_float(max_fraction, "max_fraction", positive=True)
    if not 0.5 <= max_fraction <= 1.0:
        raise InvalidArgument(f"max_fraction must lie in [0.5, 1]; got max_fraction={max_fraction!r}")
    widths_strategy = _as_strategy(widths, _check_widths_value)
    target_strategy = _as_strategy(target, lambda t: check_finite_array(t, "target", ndim=2))

    @st.composite
    def draw_margin(draw):
        w = _check_widths_value(draw(widths_strategy))
        phi = check_finite_array(draw(target_strategy), "target", ndim=2)
        if phi.shape != (w[-1], w[0]):
            raise InvalidArgument(f"target must have shape {(w[-1], w[0])}; got target.shape={phi.shape}")
        if min(w[1:-1], default=w[0]) < min(w[0], w[-1]):
            raise InvalidArgument(
                f"hidden widths must be ≥ min(d_0, d_N) for a deficiency margin; got widths={w!r}"
            )
        sigma_min = float(np.linalg.svd(phi, compute_uv=False).min())
        if sigma_min <= c:
            raise InvalidArgument(
                f"margin must be < σ_min(target); got margin={c!r}, σ_min(target)={sigma_min!r}"
            )
        radius = sigma_min - c
        if min_distance > 0.5 * radius:
            raise InvalidArgument(
                f"min_distance must be ≤ (σ_min(target) − margin)/2; got min_distance={min_distance!r}, "
                f"σ_min(target)={sigma_min!r}, margin={c!r}"
            )
        n = phi.size
        direction = np.asarray(draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n)))
        norm = float(np.linalg.norm(direction))
        if norm == 0.0:  # no preferred direction: all-ones
            direction, norm = np.ones(n), math.sqrt(n)
        # max_fraction (default half) of the allowed radius at most, so that the δ-perturbation
        # below keeps the margin.
        fraction = draw(st.floats(min_distance / radius, max_fraction))
        residual = (fraction * radius / norm) * direction.reshape(phi.shape)
        base = _factor_balanced(w, phi + residual, seed=draw(_rotation_seeds()))
        out = base
        if delta > 0.0:
            out = _perturb(draw, base, _perturbation_size(base, 0.99 * delta))
        # Halve the perturbation until both guarantees hold; the base point satisfies them
        # (up to the round-off of its own balancedness, ~1e-16, which is allowed for).
        limit = max(delta, _max_imbalance(base))
        out = _shrink_towards(
            out, base, lambda x: _max_imbalance(x) <= limit and np.linalg.norm(end_to_end(x) - phi) <= radius
        )
        return MarginWeights(weights=out, margin=c, delta=delta)

    return draw_margin()


def near_zero_weights(
    widths,
    *,
    min_scale: float = 1e-3,
    max_scale: float = 1e-1,
    balanced: bool = True,
) -> SearchStrategy:
    """Near-zero initializations of scale s in ``[min_scale, max_scale]`` (log-uniform draw).

    ``balanced=True``: balanced weights with ``‖W_e‖_F = s`` (the initialization of Elkabetz &
    Cohen 2021, Prop. 2 / Thm. 3); ``balanced=False``: every layer has Frobenius norm
    ``s^{1/N}`` with a drawn direction.
    """
    low = _check_float(min_scale, "min_scale", positive=True)
    high = _check_float(max_scale, "max_scale", positive=True)
    _check_order(low, high, "min_scale", "max_scale")
    widths_strategy = _as_strategy(widths, _check_widths_value)
    exponents = st.floats(math.log10(low), math.log10(high))
    use_balanced = bool(balanced)

    def direction(draw, shape):
        n = int(np.prod(shape))
        d = np.asarray(draw(st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n))).reshape(shape)
        norm = float(np.linalg.norm(d))
        if norm < 1e-3:  # a (near-)zero draw means "no preferred direction": use all-ones
            d, norm = np.ones(shape), math.sqrt(n)
        return d / norm

    @st.composite
    def draw_near_zero(draw):
        w = _check_widths_value(draw(widths_strategy))
        s = min(max(10.0 ** draw(exponents), low), high)
        n = len(w) - 1
        if use_balanced:
            rank = min(w[0], w[-1], *(w[1:-1] or (w[0],)))
            w_e = direction(draw, (w[-1], w[0]))
            if rank < min(w[0], w[-1]):
                u, sv, vt = np.linalg.svd(w_e, full_matrices=False)
                w_e = (u[:, :rank] * sv[:rank]) @ vt[:rank]
                w_e /= np.linalg.norm(w_e)
            return _factor_balanced(w, s * w_e, seed=draw(_rotation_seeds()))
        return tuple(s ** (1.0 / n) * direction(draw, (w[j + 1], w[j])) for j in range(n))

    return draw_near_zero()


def learning_rates(bound: float, *, min_fraction: float = 0.05, max_fraction: float = 1.0) -> SearchStrategy:
    """Step sizes ``η = f · bound`` with f in ``[min_fraction, max_fraction]``.

    Typical bounds: ``1/β`` (descent lemma), ``2/S`` (stability), or a theorem's step-size bound.
    ``max_fraction > 1`` draws steps *above* the bound (for claims about what happens there).
    """
    bound = _check_float(bound, "bound", positive=True)
    low = _check_float(min_fraction, "min_fraction", positive=True)
    high = _check_float(max_fraction, "max_fraction", positive=True)
    _check_order(low, high, "min_fraction", "max_fraction")
    return st.floats(low, high).map(lambda f: f * bound)


def problems(
    widths=None,
    *,
    min_singular_value: float = 0.5,
    max_singular_value: float = 2.0,
    kinds=("whitened",),
) -> SearchStrategy:
    """Problems (:class:`linflow.Problem`) on deep linear networks of ``widths``.

    By default whitened problems ``½‖W_e − Φ‖_F²`` with drawn targets (singular values in the
    given range); ``kinds`` (a subset of :data:`LOSS_KINDS`) draws the loss with :func:`losses`.
    """
    widths_strategy = _default_widths() if widths is None else _as_strategy(widths, _check_widths_value)
    if tuple(kinds) != ("whitened",):
        losses(st.just((1, 1)), kinds=kinds)  # validates kinds now
        return widths_strategy.flatmap(
            lambda w: losses(w, kinds=kinds).map(lambda loss: Problem(DeepLinearNetwork(w), loss))
        )
    kwargs = dict(min_singular_value=min_singular_value, max_singular_value=max_singular_value)
    targets((1, 1), **kwargs)  # validates the bounds now
    return widths_strategy.flatmap(
        lambda w: targets((w[-1], w[0]), **kwargs).map(lambda phi: Problem(DeepLinearNetwork(w), target=phi))
    )


def _instance_target(value, drawn: dict) -> np.ndarray:
    widths = drawn["widths"]
    return check_finite_array(value, "target", shape=(widths[-1], widths[0]))


def _instance_weights(value, drawn: dict) -> tuple:
    layers = value.weights if isinstance(value, MarginWeights) else value
    return DeepLinearNetwork(drawn["widths"]).check(layers, "weights")


#: Checks of the fields of :func:`instances`, in drawing order (each sees the fields before it).
_INSTANCE_CHECKS = {
    "widths": lambda value, drawn: _check_widths_value(value),
    "target": _instance_target,
    "weights": _instance_weights,
    "learning_rate": lambda value, drawn: check_positive(value, "learning_rate"),
    "horizon": lambda value, drawn: check_positive(value, "horizon"),
}


def instances(
    widths=None,
    *,
    target=None,
    weights=None,
    learning_rate=None,
    horizon=None,
) -> SearchStrategy:
    """Compound draws of :class:`Instance` (widths, target, weights, learning rate, horizon).

    Each argument is a concrete value, a strategy, or a callable that receives the fields drawn
    so far as keyword arguments and returns a strategy (for dependent draws). Defaults:
    :func:`widths`, :func:`targets` of the matching shape, :func:`weights` (entries in [−1, 1]),
    no learning rate, no horizon.

    Examples
    --------
    >>> import linflow.strategies as lst
    >>> from hypothesis import find
    >>> strategy = lst.instances(
    ...     lst.widths(max_width=1),
    ...     weights=lambda widths, target: lst.balanced_weights(widths),
    ...     learning_rate=lambda widths, target, weights: lst.learning_rates(0.1),
    ... )
    >>> inst = find(strategy, lambda inst: inst.depth == 2)
    >>> inst.problem.network.is_scalar, 0 < inst.learning_rate <= 0.1
    (True, True)
    """
    fields = {
        "widths": _default_widths() if widths is None else widths,
        "target": (lambda widths: targets((widths[-1], widths[0]))) if target is None else target,
        "weights": (lambda widths, target: _default_weights(widths)) if weights is None else weights,
        "learning_rate": learning_rate,
        "horizon": horizon,
    }

    @st.composite
    def draw_instance(draw):
        drawn = {}
        for name, spec in fields.items():
            if spec is None:
                drawn[name] = None
                continue
            if callable(spec) and not isinstance(spec, SearchStrategy):
                spec = spec(**drawn)
            value = draw(spec) if isinstance(spec, SearchStrategy) else spec
            # Checked as soon as drawn: the later fields' callables receive checked values.
            drawn[name] = None if value is None else _INSTANCE_CHECKS[name](value, drawn)
        return Instance(**drawn)

    return draw_instance()


# ---------------------------------------------------------------------------- data of the losses
def _check_shape(value) -> tuple:
    value = tuple(value) if hasattr(value, "__len__") else value
    if not isinstance(value, tuple) or len(value) != 2:
        raise InvalidArgument(f"shape must be a pair (d_N, d_0); got shape={value!r}")
    return tuple(_check_int(d, "shape entry") for d in value)


def _entries(draw, n: int, low: float, high: float) -> np.ndarray:
    return np.asarray(draw(st.lists(st.floats(low, high), min_size=n, max_size=n)), dtype=np.float64)


def _low_rank(draw, shape: tuple, max_rank: int, low: float, high: float) -> np.ndarray:
    """``U Vᵀ`` with factors of rank ``r ≤ max_rank`` and entries in ``[low, high]``."""
    rows, cols = shape
    r = draw(st.integers(1, min(max_rank, rows, cols)))
    u = _entries(draw, rows * r, low, high).reshape(rows, r)
    v = _entries(draw, cols * r, low, high).reshape(cols, r)
    return u @ v.T


def completion_data(
    shape, *, max_rank: int = 1, min_observed: int = 1, max_observed: Optional[int] = None,
    min_value: float = -1.0, max_value: float = 1.0,
) -> SearchStrategy:
    """Matrix-completion data: a rank ≤ ``max_rank`` matrix and a mask of observed entries.

    Returns :class:`CompletionData` (``.loss`` is the :class:`linflow.losses.MatrixCompletion`);
    between ``min(min_observed, d_N·d_0)`` and ``max_observed`` (default all) entries are observed, and
    ``values`` is NaN off the mask. Shrinks towards few observations of small factors.
    """
    low = _check_float(min_value, "min_value")
    high = _check_float(max_value, "max_value")
    _check_order(low, high, "min_value", "max_value")
    max_rank = _check_int(max_rank, "max_rank")
    min_observed = _check_int(min_observed, "min_observed")
    if max_observed is not None:
        max_observed = _check_int(max_observed, "max_observed")
        _check_order(min_observed, max_observed, "min_observed", "max_observed")
    shape_strategy = _as_strategy(shape, _check_shape)

    @st.composite
    def draw_completion(draw):
        rows, cols = _check_shape(draw(shape_strategy))
        size = rows * cols
        top = size if max_observed is None else min(max_observed, size)
        observed = draw(st.lists(st.integers(0, size - 1), min_size=min(min_observed, size), max_size=top, unique=True))
        mask = np.zeros(size, dtype=bool)
        mask[observed] = True
        mask = mask.reshape(rows, cols)
        truth = _low_rank(draw, (rows, cols), max_rank, low, high)
        return CompletionData(mask, np.where(mask, truth, np.nan), truth)

    return draw_completion()


def sensing_data(
    shape, *, max_rank: int = 1, min_measurements: int = 1, max_measurements: int = 6,
    min_value: float = -1.0, max_value: float = 1.0,
) -> SearchStrategy:
    """Matrix-sensing data: measurement matrices ``A_i`` and ``b_i = ⟨A_i, truth⟩`` of a rank
    ≤ ``max_rank`` matrix. Returns :class:`SensingData` (``.loss`` is the loss object)."""
    low = _check_float(min_value, "min_value")
    high = _check_float(max_value, "max_value")
    _check_order(low, high, "min_value", "max_value")
    max_rank = _check_int(max_rank, "max_rank")
    lo_m = _check_int(min_measurements, "min_measurements")
    hi_m = _check_int(max_measurements, "max_measurements")
    _check_order(lo_m, hi_m, "min_measurements", "max_measurements")
    shape_strategy = _as_strategy(shape, _check_shape)

    @st.composite
    def draw_sensing(draw):
        rows, cols = _check_shape(draw(shape_strategy))
        m = draw(st.integers(lo_m, hi_m))
        A = _entries(draw, m * rows * cols, low, high).reshape(m, rows, cols)
        truth = _low_rank(draw, (rows, cols), max_rank, low, high)
        return SensingData(A, np.einsum("ijk,jk->i", A, truth), truth)

    return draw_sensing()


def classification_data(
    input_dim, *, n_classes=1, min_samples: int = 1, max_samples: int = 6,
    min_value: float = -1.0, max_value: float = 1.0,
) -> SearchStrategy:
    """Inputs and labels: ±1 labels for ``n_classes=1`` (logistic), indices in ``[0, n_classes)``
    otherwise (cross-entropy). Returns :class:`ClassificationData` (``.loss`` is the loss object)."""
    low = _check_float(min_value, "min_value")
    high = _check_float(max_value, "max_value")
    _check_order(low, high, "min_value", "max_value")
    lo_m = _check_int(min_samples, "min_samples")
    hi_m = _check_int(max_samples, "max_samples")
    _check_order(lo_m, hi_m, "min_samples", "max_samples")
    dim_strategy = _as_strategy(input_dim, lambda d: _check_int(d, "input_dim"))
    classes_strategy = _as_strategy(n_classes, lambda c: _check_int(c, "n_classes"))

    @st.composite
    def draw_classification(draw):
        d0 = _check_int(draw(dim_strategy), "input_dim")
        c = _check_int(draw(classes_strategy), "n_classes")
        m = draw(st.integers(lo_m, hi_m))
        X = _entries(draw, d0 * m, low, high).reshape(d0, m)
        if c == 1:
            labels = np.asarray(draw(st.lists(st.sampled_from([1, -1]), min_size=m, max_size=m)), dtype=np.float64)
        else:
            labels = np.asarray(draw(st.lists(st.integers(0, c - 1), min_size=m, max_size=m)), dtype=np.int64)
        return ClassificationData(X, labels, c)

    return draw_classification()


def losses(widths, *, kinds=LOSS_KINDS, max_samples: int = 6) -> SearchStrategy:
    """Loss objects (:mod:`linflow.losses`) whose data fit a network of ``widths``.

    ``kinds`` lists the admissible ``loss.kind`` values; ``"logistic"`` is drawn only when
    ``d_N = 1`` (a scalar output). Data come from :func:`targets`, :func:`sensing_data`,
    :func:`completion_data` and :func:`classification_data`.
    """
    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in LOSS_KINDS]
    if not kinds or unknown:
        raise InvalidArgument(f"kinds must be a non-empty subset of {LOSS_KINDS}; got kinds={kinds!r}")
    hi_m = _check_int(max_samples, "max_samples")
    widths_strategy = _as_strategy(widths, _check_widths_value)

    @st.composite
    def draw_loss(draw):
        w = _check_widths_value(draw(widths_strategy))
        d0, dn = w[0], w[-1]
        allowed = [k for k in kinds if k != "logistic" or dn == 1]
        if not allowed:
            raise InvalidArgument(f"no kind of {kinds!r} fits output width d_N={dn} (logistic needs d_N = 1)")
        kind = draw(st.sampled_from(allowed))
        if kind == "whitened":
            return _losses.Whitened(draw(targets((dn, d0))))
        if kind == "regression":
            m = draw(st.integers(1, hi_m))
            X = _entries(draw, d0 * m, -1.0, 1.0).reshape(d0, m)
            return _losses.Regression(X, _entries(draw, dn * m, -1.0, 1.0).reshape(dn, m))
        if kind == "sensing":
            return draw(sensing_data((dn, d0), max_measurements=hi_m)).loss
        if kind == "completion":
            return draw(completion_data((dn, d0))).loss
        n_classes = 1 if kind == "logistic" else dn
        return draw(classification_data(d0, n_classes=n_classes, max_samples=hi_m)).loss

    return draw_loss()
