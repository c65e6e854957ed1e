"""``sharpness``: the edge-of-stability table — minimal sharpness, GD's final sharpness, 2/η.

Whitened loss with the target of :mod:`linflow.tables._margin` and Gaussian initial layers.
Per depth N and step size η (given as fractions of ``2/S_min``):

* ``S_min = N σ_1(Φ)^{2−2/N}``: sharpness of the balanced global minima (theory/deep-linear
  [checked]); GD is linearly stable at a minimum iff its sharpness is ≤ 2/η (theory/scalar),
  so for η > 2/S_min GD should converge to no minimum if ``S_min`` is the smallest sharpness
  over all minima — the table measures it;
* how many initializations have a gradient-flow limit sharper than 2/η (GF integrated with
  LSODA to convergence), i.e. where GD *cannot* follow GF to its limit;
* GD's outcome after the step budget: converged (loss ≤ tolerance), diverged, or neither
  (oscillating at the edge of stability), and its final sharpness ``S(θ_K)``, compared with
  2/η through ``ηS/2``.
"""

from __future__ import annotations

import numpy as np

from . import Option, checked_options
from ._bisect import converged_mask
from ._format import Column, Progress, Table, sequence_text
from ._margin import margin_problem, margin_target, sigma_max

NAME = "sharpness"
SUMMARY = "edge of stability: minimal sharpness at minima vs GD's final sharpness vs 2/η, per η and depth"

OPTIONS = (
    Option("depths", int, (2, 3, 4), "depths N (default 2 3 4)", multiple=True),
    Option("eta_fractions", float, (0.5, 0.8, 0.95, 1.05, 1.25),
           "step sizes as fractions of 2/S_min (default 0.5 0.8 0.95 1.05 1.25)", multiple=True),
    Option("n_inits", int, 32, "Gaussian initializations per depth (default 32)"),
    Option("init_std", float, 0.7, "std of the Gaussian initial entries (default 0.7)"),
    Option("n_steps", int, 5000, "GD step budget (default 5000)"),
    Option("loss_tolerance", float, 1e-10, "converged: final loss ≤ this (default 1e-10)"),
    Option("dim", int, 2, "input = hidden = output width d (default 2)"),
    Option("target_norm", float, 1.0, "target Frobenius norm ‖Φ‖_F (default 1)"),
    Option("seed", int, 0, "seed of target and initializations (default 0)"),
)

COLUMNS = (
    Column("depth", "N", "$N$"),
    Column("learning_rate", "η", r"$\eta$", ".4g"),
    Column("threshold", "2/η", r"$2/\eta$", ".4g"),
    Column("min_sharpness", "S_min", r"$S_{\min}$", ".4g"),
    Column("flow_sharper", "GF limit S > 2/η", r"GF $S>2/\eta$"),
    Column("converged", "GD converged", "conv."),
    Column("diverged", "GD diverged", "div."),
    Column("oscillating", "neither", "neither"),
    Column("final_median", "S(θ_K) median (conv.)", r"$S(\theta_K)$ med.", ".4g"),
    Column("final_min", "S(θ_K) min (conv.)", r"$S(\theta_K)$ min", ".4g"),
    Column("edge_max", "max ηS/2 (conv.)", r"$\max \eta S/2$", ".4f"),
    Column("edge_oscillating", "median ηS/2 (neither)", r"med. $\eta S/2$ (neither)", ".4f"),
)

#: GF is integrated to this time (LSODA: the sharp limits make the flow stiff).
FLOW_HORIZON = 200.0
#: A GF run counts as converged when its final loss is below this.
FLOW_TOLERANCE = 1e-10


def flow_limit_sharpness(problem, weights0) -> np.ndarray:
    """Sharpness of the gradient-flow limit of each initialization (NaN: not converged)."""
    from ..flow import integrate_flow

    out = np.full(weights0[0].shape[0], np.nan)
    for b in range(out.size):
        w = tuple(x[b] for x in weights0)
        # LSODA: the flow is stiff near sharp minima; rtol 1e-8 resolves the limit's sharpness
        # to ~1e-6 relative, far below the differences the table shows.
        fl = integrate_flow(problem, w, t_span=(0.0, FLOW_HORIZON), method="LSODA", rtol=1e-8, atol=1e-10)
        if fl.success and fl.losses[-1] <= FLOW_TOLERANCE:
            out[b] = problem.sharpness(fl.final_weights)
    return out


