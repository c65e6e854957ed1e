"""Readable NumPy reference for batched gradient descent: the oracle for the fast engines.

One loop over steps; every array carries the trajectory axis first and stacked ``@`` does the
matrix products. Semantics every backend must reproduce:

* at step k (0 ≤ k ≤ n_steps) the loss of ``θ_k`` is evaluated; if it is non-finite or above the
  divergence threshold, the trajectory is marked diverged at step k and keeps ``θ_{k−1}``;
* otherwise losses are recorded, the tolerance, balancedness drift (NaN throughout when
  ``track_balancedness`` is False; +inf once ``B_j`` overflows float64) and reference distance are updated, and
  (for k < n_steps) ``θ_{k+1} = θ_k − η∇f(θ_k)`` (GD), or the RMSProp step of
  :func:`linflow._optimizers.optimizer_step` with ``ν_0 = s(∇f(θ_0))``.
"""

from __future__ import annotations

import numpy as np

from ._descent_setup import DescentSetup
from ._optimizers import select_state
from .network import flatten
from .results import DescentResult, descent_status_codes


def run_descent_numpy(setup: DescentSetup, on_record=None) -> DescentResult:
    """Run ``setup``; ``on_record(i, weights, grads, state, active)`` (optional) is called at
    record i with the iterate, its gradient and the optimizer state before the step."""
    problem = setup.problem
    batch = setup.batch_size
    weights = [w.copy() for w in setup.weights0]
    previous = [w.copy() for w in weights]
    track = setup.track_balancedness
    balance0 = problem._balancedness(weights) if track else []
    record_index = {int(k): i for i, k in enumerate(setup.record_steps)}
    n_rec = len(setup.record_steps)

    losses = np.full((batch, n_rec), np.nan)
    recorded = [np.full((batch, n_rec) + w.shape[1:], np.nan) for w in weights] if setup.record_weights else None
    active = np.ones(batch, dtype=bool)
    divergence_step = np.full(batch, -1, dtype=np.int64)
    converged_step = np.full(batch, -1, dtype=np.int64)
    final_loss = np.full(batch, np.nan)
    drift = np.zeros(batch) if track else np.full(batch, np.nan)  # NaN: not tracked
    ref_distance = np.zeros(batch) if setup.reference is not None else None
    optimizer = setup.optimizer
    state = previous_state = optimizer.init(tuple(weights))

    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(setup.n_steps + 1):
            loss, grads = problem._loss_and_gradient(tuple(weights))
            bad = active & (~np.isfinite(loss) | (loss > setup.divergence_threshold))
            if bad.any():
                divergence_step[bad] = k
                active &= ~bad
                for w, p in zip(weights, previous):
                    w[bad] = p[bad]
                state = select_state(~bad, state, previous_state)
            final_loss[active] = loss[active]
            if k in record_index:
                i = record_index[k]
                losses[active, i] = loss[active]
                if recorded is not None:
                    for rec, w in zip(recorded, weights):
                        rec[active, i] = w[active]
                if on_record is not None:
                    on_record(i, weights, grads, state, active.copy())
            newly = active & (converged_step < 0) & (loss <= setup.loss_tolerance)
            converged_step[newly] = k
            for b_now, b_0 in zip(problem._balancedness(weights) if track else [], balance0):
                # Matrices (deep linear) or per-neuron vectors (homogeneous): all but the batch axis.
                norms = np.sqrt(np.sum((b_now - b_0) ** 2, axis=tuple(range(1, b_now.ndim))))
                # B_j overflowed (inf − inf = NaN): the drift is +inf, as on every backend.
                norms = np.where(np.isnan(norms), np.inf, norms)
                drift[active] = np.maximum(drift[active], norms[active])
            if ref_distance is not None:
                dist = np.linalg.norm(flatten(weights) - setup.reference[:, k, :], axis=1)
                ref_distance[active] = np.maximum(ref_distance[active], dist[active])
            if k == setup.n_steps or not active.any():
                break
            new_weights, new_state = optimizer.step(tuple(weights), grads, state, setup.learning_rates)
            previous_state = state
            state = select_state(active, new_state, state)
            for j, (w, w_new) in enumerate(zip(weights, new_weights)):
                previous[j][active] = w[active]
                w[active] = w_new[active]

    status = descent_status_codes(converged_step, divergence_step)
    # Diverged trajectories: the loss of the kept (previous) iterate.
    if (divergence_step >= 0).any():
        kept = problem.loss(tuple(weights))
        final_loss[divergence_step >= 0] = np.asarray(kept)[divergence_step >= 0]
    return DescentResult(
        final_weights=tuple(weights),
        steps=setup.record_steps.copy(),
        losses=losses,
        final_loss=final_loss,
        status_codes=status,
        divergence_step=divergence_step,
        converged_step=converged_step,
        balancedness_drift=drift,
        learning_rates=setup.learning_rates.copy(),
        reference_distance=ref_distance,
        weights=tuple(recorded) if recorded is not None else None,
        batched=setup.batched,
        backend="numpy",
        extra=optimizer.state_arrays(state),
    )

