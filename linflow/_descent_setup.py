"""Validated, batched inputs of a descent run (:class:`DescentSetup`), shared by every engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_descent_memory, check_finite_array, check_positive
from .optimizers import GD, Optimizer
from .problem import Problem

__all__ = ["DescentSetup", "prepare_descent", "DEFAULT_DIVERGENCE_THRESHOLD"]

#: Default loss above which a trajectory counts as diverged (before it overflows to inf).
DEFAULT_DIVERGENCE_THRESHOLD = 1e100


@dataclass(frozen=True)
class DescentSetup:
    """Validated, batched inputs of a descent run, handed to an engine.

    ``weights0[j]`` has shape ``(B, d_{j+1}, d_j)`` (a fresh C-contiguous float64 copy),
    ``learning_rates`` shape ``(B,)``; ``record_steps`` are the recorded step indices;
    ``reference`` is ``None`` or ``(B, n_steps + 1, P)``; ``optimizer`` the update rule
    (:mod:`linflow.optimizers`; the loss is ``problem.loss_function``).
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
    optimizer: Optimizer = GD()
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
    optimizer=GD(),
    track_balancedness: bool = True,
) -> DescentSetup:
    """Validate the arguments of :func:`simulate_descent` and broadcast them to a batch."""
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a linflow.optimizers.Optimizer; got optimizer={optimizer!r}")
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
        track_balancedness=bool(track_balancedness),
    )
