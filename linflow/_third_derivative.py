"""Third derivative of a deep linear network's loss, contracted twice: ``∇_θ(uᵀ∇²f(θ) v)``.

The central flow (Cohen et al. 2025, §3) needs the gradient of the entries
``u_iᵀ H(θ) u_j`` of the Hessian restricted to the critical eigenvectors. For
``f(θ) = L(W_e(θ))`` and the multilinear end-to-end map ``W_e = W_N ⋯ W_1``, the chain rule
gives, for directions u, v, z,

    D³f[u, v, z] = D³L[DW_e[u], DW_e[v], DW_e[z]]
                 + ∇²L[D²W_e[u, z], DW_e[v]] + ∇²L[DW_e[u], D²W_e[v, z]]
                 + ∇²L[DW_e[z], D²W_e[u, v]] + ⟨∇L, D³W_e[u, v, z]⟩ ,

(the first term vanishes for the quadratic losses)

and ``∇_θ(uᵀHv) = D³f[u, v, ·]`` (symmetry of third derivatives). Writing
``W_e = A_j W_j B_j`` (``A_j = W_N⋯W_{j+1}``, ``B_j = W_{j−1}⋯W_1``) and ``dA_j[u]``,
``d²A_j[u, v]`` (resp. ``dB``, ``d²B``) for the directional derivatives of those partial
products, the gradient with respect to layer j is

    A_jᵀ ℒ(E_uv) B_jᵀ
    + dA_j[u]ᵀ ℒ(E_v) B_jᵀ + A_jᵀ ℒ(E_v) dB_j[u]ᵀ
    + dA_j[v]ᵀ ℒ(E_u) B_jᵀ + A_jᵀ ℒ(E_u) dB_j[v]ᵀ
    + d²A_j[u,v]ᵀ D B_jᵀ + dA_j[u]ᵀ D dB_j[v]ᵀ + dA_j[v]ᵀ D dB_j[u]ᵀ + A_jᵀ D d²B_j[u,v]ᵀ

with ``D = ∇L(W_e)``, ``E_u = DW_e[u]``, ``E_uv = D²W_e[u, v]``, ``ℒ(E) = ∇²L(W_e)[E]`` (the
loss object's ``hvp``; ``E C_xx`` for regression) and, for a loss whose Hessian is not constant,
``D³L[E_u, E_v, ·]`` added to ``ℒ(E_uv)`` (the loss's ``third_derivative``: closed form for the
logistic loss, central differences of its HVP otherwise). Derived here; validated against central
differences of :meth:`linflow.Problem.hvp` and against SymPy (tests/test_third_derivative.py).

Every function accepts *batched directions*: arrays with a leading axis K (one direction per
row), the weights being a single network; the output then has a leading axis too.
"""

from __future__ import annotations

import numpy as np

from .network import flatten, prefix_suffix_products, unflatten

__all__ = ["third_derivative_contraction", "hessian_entry_gradients", "require_end_to_end"]


