"""Gradient descent on a batch of trajectories: entry point and backend dispatch.

GD is ``θ_{k+1} = θ_k − η∇f(θ_k)``; iterate k approximates gradient flow at ``t = kη``
(Elkabetz & Cohen 2021, §3: GD is Euler's method for GF). Other update rules
(:mod:`linflow.optimizers`) step ``θ_{k+1} = θ_k − η u_k``. Validation and batching live in
``linflow/_descent_setup.py``; the engines in ``linflow/_descent_{numpy,numba,cuda}.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ._descent_setup import DEFAULT_DIVERGENCE_THRESHOLD, DescentSetup, prepare_descent
from .optimizers import GD, as_optimizer
from .problem import Problem
from .results import DescentResult, drop_batch_axis

__all__ = ["simulate_descent", "BACKENDS"]

BACKENDS = ("numba", "numpy", "cuda")

#: The engine used when ``backend=None``.
DEFAULT_BACKEND = "numba"


def simulate_descent(
    problem: Problem,
    weights0,
    *,
    learning_rate,
    n_steps: int,
    record_every: int = 1,
    backend=None,
    loss_tolerance=None,
    divergence_threshold: float = DEFAULT_DIVERGENCE_THRESHOLD,
    record_weights: bool = False,
    reference=None,
    optimizer="gd",
    beta2=None,
    eps=None,
    track_balancedness: bool = True,
    observe=None,
    observe_every: int = 1,
    observe_options=None,
) -> DescentResult:
    """Run gradient descent ``θ_{k+1} = θ_k − η∇f(θ_k)`` (or another optimizer) for a batch.

    Parameters
    ----------
    problem : Problem
        Network and loss (the ½ convention: ``f = ½‖W_e − Φ‖_F²`` or ``(1/2m)‖W_e X − Y‖_F²``).
    weights0 : tuple of ndarray
        Initial weights, either one network (``(d_{j+1}, d_j)`` per layer) or a batch with a
        leading trajectory axis B.
    learning_rate : float or ndarray, shape (B,)
        Step size η, per trajectory if an array. A single ``weights0`` with an array of
        learning rates runs the same initialization at every η.
    n_steps : int
        Number of GD steps; iterates ``θ_0, …, θ_{n_steps}``.
    record_every : int
        Record the loss (and weights) every this many steps; the last step is always recorded.
    backend : {None, "numba", "numpy", "cuda"}
        ``None`` selects the numba engine (the default): batched compiled CPU kernels.
        ``"numpy"`` is the readable reference implementation that the engines must match;
        ``"cuda"`` runs ``numba.cuda`` kernels on a GPU (needs the ``cuda`` extra, or
        ``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported for the simulator).
    loss_tolerance : float, optional
        A trajectory whose loss falls to ≤ this value is marked converged (it keeps iterating,
        so that every backend returns the same final weights).
    divergence_threshold : float
        A loss above this (or non-finite) marks the trajectory diverged at that step; it stops
        and keeps its last good iterate.
    record_weights : bool
        Also return the weights at the recorded steps.
    reference : ndarray, shape (n_steps + 1, P) or (B, n_steps + 1, P), optional
        A reference path in flat parameters, e.g. gradient flow sampled at ``t = kη``; the
        result then carries ``max_k ‖θ_k − reference_k‖``.
    optimizer : linflow.optimizers.Optimizer or {"gd", "scalar_rmsprop", "rmsprop"}
        Update rule ``θ_{k+1} = θ_k − η u_k`` (:mod:`linflow.optimizers`): ``GD()``,
        ``Momentum(β)``, ``ScalarRMSProp(β₂, ε)``, ``RMSProp(β₂, ε)``, ``Adam(β₁, β₂, ε)``; the
        strings are shorthands (RMSProp ones with ``beta2`` and ``eps``). Every optimizer runs on
        the numpy and numba backends; ``"cuda"`` runs GD. The final optimizer state is in
        ``result.extra`` (e.g. ``"nu"``; kept at the last good step of a diverged trajectory).
    beta2 : float in (0, 1)
        With a shorthand string only: RMSProp's β₂ (required for RMSProp).
    eps : float ≥ 0
        With a shorthand string only: RMSProp's ε (default 0).
    track_balancedness : bool
        Monitor ``max_k max_j ‖B_j(θ_k) − B_j(θ_0)‖_F`` (``B_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ``,
        the per-neuron balances for ReLU networks) at every step (default). ``False`` skips
        this bookkeeping (about a quarter of the arithmetic of a depth-4, width-8 step);
        ``result.balancedness_drift`` is then NaN: not tracked.
    observe : sequence of str, optional
        Observables to record (:data:`linflow.observables.OBSERVABLES`): ``"loss"``,
        ``"grad_norm"``, ``"sharpness"`` (λ_max of ∇²f), ``"top_eigenvalues"``, ``"lambda_min"``,
        ``"effective_sharpness"`` (λ_max of ``P^{-1/2} H P^{-1/2}`` with RMSProp's
        ``P = diag(√ν + ε)`` of the step taken there, the quantity its central flow holds at 2/η,
        Cohen et al. 2025; the sharpness for GD), ``"end_to_end_singular_values"``,
        ``"balancedness"`` (``‖B_j(θ_k) − B_j(θ_0)‖_F`` per j), ``"gfs_sharpness"`` (scalar
        networks), ``"distance_to_reference"``. Stored in ``result.observables[name]``
        (``(B, n_observed[, m])``, NaN after divergence) at ``result.observable_steps``.
        The run itself is unchanged. ``"loss"``, ``"grad_norm"`` and ``"sharpness"`` are
        computed inside the compiled loop on the default CPU engine (its 8-lane path; observing
        the sharpness of one network up to width 16 selects it over the BLAS path, which then
        changes the trajectory by rounding only) and on CUDA, for deep linear networks with the
        whitened, regression, sensing and completion losses: the sharpness by warm-started
        Lanczos on exact Hessian-vector products to a residual tolerance (default 1e-8; the
        residual bounds in ``result.extra["sharpness_residual"]``, the products per trajectory
        in ``result.extra["hvp_count"]``). For the others the engine records the weights every
        ``gcd(record_every, observe_every)`` steps (memory: B·R·P floats, checked before the
        run) and the observables are computed from them afterwards, batched over all records.
        ``effective_sharpness`` with an RMSProp optimizer needs ν at each record: it runs on the
        NumPy reference (``backend=None`` selects it; a compiled backend is refused).
    observe_every : int
        Observe every this many steps (the last step is always observed).
    observe_options : dict, optional
        Per-observable options: ``{"top_eigenvalues": {"k": 3}}`` (default k = 3),
        ``{"sharpness": {"method": "dense" | "lanczos"}}`` (from recorded weights; also
        ``lambda_min``, ``top_eigenvalues``, ``effective_sharpness``; see
        :mod:`linflow.observables`), ``{"sharpness": {"tol": 1e-6}}`` (the in-engine residual
        tolerance, in (0, 1)),
        ``{"distance_to_reference": {"reference": weights or flat θ}}`` (required for it).

    Returns
    -------
    DescentResult
        With a leading trajectory axis on every per-trajectory field for a batched run; without
        it (arrays lose that axis, counts and losses become NumPy scalars) for one network with
        a scalar ``learning_rate`` (see :class:`~linflow.DescentResult`, "Shapes").

    Raises
    ------
    TypeError, ValueError
        Invalid arguments, raised before any step is taken.

    Examples
    --------
    >>> import numpy as np
    >>> from linflow import DeepLinearNetwork, Problem, simulate_descent
    >>> prob = Problem(DeepLinearNetwork((1, 1, 1)), target=[[1.0]])
    >>> w0 = (np.array([[0.5]]), np.array([[0.5]]))
    >>> res = simulate_descent(prob, w0, learning_rate=0.1, n_steps=200)
    >>> round(float(res.final_loss), 12)
    0.0
    """
    optimizer = as_optimizer(optimizer, beta2, eps)
    if observe is not None:
        return _observed_run(problem, weights0, optimizer, backend, observe, observe_every, observe_options,
                             learning_rate=learning_rate, n_steps=n_steps, record_every=record_every,
                             loss_tolerance=loss_tolerance, divergence_threshold=divergence_threshold,
                             record_weights=record_weights, reference=reference,
                             track_balancedness=track_balancedness)
    backend = _resolve_backend(backend, optimizer)
    setup = prepare_descent(
        problem,
        weights0,
        learning_rate=learning_rate,
        n_steps=n_steps,
        record_every=record_every,
        loss_tolerance=loss_tolerance,
        divergence_threshold=divergence_threshold,
        record_weights=record_weights,
        reference=reference,
        optimizer=optimizer,
        track_balancedness=track_balancedness,
    )
    return _run(setup, backend)


def _resolve_backend(backend, optimizer) -> str:
    """``None`` → the default engine; anything else must be one of :data:`BACKENDS`.

    The compiled engines run the built-in optimizers (``optimizer.engine_code ≥ 0``; CUDA runs
    GD only); an optimizer of your own (an :class:`~linflow.optimizers.Optimizer` subclass
    without an engine code) runs on the NumPy reference, which only calls its ``init`` and
    ``update``: ``backend=None`` selects it, a compiled backend is refused.
    """
    if backend is not None and (not isinstance(backend, str) or backend not in BACKENDS):
        raise ValueError(f"backend must be None or one of {BACKENDS}; got backend={backend!r}")
    compiled = optimizer.engine_code >= 0
    if backend is None:
        return DEFAULT_BACKEND if compiled else "numpy"
    if backend != "numpy" and not compiled:
        raise ValueError(
            f"backend={backend!r} has no kernel for optimizer={optimizer!r} (it has no engine_code); "
            "use backend='numpy', which runs any Optimizer through its init and update"
        )
    if backend == "cuda" and optimizer.engine_code != GD.engine_code:
        raise ValueError(
            f"backend='cuda' runs plain GD only; got optimizer={optimizer!r}: use backend='numba' "
            "(or 'numpy')"
        )
    return backend


def _record_steps(n_steps: int, every: int) -> np.ndarray:
    steps = np.arange(0, n_steps + 1, every, dtype=np.int64)
    return steps if steps[-1] == n_steps else np.append(steps, n_steps)


def _observed_run(problem, weights0, optimizer, backend, observe, observe_every, observe_options, *,
                  record_every, record_weights, **kwargs) -> DescentResult:
    """A run with observables: those the engine offers (:func:`_in_engine_names`) are computed
    inside its loop; for the others the engine records weights every ``gcd(record_every,
    observe_every)`` steps and they are computed from them afterwards (batched)."""
    from math import gcd

    from ._validation import check_positive
    from .network import flatten
    from .observables import (
        SHARPNESS_MAX_CYCLES,
        SHARPNESS_TOL,
        check_observe,
        compute_observable,
        needs_optimizer_state,
    )

    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    names, every, options = check_observe(observe, observe_every, observe_options, problem, optimizer)
    record_every = check_positive(record_every, "record_every", integer=True)
    with_state = needs_optimizer_state(names, optimizer)
    if with_state:
        if backend not in (None, "numpy"):
            raise ValueError(
                f"effective_sharpness of optimizer={optimizer!r} needs ν at every record, which only the "
                f"NumPy reference exposes: use backend=None or 'numpy'; got backend={backend!r}"
            )
        backend = "numpy"
    backend = _resolve_backend(backend, optimizer)
    setup = prepare_descent(problem, weights0, record_every=record_every, record_weights=record_weights,
                            optimizer=optimizer, **kwargs)
    in_engine = () if with_state else _in_engine_names(setup, backend, names, options)
    post_hoc = tuple(name for name in names if name not in in_engine)
    if post_hoc:  # the engine records the weights at every observed step too
        base = gcd(int(record_every), every)
        setup = prepare_descent(problem, weights0, record_every=base, record_weights=True, optimizer=optimizer,
                                **kwargs)
    batch, p = setup.batch_size, problem.network.n_params
    n_base = setup.record_steps.size
    obs_steps = _record_steps(setup.n_steps, every)
    _check_observables_memory(problem, names, options, batch, obs_steps.size, every)
    precond = None
    if with_state:
        from ._descent_numpy import run_descent_numpy

        precond = np.full((batch, n_base, p), np.nan)

        def on_record(i, weights, grads, state, active):
            # The preconditioner of the step taken from this iterate: ν after its update.
            nu = optimizer.update(grads, state)[1].nu
            flat = np.broadcast_to(nu[:, None], (batch, p)) if isinstance(nu, np.ndarray) else flatten(nu)
            precond[active, i] = (np.sqrt(flat) + optimizer.eps)[active]

        full = run_descent_numpy(setup, on_record)
    elif in_engine:
        from ._curvature_numba import Observation

        tol = options.get("sharpness", {}).get("tol", SHARPNESS_TOL)
        spec = Observation(in_engine, obs_steps, tol, SHARPNESS_MAX_CYCLES)
        if backend == "cuda":
            from ._descent_cuda import run_descent_cuda

            full = run_descent_cuda(setup, spec)
        else:
            from ._descent_numba import run_descent_numba

            full = run_descent_numba(setup, spec)
    else:
        full = _engine(setup, backend)
    steps = _record_steps(setup.n_steps, int(record_every))
    keep = np.searchsorted(setup.record_steps, steps)
    observables = dict(full.observables)
    if post_hoc:
        at = np.searchsorted(setup.record_steps, obs_steps)
        n_obs = at.size
        assert full.weights is not None  # recorded above for the observables
        points = tuple(np.ascontiguousarray(w[:, at].reshape((batch * n_obs,) + w.shape[2:])) for w in full.weights)
        balance0 = None
        if "balancedness" in names:
            balance0 = [np.repeat(b, n_obs, axis=0) for b in problem._balancedness(setup.weights0)]
        pre = None if precond is None else precond[:, at].reshape(batch * n_obs, p)
        ids = np.repeat(np.arange(batch), n_obs)
        for name in post_hoc:
            values = compute_observable(name, problem, points, options.get(name, {}),
                                        preconditioner=pre, balance0=balance0, trajectories=ids)
            observables[name] = values.reshape((batch, n_obs) + values.shape[1:])
    observables = {name: observables[name] for name in names}
    result = replace(
        full,
        steps=steps,
        losses=full.losses[:, keep],
        weights=tuple(w[:, keep] for w in full.weights) if record_weights and full.weights is not None else None,
        observables=observables,
        observable_steps=obs_steps,
    )
    return result if setup.batched else drop_batch_axis(result)


def _check_observables_memory(problem, names, options, batch: int, n_obs: int, every: int) -> None:
    """Refuse before the run when the observables' arrays would exceed the memory limit: every
    observable ``(B, n_observed[, m])``, and the in-engine outputs (three columns, the residual
    bounds) and Lanczos warm starts (``2P`` per trajectory)."""
    from ._validation import check_memory
    from .observables import _width

    per_point = 4 + sum(int(np.prod(_width(name, problem, options.get(name, {})))) for name in names)
    n_bytes = 8.0 * batch * (float(n_obs) * per_point + 2 * problem.network.n_params)
    check_memory(n_bytes, argument=f"observe_every={every}", what=f"the observables {names} of {batch} trajectories",
                 advice="observe fewer steps (a larger observe_every) or fewer trajectories")


#: Observing the sharpness runs the 8-lane engine (its in-engine Lanczos) instead of the BLAS
#: path up to this width. Measured on one network of depth 3, sharpness at every step
#: (``scripts/bench_observables.py --wide``): in-engine 3× faster at width 16, 0.7× at 32 and
#: 0.4× at 64 than BLAS steps plus warm-started ARPACK on the recorded weights (one network
#: fills one of the 8 lanes).
IN_ENGINE_SHARPNESS_MAX_WIDTH = 16


def _in_engine_names(setup: DescentSetup, backend: str, names: tuple, options: dict) -> tuple:
    """The observables of ``names`` that the engine computes in its loop (the rest are
    computed afterwards from recorded weights): ``loss``, ``grad_norm`` and ``sharpness`` on
    the 8-lane CPU engine (:mod:`linflow._curvature_numba`) and in the CUDA kernels
    (:func:`linflow._descent_cuda.in_engine_observables`) for the problems they offer them
    for, unless ``observe_options`` asks for a ``method`` other than ``"auto"``."""
    auto = tuple(name for name in names if options.get(name, {}).get("method", "auto") == "auto")
    if backend == "cuda":
        from ._descent_cuda import in_engine_observables as cuda_offers

        offered = cuda_offers(setup.problem)
        return tuple(name for name in auto if name in offered)
    if backend != "numba":
        return ()
    from ._curvature_numba import in_engine_observables
    from ._descent_blas import prefers_blas

    offered = in_engine_observables(setup.problem)
    chosen = tuple(name for name in auto if name in offered)
    wide = max(setup.problem.network.widths) > IN_ENGINE_SHARPNESS_MAX_WIDTH
    if prefers_blas(setup.problem, setup.batch_size, setup.optimizer) and ("sharpness" not in chosen or wide):
        return ()
    return chosen


def _run(setup: DescentSetup, backend: str) -> DescentResult:
    """Run a validated setup on ``backend``; an unbatched run drops the batch axis."""
    result = _engine(setup, backend)
    return result if setup.batched else drop_batch_axis(result)


def _engine(setup: DescentSetup, backend: str) -> DescentResult:
    """Hand a validated setup to the engine (engines are imported lazily: JIT, CUDA).

    Engines always compute with a batch axis.
    """
    engine: Callable[[DescentSetup], DescentResult]
    if backend == "numpy":
        from ._descent_numpy import run_descent_numpy

        engine = run_descent_numpy
    elif backend == "numba":
        # Wide layers, single networks and small batches: BLAS products instead of the 8-lane
        # kernels (the rule: :func:`linflow._descent_blas.prefers_blas`).
        from ._descent_blas import prefers_blas, run_descent_blas

        if prefers_blas(setup.problem, setup.batch_size, setup.optimizer):
            engine = run_descent_blas
        else:
            from ._descent_numba import run_descent_numba

            engine = run_descent_numba
    else:
        from ._descent_cuda import run_descent_cuda

        engine = run_descent_cuda
    return engine(setup)
