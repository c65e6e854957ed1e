"""Loss objects: the training objective as data, independent of the network and the engine.

A loss is either a loss **of the end-to-end matrix** ``L(W_e)`` (deep linear networks only) or a
loss **of the outputs** ``ℓ(h(X))`` on data ``X`` (deep linear *and* homogeneous networks; for a
linear network ``h(X) = W_e X``, so it is also a loss of ``W_e``). Every loss carries the
normalization written in its docstring.

============================  ==============  ========  ========  ================================
class                         ``kind``        outputs   convex    constant Hessian (quadratic)
============================  ==============  ========  ========  ================================
:class:`Whitened`             whitened        no        yes       yes
:class:`MatrixSensing`        sensing         no        yes       yes
:class:`MatrixCompletion`     completion      no        yes       yes
:class:`EndToEnd`             end_to_end      no        given     given (default no)
:class:`Regression`           regression      yes       yes       yes
:class:`Logistic`             logistic        yes       yes       no
:class:`CrossEntropy`         cross_entropy   yes       yes       no
============================  ==============  ========  ========  ================================

Attributes every loss has (engines read these instead of testing classes):

* ``kind`` — short string key (the column above), e.g. to select a kernel;
* ``acts_on_outputs`` — True for losses of the outputs on data ``X`` (then ``loss.X`` is the data);
* ``is_convex`` — convex in ``W_e`` (resp. in the outputs): the hypothesis of the λ_min bound;
* ``has_constant_hessian`` — ``∇²L`` does not depend on ``W_e`` (squared-type losses);
* ``hvp_is_exact`` — False only for an :class:`EndToEnd` loss without ``hvp``;
* ``curvature_bound()`` — a global bound ℓ on ``‖∇²L‖`` (every built-in loss has one; an
  :class:`EndToEnd` loss only if declared). The Elkabetz–Cohen smoothness bound needs it; the
  λ_min bound needs it *and* ``is_convex`` (:mod:`linflow.curvature`); on ReLU networks the
  per-sample bounds use ``output_curvature_bound()`` (a bound on every sample's output Hessian).

Methods, all batched over leading axes (a batch of trajectories):

* on end-to-end matrices ``E`` of shape ``(..., d_N, d_0)``: ``value(E)`` (shape ``(...)``),
  ``gradient(E)`` (``∇L(E)``, shape of ``E``) and ``hvp(E, V)`` (``∇²L(E)[V]``, shape of ``E``);
* losses of the outputs also on outputs ``Z`` of shape ``(..., d_N, m)``: ``output_value(Z)``,
  ``output_gradient(Z)`` and ``output_hvp(Z, V)``; the end-to-end methods are these composed
  with ``Z = E X`` (``gradient(E) = output_gradient(E X) Xᵀ``);
* ``check_widths(d_0, d_N)`` raises ``ValueError`` when the data do not fit a network with that
  input and output width.

Data are public read-only float64 arrays: ``target``; ``X``, ``Y``; ``A``, ``b``; ``mask``,
``values``; ``X``, ``labels``; and the callables ``value``, ``gradient``, ``hvp`` of
:class:`EndToEnd`.

Examples
--------
>>> import numpy as np
>>> from linflow.losses import MatrixCompletion
>>> loss = MatrixCompletion([[True, False], [False, True]], [[1.0, np.nan], [np.nan, 2.0]])
>>> float(loss.value(np.zeros((2, 2))))  # (1/(2·2))·(1² + 2²)
1.25
>>> loss.kind, loss.acts_on_outputs, loss.has_constant_hessian
('completion', False, True)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from ._validation import as_real_array

__all__ = [
    "CrossEntropy",
    "EndToEnd",
    "Logistic",
    "Loss",
    "MatrixCompletion",
    "MatrixSensing",
    "Regression",
    "Whitened",
]


# ---------------------------------------------------------------------- validation helpers
def _real_array(value, name: str, *, ndim: int | None = None, allow_nan: bool = False) -> np.ndarray:
    """A read-only float64 copy of ``value``; complex, boolean, object, string and ragged input is
    refused with a TypeError (:func:`linflow._validation.as_real_array`)."""
    arr = np.array(as_real_array(value, name), dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional; got {name}.shape={arr.shape}")
    bad = ~np.isfinite(arr) if not allow_nan else np.isinf(arr)
    if np.any(bad):
        raise ValueError(f"{name} must be finite; got {int(np.sum(bad))} non-finite entries in {name}")
    arr.flags.writeable = False
    return arr


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def _check_samples(X, name: str = "X") -> np.ndarray:
    X = _real_array(X, name, ndim=2)
    if X.shape[1] < 1:
        raise ValueError(f"{name} must have shape (d_0, m) with m ≥ 1 samples; got {name}.shape={X.shape}")
    return X


#: Central differences of a smooth map have truncation error O(h²) and rounding error
#: O(ε_mach/h); h = ε_mach^{1/3} (relative to the scales of the point and the direction) balances
#: them, giving about 1e-10 relative accuracy (Nocedal & Wright 2006, Sec. 8.1).
_FD_RELATIVE_STEP = float(np.finfo(np.float64).eps ** (1.0 / 3.0))


def _central_difference(fn, point: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """``(fn(x + h d) − fn(x − h d))/(2h)`` per leading index, ``h = ε^{1/3} max(1, ‖x‖)/‖d‖``."""
    point, direction = np.broadcast_arrays(np.asarray(point, dtype=np.float64), np.asarray(direction, dtype=np.float64))
    norm_d = np.linalg.norm(direction, axis=(-2, -1), keepdims=True)
    norm_x = np.linalg.norm(point, axis=(-2, -1), keepdims=True)
    h = np.where(norm_d > 0, _FD_RELATIVE_STEP * np.maximum(1.0, norm_x) / np.where(norm_d > 0, norm_d, 1.0), 0.0)
    safe_h = np.where(h > 0, h, 1.0)
    out = (fn(point + h * direction) - fn(point - h * direction)) / (2.0 * safe_h)
    return np.where(h > 0, out, 0.0)


# ---------------------------------------------------------------------- base classes
class Loss:
    """Base class of the training losses (see the module docstring for the interface).

    Subclasses of the end-to-end kind implement :meth:`value`, :meth:`gradient` and :meth:`hvp`;
    losses of the outputs subclass :class:`OutputLoss` and implement the ``output_*`` methods.
    """

    kind: str = "loss"
    acts_on_outputs: bool = False
    is_convex: bool = False
    has_constant_hessian: bool = False
    hvp_is_exact: bool = True
    #: ``∇²L(E)[V] = V C`` with a fixed C ⪰ 0 (whitened, regression): spectral norms then
    #: multiply, which the curvature certificates use.
    hessian_is_right_multiplication: bool = False
    #: Input and output widths ``(d_0, d_N)`` the data fix (None where the data leave it free).
    input_dim: int | None = None
    output_dim: int | None = None
    #: The data arguments that fix ``(d_0, d_N)``, named in shape errors.
    _width_sources = ("the data", "the data")

    def __setstate__(self, state: dict) -> None:
        # Unpickling makes fresh, writable arrays: the data stay read-only.
        for value in state.values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        self.__dict__.update(state)

    def value(self, end_to_end_matrix: np.ndarray):
        """``L(E)``; a batch ``(..., d_N, d_0)`` gives an array of shape ``(...)``."""
        raise NotImplementedError

    def gradient(self, end_to_end_matrix: np.ndarray) -> np.ndarray:
        """``∇L(E)``, shaped like ``E``."""
        raise NotImplementedError

    def hvp(self, end_to_end_matrix: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """``∇²L(E)[V]``, shaped like ``E``."""
        raise NotImplementedError

    def curvature_bound(self) -> float | None:
        """An upper bound ℓ on ``‖∇²L(E)‖₂`` valid for every E (``∇L`` is ℓ-Lipschitz), or None.

        The smoothness constant of the Elkabetz–Cohen certificate (Elkabetz & Cohen 2021, Sec. 4).
        """
        return None

    def third_derivative(self, end_to_end_matrix: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``D³L(E)[U, V, ·]``, the gradient of ``E ↦ ⟨U, ∇²L(E) V⟩``, shaped like ``E``.

        Zero for a constant Hessian; otherwise central differences of :meth:`hvp` along ``U``,
        ``(∇²L(E + hU)V − ∇²L(E − hU)V)/(2h)`` with ``h = ε^{1/3} max(1, ‖E‖)/‖U‖`` (error
        O(h²) + O(ε/h), Nocedal & Wright 2006, Sec. 8.1; symmetry of third derivatives makes this
        the gradient). Losses with a closed form override it.
        """
        shape = np.broadcast_shapes(np.shape(end_to_end_matrix), np.shape(u), np.shape(v))
        if self.has_constant_hessian:
            return np.zeros(shape)
        return _central_difference(lambda e: self.hvp(e, v), end_to_end_matrix, u)

    def check_widths(self, input_dim: int, output_dim: int) -> None:
        """Raise ``ValueError`` if the data do not fit a network ``d_0 = input_dim``, ``d_N = output_dim``."""
        sources = self._width_sources
        for k, (label, want, got) in enumerate((("input", self.input_dim, input_dim), ("output", self.output_dim, output_dim))):
            if want is not None and want != got:
                raise ValueError(
                    f"{sources[k]} fixes the {label} width to {want} ({self!r}); got a network with "
                    f"{label} width {got}"
                )

    def __repr__(self) -> str:
        shape = f"d_0={self.input_dim}, d_N={self.output_dim}"
        return f"{type(self).__name__}({shape})"


