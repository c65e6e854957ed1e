"""Result objects and statuses shared by every simulator and integrator."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

__all__ = ["Status", "DescentResult", "FlowResult"]


class Status(enum.Enum):
    """Outcome of one trajectory. The values are human-readable messages."""

    MAX_STEPS = "ran all steps without reaching the loss tolerance"
    CONVERGED = "reached the loss tolerance"
    DIVERGED = "diverged: the loss overflowed or became non-finite"
    SUCCESS = "integrated over the whole time span"
    FAILED = "the integrator failed"
    LEFT_REGIME = "left the regime where the flow is valid"

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
class DescentResult:
    """Outcome of :func:`linflow.simulate_descent` for a batch of B trajectories.

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
        of ``W_{j+1}ᵀW_{j+1} − W_jW_jᵀ`` (:func:`linflow.rescaling.neuron_balance`).
    reference_distance : ndarray (B,) or None
        ``max_k ‖θ_k − θ_ref(k)‖`` when a reference path was given.
    weights : tuple of ndarray, each (B, R, d_{j+1}, d_j), or None
        Recorded weights when ``record_weights=True``.
    learning_rates : ndarray, (B,)
    batched : bool
        False when the caller passed a single trajectory (then :attr:`status` is one Status).
    backend : str
        The engine that ran: ``"numba"``, ``"numpy"`` or ``"cuda"``.
    extra : dict
        The optimizer's final state by name (``"velocity"``, ``"nu"``, ``"mu"``: per-layer
        arrays ``(B, d_{j+1}, d_j)``, or ``(B,)`` for Scalar RMSProp's ν), kept at the last good
        iterate of a diverged trajectory; empty for GD (:mod:`linflow.optimizers`).
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

    @property
    def status(self):
        """A :class:`Status` for a single trajectory, a tuple of them for a batch."""
        statuses = tuple(Status.from_code(c) for c in self.status_codes)
        return statuses if self.batched else statuses[0]

    @property
    def diverged(self) -> np.ndarray:
        """Boolean mask of diverged trajectories."""
        return self.status_codes == Status.DIVERGED.code

    def trajectory(self, index: int) -> tuple:
        """Final weights of trajectory ``index`` as unbatched arrays."""
        return tuple(w[index] for w in self.final_weights)


@dataclass(frozen=True)
class FlowResult:
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

    @property
    def success(self) -> bool:
        return self.status is Status.SUCCESS

    @property
    def pattern_changes(self) -> Optional[int]:
        """Number of activation-pattern changes along the flow (None without patterns)."""
        return None if self.pattern_change_times is None else int(self.pattern_change_times.size)
