"""``iterations``: the iteration bound of Arora et al. 2019 vs the iterations GD actually needs.

Setting of :mod:`linflow.tables._margin` (balanced initialization with deficiency margin c,
so ``ℓ(0) = ½(σ_min(Φ) − c)²`` for every initialization). Per depth N and step η:

* ``T_ACGH = ln(ℓ(0)/ε) / (η c^{2(N−1)/N})`` — Arora, Cohen, Golowich & Hu 2019 (ICLR),
  Thm 1 (theory/deep-linear, constants [recalled]); the theorem assumes ``η ≤ η_ACGH``, so for
  larger η the column is the formula's extrapolation, flagged by ``η/η_ACGH > 1``;
* ``T_GF = t_ε/η`` with ``t_ε = ln(ℓ(0)/ε) / (2N c^{2(N−1)/N})`` — the time at which the
  square-target gradient-flow margin rate ``ℓ(t) ≤ ℓ(0)e^{−2N c^{2(N−1)/N} t}``
  (``gf_margin_rate_square``, derived in this project from Arora et al. 2019's idealized proof
  of Lemma 1; it needs d_0 = d_N, which the widths (d, …, d) here satisfy) guarantees ℓ ≤ ε,
  counted in GD steps of size η (``T_ACGH/T_GF = 2N``);
* the first step k with ``ℓ(θ_k) ≤ ε`` for GD (median and maximum over initializations).
"""

from __future__ import annotations

import numpy as np

from . import Option, checked_options
from ._format import Column, Progress, Table, sequence_text
from ._iterate import steps_to_tolerance
from ._margin import margin_inits, margin_problem, margin_target, sigma_min

NAME = "iterations"
SUMMARY = "Arora et al. 2019 iteration bound (and the GF margin rate) vs the iterations GD needs to reach ε"

OPTIONS = (
    Option("depths", int, (2, 3, 4, 6, 8, 10), "depths N (default 2 3 4 6 8 10)", multiple=True),
    Option("learning_rates", float, (0.01, 0.03, 0.1), "GD step sizes η (default 0.01 0.03 0.1)", multiple=True),
    Option("epsilon", float, 1e-6, "target loss ε (default 1e-6)"),
    Option("target_norm", float, 1.0, "target Frobenius norm ‖Φ‖_F (default 1)"),
    Option("margin_fraction", float, 0.5, "deficiency margin c as a fraction of σ_min(Φ) (default 0.5)"),
    Option("dim", int, 2, "input = hidden = output width d (default 2)"),
    Option("n_inits", int, 256, "initializations per depth (default 256)"),
    Option("max_steps", int, 200_000, "give up after this many GD steps (default 200000)"),
    Option("seed", int, 0, "seed of the target and initializations (default 0)"),
)

COLUMNS = (
    Column("depth", "N", "$N$"),
    Column("learning_rate", "η", r"$\eta$"),
    Column("eta_over_arora", "η/η_ACGH", r"$\eta/\eta_{\mathrm{ACGH}}$"),
    Column("bound_arora", "T_ACGH", r"$T_{\mathrm{ACGH}}$", ".4g"),
    Column("bound_flow", "T_GF = t_ε/η", r"$t_\varepsilon/\eta$", ".4g"),
    Column("steps_median", "GD steps median", "GD median", ".4g"),
    Column("steps_max", "GD steps max", "GD max", ".4g"),
    Column("ratio_arora", "max GD/T_ACGH", r"$\max$ GD$/T_{\mathrm{ACGH}}$"),
    Column("ratio_flow", "max GD/T_GF", r"$\max$ GD$/T_{\mathrm{GF}}$"),
    Column("failed", "not reached", "not reached"),
)


def flow_time(depth: int, margin: float, initial_loss: float, epsilon: float) -> float:
    """``t_ε = ln(ℓ(0)/ε) / (2N c^{2(N−1)/N})``: when the square-target GF margin rate guarantees ℓ ≤ ε.

    Inverts ``ℓ(t) ≤ ℓ(0) exp(−2N c^{2(N−1)/N} t)`` (``gf_margin_rate_square``: square target
    d_0 = d_N only; for other shapes the rate is 2c^{2(N−1)/N}, ``gf_margin_rate``), derived in
    this project from the idealized (GF) proof of Lemma 1 of Arora, Cohen, Golowich & Hu 2019.
    """
    return float(np.log(initial_loss / epsilon) / (2 * depth * margin ** (2 * (depth - 1) / depth)))


