"""Top eigenpairs of the (preconditioned) Hessian ``D ∇²f D`` for the central flow.

``D = diag(d)`` with ``d = √p`` and ``p`` the per-coordinate effective step (``η`` for GD,
``η/(√ν + ε)`` for RMSProp), so ``D H D`` has the edge of stability at eigenvalue 2
(Cohen et al. 2025, §5: preconditioned sharpness). Dense ``eigh`` of the analytic Hessian for
small P; LOBPCG on batched Hessian-vector products, warm-started from the previous
eigenvectors, for large P (ARPACK ``eigsh`` as a fallback when LOBPCG does not converge).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from ._hessian import DENSE_MAX_PARAMS, dense_hessian
from ._hessian import block_hvp as _block_hvp

__all__ = ["DENSE_MAX_PARAMS", "dense_hessian", "top_eigenpairs"]


def top_eigenpairs(problem, weights, d: np.ndarray, m: int, *, hessian=None, start=None, seed=0):
    """The ``m`` largest eigenpairs of ``D H D`` (descending).

    Parameters
    ----------
    problem, weights : the objective and a single network
    d : ndarray (P,)
        Diagonal of ``D`` (all entries equal for GD and Scalar RMSProp).
    m : int
        Number of eigenpairs (clipped to P).
    hessian : ndarray (P, P), optional
        Dense Hessian; when given, ``eigh`` is used.
    start : ndarray (P, r), optional
        Warm start for LOBPCG (previous eigenvectors); padded with seeded random columns.

    Returns
    -------
    values : ndarray (m,), descending
    vectors : ndarray (P, m), orthonormal columns
    """
    p = d.size
    m = min(m, p)
    if hessian is not None:
        vals, vecs = np.linalg.eigh(d[:, None] * hessian * d[None, :])
        return vals[::-1][:m], vecs[:, ::-1][:, :m]

    def matmat(block):
        block = np.asarray(block, dtype=np.float64).reshape(p, -1)
        return d[:, None] * _block_hvp(problem, weights, d[:, None] * block)

    op = spla.LinearOperator((p, p), matvec=lambda x: matmat(x).ravel(), matmat=matmat, dtype=np.float64)
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((p, m))
    if start is not None and start.shape[0] == p:
        r = min(start.shape[1], m)
        x0[:, :r] = start[:, :r]
    try:
        # tol: residual norm ‖Ĥx − λx‖ ≤ 1e-9·scale; eigenvalues then carry O(tol²) error.
        vals, vecs = spla.lobpcg(op, x0, largest=True, tol=1e-9, maxiter=200)
        order = np.argsort(vals)[::-1]
        vals, vecs = vals[order], vecs[:, order]
        resid = np.linalg.norm(matmat(vecs) - vecs * vals, axis=0)
        if np.all(resid <= 1e-7 * max(1.0, abs(vals[0]))):
            return vals, vecs
    except (np.linalg.LinAlgError, ValueError):
        pass
    vals, vecs = spla.eigsh(op, k=m, which="LA", v0=x0[:, 0], tol=1e-12)
    order = np.argsort(vals)[::-1]
    return vals[order], vecs[:, order]
