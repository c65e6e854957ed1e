"""Training problem of a deep linear network: a network and a loss object, with the loss of
the weights, its gradient, Hessian and curvature.

``f(θ) = L(W_e(θ))`` with ``W_e = W_N ⋯ W_1`` and ``L`` any :mod:`linflow.losses` object (for
the built-in losses the normalizations carry the ½: whitened ``½‖W_e − Φ‖_F²``, data
``(1/2m)‖W_e X − Y‖_F²``). Writing ``D = ∇L(W_e)``, the chain rule through ``W_e = A_j W_j B_j``
with partial products ``A_j = W_N ⋯ W_{j+1}`` and ``B_j = W_{j−1} ⋯ W_1`` gives the analytic
gradient ``∂f/∂W_j = A_jᵀ D B_jᵀ`` (Arora, Cohen & Hazan 2018, eq. (5)) and the Hessian-vector
product below, which uses the loss's own ``hvp`` (no finite differences unless the loss is an
:class:`~linflow.losses.EndToEnd` without one).

Which problem class a network needs is the network's answer (``network.problem_class``):
``Problem(network, loss)`` builds it, so no code here knows the activated subclass. Each problem
answers its own questions (``activation_slope``, ``is_activated``, ``has_end_to_end``,
``flow_integrator``, ``curvature_bounds_apply``, ``lambda_min_bound_applies``).

Subclasses that override the loss internals (``end_to_end_loss``, ``end_to_end_gradient``,
``residual``, ``loss``, ``gradient``, ``hvp`` …) are refused at construction with a
``TypeError``: the engines, flows and Hessian tools read the loss object, not those methods, so
an override would change some results and not others. A loss of your own is a
:class:`linflow.losses.EndToEnd` (or a :class:`~linflow.losses.Loss` subclass) passed to
``Problem(network, loss)``.
"""

from __future__ import annotations

import numpy as np

from ._hessian import dense_hessian, extreme_eigenvalue
from ._validation import check_computed_finite, check_finite_array, check_single_weights
from .losses import Loss, Regression, Whitened
from .network import (
    LayeredArchitecture,
    _balancedness,
    _end_to_end,
    flatten,
    prefix_suffix_products,
    unflatten,
)

__all__ = ["Problem"]

#: Methods that together define the loss; a subclass may not override them (module docstring).
LOSS_MODEL_METHODS = (
    "residual", "end_to_end_loss", "end_to_end_gradient", "loss", "gradient", "loss_and_gradient", "hvp",
    "hessian", "_loss", "_gradient", "_loss_and_gradient", "_hvp", "_loss_hessian_apply",
)


