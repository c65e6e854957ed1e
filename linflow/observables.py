"""Observables recorded along descent trajectories (``simulate_descent(..., observe=...)``).

:data:`OBSERVABLES` is the registry: one declared tuple of names, each computed by
:func:`compute_observable` on a batch of points (weights with a leading axis, NaN rows for
steps after a trajectory diverged, which give NaN). Importing this module has no side effects.

**Inside the engine.** On the default CPU engine's 8-lane path (``backend="numba"``; deep
linear networks with the whitened, regression, sensing and completion losses) ``loss``,
``grad_norm`` and ``sharpness`` are computed inside the compiled loop at each observed step,
without recording weights: the sharpness by restarted Lanczos on exact Hessian-vector
products, warm-started from the trajectory's previous Ritz vector, until the residual bound
``‖Hy − θy‖ ≤ tol·|θ|`` (``observe_options={"sharpness": {"tol": ...}}``, default
:data:`SHARPNESS_TOL`); algorithm, guarantee and its limit (an eigenvalue crossing the tracked
one) in :mod:`linflow._curvature_numba`. The residual bounds come back in
``result.extra["sharpness_residual"]`` and the Hessian-vector products per trajectory in
``result.extra["hvp_count"]``. The CUDA kernels (``backend="cuda"``) compute the same three by
the same algorithm for the same problems (:func:`linflow._descent_cuda.in_engine_observables`:
not where a wide network's Lanczos scratch exceeds a block's shared memory). ``method="dense"``
or ``"lanczos"`` asks for the computation from recorded weights below instead (the
independent check).

**From recorded weights** (every other observable, every other engine, and the NumPy
reference). Curvature observables (``sharpness``, ``top_eigenvalues``, ``lambda_min``,
``effective_sharpness``) use the problem's analytic Hessian-vector products:

* ``method="dense"`` (default for P ≤ :data:`DENSE_OBSERVE_MAX_PARAMS`): the Hessian assembled
  from P batched HVPs over all points at once, then ``eigvalsh`` — exact to rounding;
* ``method="lanczos"`` (default beyond): ARPACK ``eigsh`` per point, warm-started along each
  trajectory with ``v0`` = the previous record's top eigenvector, ``tol`` =
  :data:`LANCZOS_TOL`. ARPACK's ``tol`` bounds the relative error of the Ritz values, so the
  eigenvalues agree with dense ``eigh`` to ≤ 1e-8 relative (tested). At a near-degenerate top
  eigenvalue (two eigenvalues closer than the tolerance) the *eigenvalue* still converges but
  the eigenvector may be any vector of the near-invariant subspace; only the warm start uses
  the vector, so this costs iterations, never accuracy.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DENSE_OBSERVE_MAX_PARAMS",
    "LANCZOS_TOL",
    "OBSERVABLES",
    "SHARPNESS_MAX_CYCLES",
    "SHARPNESS_TOL",
    "check_observe",
    "compute_observable",
    "needs_optimizer_state",
    "observe_path",
]

#: Names accepted by ``simulate_descent(observe=...)``.
OBSERVABLES = (
    "loss",
    "grad_norm",
    "sharpness",
    "top_eigenvalues",
    "lambda_min",
    "effective_sharpness",
    "end_to_end_singular_values",
    "balancedness",
    "gfs_sharpness",
    "distance_to_reference",
)

#: In-engine sharpness: Lanczos stops when the residual bound is ≤ this times ``|θ|`` (then an
#: eigenvalue lies within that relative distance; within its square over the relative gap
#: when the top eigenvalue is separated).
SHARPNESS_TOL = 1e-8

#: In-engine sharpness: at most this many Lanczos cycles per observed step (then the last Ritz
#: value is kept and its residual bound reported).
SHARPNESS_MAX_CYCLES = 64

#: Dense batched Hessians up to this many parameters, warm-started Lanczos beyond.
DENSE_OBSERVE_MAX_PARAMS = 128

#: ARPACK relative tolerance on the Ritz values: 1e-10 leaves two orders of margin to the
#: 1e-8 relative agreement with dense ``eigh`` promised above.
LANCZOS_TOL = 1e-10

# Dense Hessians are built in chunks of at most this many float64 entries (16 MB): measured
# 1.5–2× faster than 160 MB chunks (fresh large allocations page-fault on every chunk).
_DENSE_CHUNK_ENTRIES = 2_000_000

_OPTIONS = {
    "sharpness": {"method", "tol"},
    "lambda_min": {"method"},
    "effective_sharpness": {"method"},
    "top_eigenvalues": {"k", "method"},
    "distance_to_reference": {"reference"},
}


def needs_optimizer_state(names, optimizer) -> bool:
    """True when an observable needs the optimizer's state (effective sharpness of RMSProp)."""
    return "effective_sharpness" in names and getattr(optimizer, "adaptive", False)