@checked_options
def build(
    *,
    depths=OPTIONS[0].default,
    eta_fractions=OPTIONS[1].default,
    n_inits: int = 32,
    init_std: float = 0.7,
    n_steps: int = 5000,
    loss_tolerance: float = 1e-10,
    dim: int = 2,
    target_norm: float = 1.0,
    seed: int = 0,
    backend=None,
    progress=None,
) -> Table:
    """Build the ``sharpness`` table; one row per (N, η).

    Rows also carry ``"final_sharpness"`` (per initialization, NaN for diverged runs),
    ``"outcome"`` (per initialization: "converged", "diverged" or "neither") and
    ``"flow_sharpness"``, ``"target"`` and ``"weights0"``.
    """
    from .. import bounds  # lazy: SymPy
    from ..descent import simulate_descent
    from ..init import gaussian
    from ..results import Status

    depths, eta_fractions = tuple(depths), tuple(float(f) for f in eta_fractions)
    if not eta_fractions or min(eta_fractions) <= 0:
        raise ValueError(f"eta_fractions must be positive; got eta_fractions={eta_fractions!r}")
    with np.errstate(over="ignore"):
        if not np.isfinite(np.float64(init_std) ** (2 * max(depths, default=1))):  # the loss scale ‖W_e‖²
            raise ValueError(f"init_std too large: the initial loss overflows float64; got init_std={init_std!r}")
    # Target from stream (seed, 0), each depth's initializations from (seed, 1, depth).
    target = margin_target(dim, target_norm, np.random.default_rng([seed, 0]))
    rows = []
    with Progress(len(depths) * 2, NAME, enabled=progress) as bar:
        for depth in depths:
            bar.update(0, f"{NAME} N={depth} (GF limits)")
            problem = margin_problem(depth, target)
            weights0 = gaussian(problem.network.widths, std=init_std, seed=np.random.default_rng([seed, 1, depth]),
                                batch=n_inits)
            s_min = bounds.get("min_sharpness_balanced").evaluate(depth=depth, sigma_max=sigma_max(target))
            etas = 2.0 / s_min * np.asarray(eta_fractions)
            if not np.all(np.isfinite(etas) & (etas > 0)):  # S_min overflowed or η = f·2/S_min did
                raise ValueError(
                    f"target_norm and eta_fractions give no finite positive step η = f·2/S_min (S_min = {s_min:.3g}); "
                    f"got target_norm={target_norm!r}, eta_fractions={eta_fractions!r}"
                )
            s_flow = flow_limit_sharpness(problem, weights0)
            bar.update(1, f"{NAME} N={depth} (GD)")
            batch = tuple(np.tile(w, (len(etas), 1, 1)) for w in weights0)
            res = simulate_descent(problem, batch, learning_rate=np.repeat(etas, n_inits), n_steps=n_steps,
                                   record_every=n_steps, loss_tolerance=loss_tolerance, backend=backend)
            conv = converged_mask(res, loss_tolerance)
            div = res.status_codes == Status.DIVERGED.code
            final_s = np.full(conv.size, np.nan)
            for b in np.flatnonzero(~div):
                final_s[b] = problem.sharpness(res.trajectory(b))
            for i, eta in enumerate(etas):
                sl = slice(i * n_inits, (i + 1) * n_inits)
                c, d, s = conv[sl], div[sl], final_s[sl]
                osc = ~c & ~d
                rows.append({
                    "depth": depth, "learning_rate": float(eta), "threshold": float(2.0 / eta),
                    "min_sharpness": s_min,
                    "flow_sharper": int(np.sum(s_flow > 2.0 / eta)),
                    "converged": int(c.sum()), "diverged": int(d.sum()), "oscillating": int(osc.sum()),
                    "final_median": float(np.median(s[c])) if c.any() else None,
                    "final_min": float(np.min(s[c])) if c.any() else None,
                    "edge_max": float(np.max(eta * s[c] / 2)) if c.any() else None,
                    "edge_oscillating": float(np.median(eta * s[osc] / 2)) if osc.any() else None,
                    "final_sharpness": s,
                    "outcome": np.where(c, "converged", np.where(d, "diverged", "neither")),
                    "flow_sharpness": s_flow, "target": target, "weights0": weights0,
                })
            bar.update(1)
    notes = (
        f"Whitened loss, widths ({dim}, …, {dim}), ‖Φ‖_F = {target_norm:g}, σ_min(Φ)/σ_max(Φ) = 0.75; "
        f"{n_inits} Gaussian initializations (std {init_std:g}) per depth, the same at every η.",
        "S_min = N σ_1(Φ)^{2−2/N}: sharpness at the balanced minima (theory/deep-linear); η = fraction × 2/S_min.",
        f"GF limit S > 2/η: initializations whose gradient-flow limit (LSODA to t = {FLOW_HORIZON:g}) is "
        "sharper than 2/η, so GD cannot converge to it.",
        f"GD after {n_steps} steps: converged = never diverged and loss ≤ {loss_tolerance:g}; "
        "'neither' = bounded but not converged (edge-of-stability oscillation). "
        "S(θ_K) = λ_max of the Hessian at the last iterate.",
        f"Depths {sequence_text(depths)}; seed {seed}.",
    )
    params = dict(depths=depths, eta_fractions=eta_fractions, n_inits=n_inits, init_std=init_std,
                  n_steps=n_steps, loss_tolerance=loss_tolerance, dim=dim, target_norm=target_norm, seed=seed)
    return Table(NAME, "Edge of stability: minimal sharpness, GD's final sharpness and 2/η", COLUMNS,
                 tuple(rows), notes, params)
