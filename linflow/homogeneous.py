"""Homogeneous networks: fully connected ReLU / leaky-ReLU / linear networks without biases.

The network ``h(x) = W_N σ(W_{N−1} ⋯ σ(W_1 x))`` applies ``σ(z) = max(z, αz)`` (slope
``α ∈ [0, 1]``: ReLU α = 0, leaky ReLU 0 < α < 1, linear α = 1) after every layer but the last.
The loss is a loss of the outputs (:mod:`linflow.losses`): the regression loss
``f(θ) = (1/2m)‖h(X) − Y‖_F²`` (the ``X=, Y=`` shorthand), the logistic or the cross-entropy loss.

Because ``σ(z) = σ'(z) z`` the output is positively N-homogeneous in θ, and between
activation-pattern changes the network is a deep linear network per sample,
``h(x_i) = W_N D_{N−1,i} W_{N−1} ⋯ D_{1,i} W_1 x_i`` with diagonal masks ``D_{k,i} = σ'(z_{k,i})``
(theory.md §5 [checked]). Everything here follows from that:

* gradient — backpropagation of the loss's output gradient ``∇ℓ(h(X))``, with the convention
  ``σ'(0) = α`` (the left derivative; ReLU gets ``σ'(0) = 0``, as in PyTorch). The convention
  never changes the rescaling identities, because ``σ'(z) z = σ(z)`` holds at ``z = 0`` for any
  choice.
* Hessian — exists where the pattern is locally constant and equals the Hessian of the per-sample
  deep linear network with the masks frozen: the Gauss–Newton part ``Jᵀ∇²ℓ J``
  (``(1/m) Σ_i J_iᵀJ_i`` for regression) plus the second-order part ``Σ_i ⟨∇ℓ_i, ∂²ŷ_i⟩`` (all
  pairs of distinct layers). Computed here by forward-mode differentiation of backpropagation
  with the masks frozen (Pearlmutter 1994).
* boundary — a point is reported as *on an activation boundary* when the sign of some hidden
  pre-activation cannot be certified from floating-point arithmetic (see
  :meth:`HomogeneousProblem.boundary_mask`); Hessian-based methods then raise
  :class:`NonDifferentiableError` instead of returning a one-sided Hessian.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._hessian import dense_hessian
from ._validation import check_computed_finite, check_single_weights, check_widths
from .network import LayeredArchitecture
from .problem import Problem

__all__ = [
    "ACTIVATIONS",
    "HomogeneousNetwork",
    "HomogeneousProblem",
    "NonDifferentiableError",
]

ACTIVATIONS = ("relu", "leaky_relu", "linear")

#: Slope used by ``activation="leaky_relu"`` when none is given (PyTorch's default).
DEFAULT_NEGATIVE_SLOPE = 0.01

# Unit roundoff of float64 and the smallest subnormal, for the certified-sign test of
# pre-activations (Higham's model with gradual underflow: fl(x·y) = xy(1 + δ) + η).
_UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2
_SMALLEST_SUBNORMAL = float(np.nextafter(0.0, 1.0))


class NonDifferentiableError(ValueError):
    """The loss is not twice differentiable at this point (it lies on an activation boundary).

    Raised by the Hessian-based methods of :class:`HomogeneousProblem`. ``sites`` lists the
    uncertified pre-activations as ``(layer, neuron, sample)`` index triples (0-based hidden
    layer ``k`` is the output of ``weights[k]``).
    """

    def __init__(self, message: str, sites: np.ndarray):
        super().__init__(message)
        self.sites = sites


def _transpose(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


@dataclass(frozen=True)
class HomogeneousNetwork(LayeredArchitecture):
    """A fully connected network ``x ↦ W_N σ(W_{N−1} ⋯ σ(W_1 x))`` without biases.

    Parameters
    ----------
    widths : sequence of int, length N + 1 ≥ 2
        Layer widths ``(d_0, …, d_N)``; ``weights[j].shape == (d_{j+1}, d_j)`` as for
        :class:`linflow.DeepLinearNetwork`.
    activation : {"relu", "leaky_relu", "linear"}
        ``σ(z) = max(z, αz)`` with slope α = 0, the given ``negative_slope``, or 1.
    negative_slope : float, optional
        α for ``"leaky_relu"``, in ``[0, 1]`` (default 0.01). For ``"relu"`` only 0 and for
        ``"linear"`` only 1 are accepted (the slopes they mean).

    Notes
    -----
    This is deliberately *not* a subclass of :class:`~linflow.DeepLinearNetwork`: code written for
    deep linear networks (end-to-end matrices) must not silently accept a ReLU network. Both
    inherit the same architecture API from :class:`linflow.network.LayeredArchitecture`
    (``widths``, ``depth``, ``shapes``, ``n_params``, ``check``, ``flatten``, ``unflatten``), and :class:`linflow.Problem` accepts both; with a
    nonlinear activation it builds a :class:`HomogeneousProblem`.

    Examples
    --------
    >>> import numpy as np
    >>> net = HomogeneousNetwork((2, 3, 1), activation="relu")
    >>> net.depth, net.n_params, net.negative_slope, net.is_linear
    (2, 9, 0.0, False)
    >>> w = (np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]), np.array([[1.0, 1.0, 1.0]]))
    >>> net.output(w, np.array([[1.0], [-2.0]]))
    array([[2.]])
    """

    widths: tuple
    activation: str
    negative_slope: float

    def __init__(self, widths: Sequence[int], activation: str = "relu", *, negative_slope: float | None = None):
        object.__setattr__(self, "widths", check_widths(widths))
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got activation={activation!r}")
        fixed = {"relu": 0.0, "linear": 1.0}
        if negative_slope is not None:
            if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
                raise TypeError(f"negative_slope must be a real number; got negative_slope={negative_slope!r}")
            negative_slope = float(negative_slope)
            if not 0.0 <= negative_slope <= 1.0:  # also rejects NaN
                raise ValueError(f"negative_slope must lie in [0, 1]; got negative_slope={negative_slope!r}")
            if activation in fixed and negative_slope != fixed[activation]:
                raise ValueError(
                    f"negative_slope is only meaningful for activation='leaky_relu' ({activation!r} has "
                    f"slope {fixed[activation]}); got negative_slope={negative_slope!r}"
                )
        slope = fixed.get(activation, DEFAULT_NEGATIVE_SLOPE if negative_slope is None else negative_slope)
        object.__setattr__(self, "activation", activation)
        object.__setattr__(self, "negative_slope", float(slope))

    @property
    def is_linear(self) -> bool:
        """True when σ is the identity (``activation="linear"`` or leaky slope 1)."""
        return self.negative_slope == 1.0

    @property
    def problem_class(self):
        """The problem class this network needs: :class:`HomogeneousProblem` for a nonlinear
        activation, None (the plain :class:`~linflow.Problem`) for a linear one."""
        return None if self.is_linear else HomogeneousProblem

    @property
    def n_hidden_units(self) -> int:
        """Number of hidden neurons ``d_1 + … + d_{N−1}``."""
        return int(sum(self.widths[1:-1]))

    # ------------------------------------------------------------------ the function h(θ; X)
    def activate(self, z: np.ndarray) -> np.ndarray:
        """``σ(z) = σ'(z) z``: z where ``z > 0``, αz elsewhere."""
        return self.activation_derivative(z) * z

    def activation_derivative(self, z: np.ndarray) -> np.ndarray:
        """``σ'(z)``: 1 where ``z > 0``, α elsewhere (convention ``σ'(0) = α``, 0 for ReLU)."""
        return np.where(z > 0, 1.0, self.negative_slope)

    def _forward(self, weights, X, frozen=None):
        """Inputs of every layer (``acts[0] = X``), hidden masks ``σ'(z_k)``, hidden ``z_k``, output.

        ``frozen`` (optional) gives the hidden masks instead of computing them from the signs:
        the polynomial that agrees with the network inside that activation pattern.
        """
        acts, masks, pre = [X], [], []
        a = X
        for k, w in enumerate(weights):
            z = w @ a
            if k == len(weights) - 1:
                return acts, masks, pre, z
            mask = self.activation_derivative(z) if frozen is None else frozen[k]
            a = mask * z
            pre.append(z)
            masks.append(mask)
            acts.append(a)
        raise AssertionError("unreachable: a network has at least one layer")

    def pre_activations(self, weights, X) -> tuple:
        """Hidden pre-activations ``z_k = W_k a_{k−1}``, each ``(d_k, m)`` (batched: ``(B, d_k, m)``)."""
        weights = self.check(weights)
        return tuple(self._forward(weights, np.asarray(X, dtype=np.float64))[2])

    def output(self, weights, X) -> np.ndarray:
        """Network output ``h(X)`` of shape ``(d_N, m)`` (batched weights: ``(B, d_N, m)``)."""
        weights = self.check(weights)
        return self._forward(weights, np.asarray(X, dtype=np.float64))[3]

    @staticmethod
    def _backward(weights, acts, masks, delta_out):
        """Backpropagate the output cotangent; returns parameter gradients and layer cotangents."""
        n = len(weights)
        deltas = [None] * n
        deltas[n - 1] = delta_out
        for k in range(n - 2, -1, -1):
            deltas[k] = masks[k] * (_transpose(weights[k + 1]) @ deltas[k + 1])
        grads = tuple(deltas[k] @ _transpose(acts[k]) for k in range(n))
        return grads, deltas

    @staticmethod
    def _tangent(weights, acts, masks, deltas, v, d_delta_out):
        """Directional derivative of :meth:`_backward` along ``v`` with the masks frozen.

        ``d_delta_out`` maps the output tangent ``dŷ`` to the tangent of the output cotangent
        (``dŷ/m`` for the loss, 0 for a fixed cotangent). Returns the tangent of every gradient.
        """
        n = len(weights)
        d_acts = [np.zeros_like(acts[0])]
        dz = None
        for k in range(n):
            dz = v[k] @ acts[k] + weights[k] @ d_acts[k]
            if k < n - 1:
                d_acts.append(masks[k] * dz)
        d_delta = d_delta_out(dz)
        out = [None] * n
        for k in range(n - 1, -1, -1):
            out[k] = d_delta @ _transpose(acts[k]) + deltas[k] @ _transpose(d_acts[k])
            if k > 0:
                d_delta = masks[k - 1] * (_transpose(v[k]) @ deltas[k] + _transpose(weights[k]) @ d_delta)
        return tuple(out)

    @staticmethod
    def _pre_activation_tangent(weights, acts, masks, v) -> list:
        """Directional derivatives ``dz_k`` of the hidden pre-activations along ``v`` (masks frozen)."""
        out = []
        da = np.zeros_like(acts[0])
        for k in range(len(weights) - 1):
            dz = v[k] @ acts[k] + weights[k] @ da
            out.append(dz)
            da = masks[k] * dz
        return out

    def output_vjp(self, weights, X, cotangent) -> tuple:
        """Gradient of ``g(θ) = ⟨c, h(X)⟩`` (a vector–Jacobian product), shaped like ``weights``.

        ``g`` is positively N-homogeneous: ``⟨∇g, θ⟩ = N g`` and ``⟨∇_{W_k} g, W_k⟩ = g``
        (theory.md §5 [checked]; Euler's theorem for homogeneous functions).
        """
        weights = self.check(weights)
        X = np.asarray(X, dtype=np.float64)
        acts, masks, _, _ = self._forward(weights, X)
        return self._backward(weights, acts, masks, np.asarray(cotangent, dtype=np.float64))[0]

    def output_hvp(self, weights, X, cotangent, direction) -> tuple:
        """``∇²g(θ) v`` for ``g = ⟨c, h(X)⟩`` with the activation pattern of θ frozen.

        Within a pattern ``∇²g(θ) θ = (N − 1) ∇g(θ)`` (theory.md §5 [checked]).
        """
        weights = self.check(weights)
        v = self.check(direction, "direction")
        X = np.asarray(X, dtype=np.float64)
        acts, masks, _, _ = self._forward(weights, X)
        _, deltas = self._backward(weights, acts, masks, np.asarray(cotangent, dtype=np.float64))
        return self._tangent(weights, acts, masks, deltas, v, lambda dz: np.zeros_like(dz))