class OutputLoss(Loss):
    """A loss of the outputs ``Z = h(X)`` on data ``X`` of shape ``(d_0, m)``.

    For a deep linear network ``Z = E X``; the end-to-end methods compose the ``output_*``
    methods with that linear map (chain rule): ``∇L(E) = ∇ℓ(EX) Xᵀ`` and
    ``∇²L(E)[V] = ∇²ℓ(EX)[VX] Xᵀ``.
    """

    acts_on_outputs = True

    def __init__(self, X):
        self._X = _check_samples(X)
        self.input_dim = self._X.shape[0]

    @property
    def X(self) -> np.ndarray:
        """Inputs, one column per sample, shape ``(d_0, m)`` (read-only)."""
        return self._X

    @property
    def n_samples(self) -> int:
        """Number of samples m."""
        return self._X.shape[1]

    def output_value(self, outputs: np.ndarray):
        raise NotImplementedError

    def output_gradient(self, outputs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_hvp(self, outputs: np.ndarray, direction: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_third_derivative(self, outputs: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``D³ℓ(Z)[U, V, ·]`` in the outputs (see :meth:`Loss.third_derivative`)."""
        shape = np.broadcast_shapes(np.shape(outputs), np.shape(u), np.shape(v))
        if self.has_constant_hessian:
            return np.zeros(shape)
        return _central_difference(lambda z: self.output_hvp(z, v), outputs, u)

    def output_curvature_bound(self) -> float | None:
        """An upper bound on ``‖∇²ℓ(Z)‖₂`` in the outputs for every Z, or None."""
        return None

    def curvature_bound(self):
        """``‖∇²L(E)‖₂ ≤ ‖∇²ℓ‖₂ ‖X‖₂²`` (chain rule through ``Z = EX``), or None."""
        bound = self.output_curvature_bound()
        return None if bound is None else bound * float(np.linalg.norm(self._X, 2)) ** 2

    def third_derivative(self, end_to_end_matrix, u, v):
        x = self._X
        return self.output_third_derivative(end_to_end_matrix @ x, u @ x, v @ x) @ x.T

    def value(self, end_to_end_matrix):
        return self.output_value(end_to_end_matrix @ self._X)

    def gradient(self, end_to_end_matrix):
        return self.output_gradient(end_to_end_matrix @ self._X) @ self._X.T

    def hvp(self, end_to_end_matrix, direction):
        z = end_to_end_matrix @ self._X
        return self.output_hvp(z, direction @ self._X) @ self._X.T

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d_0={self.input_dim}, d_N={self.output_dim}, m={self.n_samples})"


# ---------------------------------------------------------------------- squared losses of W_e
class Whitened(Loss):
    """Whitened loss ``L(W_e) = ½‖W_e − Φ‖_F²`` (Arora, Cohen & Hazan 2018, Sec. 3; whitened data).

    ``∇L = W_e − Φ`` and ``∇²L`` is the identity.

    Parameters
    ----------
    target : array_like, shape (d_N, d_0)
        Φ.
    """

    _width_sources = ("target", "target")
    kind = "whitened"
    is_convex = True
    has_constant_hessian = True
    hessian_is_right_multiplication = True

    def __init__(self, target):
        self._target = _real_array(target, "target", ndim=2)
        self.output_dim, self.input_dim = self._target.shape

    @property
    def target(self) -> np.ndarray:
        """Φ, shape ``(d_N, d_0)`` (read-only)."""
        return self._target

    def residual(self, end_to_end_matrix):
        """``W_e − Φ``."""
        return end_to_end_matrix - self._target

    def curvature_bound(self):
        """``∇²L`` is the identity: 1."""
        return 1.0

    def value(self, end_to_end_matrix):
        r = end_to_end_matrix - self._target
        return 0.5 * np.sum(r * r, axis=(-2, -1))

    def gradient(self, end_to_end_matrix):
        return end_to_end_matrix - self._target

    def hvp(self, end_to_end_matrix, direction):
        return np.broadcast_to(direction, np.broadcast_shapes(np.shape(end_to_end_matrix), np.shape(direction))) * 1.0


class MatrixSensing(Loss):
    """Matrix sensing ``L(W_e) = (1/2m) Σ_i (⟨A_i, W_e⟩ − b_i)²`` (Arora, Cohen, Hu & Luo 2019, Sec. 2).

    ``∇L = (1/m) Σ_i r_i A_i`` with ``r_i = ⟨A_i, W_e⟩ − b_i``; ``∇²L[V] = (1/m) Σ_i ⟨A_i, V⟩ A_i``
    (constant).

    Parameters
    ----------
    A : array_like, shape (m, d_N, d_0)
        Measurement matrices.
    b : array_like, shape (m,)
        Measurements.
    """

    _width_sources = ("A", "A")
    kind = "sensing"
    is_convex = True
    has_constant_hessian = True

    def __init__(self, A, b):
        self._A = _real_array(A, "A", ndim=3)
        if self._A.shape[0] < 1:
            raise ValueError(f"A must hold at least one measurement; got A.shape={self._A.shape}")
        self._b = _real_array(b, "b", ndim=1)
        if self._b.shape[0] != self._A.shape[0]:
            raise ValueError(
                f"b must have one entry per measurement, shape ({self._A.shape[0]},); got b.shape={self._b.shape}"
            )
        _, self.output_dim, self.input_dim = self._A.shape

    @property
    def A(self) -> np.ndarray:
        """Measurement matrices, shape ``(m, d_N, d_0)`` (read-only)."""
        return self._A

    @property
    def b(self) -> np.ndarray:
        """Measurements, shape ``(m,)`` (read-only)."""
        return self._b

    @property
    def n_measurements(self) -> int:
        return self._b.shape[0]

    def curvature_bound(self):
        """``‖∇²L‖₂ = σ_max(𝒜)²/m`` with 𝒜 the ``m × d_N d_0`` matrix of the vectorized ``A_i``."""
        return float(np.linalg.norm(self._A.reshape(self.n_measurements, -1), 2)) ** 2 / self.n_measurements

    def _measure(self, matrix):
        return np.einsum("ijk,...jk->...i", self._A, matrix)

    def value(self, end_to_end_matrix):
        r = self._measure(end_to_end_matrix) - self._b
        return 0.5 / self.n_measurements * np.sum(r * r, axis=-1)

    def gradient(self, end_to_end_matrix):
        r = self._measure(end_to_end_matrix) - self._b
        return np.einsum("...i,ijk->...jk", r, self._A) / self.n_measurements

    def hvp(self, end_to_end_matrix, direction):
        dr = self._measure(np.broadcast_to(direction, np.broadcast_shapes(np.shape(end_to_end_matrix), np.shape(direction))))
        return np.einsum("...i,ijk->...jk", dr, self._A) / self.n_measurements


class MatrixCompletion(Loss):
    """Matrix completion ``L(W_e) = (1/(2|Ω|)) Σ_{(i,j)∈Ω} (W_e[i,j] − values[i,j])²``.

    The setting of Arora, Cohen, Hu & Luo 2019 (implicit regularization in deep matrix
    factorization), Sec. 2. It is exactly :class:`MatrixSensing` with the indicator measurements
    ``A_k = e_i e_jᵀ``, ``b_k = values[i, j]`` for ``(i, j) ∈ Ω`` (:meth:`as_sensing`; identity
    derived in this project and tested). ``∇L = mask ⊙ (W_e − values)/|Ω|``, ``∇²L[V] = mask ⊙ V/|Ω|``.

    Parameters
    ----------
    mask : array_like of bool, shape (d_N, d_0)
        Observed entries Ω (at least one).
    values : array_like, shape (d_N, d_0)
        Observed values; entries outside the mask are ignored and may be NaN.
    """

    _width_sources = ("mask", "mask")
    kind = "completion"
    is_convex = True
    has_constant_hessian = True

    def __init__(self, mask, values):
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"mask must be a boolean array; got mask of dtype {mask.dtype}")
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-dimensional (d_N, d_0); got mask.shape={mask.shape}")
        if not mask.any():
            raise ValueError(f"mask must observe at least one entry; got an all-False mask of shape {mask.shape}")
        values = _real_array(values, "values", ndim=2, allow_nan=True)
        if values.shape != mask.shape:
            raise ValueError(f"values must have the shape of mask {mask.shape}; got values.shape={values.shape}")
        if np.any(np.isnan(values[mask])):
            raise ValueError(f"values must be finite on the mask; got {int(np.sum(np.isnan(values[mask])))} NaN observed entries")
        self._mask = _frozen(mask.copy())
        self._values = values
        self._filled = _frozen(np.where(mask, values, 0.0))
        self._weight = _frozen(mask / float(mask.sum()))
        self.output_dim, self.input_dim = mask.shape

    @property
    def mask(self) -> np.ndarray:
        """Observed entries Ω, boolean ``(d_N, d_0)`` (read-only)."""
        return self._mask

    @property
    def values(self) -> np.ndarray:
        """Observed values, ``(d_N, d_0)``; entries outside the mask are ignored (read-only)."""
        return self._values

    @property
    def n_observed(self) -> int:
        """|Ω|."""
        return int(self._mask.sum())

    def value(self, end_to_end_matrix):
        r = end_to_end_matrix - self._filled
        return 0.5 * np.sum(self._weight * r * r, axis=(-2, -1))

    def gradient(self, end_to_end_matrix):
        return self._weight * (end_to_end_matrix - self._filled)

    def hvp(self, end_to_end_matrix, direction):
        return self._weight * np.broadcast_to(direction, np.broadcast_shapes(np.shape(end_to_end_matrix), np.shape(direction)))

    def curvature_bound(self):
        """``∇²L = mask ⊙ · /|Ω|``: norm ``1/|Ω|``."""
        return 1.0 / self.n_observed

    def as_sensing(self) -> MatrixSensing:
        """The equivalent :class:`MatrixSensing` with indicator measurements (row-major order of Ω)."""
        rows, cols = np.nonzero(self._mask)
        A = np.zeros((rows.size,) + self._mask.shape)
        A[np.arange(rows.size), rows, cols] = 1.0
        return MatrixSensing(A, self._values[rows, cols])


# ---------------------------------------------------------------------- losses of the outputs
class Regression(OutputLoss):
    """Regression loss ``ℓ(h(X)) = (1/2m)‖h(X) − Y‖_F²`` (for a linear network ``(1/2m)‖W_e X − Y‖_F²``).

    Arora, Cohen & Hazan 2018, Sec. 3. Output gradient ``(Z − Y)/m``, output Hessian ``V/m``.

    Parameters
    ----------
    X : array_like, shape (d_0, m)
    Y : array_like, shape (d_N, m)
    """

    _width_sources = ("X", "Y")
    kind = "regression"
    is_convex = True
    has_constant_hessian = True
    hessian_is_right_multiplication = True

    def __init__(self, X, Y):
        super().__init__(X)
        self._Y = _real_array(Y, "Y", ndim=2)
        if self._Y.shape[1] != self.n_samples:
            raise ValueError(
                f"Y must have shape (d_N, {self.n_samples}) (one column per column of X); got Y.shape={self._Y.shape}"
            )
        self.output_dim = self._Y.shape[0]

    @property
    def Y(self) -> np.ndarray:
        """Targets, shape ``(d_N, m)`` (read-only)."""
        return self._Y

    def residual(self, end_to_end_matrix):
        """``W_e X − Y``."""
        return end_to_end_matrix @ self._X - self._Y

    def output_curvature_bound(self):
        """Output Hessian ``V/m``: norm ``1/m``."""
        return 1.0 / self.n_samples

    def output_value(self, outputs):
        r = outputs - self._Y
        return 0.5 / self.n_samples * np.sum(r * r, axis=(-2, -1))

    def output_gradient(self, outputs):
        return (outputs - self._Y) / self.n_samples

    def output_hvp(self, outputs, direction):
        return np.broadcast_to(direction, np.broadcast_shapes(np.shape(outputs), np.shape(direction))) / self.n_samples


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1/(1 + e^{−x})`` as ``exp(−log(1 + e^{−x}))``: no overflow for any finite x."""
    return np.exp(-np.logaddexp(0.0, -x))


class Logistic(OutputLoss):
    """Logistic loss ``ℓ(h(X)) = (1/m) Σ_i log(1 + exp(−y_i h(x_i)))`` for a scalar output.

    The binary classification loss of the implicit-bias literature (Soudry et al. 2018; Ji &
    Telgarsky 2019 for deep linear networks). Computed as ``logaddexp(0, −y z)`` (no overflow).
    Output gradient ``−y σ(−y z)/m``; output Hessian ``σ(y z) σ(−y z)/m`` (y² = 1), σ the sigmoid.

    Parameters
    ----------
    X : array_like, shape (d_0, m)
    labels : array_like, shape (m,), entries −1 or +1
    """

    _width_sources = ("X", "labels (a scalar output)")
    kind = "logistic"
    is_convex = True
    output_dim = 1

    def __init__(self, X, labels):
        super().__init__(X)
        arr = np.asarray(labels)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"labels must be a real array of ±1; got labels of dtype {arr.dtype}")
        if arr.shape != (self.n_samples,):
            raise ValueError(f"labels must have shape ({self.n_samples},) (one per column of X); got labels.shape={arr.shape}")
        if not np.all((arr == 1) | (arr == -1)):
            bad = arr[(arr != 1) & (arr != -1)]
            raise ValueError(f"labels must be −1 or +1; got labels containing {bad[:3].tolist()}")
        self._labels = _frozen(arr.astype(np.float64))

    @property
    def labels(self) -> np.ndarray:
        """Labels ±1, shape ``(m,)`` (read-only)."""
        return self._labels

    def margins(self, outputs: np.ndarray) -> np.ndarray:
        """``y_i h(x_i)``, shape ``(..., m)`` from outputs ``(..., 1, m)``."""
        return outputs[..., 0, :] * self._labels

    def output_value(self, outputs):
        return np.mean(np.logaddexp(0.0, -self.margins(outputs)), axis=-1)

    def output_gradient(self, outputs):
        g = -self._labels * _sigmoid(-self.margins(outputs)) / self.n_samples
        return g[..., None, :]

    def output_hvp(self, outputs, direction):
        q = self.margins(outputs)
        curvature = _sigmoid(q) * _sigmoid(-q) / self.n_samples
        return curvature[..., None, :] * direction

    def output_third_derivative(self, outputs, u, v):
        """Closed form: ``d/dz [σ(yz)σ(−yz)] = y σ(yz)σ(−yz)(σ(−yz) − σ(yz))`` per sample, over m."""
        q = self.margins(outputs)
        s_pos, s_neg = _sigmoid(q), _sigmoid(-q)
        third = self._labels * s_pos * s_neg * (s_neg - s_pos) / self.n_samples
        return third[..., None, :] * u * v

    def output_curvature_bound(self):
        """``σ(q)σ(−q) ≤ 1/4``: norm ``1/(4m)``."""
        return 0.25 / self.n_samples


class CrossEntropy(OutputLoss):
    """Softmax cross-entropy ``ℓ(h(X)) = (1/m) Σ_i [logsumexp(h(x_i)) − h(x_i)_{y_i}]`` over d_N classes.

    Multiclass logistic regression (e.g. Lyu & Li 2020 for homogeneous networks). Stable
    log-sum-exp (shift by the column maximum). Output gradient ``(p − e_y)/m`` with
    ``p = softmax(z)``; output Hessian ``(diag p − p pᵀ) v / m`` per column.

    Parameters
    ----------
    X : array_like, shape (d_0, m)
    labels : array_like of int, shape (m,)
        Class indices in ``[0, d_N)``.
    n_classes : int, optional
        d_N; defaults to the network's output width (checked when the problem is built).
    """

    _width_sources = ("X", "n_classes")
    kind = "cross_entropy"
    is_convex = True

    def __init__(self, X, labels, *, n_classes: int | None = None):
        super().__init__(X)
        arr = np.asarray(labels)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"labels must be an integer array of class indices; got labels of dtype {arr.dtype}")
        if arr.shape != (self.n_samples,):
            raise ValueError(f"labels must have shape ({self.n_samples},) (one per column of X); got labels.shape={arr.shape}")
        if np.any(arr < 0):
            raise ValueError(f"labels must be class indices ≥ 0; got min(labels)={int(arr.min())}")
        if n_classes is not None:
            if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or n_classes < 1:
                raise ValueError(f"n_classes must be a positive int; got n_classes={n_classes!r}")
            if arr.max() >= n_classes:
                raise ValueError(f"labels must lie in [0, {n_classes}); got max(labels)={int(arr.max())}")
            self.output_dim = int(n_classes)
        self._labels = _frozen(arr.astype(np.int64))
        self._one_hot_cache: dict = {}

    @property
    def labels(self) -> np.ndarray:
        """Class indices, shape ``(m,)`` (read-only)."""
        return self._labels

    def check_widths(self, input_dim, output_dim):
        super().check_widths(input_dim, output_dim)
        if self._labels.max() >= output_dim:
            raise ValueError(
                f"labels must lie in [0, d_N) = [0, {output_dim}) for a network with {output_dim} outputs; "
                f"got max(labels)={int(self._labels.max())}"
            )

    def _one_hot(self, n_classes: int) -> np.ndarray:
        if n_classes not in self._one_hot_cache:
            if self._labels.max() >= n_classes:
                raise ValueError(f"labels must lie in [0, {n_classes}); got max(labels)={int(self._labels.max())}")
            one_hot = np.zeros((n_classes, self.n_samples))
            one_hot[self._labels, np.arange(self.n_samples)] = 1.0
            self._one_hot_cache[n_classes] = _frozen(one_hot)
        return self._one_hot_cache[n_classes]

    @staticmethod
    def _log_softmax(outputs):
        shifted = outputs - np.max(outputs, axis=-2, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=-2, keepdims=True))

    def output_value(self, outputs):
        log_p = self._log_softmax(outputs)
        return -np.sum(self._one_hot(outputs.shape[-2]) * log_p, axis=(-2, -1)) / self.n_samples

    def output_gradient(self, outputs):
        p = np.exp(self._log_softmax(outputs))
        return (p - self._one_hot(outputs.shape[-2])) / self.n_samples

    def output_curvature_bound(self):
        """Per column ``diag p − ppᵀ`` has row sums of absolute values ``2p_i(1 − p_i) ≤ 1/2``
        (Gershgorin): norm ``≤ 1/(2m)``."""
        return 0.5 / self.n_samples

    def output_hvp(self, outputs, direction):
        p = np.exp(self._log_softmax(outputs))
        return (p * direction - p * np.sum(p * direction, axis=-2, keepdims=True)) / self.n_samples