def check_observe(observe, observe_every, observe_options, problem, optimizer) -> tuple:
    """Validate ``observe`` / ``observe_every`` / ``observe_options``; ``(names, every, options)``."""
    from ._validation import check_open_unit, check_positive
    from .network import flatten

    if isinstance(observe, str):
        observe = (observe,)
    try:
        names = tuple(observe)
    except TypeError:
        raise TypeError(f"observe must be a sequence of observable names; got observe={observe!r}") from None
    for name in names:
        if not isinstance(name, str) or name not in OBSERVABLES:
            raise ValueError(f"observe entries must be among {OBSERVABLES}; got {name!r} in observe={observe!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"observe lists a name twice; got observe={observe!r}")
    every = check_positive(observe_every, "observe_every", integer=True)
    options = {} if observe_options is None else observe_options
    if not isinstance(options, dict):
        raise TypeError(f"observe_options must be a dict of dicts; got observe_options={observe_options!r}")
    checked = {}
    for name, opts in options.items():
        if name not in names:
            raise ValueError(f"observe_options names {name!r}, which is not observed; observe={names!r}")
        if not isinstance(opts, dict) or not set(opts) <= _OPTIONS.get(name, set()):
            raise ValueError(
                f"observe_options[{name!r}] accepts keys {sorted(_OPTIONS.get(name, set()))}; got {opts!r}"
            )
        checked[name] = dict(opts)
    p = problem.network.n_params
    for name, opts in checked.items():
        method = opts.get("method", "auto")
        if method not in ("auto", "dense", "lanczos"):
            raise ValueError(
                f"observe_options[{name!r}]['method'] must be 'auto', 'dense' or 'lanczos'; got {method!r}"
            )
        if "k" in opts:
            opts["k"] = check_positive(opts["k"], "observe_options['top_eigenvalues']['k']", integer=True)
            if opts["k"] > p - (1 if method == "lanczos" else 0):
                raise ValueError(f"observe_options['top_eigenvalues']['k'] must be < P = {p}; got k={opts['k']}")
    sharpness = checked.get("sharpness", {})
    if "tol" in sharpness:
        sharpness["tol"] = check_open_unit(sharpness["tol"], "observe_options['sharpness']['tol']")
    if "top_eigenvalues" in names:
        checked.setdefault("top_eigenvalues", {}).setdefault("k", min(3, p))
    if "distance_to_reference" in names:
        ref = checked.get("distance_to_reference", {}).get("reference")
        if ref is None:
            raise ValueError("observe=('distance_to_reference',) needs observe_options={'distance_to_reference': "
                             "{'reference': weights or flat parameters}}")
        if isinstance(ref, (tuple, list)):
            ref = flatten(problem.network.check(tuple(ref), "observe_options['distance_to_reference']['reference']"))
        ref = np.asarray(ref, dtype=np.float64)
        if ref.shape != (p,) or not np.all(np.isfinite(ref)):
            raise ValueError(
                f"the distance_to_reference reference must be finite with shape ({p},); got shape {ref.shape}"
            )
        checked["distance_to_reference"]["reference"] = ref
    if "gfs_sharpness" in names and any(s != (1, 1) for s in problem.network.shapes):
        raise ValueError(f"gfs_sharpness needs a scalar network (every layer 1×1); got shapes {problem.network.shapes}")
    if "effective_sharpness" in names and not getattr(optimizer, "has_central_flow", False):
        raise ValueError(
            "effective_sharpness is defined for the optimizers with a central flow (GD, ScalarRMSProp, "
            f"RMSProp); got optimizer={optimizer!r}"
        )
    return names, every, checked


def compute_observable(name, problem, weights, options, *, preconditioner=None,
                       balance0=None, trajectories=None):
    """One observable at ``n`` points ``weights[j]`` of shape ``(n, d_{j+1}, d_j)``.

    Non-finite points (steps after divergence) give NaN. ``preconditioner`` (``(n, P)``, the
    diagonal ``√ν + ε`` of RMSProp's step at that point) is needed for ``effective_sharpness``
    with an adaptive optimizer; ``balance0`` (the ``B_j(θ_0)`` of each point's trajectory) for
    ``balancedness``; ``trajectories`` (``(n,)`` ids) lets Lanczos warm-start along a trajectory.

    Returns
    -------
    ndarray, shape (n,) or (n, m)
    """
    from .network import _end_to_end, flatten

    n = weights[0].shape[0]
    good = np.all(np.isfinite(flatten(weights)), axis=1)
    pts = tuple(w[good] for w in weights)
    width = _width(name, problem, options)
    out = np.full((n,) + width, np.nan)
    if not good.any():
        return out
    with np.errstate(over="ignore", invalid="ignore"):
        if name == "loss":
            val = np.asarray(problem._loss(pts))
        elif name == "grad_norm":
            _, grads = problem._loss_and_gradient(pts)
            val = np.sqrt(sum(np.sum(g * g, axis=(-2, -1)) for g in grads))
        elif name in ("sharpness", "lambda_min", "top_eigenvalues", "effective_sharpness"):
            scale = None
            if name == "effective_sharpness" and preconditioner is not None:
                scale = 1.0 / np.sqrt(preconditioner[good])
            k = options.get("k", 1)
            which = "SA" if name == "lambda_min" else "LA"
            ids = None if trajectories is None else np.asarray(trajectories)[good]
            eig = _extreme_eigenvalues(problem, pts, k, which, options.get("method", "auto"), scale, ids)
            val = eig if name == "top_eigenvalues" else eig[:, 0]
        elif name == "end_to_end_singular_values":
            val = np.linalg.svd(_end_to_end(pts), compute_uv=False)
        elif name == "balancedness":
            now = problem._balancedness(pts)
            norms = [np.sqrt(np.sum((b - b0[good]) ** 2, axis=tuple(range(1, b.ndim)))) for b, b0 in zip(now, balance0)]
            val = np.stack(norms, axis=1) if norms else np.zeros((int(good.sum()), 0))  # depth 1: no pairs
        elif name == "gfs_sharpness":
            from .analysis import gfs_sharpness

            val = gfs_sharpness(pts, problem)
        elif name == "distance_to_reference":
            val = np.linalg.norm(flatten(pts) - options["reference"], axis=1)
        else:  # pragma: no cover - check_observe refuses unknown names
            raise ValueError(f"unknown observable {name!r}")
    out[good] = val
    return out


def observe_path(problem, path, weights0, names, options, preconditioner=None) -> dict:
    """Observables ``{name: (R[, m])}`` along one recorded path ``path[j]`` of shape
    ``(R, d_{j+1}, d_j)`` started at ``weights0`` (a flow's records); ``preconditioner``
    ``(R, P)``: RMSProp's ``√ν + ε`` at each record, for ``effective_sharpness``."""
    r = path[0].shape[0]
    balance0 = None
    if "balancedness" in names:
        balance0 = [np.repeat(b[None], r, axis=0) for b in problem._balancedness(tuple(weights0))]
    ids = np.zeros(r, dtype=np.int64)
    return {name: compute_observable(name, problem, path, options.get(name, {}), balance0=balance0,
                                     trajectories=ids, preconditioner=preconditioner) for name in names}


def _width(name, problem, options) -> tuple:
    if name == "top_eigenvalues":
        return (options["k"],)
    if name == "end_to_end_singular_values":
        return (min(problem.network.shapes[-1][0], problem.network.shapes[0][1]),)
    if name == "balancedness":
        return (problem.network.depth - 1,)
    return ()


def _extreme_eigenvalues(problem, pts, k, which, method, scale, ids) -> np.ndarray:
    """``(n, k)``: the k largest (descending, ``which="LA"``) or smallest (ascending) eigenvalues
    of ``H`` (or ``SHS`` with ``S = diag(scale)``) at each point."""
    p = problem.network.n_params
    if method == "auto":
        method = "dense" if p <= DENSE_OBSERVE_MAX_PARAMS else "lanczos"
    if method == "dense":
        from ._hessian import dense_hessian

        n = pts[0].shape[0]
        out = np.empty((n, k))
        chunk = max(1, _DENSE_CHUNK_ENTRIES // (p * p))
        for lo in range(0, n, chunk):
            part = tuple(w[lo:lo + chunk] for w in pts)
            h = dense_hessian(problem, part)
            if scale is not None:
                s = scale[lo:lo + chunk]
                h = s[:, :, None] * h * s[:, None, :]
            eig = np.linalg.eigvalsh(h)
            out[lo:lo + chunk] = eig[:, ::-1][:, :k] if which == "LA" else eig[:, :k]
        return out
    return _lanczos(problem, pts, k, which, scale, ids)


def _lanczos(problem, pts, k, which, scale, ids) -> np.ndarray:
    import scipy.sparse.linalg as spla

    from .network import flatten, unflatten

    p = problem.network.n_params
    shapes = problem.network.shapes
    n = pts[0].shape[0]
    out = np.empty((n, k))
    previous = {}
    fallback = np.ones(p) / np.sqrt(p)  # fixed start: eigsh would otherwise use global random state
    for i in range(n):
        w = tuple(x[i] for x in pts)
        s = None if scale is None else scale[i]

        def matvec(x, w=w, s=s):
            x = np.ravel(x) if s is None else s * np.ravel(x)
            hx = flatten(problem._hvp(w, unflatten(x, shapes)))
            return hx if s is None else s * hx

        op = spla.LinearOperator((p, p), matvec=matvec, dtype=np.float64)
        tid = None if ids is None else int(ids[i])
        v0 = previous.get(tid, fallback)
        try:
            vals, vecs = spla.eigsh(op, k=k, which=which, v0=v0, tol=LANCZOS_TOL)
        except spla.ArpackError:
            # H v0 = 0 (e.g. the Hessian vanishes at θ = 0 with depth ≥ 3): retry from a
            # Gaussian start drawn with a fixed seed.
            v0 = np.random.default_rng(0).standard_normal(p)
            vals, vecs = spla.eigsh(op, k=k, which=which, v0=v0, tol=LANCZOS_TOL)
        order = np.argsort(vals)[::-1] if which == "LA" else np.argsort(vals)
        out[i] = vals[order]
        previous[tid] = vecs[:, order[0]]
    return out
