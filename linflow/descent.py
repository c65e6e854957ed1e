"""Gradient descent on a batch of trajectories: validation and backend dispatch.

GD is ``θ_{k+1} = θ_k − η∇f(θ_k)``; iterate k approximates gradient flow at ``t = kη``
(Elkabetz & Cohen 2021, §3: GD is Euler's method for GF).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._optimizers import check_optimizer
from ._validation import check_descent_memory, check_finite_array, check_positive
from .problem import Problem
from .results import DescentResult, drop_batch_axis

__all__ = ["simulate_descent", "DescentSetup", "BACKENDS"]

BACKENDS = ("numba", "numpy", "cuda")

#: The engine used when ``backend=None``.
DEFAULT_BACKEND = "numba"

#: Default loss above which a trajectory counts as diverged (before it overflows to inf).
DEFAULT_DIVERGENCE_THRESHOLD = 1e100


@dataclass(frozen=True)
class DescentSetup:
    """Validated, batched inputs of a GD run, handed to a backend kernel.

    ``weights0[j]`` has shape ``(B, d_{j+1}, d_j)`` (a fresh C-contiguous float64 copy),
    ``learning_rates`` shape ``(B,)``; ``record_steps`` are the recorded step indices;
    ``reference`` is ``None`` or ``(B, n_steps + 1, P)``.
    """

    problem: Problem
    weights0: tuple
    learning_rates: np.ndarray
    n_steps: int
    record_steps: np.ndarray
    loss_tolerance: float
    divergence_threshold: float
    record_weights: bool
    reference: object
    batched: bool
    optimizer: str = "gd"
    beta2: object = None
    eps: float = 0.0
    track_balancedness: bool = True

    @property
    def batch_size(self) -> int:
        return self.learning_rates.shape[0]


def prepare_descent(
    problem: Problem,
    weights0,
    *,
    learning_rate,
    n_steps: int,
    record_every: int = 1,
    loss_tolerance=None,
    divergence_threshold: float = DEFAULT_DIVERGENCE_THRESHOLD,
    record_weights: bool = False,
    reference=None,
    optimizer: str = "gd",
    beta2=None,
    eps: float = 0.0,
    track_balancedness: bool = True,
) -> DescentSetup:
    """Validate the arguments of :func:`simulate_descent` and broadcast them to a batch."""
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    optimizer, beta2, eps = check_optimizer(optimizer, beta2, eps)
    if not isinstance(track_balancedness, (bool, np.bool_)):
        raise TypeError(f"track_balancedness must be a bool; got track_balancedness={track_balancedness!r}")
    weights0 = problem.network.check(weights0, "weights0")
    n_steps = check_positive(n_steps, "n_steps", integer=True)
    record_every = check_positive(record_every, "record_every", integer=True)
    lr = check_positive(learning_rate, "learning_rate", allow_array=True)
    divergence_threshold = check_positive(divergence_threshold, "divergence_threshold")
    if loss_tolerance is None:
        loss_tolerance = -1.0  # never reached: losses are ≥ 0
    else:
        loss_tolerance = check_positive(loss_tolerance, "loss_tolerance")

    single = weights0[0].ndim == 2
    lr = np.atleast_1d(np.asarray(lr, dtype=np.float64))
    if single:
        batch = lr.shape[0]
        weights0 = tuple(np.broadcast_to(w, (batch,) + w.shape) for w in weights0)
    else:
        batch = weights0[0].shape[0]
        if lr.shape[0] == 1:
            lr = np.full(batch, lr[0])
        elif lr.shape[0] != batch:
            raise ValueError(
                f"learning_rate must be a scalar or have one entry per trajectory ({batch}); "
                f"got learning_rate.shape={lr.shape}"
            )
    if batch == 0:
        raise ValueError("weights0 must hold at least one trajectory; got a batch of 0")
    weights0 = tuple(np.ascontiguousarray(w, dtype=np.float64).copy() for w in weights0)
    batched = not (single and np.ndim(learning_rate) == 0)
    if not isinstance(record_weights, (bool, np.bool_)):
        raise TypeError(f"record_weights must be a bool; got record_weights={record_weights!r}")
    check_descent_memory(batch, n_steps, record_every, problem.network.n_params, bool(record_weights))

    steps = np.arange(0, n_steps + 1, record_every, dtype=np.int64)
    if steps[-1] != n_steps:
        steps = np.append(steps, n_steps)

    if reference is not None:
        p = problem.network.n_params
        reference = check_finite_array(reference, "reference")
        if reference.ndim == 2:
            reference = np.broadcast_to(reference, (batch,) + reference.shape)
        if reference.shape != (batch, n_steps + 1, p):
            raise ValueError(
                f"reference must have shape (n_steps + 1, P) = ({n_steps + 1}, {p}) or "
                f"(B, n_steps + 1, P); got reference.shape={reference.shape}"
            )
        reference = np.ascontiguousarray(reference)
    return DescentSetup(
        problem=problem,
        weights0=weights0,
        learning_rates=lr,
        n_steps=n_steps,
        record_steps=steps,
        loss_tolerance=float(loss_tolerance),
        divergence_threshold=divergence_threshold,
        record_weights=bool(record_weights),
        reference=reference,
        batched=batched,
        optimizer=optimizer,
        beta2=beta2,
        eps=eps,
        track_balancedness=bool(track_balancedness),
    )


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
    optimizer: str = "gd",
    beta2=None,
    eps: float = 0.0,
    track_balancedness: bool = True,
) -> DescentResult:
    """Run gradient descent ``θ_{k+1} = θ_k − η∇f(θ_k)`` for a batch of trajectories.

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
        ``None`` selects the numba engine (the default) for GD — batched compiled CPU kernels —
        and the NumPy reference for the RMSProp optimizers.
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
    optimizer : {"gd", "scalar_rmsprop", "rmsprop"}
        Update rule (see :mod:`linflow._optimizers`): GD, or RMSProp with a scalar or a
        per-coordinate second-moment ``ν``: ``ν_{k+1} = β₂ν_k + (1−β₂)s(g_k)``,
        ``θ_{k+1} = θ_k − ηg_k/(√ν_{k+1} + ε)``, initialized with ``ν_0 = s(g_0)``. RMSProp runs
        on the ``"numpy"`` backend only; the final ν is in ``result.extra["nu"]``.
    beta2 : float in (0, 1), required for RMSProp
    eps : float ≥ 0
        RMSProp's ε (default 0).
    track_balancedness : bool
        Monitor ``max_k max_j ‖B_j(θ_k) − B_j(θ_0)‖_F`` (``B_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ``,
        the per-neuron balances for ReLU networks) at every step (default). ``False`` skips
        this bookkeeping (about a quarter of the arithmetic of a depth-4, width-8 step);
        ``result.balancedness_drift`` is then NaN: not tracked.

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
    optimizer, beta2, eps = check_optimizer(optimizer, beta2, eps)
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
        beta2=beta2,
        eps=eps,
        track_balancedness=track_balancedness,
    )
    return _run(setup, backend)


def _resolve_backend(backend, optimizer: str = "gd") -> str:
    """``None`` → the default engine for ``optimizer``; anything else must be one of :data:`BACKENDS`.

    The compiled engines run plain GD only; RMSProp variants run on the NumPy reference.
    """
    if backend is None:
        return DEFAULT_BACKEND if optimizer == "gd" else "numpy"
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"backend must be None or one of {BACKENDS}; got backend={backend!r}")
    if optimizer != "gd" and backend != "numpy":
        raise ValueError(f"optimizer={optimizer!r} runs on the 'numpy' backend only; got backend={backend!r}")
    return backend


def _run(setup: DescentSetup, backend: str) -> DescentResult:
    """Hand a validated setup to the engine (engines are imported lazily: JIT, CUDA).

    Engines always compute with a batch axis; an unbatched run drops it from every field.
    """
    if backend == "numpy":
        from ._descent_numpy import run_descent_numpy as engine
    elif backend == "numba":
        from ._descent_numba import run_descent_numba as engine
    else:
        from ._descent_cuda import run_descent_cuda as engine
    result = engine(setup)
    return result if setup.batched else drop_batch_axis(result)
