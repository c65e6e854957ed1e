"""Training objective of a deep linear network: loss, gradient, Hessian and curvature.

Two losses, both with the ½ (theory.md, "Conventions"):

* whitened: ``f(θ) = ½‖W_e − Φ‖_F²``;
* data:     ``f(θ) = (1/2m)‖W_e X − Y‖_F²`` with ``X ∈ R^{d_0×m}``, ``Y ∈ R^{d_N×m}``.

Writing ``R`` for the residual (``W_e − Φ``, resp. ``W_e X − Y``) and ``D = ∇L(W_e)``
(``R``, resp. ``R Xᵀ/m``), the chain rule through ``W_e = A_j W_j B_j`` with partial products
``A_j = W_N ⋯ W_{j+1}`` and ``B_j = W_{j−1} ⋯ W_1`` gives the analytic gradient
``∂f/∂W_j = A_jᵀ D B_jᵀ`` and the Hessian-vector product used here (no finite differences).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from ._validation import check_computed_finite, check_finite_array, check_single_weights
from .network import DeepLinearNetwork, _balancedness, _end_to_end, flatten, prefix_suffix_products, unflatten

__all__ = ["Problem"]

# Dense eigendecomposition up to this many parameters; Lanczos on HVPs beyond.
_DENSE_EIG_MAX_PARAMS = 600


def _transpose(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


class Problem:
    """A deep linear network together with its squared loss.

    Parameters
    ----------
    network : DeepLinearNetwork
        The architecture ``(d_0, …, d_N)``.
    target : array_like, shape (d_N, d_0), optional
        Whitened target Φ; the loss is ``½‖W_e − Φ‖_F²``.
    X : array_like, shape (d_0, m), optional
        Inputs (one column per sample), given together with ``Y``.
    Y : array_like, shape (d_N, m), optional
        Outputs; the loss is ``(1/2m)‖W_e X − Y‖_F²``.

    Exactly one of ``target`` or the pair ``(X, Y)`` must be given.

    Notes
    -----
    All methods accept single weights (arrays ``(d_{j+1}, d_j)``) and, where stated, batched
    weights with a leading trajectory axis.

    Examples
    --------
    >>> import numpy as np
    >>> from linflow import DeepLinearNetwork, Problem
    >>> prob = Problem(DeepLinearNetwork((1, 1)), target=[[2.0]])
    >>> prob.loss((np.array([[1.0]]),))
    0.5
    """

    def __new__(cls, network=None, *args, **kwargs):
        # A ReLU / leaky-ReLU network gets its own loss: dispatch to HomogeneousProblem.
        if cls is Problem and network is not None:
            from .homogeneous import HomogeneousNetwork, HomogeneousProblem

            if isinstance(network, HomogeneousNetwork) and not network.is_linear:
                cls = HomogeneousProblem
        return super().__new__(cls)

    def __init__(self, network: DeepLinearNetwork, *, target=None, X=None, Y=None):
        from .homogeneous import HomogeneousNetwork

        if not isinstance(network, (DeepLinearNetwork, HomogeneousNetwork)):
            raise TypeError(f"network must be a DeepLinearNetwork or HomogeneousNetwork; got network={network!r}")
        self.network = network
        d0, dn = network.widths[0], network.widths[-1]
        if target is not None:
            if X is not None or Y is not None:
                raise ValueError("give either target or (X, Y), not both; got target and X/Y")
            self.target = check_finite_array(target, "target", shape=(dn, d0))
            self.X = self.Y = None
            self.n_samples = None
        else:
            if X is None or Y is None:
                raise ValueError(
                    f"give either target or both X and Y; got X={'None' if X is None else 'array'}, "
                    f"Y={'None' if Y is None else 'array'}"
                )
            X = check_finite_array(X, "X", ndim=2)
            if X.shape[0] != d0 or X.shape[1] < 1:
                raise ValueError(f"X must have shape ({d0}, m) with m ≥ 1; got X.shape={X.shape}")
            self.X = X
            self.Y = check_finite_array(Y, "Y", shape=(dn, X.shape[1]))
            self.target = None
            self.n_samples = X.shape[1]

    # ------------------------------------------------------------------ basic properties
    @property
    def is_whitened(self) -> bool:
        """True for the whitened loss ``½‖W_e − Φ‖_F²``."""
        return self.target is not None

    @property
    def input_covariance(self) -> np.ndarray:
        """``C_xx = XXᵀ/m`` (the identity for the whitened loss); ``∇²L[E] = E C_xx``."""
        if self.is_whitened:
            return np.eye(self.network.widths[0])
        return self.X @ self.X.T / self.n_samples

    @property
    def cross_covariance(self) -> np.ndarray:
        """``C_yx = YXᵀ/m`` (Φ for the whitened loss); ``∇L(W_e) = W_e C_xx − C_yx``."""
        if self.is_whitened:
            return self.target
        return self.Y @ self.X.T / self.n_samples

    def __repr__(self) -> str:
        kind = "target" if self.is_whitened else f"data, m={self.n_samples}"
        return f"Problem(widths={self.network.widths}, {kind})"

    # ------------------------------------------------------------------ end-to-end loss
    def residual(self, end_to_end_matrix: np.ndarray) -> np.ndarray:
        """``W_e − Φ`` (whitened) or ``W_e X − Y`` (data); batched inputs broadcast."""
        if self.is_whitened:
            return end_to_end_matrix - self.target
        return end_to_end_matrix @ self.X - self.Y

    def end_to_end_loss(self, end_to_end_matrix: np.ndarray):
        """``L(W_e)``; a batch of end-to-end matrices gives an array of losses."""
        r = self.residual(end_to_end_matrix)
        scale = 0.5 if self.is_whitened else 0.5 / self.n_samples
        return scale * np.sum(r * r, axis=(-2, -1))

    def end_to_end_gradient(self, end_to_end_matrix: np.ndarray) -> np.ndarray:
        """``∇L(W_e)``: ``W_e − Φ`` or ``(W_e X − Y)Xᵀ/m``."""
        r = self.residual(end_to_end_matrix)
        if self.is_whitened:
            return r
        return r @ self.X.T / self.n_samples

    def _loss_hessian_apply(self, direction: np.ndarray) -> np.ndarray:
        """``∇²L[E] = E C_xx`` (the identity map for the whitened loss)."""
        if self.is_whitened:
            return direction
        return direction @ self.input_covariance

    # ------------------------------------------------------------------ weight-space objective
    #: Weight-space invariants whose GD drift the engines report (theory.md §3); the
    #: homogeneous subclass monitors the per-neuron diagonals instead (theory.md §5).
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
        dd = self._loss_hessian_apply(d_prefix[-1])
        out = []
        for j in range(n):
            a_t, b_t = _transpose(suffix[j]), _transpose(prefix[j])
            term = _transpose(d_suffix[j]) @ d @ b_t + a_t @ dd @ b_t + a_t @ d @ _transpose(d_prefix[j])
            out.append(term)
        return tuple(out)

    def hessian(self, weights) -> np.ndarray:
        """Dense Hessian ``∇²f(θ)`` of shape ``(P, P)`` in the flat parameter order.

        Built column by column from the analytic :meth:`hvp` and symmetrized (the two halves
        agree to rounding; symmetrizing makes ``eigh`` see an exactly symmetric matrix).
        """
        weights = check_single_weights(weights, self.network.shapes)
        p = self.network.n_params
        basis = np.eye(p)
        with np.errstate(over="ignore", invalid="ignore"):
            cols = [flatten(self._hvp(weights, unflatten(basis[i], self.network.shapes))) for i in range(p)]
        h = np.array(cols).T
        check_computed_finite(h, "the Hessian", weights)
        return 0.5 * (h + h.T)

    def _extreme_eigenvalue(self, weights, which: str) -> float:
        weights = check_single_weights(weights, self.network.shapes)
        p = self.network.n_params
        if p <= _DENSE_EIG_MAX_PARAMS:
            eig = np.linalg.eigvalsh(self.hessian(weights))
            return float(eig[-1] if which == "LA" else eig[0])

        def matvec(x):
            with np.errstate(over="ignore", invalid="ignore"):
                out = flatten(self._hvp(weights, unflatten(np.ravel(x), self.network.shapes)))
            check_computed_finite(out, "the Hessian-vector product", weights)
            return out

        op = spla.LinearOperator((p, p), matvec=matvec, dtype=np.float64)
        # Fixed start vectors: eigsh would otherwise draw from global random state.
        starts = (np.ones(p) / np.sqrt(p), np.random.default_rng(0).standard_normal(p))
        for v0 in starts:
            try:
                return float(spla.eigsh(op, k=1, which=which, v0=v0, tol=1e-12)[0][0])
            except spla.ArpackError:
                # ARPACK stops with "starting vector is zero" when H v0 = 0. After a second,
                # Gaussian start also fails, H v0 = 0 for a generic v0 (probability 0 unless
                # H = 0): the Hessian vanishes (e.g. at θ = 0 with depth ≥ 3), λ = 0.
                if v0 is starts[-1] and np.linalg.norm(matvec(v0)) == 0.0:
                    return 0.0
        raise RuntimeError(f"ARPACK found no {which} eigenvalue of the Hessian from two start vectors")

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

