"""Result objects and statuses shared by every simulator and integrator."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from ._persist import ResultIO

__all__ = ["Status", "DescentResult", "FlowResult"]


class Status(enum.Enum):
    """Outcome of one trajectory. The values are human-readable messages."""

    MAX_STEPS = "ran all steps without reaching the loss tolerance"
    CONVERGED = "reached the loss tolerance"
    DIVERGED = "diverged: the loss overflowed or became non-finite"
    SUCCESS = "integrated over the whole time span"
    FAILED = "the integrator failed"
    LEFT_REGIME = "left the regime where the flow is valid"
    BUDGET_EXHAUSTED = "stopped early: the step or wall-clock budget ran out"

    @property
    def code(self) -> int:
        return _CODES[self]

    @classmethod
    def from_code(cls, code: int) -> "Status":
        return _FROM_CODE[int(code)]


_CODES = {s: i for i, s in enumerate(Status)}
_FROM_CODE = {i: s for s, i in _CODES.items()}


def descent_status_codes(converged_step: np.ndarray, divergence_step: np.ndarray) -> np.ndarray:
    """Per-trajectory :class:`Status` codes from the steps every engine streams.

    Divergence wins over convergence (a run that reached the tolerance and then blew up
    diverged); neither means the run used all its steps.
    """
    status = np.full(converged_step.shape, Status.MAX_STEPS.code, dtype=np.int8)
    status[converged_step >= 0] = Status.CONVERGED.code
    status[divergence_step >= 0] = Status.DIVERGED.code
    return status


@dataclass(frozen=True)
class DescentResult(ResultIO):
    """Outcome of :func:`linflow.simulate_descent` for a batch of B trajectories.

    Shapes: a *batched* run (batched weights, or an array of learning rates) keeps the leading
    trajectory axis B on every per-trajectory field, as listed below. An *unbatched* run (one
    network and one scalar learning rate, ``batched=False``) drops it everywhere:
    ``final_weights[j]`` is ``(d_{j+1}, d_j)``, ``losses`` ``(R,)``, ``weights[j]``
    ``(R, d_{j+1}, d_j)``, and ``final_loss``, ``status_codes``, ``divergence_step``,
    ``converged_step``, ``balancedness_drift``, ``learning_rates`` and ``reference_distance``
    are NumPy scalars (``status`` is one :class:`Status`).

    Attributes
    ----------
    final_weights : tuple of ndarray, each (B, d_{j+1}, d_j)
        Last iterate of each trajectory; for a diverged trajectory the last iterate whose loss
        was still finite and below the divergence threshold.
    steps : ndarray of int, (R,)
        Step indices k at which losses (and weights) were recorded (``t = kη``).
    losses : ndarray, (B, R)
        Loss at the recorded steps; NaN for steps after a trajectory diverged.
    final_loss : ndarray, (B,)
        Loss of ``final_weights``.
    status_codes : ndarray of int8, (B,)
        :class:`Status` codes, see :attr:`status`.
    divergence_step : ndarray of int64, (B,)
        Step at which the loss first overflowed / became non-finite; −1 if never.
    converged_step : ndarray of int64, (B,)
        First step with loss ≤ ``loss_tolerance``; −1 if never (or no tolerance given).
    balancedness_drift : ndarray, (B,)
        ``max_k max_j ‖B_j(θ_k) − B_j(θ_0)‖_F`` over the steps taken (GF keeps it at 0); for a
        ReLU / leaky-ReLU network ``B_j`` is the vector of per-neuron balances, the diagonal
        of ``W_{j+1}ᵀW_{j+1} − W_jW_jᵀ`` (:func:`linflow.rescaling.neuron_balance`). +inf
        when ``B_j`` overflows float64 (huge but finite weights), NaN only when not tracked
        (``track_balancedness=False``); every backend reports the same.
    reference_distance : ndarray (B,) or None
        ``max_k ‖θ_k − θ_ref(k)‖`` when a reference path was given.
    weights : tuple of ndarray, each (B, R, d_{j+1}, d_j), or None
        Recorded weights when ``record_weights=True``.
    learning_rates : ndarray, (B,)
    batched : bool
        False when the caller passed a single trajectory (then :attr:`status` is one Status).
    backend : str
        The engine that ran: ``"numba"``, ``"numpy"`` or ``"cuda"``.
    observables : dict
        ``simulate_descent(observe=...)``: each observable by name (:mod:`linflow.observables`),
        shape ``(B, n_observed[, m])`` at the steps :attr:`observable_steps`; NaN after a
        trajectory diverged. Empty when nothing was observed.
    observable_steps : ndarray of int, (n_observed,), or None
        Step indices of the observables (every ``observe_every`` steps and the last step).
    extra : dict
        The optimizer's final state by name (``"velocity"``, ``"nu"``, ``"mu"``: per-layer
        arrays ``(B, d_{j+1}, d_j)``, or ``(B,)`` for Scalar RMSProp's ν; without the B axis for
        an unbatched run), kept at the last good iterate of a diverged trajectory; empty for GD
        (:mod:`linflow.optimizers`).
    """

    final_weights: tuple
    steps: np.ndarray
    losses: np.ndarray
    final_loss: np.ndarray
    status_codes: np.ndarray
    divergence_step: np.ndarray
    converged_step: np.ndarray
    balancedness_drift: np.ndarray
    learning_rates: np.ndarray
    reference_distance: Optional[np.ndarray] = None
    weights: Optional[tuple] = None
    batched: bool = True
    backend: str = "numpy"
    extra: dict = field(default_factory=dict)
    observables: dict = field(default_factory=dict)
    observable_steps: Optional[np.ndarray] = None

    @property
    def status(self):
        """A :class:`Status` for a single trajectory, a tuple of them for a batch."""
        if not self.batched:
            return Status.from_code(int(self.status_codes))
        return tuple(Status.from_code(c) for c in self.status_codes)

    @property
    def diverged(self):
        """Boolean mask of diverged trajectories (a NumPy bool for an unbatched run)."""
        return self.status_codes == Status.DIVERGED.code

    def trajectory(self, index: int) -> tuple:
        """Final weights of trajectory ``index`` as unbatched arrays (index 0 when unbatched)."""
        if not self.batched:
            if index not in (0, -1):
                raise IndexError(f"index must be 0 for an unbatched run; got index={index!r}")
            return self.final_weights
        return tuple(w[index] for w in self.final_weights)

    def _repr_html_(self) -> str:
        from collections import Counter

        from ._html import number, table

        counts = Counter(Status.from_code(c).name.lower() for c in self.status_codes)
        finite = self.final_loss[np.isfinite(self.final_loss)]
        rows = [
            ("trajectories", self.final_loss.size),
            ("backend", self.backend),
            ("steps recorded", f"{self.steps.size} (last k = {int(self.steps[-1]) if self.steps.size else 0})"),
            ("learning rates", ", ".join(number(x) for x in np.unique(self.learning_rates)[:8])),
            ("statuses", ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))),
            ("final loss (min / median / max)",
             " / ".join(number(f(finite)) for f in (np.min, np.median, np.max)) if finite.size else "—"),
            ("max balancedness drift",
             number(np.max(self.balancedness_drift)) if self.balancedness_drift.size else "—"),
        ]
        return table("DescentResult", rows)


def _first_trajectory(state):
    """An optimizer state (per-layer tuple or per-trajectory array) without its batch axis."""
    if isinstance(state, tuple):
        return tuple(s[0] for s in state)
    if isinstance(state, np.ndarray) and state.ndim >= 1:
        return state[0]
    return state


def drop_batch_axis(result: DescentResult) -> DescentResult:
    """The unbatched form of a one-trajectory result (see :class:`DescentResult`, "Shapes").

    Engines compute with a batch axis of 1; :func:`linflow.simulate_descent` calls this for an
    unbatched run so that every field loses that axis, not only some of them.
    """
    first = lambda a: None if a is None else a[0]  # noqa: E731
    extra = {name: _first_trajectory(state) for name, state in result.extra.items()}
    return replace(
        result,
        final_weights=tuple(w[0] for w in result.final_weights),
        losses=result.losses[0],
        final_loss=result.final_loss[0],
        status_codes=result.status_codes[0],
        divergence_step=result.divergence_step[0],
        converged_step=result.converged_step[0],
        balancedness_drift=result.balancedness_drift[0],
        learning_rates=result.learning_rates[0],
        reference_distance=first(result.reference_distance),
        weights=None if result.weights is None else tuple(w[0] for w in result.weights),
        batched=False,
        extra=extra,
        observables={name: values[0] for name, values in result.observables.items()},
    )


@dataclass(frozen=True)
class FlowResult(ResultIO):
    """Outcome of :func:`linflow.integrate_flow` (gradient flow ``θ' = −∇f(θ)``).

    Attributes
    ----------
    t : ndarray, (R,)
        Evaluation times.
    weights : tuple of ndarray, each (R, d_{j+1}, d_j)
        Weights at ``t``.
    losses : ndarray, (R,)
    final_weights : tuple of ndarray
    status : Status
    message : str
        The integrator's message.
    sol : callable or None
        Dense output ``sol(t) -> flat parameters`` valid on the whole ``t_span``.
    n_evaluations : int
        Number of gradient evaluations.
    pattern_change_times : ndarray (C,) or None
        Homogeneous (ReLU / leaky-ReLU) problems only: sorted times at which a hidden
        pre-activation changed sign along the flow (located by event detection); None for
        networks without activation patterns.
    pattern_change_sites : ndarray of int (C, 3) or None
        ``(layer, neuron, sample)`` of each change, in the order of ``pattern_change_times``.
    observables : dict
        ``integrate_flow(observe=...)``: each observable at the times ``t``, ``(R[, m])``.
    """

    t: np.ndarray
    weights: tuple
    losses: np.ndarray
    final_weights: tuple
    status: Status
    message: str
    sol: object = None
    n_evaluations: int = 0
    pattern_change_times: Optional[np.ndarray] = None
    pattern_change_sites: Optional[np.ndarray] = None
    observables: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status is Status.SUCCESS

    @property
    def pattern_changes(self) -> Optional[int]:
        """Number of activation-pattern changes along the flow (None without patterns)."""
        return None if self.pattern_change_times is None else int(self.pattern_change_times.size)

    def _repr_html_(self) -> str:
        from ._html import number, table

        rows = [
            ("status", f"{self.status.name.lower()}: {self.message}"),
            ("t", f"{number(self.t[0])} … {number(self.t[-1])} ({self.t.size} points)" if self.t.size else "—"),
            ("loss (first / last)",
             f"{number(self.losses[0])} / {number(self.losses[-1])}" if self.losses.size else "—"),
            ("gradient evaluations", self.n_evaluations),
        ]
        if self.pattern_changes is not None:
            rows.append(("activation-pattern changes", self.pattern_changes))
        return table("FlowResult", rows)
