"""Guards for ODE integrations: non-finite fields, step and wall-clock budgets.

SciPy's adaptive solvers cannot recover from a non-finite right-hand side: the error norm
becomes NaN, every comparison with it is False, and the step-size loop inside one
``solver.step()`` never ends (measured: 100 % CPU, no return, for weights of size ~1e150).
The guard therefore checks every evaluation of the field and every accepted step, and
interrupts the solver by raising :class:`FlowStop`, which the integration loop turns into a
result status:

* a non-finite (overflowed) loss or gradient → :attr:`Status.DIVERGED` with the time;
* more accepted steps than ``max_steps`` or more wall-clock seconds than ``max_seconds`` →
  :attr:`Status.BUDGET_EXHAUSTED` with the time reached.

It also provides :class:`StableDOP853`: SciPy's DOP853 whose error norm is computed without
squaring (``e5²/√(e5² + 0.01 e3²) = e5 · e5/hypot(e5, 0.1 e3)``). SciPy squares the scaled
error norms, which underflow to 0 (or to subnormals whose ratio is 0/0 = NaN) when the state is
~1e-160 below ``atol``; the NaN error norm then shrinks the step until "Required step size is
less than spacing between numbers" (found on widths (2, 1, 1) with weights ``[[0, 0]]``,
``[[3.11e-161]]``).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau

from .results import Status

#: Default number of accepted solver steps before an integration stops (BUDGET_EXHAUSTED).
DEFAULT_MAX_STEPS = 20_000
#: Default wall-clock budget of one integration, in seconds.
DEFAULT_MAX_SECONDS = 120.0


class FlowStop(Exception):
    """Raised inside a solver to end the integration with ``status`` and ``message``."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class FlowGuard:
    """Counts steps and seconds of one integration and checks field values for finiteness."""

    def __init__(self, max_steps: int, max_seconds: float):
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.steps = 0
        self._start = time.monotonic()

    def field(self, t: float, value: np.ndarray) -> np.ndarray:
        """Check one evaluation of the right-hand side at time ``t`` (called by the solver)."""
        if not np.all(np.isfinite(value)):
            raise FlowStop(Status.DIVERGED, f"the gradient overflowed or became non-finite at t={t:.6g}")
        self._check_clock(t)
        return value

    def loss(self, t: float, value: float) -> None:
        """Check the loss at time ``t`` (start and accepted steps)."""
        if not np.isfinite(value):
            raise FlowStop(Status.DIVERGED, f"the loss overflowed or became non-finite at t={t:.6g}")

    def step(self, t: float) -> None:
        """Count one accepted step that reached time ``t``."""
        self.steps += 1
        if self.steps >= self.max_steps:
            raise FlowStop(
                Status.BUDGET_EXHAUSTED,
                f"stopped at t={t:.6g} after max_steps={self.max_steps} solver steps; raise max_steps "
                "(or loosen rtol/atol) to integrate further",
            )
        self._check_clock(t)

    def advance(self, solver, loss):
        """One step of ``solver`` checked by the guard: ``(dense output, None)``, or ``(None,
        message)`` when the integrator fails. ``loss(y)`` is the loss at the state ``y``; a
        non-finite value or field raises :class:`FlowStop`."""
        t_old = solver.t
        step_message = solver.step()
        if solver.status == "failed":
            return None, f"the integrator failed at t={t_old:.6g}: {step_message}"
        self.field(solver.t, solver.y)
        self.loss(solver.t, loss(solver.y))
        return solver.dense_output(), None  # DOP853 evaluates the field here: may stop

    def _check_clock(self, t: float) -> None:
        elapsed = time.monotonic() - self._start
        if elapsed > self.max_seconds:
            raise FlowStop(
                Status.BUDGET_EXHAUSTED,
                f"stopped at t={t:.6g} after {elapsed:.1f} s (max_seconds={self.max_seconds:g}); raise "
                "max_seconds to integrate further",
            )


class StableDOP853(DOP853):
    """DOP853 with an underflow-safe error norm (see the module docstring)."""

    def _estimate_error_norm(self, K, h, scale):
        err5 = np.linalg.norm(np.dot(K.T, self.E5) / scale)
        err3 = np.linalg.norm(np.dot(K.T, self.E3) / scale)
        if err5 == 0.0:
            return 0.0
        # Same value as SciPy's |h|·e5²/√((e5² + 0.01e3²)·n), without squaring e5 or e3.
        return np.abs(h) * err5 * (err5 / np.hypot(err5, 0.1 * err3)) / np.sqrt(len(scale))


SOLVERS = {"RK45": RK45, "RK23": RK23, "DOP853": StableDOP853, "Radau": Radau, "BDF": BDF, "LSODA": LSODA}
