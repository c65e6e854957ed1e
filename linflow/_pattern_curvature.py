"""Curvature certificates for ReLU / leaky-ReLU networks inside one activation pattern.

The deep-linear bounds of :mod:`linflow.curvature` (theory.md §2 [checked]) applied per sample
(theory.md §5 [checked]). Inside an activation pattern, sample i sees the deep linear network
``P_i = W_N D_{N−1,i} W_{N−1} ⋯ D_{1,i} W_1`` with diagonal masks ``‖D_{k,i}‖₂ ≤ 1`` (α ≤ 1),
and ``f = (1/m) Σ_i ℓ_i``, ``ℓ_i = ½‖P_i x_i − y_i‖²``, so with ``a_k = ‖W_k‖₂ + ε``:

* ``∇²ℓ_i[v, v] = ‖dP_i[v] x_i‖² + ⟨r_i x_iᵀ, d²P_i[v, v]⟩``; the first term lies in
  ``[0, ‖x_i‖² Σ_j Π_{k≠j} a_k² ‖v‖²]``, the second in ``±(N − 1)‖r_i‖‖x_i‖ max_{p<q} Π_{k∉{p,q}} a_k ‖v‖²``
  (``|⟨G, M⟩| ≤ ‖G‖₂‖M‖_*``, the masks have norm ≤ 1, ``2Σ_{p<q}‖V_p‖‖V_q‖ ≤ (N − 1)‖v‖²``);
* over the ball ``B_ε(θ)`` the residual grows by at most ``Δŷ_i``, propagated layer by layer:
  ``‖Δz_k‖ ≤ ε(‖a_{k−1}‖ + Δ_{k−1}) + ‖W_k‖₂ Δ_{k−1}``, ``Δ_k ≤ max_j σ'(z_{k,j}) ‖Δz_k‖``.

Hence, for every θ' in ``B_ε(θ)`` *that lies in the activation pattern of θ*,
``λ_min(∇²f(θ')) ≥ −(N − 1) max_{p<q} Π_{k∉{p,q}} a_k · (1/m) Σ_i (‖r_i‖ + Δŷ_i)‖x_i‖`` and
``‖∇²f(θ')‖₂ ≤ (1/m) Σ_i ‖x_i‖² · Σ_j Π_{k≠j} a_k² + (the same second-order term)``. At ε = 0
the first is theory.md §5's bound, with ``‖∇_ŷℓ_i‖·‖x_i‖`` in place of ``‖∇L‖₂``.

Any loss of the outputs that is a sum over samples with ``‖∇²_ŷ ℓ_i‖ ≤ c`` (the loss's
``output_curvature_bound()``: 1/m regression, 1/(4m) logistic, 1/(2m) cross-entropy) gets the same
bounds with ``(1/m)‖r_i‖`` replaced by ``‖∇_ŷ ℓ_i‖``, the residual growth ``(1/m)Δŷ_i`` by
``cΔŷ_i`` (∇_ŷ ℓ_i is c-Lipschitz) and ``(1/m)‖x_i‖²`` by ``c‖x_i‖²`` (derived in this project);
the λ_min bound needs a convex ℓ_i (all three are), so that the Gauss–Newton term is PSD.

:func:`ball_in_pattern` certifies that the whole ball lies in one pattern: every hidden
pre-activation keeps its sign because ``|z̃| − e > ‖Δz‖`` (e the floating-point error bound of
:meth:`HomogeneousProblem.boundary_mask`); a sample whose layer input is identically zero on the
ball (zero input, or every unit below inactive under ReLU) has no kink there.
"""

from __future__ import annotations

import numpy as np

from ._ball_bounds import jacobian_bound, pair_products


def _max_pair_product(a: np.ndarray) -> float:
    return float(pair_products(a))


def _column_norms(a: np.ndarray) -> np.ndarray:
    """Euclidean norms of the columns, scaled first so that tiny entries do not underflow."""
    scale = np.max(np.abs(a), axis=0)
    safe = np.where(scale > 0, scale, 1.0)
    return scale * np.sqrt(np.sum((a / safe) ** 2, axis=0))