def _transpose(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _refuse_loss_overrides(cls) -> None:
    """TypeError if ``cls`` overrides a loss method below the class that defines its loss model."""
    for klass in cls.__mro__:
        if klass.__dict__.get("_defines_loss_model"):
            return
        overridden = [name for name in LOSS_MODEL_METHODS if name in klass.__dict__]
        if overridden:
            raise TypeError(
                f"{cls.__name__} overrides {', '.join(overridden)} of linflow.Problem; the descent engines, flows "
                f"and Hessian tools read the loss object, so such an override would be ignored by some of them. "
                f"Pass the loss instead: Problem(network, linflow.losses.EndToEnd(value, gradient, hvp)) "
                f"(or a linflow.losses.Loss subclass)"
            )


def _resolve_loss(network, loss, target, X, Y) -> Loss:
    """The loss object from ``loss`` or the shorthands ``target=`` / ``X=, Y=``."""
    d0 = network.widths[0]
    if loss is not None:
        if target is not None or X is not None or Y is not None:
            raise ValueError("give either a loss object or the shorthands target= / X=, Y=, not both; got loss and "
                             + ", ".join(n for n, v in (("target", target), ("X", X), ("Y", Y)) if v is not None))
        if not isinstance(loss, Loss):
            raise TypeError(f"loss must be a linflow.losses.Loss (e.g. losses.MatrixCompletion); got loss={loss!r}")
        return loss
    if target is not None:
        if X is not None or Y is not None:
            raise ValueError("give either target or (X, Y), not both; got target and X/Y")
        return Whitened(target)
    if X is None or Y is None:
        raise ValueError(
            f"give either target or both X and Y (or a loss object); got X={'None' if X is None else 'array'}, "
            f"Y={'None' if Y is None else 'array'}"
        )
    shape = np.shape(X)
    if len(shape) != 2 or shape[0] != d0 or shape[1] < 1:
        raise ValueError(f"X must have shape ({d0}, m) with m ≥ 1; got X.shape={shape}")
    return Regression(X, Y)


class Problem:
    """A network together with its training loss ``f(θ) = L(W_e(θ))``.

    Parameters
    ----------
    network : DeepLinearNetwork (or a HomogeneousNetwork)
        The architecture ``(d_0, …, d_N)``. ``Problem(network, …)`` builds the problem class the
        network asks for (``network.problem_class``; the ReLU problem for a ReLU network).
    loss : linflow.losses.Loss, optional
        The loss, e.g. ``losses.MatrixCompletion(mask, values)``; stored as ``loss_function``.
    target : array_like, shape (d_N, d_0), optional
        Shorthand for ``losses.Whitened(target)``: ``½‖W_e − Φ‖_F²``.
    X, Y : array_like, shapes (d_0, m) and (d_N, m), optional
        Shorthand for ``losses.Regression(X, Y)``: ``(1/2m)‖W_e X − Y‖_F²``.

    Exactly one of ``loss``, ``target`` or the pair ``(X, Y)`` must be given.

    Raises
    ------
    TypeError
        ``network`` or ``loss`` of the wrong type; a subclass overriding loss methods.
    ValueError
        Data that do not fit the network (the message names the argument and its shape).

    Notes
    -----
    All methods accept single weights (arrays ``(d_{j+1}, d_j)``) and, where stated, batched
    weights with a leading trajectory axis.

    Examples
    --------
    >>> import numpy as np
    >>> from linflow import DeepLinearNetwork, Problem, losses
    >>> prob = Problem(DeepLinearNetwork((1, 1)), target=[[2.0]])
    >>> prob.loss((np.array([[1.0]]),))
    0.5
    >>> completion = losses.MatrixCompletion([[True, False]], [[1.0, np.nan]])
    >>> Problem(DeepLinearNetwork((2, 3, 1)), completion).loss_function.kind
    'completion'
    """

    #: This class defines a consistent loss model (see ``_refuse_loss_overrides``).
    _defines_loss_model = True
    #: Name of the gradient-flow integrator ``integrate_flow`` uses for this problem.
    flow_integrator = "smooth"

    def __new__(cls, network=None, *args, **kwargs):
        built = cls
        if cls is Problem and network is not None:
            built = getattr(network, "problem_class", None) or Problem
        _refuse_loss_overrides(built)
        return super().__new__(built)

    def __init__(self, network, loss: Loss | None = None, *, target=None, X=None, Y=None):
        if not isinstance(network, LayeredArchitecture):
            raise TypeError(f"network must be a DeepLinearNetwork or HomogeneousNetwork; got network={network!r}")
        self.network = network
        loss = _resolve_loss(network, loss, target, X, Y)
        self._check_loss(loss)
        loss.check_widths(network.widths[0], network.widths[-1])
        self.loss_function = loss

    def _check_loss(self, loss: Loss) -> None:
        """Deep linear networks take every loss (each output loss is a loss of ``W_e X``)."""

    # ------------------------------------------------------------------ what the problem answers
    @property
    def activation_slope(self) -> float:
        """Slope α of ``σ(z) = max(z, αz)`` between layers: 1 for a deep linear network."""
        return 1.0

    @property
    def is_activated(self) -> bool:
        """True when a nonlinear activation sits between the layers (no end-to-end matrix)."""
        return False

    @property
    def has_end_to_end(self) -> bool:
        """True when ``f`` is a function of the end-to-end matrix ``W_e`` (deep linear networks)."""
        return True

    @property
    def curvature_bounds_apply(self) -> bool:
        """True when the Elkabetz–Cohen smoothness bound β applies: ``∇L`` is globally Lipschitz
        with a known constant (``loss.curvature_bound()`` is not None)."""
        return self.loss_function.curvature_bound() is not None

    @property
    def lambda_min_bound_applies(self) -> bool:
        """True when the λ_min lower bound applies: it drops the Gauss–Newton term
        ``Jᵀ∇²L J ⪰ 0``, which needs a convex L (Elkabetz & Cohen 2021, Lemma 1's setting)."""
        return self.loss_function.is_convex and self.curvature_bounds_apply

    @property
    def hvp_is_exact(self) -> bool:
        """False when Hessian-vector products (and so Hessians, sharpness, λ_min, the central flow)
        come from finite differences: an :class:`~linflow.losses.EndToEnd` loss without ``hvp``."""
        return self.loss_function.hvp_is_exact

    # ------------------------------------------------------------------ old attributes (squared losses)
    @property
    def is_whitened(self) -> bool:
        """True for the whitened loss ``½‖W_e − Φ‖_F²``."""
        return self.loss_function.kind == "whitened"

    @property
    def target(self):
        """Φ of the whitened loss (None for other losses)."""
        return self.loss_function.target if self.is_whitened else None

    @property
    def X(self):
        """Inputs ``(d_0, m)`` of a loss of the outputs (None for losses of ``W_e`` only)."""
        return self.loss_function.X if self.loss_function.acts_on_outputs else None

    @property
    def Y(self):
        """Targets ``(d_N, m)`` of the regression loss (None otherwise)."""
        return self.loss_function.Y if self.loss_function.kind == "regression" else None

    @property
    def n_samples(self):
        """Number of samples m of a loss of the outputs (None for losses of ``W_e`` only)."""
        return self.loss_function.n_samples if self.loss_function.acts_on_outputs else None

    def _require_squared(self, name: str) -> None:
        if self.loss_function.kind not in ("whitened", "regression"):
            raise TypeError(
                f"{name} is defined for the whitened and regression losses; this problem's loss is "
                f"{self.loss_function!r} (use problem.loss_function)"
            )

    @property
    def input_covariance(self) -> np.ndarray:
        """``C_xx = XXᵀ/m`` (the identity for the whitened loss); ``∇²L[E] = E C_xx``."""
        self._require_squared("input_covariance")
        if self.is_whitened:
            return np.eye(self.network.widths[0])
        return self.X @ self.X.T / self.n_samples

    @property
    def cross_covariance(self) -> np.ndarray:
        """``C_yx = YXᵀ/m`` (Φ for the whitened loss); ``∇L(W_e) = W_e C_xx − C_yx``."""
        self._require_squared("cross_covariance")
        if self.is_whitened:
            return self.target
        return self.Y @ self.X.T / self.n_samples

    def __repr__(self) -> str:
        return f"{type(self).__name__}(widths={self.network.widths}, loss={self.loss_function!r})"

    # ------------------------------------------------------------------ end-to-end loss
    def residual(self, end_to_end_matrix: np.ndarray) -> np.ndarray:
        """``W_e − Φ`` (whitened) or ``W_e X − Y`` (regression); batched inputs broadcast."""
        self._require_squared("residual")
        return self.loss_function.residual(end_to_end_matrix)  # type: ignore[attr-defined]

    def end_to_end_loss(self, end_to_end_matrix: np.ndarray):
        """``L(W_e)``; a batch of end-to-end matrices gives an array of losses."""
        return self.loss_function.value(end_to_end_matrix)

    def end_to_end_gradient(self, end_to_end_matrix: np.ndarray) -> np.ndarray:
        """``∇L(W_e)`` (the loss object's gradient)."""
        return self.loss_function.gradient(end_to_end_matrix)

    def _loss_hessian_apply(self, direction: np.ndarray, end_to_end_matrix: np.ndarray) -> np.ndarray:
        """``∇²L(W_e)[E]`` (the loss object's HVP)."""
        return self.loss_function.hvp(end_to_end_matrix, direction)

    # ------------------------------------------------------------------ weight-space objective
    #: Weight-space invariants of GF whose GD drift the engines report (Arora, Cohen & Hazan 2018,
    #: Thm 1); the homogeneous subclass monitors the per-neuron diagonals instead (Du, Hu & Lee 2018).
    _balancedness = staticmethod(_balancedness)

    def _check(self, weights):
        return self.network.check(weights)

    _prefix_suffix = staticmethod(prefix_suffix_products)

    def loss(self, weights):
        """Loss ``f(θ)``; batched weights give an array of shape ``(B,)``.

        Examples
        --------
        >>> import numpy as np
        >>> from linflow import DeepLinearNetwork, Problem
        >>> p = Problem(DeepLinearNetwork((2, 2)), target=np.eye(2))
        >>> float(p.loss((np.zeros((2, 2)),)))
        1.0
        """
        return self._loss(self._check(weights))

    def _loss(self, weights):
        """Unvalidated :meth:`loss` (for recorded paths and inner loops)."""
        value = self.end_to_end_loss(_end_to_end(weights))
        return float(value) if np.ndim(value) == 0 else value

    def gradient(self, weights) -> tuple:
        """Gradient ``∂f/∂W_j = A_jᵀ ∇L(W_e) B_jᵀ`` as a tuple shaped like ``weights``.

        Batched weights are supported. Formula: chain rule through ``W_e = A_j W_j B_j``
        (Arora, Cohen & Hazan 2018, eq. (5)).
        """
        weights = self._check(weights)
        with np.errstate(over="ignore", invalid="ignore"):
            grads = self._gradient(weights)
        check_computed_finite(grads, "the gradient", weights)
        return grads

    def _gradient(self, weights) -> tuple:
        prefix, suffix = self._prefix_suffix(weights)
        d = self.end_to_end_gradient(prefix[-1])
        return tuple(_transpose(suffix[j]) @ d @ _transpose(prefix[j]) for j in range(len(weights)))

    def loss_and_gradient(self, weights):
        """``(f(θ), ∇f(θ))`` sharing the partial products; batched weights supported."""
        return self._loss_and_gradient(self._check(weights))

    def _loss_and_gradient(self, weights):
        """Unvalidated :meth:`loss_and_gradient` for inner loops (weights may be non-finite)."""
        prefix, suffix = self._prefix_suffix(weights)
        e2e = prefix[-1]
        d = self.end_to_end_gradient(e2e)
        grads = tuple(_transpose(suffix[j]) @ d @ _transpose(prefix[j]) for j in range(len(weights)))
        value = self.end_to_end_loss(e2e)
        return (float(value) if np.ndim(value) == 0 else value), grads

    def hvp(self, weights, direction):
        """Hessian-vector product ``∇²f(θ) v`` (analytic, single weights).

        Parameters
        ----------
        weights : tuple of ndarray
        direction : tuple of ndarray shaped like ``weights``, or flat vector of length P

        Returns
        -------
        Same form as ``direction``.

        Notes
        -----
        Differentiating ``G_j = A_jᵀ D B_jᵀ`` along ``V`` gives
        ``dA_jᵀ D B_jᵀ + A_jᵀ ∇²L[dW_e] B_jᵀ + A_jᵀ D dB_jᵀ`` with
        ``dW_e = Σ_k A_k V_k B_k`` and the analogous sums for ``dA_j``, ``dB_j``.
        """
        weights = check_single_weights(weights, self.network.shapes)
        flat = isinstance(direction, np.ndarray) and direction.ndim == 1
        if flat:
            v = unflatten(check_finite_array(direction, "direction", shape=(self.network.n_params,)), self.network.shapes)
        else:
            v = check_single_weights(direction, self.network.shapes, name="direction")
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._hvp(weights, v)
        check_computed_finite(out, "the Hessian-vector product", weights)
        return flatten(out) if flat else out

    def _hvp(self, weights, v) -> tuple:
        n = len(weights)
        prefix, suffix = self._prefix_suffix(weights)
        d = self.end_to_end_gradient(prefix[-1])
        # d_prefix[j] = d(B_j)[V], d_suffix[j] = d(A_j)[V]
        d_prefix = [np.zeros_like(prefix[0])]
        for j in range(n):
            d_prefix.append(v[j] @ prefix[j] + weights[j] @ d_prefix[j])
        d_suffix = [None] * n
        d_suffix[n - 1] = np.zeros_like(suffix[n - 1])
        for j in range(n - 2, -1, -1):
            d_suffix[j] = d_suffix[j + 1] @ weights[j + 1] + suffix[j + 1] @ v[j + 1]
        dd = self._loss_hessian_apply(d_prefix[-1], prefix[-1])
        out = []
        for j in range(n):
            a_t, b_t = _transpose(suffix[j]), _transpose(prefix[j])
            term = _transpose(d_suffix[j]) @ d @ b_t + a_t @ dd @ b_t + a_t @ d @ _transpose(d_prefix[j])
            out.append(term)
        return tuple(out)

    def hessian(self, weights) -> np.ndarray:
        """Dense Hessian ``∇²f(θ)`` of shape ``(P, P)`` in the flat parameter order.

        Columns are the analytic :meth:`hvp` along the basis directions, symmetrized
        (``linflow._hessian``, the one Hessian builder of the package).
        """
        weights = check_single_weights(weights, self.network.shapes)
        with np.errstate(over="ignore", invalid="ignore"):
            h = dense_hessian(self, weights)
        check_computed_finite(h, "the Hessian", weights)
        return h

    def _require_single(self, weights) -> None:
        if weights[0].ndim != 2:
            raise ValueError(f"Hessian methods take single weights; got weights[0].shape={weights[0].shape}")

    def _extreme_eigenvalue(self, weights, which: str) -> float:
        weights = check_single_weights(weights, self.network.shapes)
        return extreme_eigenvalue(self, weights, which)

    def sharpness(self, weights) -> float:
        """Sharpness ``S = λ_max(∇²f(θ))`` (dense ``eigvalsh`` for P ≤ 600, Lanczos beyond).

        Single weights only: batched weights raise ``ValueError`` (loop over the trajectories).
        """
        return self._extreme_eigenvalue(weights, "LA")

    def min_eigenvalue(self, weights) -> float:
        """``λ_min(∇²f(θ))``, whose negative part drives GD away from GF (Elkabetz & Cohen 2021).

        Single weights only: batched weights raise ``ValueError``.
        """
        return self._extreme_eigenvalue(weights, "SA")