# ---------------------------------------------------------------------- user losses of W_e
class EndToEnd(Loss):
    """A user loss of the end-to-end matrix from Python callables (deep linear networks only).

    Parameters
    ----------
    value : callable
        ``value(E) -> float`` for one matrix ``E`` of shape ``(d_N, d_0)``.
    gradient : callable
        ``gradient(E) -> ndarray (d_N, d_0)``, the gradient of ``value``.
    hvp : callable, optional
        ``hvp(E, V) -> ndarray (d_N, d_0)``, ``∇²L(E)[V]``. Without it, Hessian-vector products
        are central differences of ``gradient``: ``(∇L(E + hV) − ∇L(E − hV))/(2h)`` with
        ``h = ε^{1/3} max(1, ‖E‖_F)/‖V‖_F`` (error O(h²) + O(ε/h), about 1e-11 relative; Nocedal
        & Wright 2006, Sec. 8.1), and ``hvp_is_exact`` is False so that results can say so.
    name : str
        A label for reports.
    shape : tuple of int, optional
        ``(d_N, d_0)`` the loss needs (checked against the network); free if omitted.
    convex, constant_hessian : bool
        Declare convexity (enables the λ_min bound) and a constant Hessian (quadratic loss).
    curvature_bound : float, optional
        A global bound on ``‖∇²L‖₂`` (enables the Elkabetz–Cohen certificates).

    Notes
    -----
    The callables receive one matrix at a time; batched inputs loop over the leading axes.
    ``numba.njit`` functions work as well (the numba engine may then call them in its loop).
    """

    _width_sources = ("shape", "shape")
    kind = "end_to_end"

    def __init__(
        self,
        value: Callable,
        gradient: Callable,
        hvp: Callable | None = None,
        *,
        name: str = "end_to_end",
        shape: tuple | None = None,
        convex: bool = False,
        constant_hessian: bool = False,
        curvature_bound: float | None = None,
    ):
        for label, fn in (("value", value), ("gradient", gradient)):
            if not callable(fn):
                raise TypeError(f"{label} must be callable; got {label}={fn!r}")
        if hvp is not None and not callable(hvp):
            raise TypeError(f"hvp must be callable or None; got hvp={hvp!r}")
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty str; got name={name!r}")
        for label, flag in (("convex", convex), ("constant_hessian", constant_hessian)):
            if not isinstance(flag, bool):
                raise TypeError(f"{label} must be a bool; got {label}={flag!r}")
        if shape is not None:
            if (
                len(tuple(shape)) != 2
                or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1 for d in shape)
            ):
                raise ValueError(f"shape must be a pair (d_N, d_0) of positive ints; got shape={shape!r}")
            self.output_dim, self.input_dim = (int(d) for d in shape)
        self._value, self._gradient, self._hvp = value, gradient, hvp
        self.name = name
        self.is_convex = convex
        self.has_constant_hessian = constant_hessian
        self.hvp_is_exact = hvp is not None
        if curvature_bound is not None:
            if isinstance(curvature_bound, bool) or not isinstance(curvature_bound, numbers.Real) or not (
                np.isfinite(curvature_bound) and curvature_bound >= 0
            ):
                raise ValueError(f"curvature_bound must be a finite number ≥ 0; got curvature_bound={curvature_bound!r}")
            curvature_bound = float(curvature_bound)
        self._curvature_bound = curvature_bound

    def curvature_bound(self):
        """The user's declared bound on ``‖∇²L‖₂`` (None: the certificates do not apply)."""
        return self._curvature_bound

    @property
    def value_function(self) -> Callable:
        """The user's ``value`` callable."""
        return self._value

    @property
    def gradient_function(self) -> Callable:
        """The user's ``gradient`` callable."""
        return self._gradient

    @property
    def hvp_function(self) -> Callable | None:
        """The user's ``hvp`` callable (None: finite differences)."""
        return self._hvp

    def __repr__(self) -> str:
        return f"EndToEnd(name={self.name!r}, exact_hvp={self.hvp_is_exact})"

    @staticmethod
    def _map(fn, arrays, out_scalar: bool):
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
        lead = arrays[0].shape[:-2]
        if not lead:
            res = fn(*arrays)
            return float(res) if out_scalar else np.asarray(res, dtype=np.float64)
        flat = [a.reshape((-1,) + a.shape[-2:]) for a in arrays]
        results = [fn(*(a[i] for a in flat)) for i in range(flat[0].shape[0])]
        if out_scalar:
            return np.array([float(r) for r in results]).reshape(lead)
        return np.array(results, dtype=np.float64).reshape(lead + arrays[0].shape[-2:])

    def value(self, end_to_end_matrix):
        return self._map(self._value, (end_to_end_matrix,), True)

    def gradient(self, end_to_end_matrix):
        return self._map(self._gradient, (end_to_end_matrix,), False)

    def hvp(self, end_to_end_matrix, direction):
        if self._hvp is not None:
            return self._map(self._hvp, (end_to_end_matrix, direction), False)
        return self._map(self._finite_difference_hvp, (end_to_end_matrix, direction), False)

    def _finite_difference_hvp(self, matrix, direction):
        return _central_difference(lambda e: np.asarray(self._gradient(e), dtype=np.float64), matrix, direction)