@checked_options
def build(
    *,
    depths=OPTIONS[0].default,
    learning_rates=OPTIONS[1].default,
    epsilon: float = 1e-6,
    target_norm: float = 1.0,
    margin_fraction: float = 0.5,
    dim: int = 2,
    n_inits: int = 256,
    max_steps: int = 200_000,
    seed: int = 0,
    backend=None,
    progress=None,
) -> Table:
    """Build the ``iterations`` table (see the module docstring); one row per (N, η).

    Rows also carry ``"steps"`` (per-initialization step counts, NaN: not reached), ``"target"``,
    ``"weights0"`` and ``"margin"`` (for recomputing a row directly).
    """
    from .. import bounds  # lazy: SymPy

    depths, learning_rates = tuple(depths), tuple(learning_rates)
    if not 0 < margin_fraction < 1:
        raise ValueError(f"margin_fraction must lie in (0, 1); got margin_fraction={margin_fraction!r}")
    # The target from stream (seed, 0), each depth's initializations from (seed, 1, depth):
    # a row does not depend on which other depths are built.
    target = margin_target(dim, target_norm, np.random.default_rng([seed, 0]))
    c = margin_fraction * sigma_min(target)
    with np.errstate(over="ignore"):
        ell0 = 0.5 * np.float64(sigma_min(target) - c) ** 2  # ‖W_e(0) − Φ‖_F = σ_min − c exactly
    if not np.isfinite(ell0):
        raise ValueError(f"target_norm too large: the initial loss overflows float64; got target_norm={target_norm!r}")
    ell0 = float(ell0)
    if not epsilon < ell0:
        raise ValueError(f"epsilon must be below the initial loss {ell0:.6g}; got epsilon={epsilon!r}")
    etas = np.asarray(learning_rates, dtype=np.float64)
    rows = []
    with Progress(len(depths), NAME, enabled=progress) as bar:
        for depth in depths:
            bar.update(0, f"{NAME} N={depth}")
            problem = margin_problem(depth, target)
            weights0 = margin_inits(problem, c, n_inits, np.random.default_rng([seed, 1, depth]))
            # One batched call per depth: every initialization at every η.
            batch = tuple(np.tile(w, (len(etas), 1, 1)) for w in weights0)
            lr = np.repeat(etas, n_inits)
            steps, _ = steps_to_tolerance(
                problem, batch, lr, loss_tolerance=epsilon, max_steps=max_steps, backend=backend
            )
            eta_a = bounds.get("arora2019_step_size").evaluate(depth=depth, margin=c, target_norm=target_norm)
            for i, eta in enumerate(etas):
                s = steps[i * n_inits:(i + 1) * n_inits]
                t_arora = bounds.get("arora2019_iterations").evaluate(
                    depth=depth, margin=c, learning_rate=eta, initial_loss=ell0, epsilon=epsilon)
                t_flow = flow_time(depth, c, ell0, epsilon) / eta
                reached = np.isfinite(s)
                rows.append({
                    "depth": depth, "learning_rate": float(eta), "eta_over_arora": float(eta / eta_a),
                    "bound_arora": t_arora, "bound_flow": t_flow,
                    "steps_median": float(np.median(s[reached])) if reached.any() else None,
                    "steps_max": float(np.max(s)) if reached.all() else None,
                    "ratio_arora": float(np.max(s) / t_arora) if reached.all() else None,
                    "ratio_flow": float(np.max(s) / t_flow) if reached.all() else None,
                    "failed": int(np.sum(~reached)),
                    "steps": s, "target": target, "weights0": weights0, "margin": c,
                })
            bar.update()
    notes = (
        f"Whitened loss, widths ({dim}, …, {dim}), ‖Φ‖_F = {target_norm:g}, σ_min(Φ)/σ_max(Φ) = 0.75, "
        f"margin c = {c:.4g}, {n_inits} balanced initializations per depth with ℓ(0) = ½(σ_min − c)² = {ell0:.4g}; "
        f"ε = {epsilon:g}.",
        "T_ACGH = ln(ℓ(0)/ε)/(η c^{2(N−1)/N}) (Arora et al. 2019, Thm 1, constants recalled); its "
        "hypotheses need η ≤ η_ACGH, so rows with η/η_ACGH > 1 test the formula outside them.",
        "T_GF = t_ε/η, t_ε = ln(ℓ(0)/ε)/(2N c^{2(N−1)/N}) from the square-target GF margin rate "
        "(d_0 = d_N here; derived from Arora et al. 2019's idealized proof of Lemma 1).",
        f"GD steps: first k with ℓ(θ_k) ≤ ε; 'not reached': diverged or not within {max_steps} steps "
        "(then max and ratios are left out).",
        f"Depths {sequence_text(depths)}; seed {seed}.",
    )
    params = dict(depths=depths, learning_rates=learning_rates, epsilon=epsilon, target_norm=target_norm,
                  margin_fraction=margin_fraction, dim=dim, n_inits=n_inits, max_steps=max_steps, seed=seed)
    return Table(NAME, "Iterations to reach ε: Arora et al. 2019 bound and GF margin rate vs GD", COLUMNS,
                 tuple(rows), notes, params)