def _t(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _first_order(weights, prefix, suffix, u):
    """``dB_j[u]`` (j = 0..N) and ``dA_j[u]`` (j = 0..N−1) for batched directions u."""
    n = len(weights)
    batch = u[0].shape[:-2]
    d_prefix = [np.zeros(batch + prefix[0].shape)]
    for j in range(n):
        d_prefix.append(u[j] @ prefix[j] + weights[j] @ d_prefix[j])
    d_suffix = [None] * n
    d_suffix[n - 1] = np.zeros(batch + suffix[n - 1].shape)
    for j in range(n - 2, -1, -1):
        d_suffix[j] = d_suffix[j + 1] @ weights[j + 1] + suffix[j + 1] @ u[j + 1]
    return d_prefix, d_suffix


def require_end_to_end(problem) -> None:
    """TypeError unless ``f`` is a function of the end-to-end matrix (the formula's setting)."""
    if not problem.has_end_to_end:
        raise TypeError(
            f"third derivatives (and the central flow) need a deep linear network, whose loss is a function of "
            f"W_e; got problem={problem!r}"
        )


def _contract(problem, weights, prefix, suffix, first_u, first_v, u, v) -> tuple:
    """Layer-wise ``∇_θ(uᵀHv)`` given first-order data of u and v (same leading batch axis)."""
    n = len(weights)
    dbu, dau = first_u
    dbv, dav = first_v
    batch = u[0].shape[:-2]
    # Second-order partial products d²B_j[u, v] and d²A_j[u, v].
    d2b = [np.zeros(batch + prefix[0].shape)]
    for j in range(n):
        d2b.append(u[j] @ dbv[j] + v[j] @ dbu[j] + weights[j] @ d2b[j])
    d2a = [None] * n
    d2a[n - 1] = np.zeros(batch + suffix[n - 1].shape)
    for j in range(n - 2, -1, -1):
        d2a[j] = d2a[j + 1] @ weights[j + 1] + dau[j + 1] @ v[j + 1] + dav[j + 1] @ u[j + 1]
    e2e = prefix[-1]
    loss = problem.loss_function
    d = loss.gradient(e2e)
    lu = loss.hvp(e2e, dbu[-1])  # ℒ(E_u)
    lv = loss.hvp(e2e, dbv[-1])  # ℒ(E_v)
    luv = loss.hvp(e2e, d2b[-1])  # ℒ(E_uv)
    if not loss.has_constant_hessian:
        luv = luv + loss.third_derivative(e2e, dbu[-1], dbv[-1])  # D³L[E_u, E_v, ·]
    out = []
    for j in range(n):
        a_t, b_t = _t(suffix[j]), _t(prefix[j])
        term = (
            a_t @ luv @ b_t
            + _t(dau[j]) @ lv @ b_t + a_t @ lv @ _t(dbu[j])
            + _t(dav[j]) @ lu @ b_t + a_t @ lu @ _t(dbv[j])
            + _t(d2a[j]) @ d @ b_t + _t(dau[j]) @ d @ _t(dbv[j])
            + _t(dav[j]) @ d @ _t(dbu[j]) + a_t @ d @ _t(d2b[j])
        )
        out.append(term)
    return tuple(out)


def _as_layers(problem, direction):
    """Flat ``(P,)`` / ``(K, P)`` arrays or tuples of layer arrays → tuple of layer arrays."""
    if isinstance(direction, np.ndarray):
        return unflatten(direction, problem.network.shapes), True
    return tuple(np.asarray(d, dtype=np.float64) for d in direction), False


def third_derivative_contraction(problem, weights, u, v):
    """``∇_θ(uᵀ ∇²f(θ) v) = D³f(θ)[u, v, ·]`` for a deep linear network (analytic).

    Parameters
    ----------
    problem : linflow.Problem
        A deep linear network and any loss of ``W_e`` (``problem.loss_function``).
    weights : tuple of ndarray
        A single network, ``weights[j].shape == (d_{j+1}, d_j)``.
    u, v : ndarray (P,) or (K, P), or tuples of layer arrays (optionally with a leading K axis)
        Directions; a leading axis K contracts K pairs ``(u_k, v_k)`` at once.

    Returns
    -------
    Same form as ``u``: a flat vector (or ``(K, P)`` array) or a tuple of layer arrays.

    Notes
    -----
    Formula in the module docstring (chain rule through the multilinear map ``W_e``; ``D³L = 0``
    for the quadratic losses). Used by the central flow, Cohen et al. 2025 (ICLR), §3,
    where ``∇_θ(u_iᵀHu_j)`` enters both the drift and the complementarity problem.

    Examples
    --------
    >>> import numpy as np
    >>> from linflow import DeepLinearNetwork, Problem
    >>> prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[1.0]])
    >>> w = (np.array([[2.0]]), np.array([[3.0]]))
    >>> e1 = np.array([1.0, 0.0])
    >>> third_derivative_contraction(prob, w, e1, e1)  # ∇(H_11) = ∇(w_2²) = (0, 2w_2)
    array([0., 6.])
    """
    require_end_to_end(problem)
    weights = problem.network.check(weights)
    if weights[0].ndim != 2:
        raise ValueError(f"weights must be a single network; got weights[0].shape={weights[0].shape}")
    uu, flat = _as_layers(problem, u)
    vv, _ = _as_layers(problem, v)
    prefix, suffix = prefix_suffix_products(weights)
    out = _contract(
        problem, weights, prefix, suffix,
        _first_order(weights, prefix, suffix, uu), _first_order(weights, prefix, suffix, vv), uu, vv,
    )
    return flatten(out) if flat else out


def hessian_entry_gradients(problem, weights, vectors: np.ndarray) -> np.ndarray:
    """All ``g_ij = ∇_θ(u_iᵀ H u_j)`` for the columns ``u_i`` of ``vectors``.

    Parameters
    ----------
    problem : linflow.Problem
    weights : tuple of ndarray (single network; not validated: inner-loop helper)
    vectors : ndarray, shape (P, k)

    Returns
    -------
    ndarray, shape (k, k, P)
        Symmetric in the first two axes (``g_ij = g_ji``); only ``i ≤ j`` are computed.
    """
    require_end_to_end(problem)
    p, k = vectors.shape
    out = np.zeros((k, k, p))
    if k == 0:
        return out
    iu, ju = np.triu_indices(k)
    layers = unflatten(vectors.T, problem.network.shapes)  # batch axis = eigenvector index
    prefix, suffix = prefix_suffix_products(weights)
    db, da = _first_order(weights, prefix, suffix, layers)

    def pick(seq, idx):
        return [None if s is None else s[idx] for s in seq]

    u = tuple(w[iu] for w in layers)
    v = tuple(w[ju] for w in layers)
    grads = _contract(
        problem, weights, prefix, suffix,
        (pick(db, iu), pick(da, iu)), (pick(db, ju), pick(da, ju)), u, v,
    )
    flat = flatten(grads)  # (n_pairs, P)
    out[iu, ju] = flat
    out[ju, iu] = flat
    return out