class _Ball:
    """Everything at θ that the ball bounds need, computed once; :meth:`at` evaluates them for ε."""

    def __init__(self, problem, weights):
        net = problem.network
        self.norms = np.array([np.linalg.norm(w, 2) for w in weights])
        self.x_norm = _column_norms(problem.X)
        self.layers = []  # per hidden layer: |z| − rounding bound, exact-zero input, max σ', ‖a_k‖
        for z, err, live in problem._rounding_bounds(weights):
            mask = net.activation_derivative(z)
            self.layers.append((np.abs(z) - err, ~live[0], np.max(mask, axis=0), _column_norms(mask * z)))
        # Per sample: ‖∇_ŷ ℓ_i‖ at θ and c ≥ ‖∇²_ŷ ℓ_i‖ everywhere (the output Hessian is block
        # diagonal over samples, so the loss's global bound bounds every block); for regression
        # ‖r_i‖/m and 1/m.
        loss = problem.loss_function
        self.curvature = loss.output_curvature_bound()
        self.gradient_norm = _column_norms(loss.output_gradient(problem.output(weights)))

    def at(self, epsilon: float):
        """``(a, second_order, input_curvature, contained)`` for the ball ``B_ε(θ)``.

        ``second_order = Σ_i (‖g_i‖ + cΔŷ_i)‖x_i‖``; ``input_curvature = c Σ_i ‖x_i‖²`` (for
        regression ``(1/m) Σ_i (‖r_i‖ + Δŷ_i)‖x_i‖`` and ``(1/m) Σ_i ‖x_i‖²``).
        """
        act_norm = self.x_norm         # ‖a_{k−1,i}‖ at θ
        delta = np.zeros_like(act_norm)  # bound on ‖a_{k−1,i}(θ') − a_{k−1,i}(θ)‖
        contained = True
        for k, (margin, zero_input, max_slope, next_norm) in enumerate(self.layers):
            dz = epsilon * (act_norm + delta) + self.norms[k] * delta
            identically_zero = zero_input & (delta == 0)  # layer input is exactly 0 on the ball
            contained = contained and bool(np.all((margin > dz) | identically_zero))
            act_norm, delta = next_norm, max_slope * dz
        out_change = epsilon * (act_norm + delta) + self.norms[-1] * delta
        c = self.curvature
        if c is None:  # no curvature bound for this loss: only `contained` is meaningful
            return self.norms + epsilon, float("nan"), float("nan"), contained
        second_order = float(np.sum((self.gradient_norm + c * out_change) * self.x_norm))
        return self.norms + epsilon, second_order, c * float(np.sum(self.x_norm**2)), contained


def _ball_quantities(problem, weights, epsilon: float):
    """:meth:`_Ball.at` for one ε."""
    return _Ball(problem, weights).at(epsilon)


def _checked(problem, weights, epsilon):
    weights = problem._check(weights)
    if weights[0].ndim != 2:
        raise ValueError(f"weights must be a single network (2-D arrays); got weights[0].shape={weights[0].shape}")
    if isinstance(epsilon, bool) or not np.isscalar(epsilon) or not np.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"epsilon must be a finite number ≥ 0; got epsilon={epsilon!r}")
    return weights, float(epsilon)


def lambda_min_lower_bound(problem, weights, *, epsilon: float = 0.0) -> float:
    """``−(N − 1) max_{p<q} Π_{k∉{p,q}} a_k · (1/m) Σ_i (‖r_i‖ + Δŷ_i)‖x_i‖`` (module docstring).

    A lower bound on ``λ_min(∇²f(θ'))`` for θ' in ``B_ε(θ)`` inside the pattern of θ.
    """
    weights, epsilon = _checked(problem, weights, epsilon)
    a, second, _, _ = _ball_quantities(problem, weights, epsilon)
    return -(len(a) - 1) * _max_pair_product(a) * second


def smoothness_bound(problem, weights, *, epsilon: float = 0.0) -> float:
    """``(1/m) Σ‖x_i‖² Σ_j Π_{k≠j} a_k² + (N − 1) max Π a_k (1/m) Σ (‖r_i‖ + Δŷ_i)‖x_i‖`` ≥ ``‖∇²f‖₂``."""
    weights, epsilon = _checked(problem, weights, epsilon)
    a, second, input_curvature, _ = _ball_quantities(problem, weights, epsilon)
    return input_curvature * float(jacobian_bound(a)) + (len(a) - 1) * _max_pair_product(a) * second


def ball_in_pattern(problem, weights, epsilon: float) -> bool:
    """True if every θ' with ``‖θ' − θ‖ ≤ ε`` has the activation pattern of θ (certified)."""
    weights, epsilon = _checked(problem, weights, epsilon)
    return _ball_quantities(problem, weights, epsilon)[3]


def pattern_radius(problem, weights, *, rtol: float = 1e-12) -> float:
    """Largest ε (to ``rtol`` relative, by bisection, from below) with :func:`ball_in_pattern` true.

    0.0 on an activation boundary; ``inf`` when no hidden pre-activation can change sign (depth
    1, or every sample's input is zero).
    """
    weights, _ = _checked(problem, weights, 0.0)
    ball = _Ball(problem, weights)
    if not ball.at(0.0)[3]:
        return 0.0
    if all(np.all(zero_input) for _, zero_input, _, _ in ball.layers):
        return float("inf")  # no hidden layer, or no live input anywhere: no kink can be reached
    hi = 1.0
    while ball.at(hi)[3]:
        hi *= 2.0
        if hi > 1e300:
            return float("inf")
    lo = 0.0
    # Containment is monotone in ε (every Δ grows with ε): bisect to rtol relative, or until
    # the interval cannot shrink (a radius below the smallest subnormal is returned as lo = 0).
    for _ in range(2100):
        mid = 0.5 * (lo + hi)
        if hi - lo <= rtol * hi or mid in (lo, hi):
            break
        if ball.at(mid)[3]:
            lo = mid
        else:
            hi = mid
    return lo
