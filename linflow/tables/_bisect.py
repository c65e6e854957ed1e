"""Empirical critical step size of GD by a batched geometric bisection.

For each initialization b, GD is run at many step sizes in *one* batched call of
:func:`linflow.simulate_descent` (trajectory axis = initialization × step size). A run
*converges* when it never diverged and its loss after the step budget is ≤ ``loss_tolerance``.
The bracket ``[lower_b, upper_b]`` always satisfies: GD converged at ``lower_b`` and at every
smaller step tried, and failed at ``upper_b``; each round puts ``grid`` geometric points
strictly inside it, so the bracket ratio ``upper/lower`` shrinks to its ``1/(grid + 1)``-th
power per round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._validation import check_positive
from ..descent import simulate_descent
from ..problem import Problem
from ..results import Status


@dataclass(frozen=True)
class CriticalSteps:
    """Per-initialization bracket of the critical step size.

    Attributes
    ----------
    lower : ndarray, (B,)
        Largest step size seen to converge (with every smaller one tried); NaN when GD failed
        already at the bottom of the search range.
    upper : ndarray, (B,)
        Smallest step size above ``lower`` seen to fail; ``inf`` when GD converged at the top
        of the search range.
    n_runs : int or None
        GD trajectories simulated in total (None: not recorded, e.g. a bracket read back from a
        sweep).
    """

    lower: np.ndarray
    upper: np.ndarray
    n_runs: Optional[int] = None

    @property
    def resolved(self) -> np.ndarray:
        """Initializations whose critical step lies inside the search range."""
        return np.isfinite(self.lower) & np.isfinite(self.upper)


def converged_mask(result, loss_tolerance: float) -> np.ndarray:
    """Converged = not diverged and final loss ≤ tolerance (after the whole step budget)."""
    return (result.status_codes != Status.DIVERGED.code) & (result.final_loss <= loss_tolerance)


def _run(problem, weights, etas, n_steps, loss_tolerance, backend):
    """Run ``weights[b]`` at ``etas[b, g]`` for all (b, g); returns the converged mask (b, g)."""
    b, g = etas.shape
    batch = tuple(np.repeat(w, g, axis=0) for w in weights)
    res = simulate_descent(
        problem, batch, learning_rate=etas.reshape(-1), n_steps=n_steps, record_every=n_steps,
        loss_tolerance=loss_tolerance, backend=backend,
    )
    return converged_mask(res, loss_tolerance).reshape(b, g)


def _update_brackets(index, etas, ok, lower, upper):
    """Shrink the brackets of trajectories ``index`` from their sorted grids ``etas``.

    Only the points below the first failure count as converged (first-failure rule), so the
    bracket stays "converged at lower and at every smaller step tried, failed at upper".
    """
    for i, b in enumerate(index):
        fails = np.flatnonzero(~ok[i])
        if fails.size == 0:
            lower[b] = etas[i, -1]
        else:
            upper[b] = etas[i, fails[0]]
            if fails[0] > 0:
                lower[b] = etas[i, fails[0] - 1]


def critical_step_sizes(
    problem: Problem,
    weights0,
    *,
    low,
    high,
    n_steps: int,
    loss_tolerance: float,
    grid: int = 8,
    rounds: int = 3,
    backend=None,
    progress=None,
) -> CriticalSteps:
    """Bracket, per initialization, the largest step size for which GD converges.

    Parameters
    ----------
    problem : Problem
    weights0 : tuple of ndarray
        Batched initializations ``(B, d_{j+1}, d_j)``.
    low, high : float or ndarray (B,)
        Search range; round 0 tries ``grid`` geometric points from ``low`` to ``high``.
    n_steps : int
        Step budget of every GD run.
    loss_tolerance : float
        Convergence threshold on the final loss.
    grid : int
        Step sizes per initialization per round (≥ 2).
    rounds : int
        Number of batched GD calls (≥ 1).
    backend : str, optional
        Forwarded to :func:`linflow.simulate_descent` (None: the fast default engine).
    progress : callable, optional
        Called once per round.

    Returns
    -------
    CriticalSteps
    """
    weights0 = problem.network.check(weights0, "weights0")
    if weights0[0].ndim != 3:
        raise ValueError(f"weights0 must be batched (leading axis B); got weights0[0].shape={weights0[0].shape}")
    grid = check_positive(grid, "grid", integer=True)
    rounds = check_positive(rounds, "rounds", integer=True)
    if grid < 2:
        raise ValueError(f"grid must be at least 2; got grid={grid}")
    loss_tolerance = check_positive(loss_tolerance, "loss_tolerance")
    n = weights0[0].shape[0]
    low = np.broadcast_to(np.asarray(check_positive(low, "low", allow_array=True), dtype=float), (n,))
    high = np.broadcast_to(np.asarray(check_positive(high, "high", allow_array=True), dtype=float), (n,))
    if np.any(high <= low):
        raise ValueError(f"high must exceed low; got low={low.min()!r}, high={high.min()!r}")
    lower = np.full(n, np.nan)
    upper = np.full(n, np.inf)
    frac = np.linspace(0.0, 1.0, grid)
    etas = np.exp(np.log(low)[:, None] + frac[None, :] * np.log(high / low)[:, None])
    ok = _run(problem, weights0, etas, n_steps, loss_tolerance, backend)
    _update_brackets(np.arange(n), etas, ok, lower, upper)
    n_runs = etas.size
    if progress is not None:
        progress()
    inner = np.arange(1, grid + 1) / (grid + 1)
    for _ in range(rounds - 1):
        active = np.flatnonzero(np.isfinite(lower) & np.isfinite(upper))
        if active.size:
            lo, hi = lower[active], upper[active]
            etas = np.exp(np.log(lo)[:, None] + inner[None, :] * np.log(hi / lo)[:, None])
            sub = tuple(w[active] for w in weights0)
            ok = _run(problem, sub, etas, n_steps, loss_tolerance, backend)
            n_runs += etas.size
            _update_brackets(active, etas, ok, lower, upper)
        if progress is not None:
            progress()
    return CriticalSteps(lower=lower, upper=upper, n_runs=n_runs)