class HomogeneousProblem(Problem):
    """A ReLU / leaky-ReLU network with a loss of its outputs, e.g. ``f(θ) = (1/2m)‖h(X) − Y‖_F²``.

    Built by ``linflow.Problem(network, X=..., Y=...)`` when ``network`` is a
    :class:`HomogeneousNetwork` with a nonlinear activation (a linear one gives a plain
    :class:`~linflow.Problem`, which also accepts a whitened ``target``).

    Parameters
    ----------
    network : HomogeneousNetwork
    loss : linflow.losses.Loss, optional
        A loss of the outputs (``losses.Regression``, ``Logistic``, ``CrossEntropy``).
    X : array_like, shape (d_0, m)
        Inputs, one column per sample (shorthand with ``Y`` for ``losses.Regression(X, Y)``).
    Y : array_like, shape (d_N, m)
        Targets.

    Notes
    -----
    Differentiability. ``loss`` and ``gradient`` are defined everywhere: the gradient uses the
    convention ``σ'(0) = α``, i.e. on a boundary it is the gradient of the polynomial of the
    inactive side (the true gradient inside every pattern, a one-sided one on boundaries).
    ``hvp``, ``hessian``, ``sharpness`` and ``min_eigenvalue`` need the activation pattern to be
    locally constant; at a point where :meth:`on_boundary` is true they raise
    :class:`NonDifferentiableError` (a one-sided Hessian would be silently wrong). The private
    ``_hvp`` skips that check (inner loops; it returns the Hessian of the frozen pattern).

    The end-to-end methods of :class:`~linflow.Problem` (``residual``, ``end_to_end_loss``,
    ``end_to_end_gradient``) have no meaning without an end-to-end matrix and raise TypeError.

    Examples
    --------
    >>> import numpy as np
    >>> from linflow import HomogeneousNetwork, Problem
    >>> net = HomogeneousNetwork((1, 2, 1), activation="relu")
    >>> prob = Problem(net, X=[[1.0, -1.0]], Y=[[1.0, 1.0]])
    >>> type(prob).__name__
    'HomogeneousProblem'
    >>> w = (np.array([[1.0], [-1.0]]), np.array([[1.0, 1.0]]))
    >>> prob.loss(w)  # h(x) = relu(x) + relu(−x) = |x| fits both samples
    0.0
    >>> prob.on_boundary(w)
    False
    """

    _defines_loss_model = True
    flow_integrator = "pattern"

    def __init__(self, network: HomogeneousNetwork, loss=None, *, target=None, X=None, Y=None):
        if not isinstance(network, HomogeneousNetwork):
            raise TypeError(f"network must be a HomogeneousNetwork; got network={network!r}")
        if target is not None:
            raise ValueError(
                f"a {network.activation} network has no whitened end-to-end loss: give X and Y (the "
                f"regression loss (1/2m)‖h(X) − Y‖_F²) or a loss of the outputs; got target"
            )
        super().__init__(network, loss, X=X, Y=Y)

    def _check_loss(self, loss) -> None:
        if not loss.acts_on_outputs:
            raise ValueError(
                f"a {self.network.activation} network has no end-to-end matrix, so it needs a loss of the outputs "
                f"(losses.Regression, Logistic or CrossEntropy); got loss={loss!r}"
            )

    @property
    def activation_slope(self) -> float:
        """Slope α of ``σ(z) = max(z, αz)`` (0 for ReLU)."""
        return self.network.negative_slope

    @property
    def is_activated(self) -> bool:
        return True

    @property
    def has_end_to_end(self) -> bool:
        return False

    @property
    def curvature_bounds_apply(self) -> bool:
        """The per-sample pattern bounds (``linflow/_pattern_curvature.py``) need a bound on the
        per-sample output Hessian (``loss.output_curvature_bound()``)."""
        return self.loss_function.output_curvature_bound() is not None

    @property
    def lambda_min_bound_applies(self) -> bool:
        return self.curvature_bounds_apply and self.loss_function.is_convex

    def __repr__(self) -> str:
        net = self.network
        slope = f", negative_slope={net.negative_slope}" if net.activation == "leaky_relu" else ""
        return f"HomogeneousProblem(widths={net.widths}, activation={net.activation!r}{slope}, loss={self.loss_function!r})"

    # ------------------------------------------------------------------ no end-to-end matrix
    def _no_end_to_end(self, name):
        raise TypeError(
            f"{name} needs an end-to-end matrix, which a {self.network.activation} network does not "
            f"have; use loss(weights), gradient(weights) or output(weights)"
        )

    def residual(self, end_to_end_matrix):
        self._no_end_to_end("residual")

    def end_to_end_loss(self, end_to_end_matrix):
        self._no_end_to_end("end_to_end_loss")

    def end_to_end_gradient(self, end_to_end_matrix):
        self._no_end_to_end("end_to_end_gradient")

    # ------------------------------------------------------------------ loss and gradient
    def output(self, weights) -> np.ndarray:
        """Network output ``h(X)``, shape ``(d_N, m)`` (batched: ``(B, d_N, m)``)."""
        return self.network._forward(self._check(weights), self.X)[3]

    def output_residual(self, weights) -> np.ndarray:
        """``h(X) − Y`` (batched weights broadcast); column i is ``∇_ŷ ℓ_i`` for ``ℓ_i = ½‖ŷ_i − y_i‖²``."""
        self._require_squared("output_residual")
        return self.output(weights) - self.Y

    def _loss(self, weights):
        value = self.loss_function.output_value(self.network._forward(weights, self.X)[3])
        return float(value) if np.ndim(value) == 0 else value

    def _loss_and_gradient(self, weights):
        net = self.network
        acts, masks, _, out = net._forward(weights, self.X)
        grads, _ = net._backward(weights, acts, masks, self.loss_function.output_gradient(out))
        value = self.loss_function.output_value(out)
        return (float(value) if np.ndim(value) == 0 else value), grads

    def _gradient(self, weights) -> tuple:
        return self._loss_and_gradient(weights)[1]

    def _frozen_gradient(self, weights, masks) -> tuple:
        """Gradient of the polynomial that equals f inside the activation pattern ``masks``."""
        net = self.network
        acts, masks, _, out = net._forward(weights, self.X, frozen=masks)
        return net._backward(weights, acts, masks, self.loss_function.output_gradient(out))[0]

    def gradient(self, weights) -> tuple:
        """Gradient by backpropagation, ``∂f/∂W_k = δ_k a_{k−1}ᵀ``, with ``σ'(0) = α``.

        ``δ_N = ∇ℓ(h(X))`` (``(h(X) − Y)/m`` for regression), ``δ_k = σ'(z_k) ⊙ W_{k+1}ᵀ δ_{k+1}``. Batched weights supported.
        """
        weights = self._check(weights)
        with np.errstate(over="ignore", invalid="ignore"):
            grads = self._gradient(weights)
        check_computed_finite(grads, "the gradient", weights)
        return grads

    # ------------------------------------------------------------------ activation pattern
    def activation_pattern(self, weights) -> tuple:
        """Which hidden units are active: ``z_k > 0`` for each hidden layer, boolean ``(d_k, m)``.

        This is the pattern the gradient uses (``σ'(z) = 1`` exactly where it is True). A linear
        network in disguise (leaky slope 1) never reaches this class. Batched weights give
        ``(B, d_k, m)``.
        """
        weights = self._check(weights)
        return tuple(z > 0 for z in self.network._forward(weights, self.X)[2])

    def boundary_mask(self, weights) -> tuple:
        """Hidden pre-activations whose sign is not certified: boolean ``(d_k, m)`` per hidden layer.

        Entry ``(j, i)`` of layer k is flagged when ``|z̃| ≤ e`` and the layer input ``a_{k−1,:,i}``
        is not identically zero, where ``z̃`` is the computed pre-activation and ``e`` a rigorous
        bound on its floating-point error: ``e_k = γ_{d_{k−1}+1} |W_k||ã_{k−1}| + |W_k| e'_{k−1}``
        with ``γ_n = nu/(1 − nu)`` (Higham, *Accuracy and Stability of Numerical Algorithms*,
        2nd ed., §3.5: ``|fl(Ab) − Ab| ≤ γ_n|A||b|``), plus ``n`` times the smallest subnormal
        for underflow, and ``e'`` the error carried through σ
        (1-Lipschitz; slope-α entries add one rounding). Outside the flagged set the computed
        pattern is the exact pattern of the given floating-point weights, so the loss is a
        polynomial near θ. A zero input column (or a sample whose layer input is exactly zero
        because every unit below is certified inactive) stays zero nearby, so it is not flagged.
        """
        weights = self._check(weights)
        return self._boundary_mask(weights)

    def _boundary_mask(self, weights) -> tuple:
        return tuple((np.abs(z) <= bound) & live for z, bound, live in self._rounding_bounds(weights))

    def _rounding_bounds(self, weights) -> list:
        """Per hidden layer: computed ``z``, a bound on its rounding error, and the live samples."""
        a = self.X
        err = np.zeros_like(a)
        out = []
        for w in weights[:-1]:
            n = w.shape[-1] + 1  # +1: the slope multiplication of the previous layer, folded in
            gamma = n * _UNIT_ROUNDOFF / (1 - n * _UNIT_ROUNDOFF)
            abs_w = np.abs(w)
            z = w @ a
            # + n·η: products that underflow carry an absolute error ≤ η (gradual underflow).
            bound = gamma * (abs_w @ np.abs(a)) + abs_w @ err + n * _SMALLEST_SUBNORMAL
            live = np.any(a != 0, axis=-2, keepdims=True)
            out.append((z, bound, live))
            flagged = (np.abs(z) <= bound) & live
            mask = self.network.activation_derivative(z)
            a = mask * z
            # Certified entries move with slope σ' ≤ 1; flagged ones by at most |Δz| (1-Lipschitz).
            err = np.where(flagged, 1.0, mask) * bound
        return out

    def boundary_sites(self, weights) -> np.ndarray:
        """``(layer, neuron, sample)`` triples of :meth:`boundary_mask` (single weights), shape ``(n, 3)``."""
        weights = self._check(weights)
        if weights[0].ndim != 2:
            raise ValueError(f"boundary_sites takes single weights; got weights[0].shape={weights[0].shape}")
        rows = [np.column_stack((np.full(int(m.sum()), k),) + np.nonzero(m)) for k, m in enumerate(self._boundary_mask(weights))]
        return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 3), dtype=np.int64)

    def on_boundary(self, weights):
        """True if some hidden pre-activation's sign is uncertified (see :meth:`boundary_mask`).

        Batched weights give a boolean array ``(B,)``.
        """
        weights = self._check(weights)
        lead = weights[0].shape[:-2]
        flags = np.zeros(lead, dtype=bool)
        for m in self._boundary_mask(weights):
            flags = flags | np.any(m, axis=(-2, -1))
        return bool(flags) if flags.ndim == 0 else flags

    def _require_twice_differentiable(self, weights) -> None:
        if weights[0].ndim != 2:
            raise ValueError(f"Hessian methods take single weights; got weights[0].shape={weights[0].shape}")
        sites = self.boundary_sites(weights)
        if len(sites):
            layer, neuron, sample = sites[0]
            raise NonDifferentiableError(
                f"the loss is not twice differentiable here: {len(sites)} hidden pre-activation(s) lie on an "
                f"activation boundary (sign not certified in floating point), e.g. layer {layer}, neuron "
                f"{neuron}, sample {sample}; the Hessian exists only inside an activation pattern",
                sites,
            )

    # ------------------------------------------------------------------ second order
    def _hvp(self, weights, v) -> tuple:
        net = self.network
        acts, masks, _, out = net._forward(weights, self.X)
        loss = self.loss_function
        _, deltas = net._backward(weights, acts, masks, loss.output_gradient(out))
        return net._tangent(weights, acts, masks, deltas, v, lambda dz: loss.output_hvp(out, dz))

    def hvp(self, weights, direction):
        """Hessian-vector product ``∇²f(θ) v`` inside the activation pattern of θ.

        Forward-mode differentiation of backpropagation with the masks frozen: Gauss–Newton part
        ``(1/m) Jᵀ J v`` plus the second-order part ``(1/m) Σ_i ⟨r_i, ∂²ŷ_i[v, ·]⟩``.

        Raises
        ------
        NonDifferentiableError
            If θ lies on an activation boundary (:meth:`on_boundary`).
        """
        self._require_twice_differentiable(check_single_weights(weights, self.network.shapes))
        return super().hvp(weights, direction)

    def hessian(self, weights) -> np.ndarray:
        """Dense Hessian ``(P, P)`` inside the activation pattern of θ (flat parameter order).

        All P columns come from one batched :meth:`hvp` along the basis vectors; symmetrized.

        Raises
        ------
        NonDifferentiableError
            If θ lies on an activation boundary.
        """
        weights = check_single_weights(weights, self.network.shapes)
        self._require_twice_differentiable(weights)
        with np.errstate(over="ignore", invalid="ignore"):
            h = dense_hessian(self, weights)
        check_computed_finite(h, "the Hessian", weights)
        return h

    def _extreme_eigenvalue(self, weights, which: str) -> float:
        self._require_twice_differentiable(check_single_weights(weights, self.network.shapes))
        return super()._extreme_eigenvalue(weights, which)

    # ------------------------------------------------------------------ invariants and bounds
    @staticmethod
    def _balancedness(weights) -> list:
        """Per-neuron balances (diagonals of ``W_{k+1}ᵀW_{k+1} − W_kW_kᵀ``): the GD drift monitor."""
        from .rescaling import neuron_balance

        return neuron_balance(weights)

    def ball_in_pattern(self, weights, epsilon: float) -> bool:
        """True if the whole ball ``B_ε(θ)`` lies in the activation pattern of θ (certified by
        propagating ‖Δz‖ bounds layer by layer; see ``linflow/_pattern_curvature.py``)."""
        from ._pattern_curvature import ball_in_pattern

        return ball_in_pattern(self, weights, epsilon)

    def pattern_radius(self, weights) -> float:
        """Largest certified ε with :meth:`ball_in_pattern` (0 on a boundary, inf without hidden layers)."""
        from ._pattern_curvature import pattern_radius

        return pattern_radius(self, weights)
