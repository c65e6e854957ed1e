"""``step-size``: Arora et al.'s maximal η and the stability threshold 2/S vs the empirical one.

For each depth N, target norm ‖Φ‖_F and deficiency margin c (setting of
:mod:`linflow.tables._margin`):

* ``η_ACGH`` — the step-size bound of Arora, Cohen, Golowich & Hu 2019 (ICLR), Thm 1,
  ``c^{(4N−2)/N} / (6144 N³ ‖Φ‖_F^{(6N−4)/N})`` (theory.md §3, constants [recalled]);
* ``2/S`` — the GD stability threshold at the balanced global minimum,
  ``S = N σ_1(Φ)^{2−2/N}`` (theory.md §3 [checked]; a minimum is linearly stable iff S ≤ 2/η);
* ``η*`` — the empirical critical step size: per initialization, the largest η for which GD
  from that initialization converges, bracketed by a batched bisection
  (:mod:`linflow.tables._bisect`) on the fast engine; median and minimum over initializations.
"""

from __future__ import annotations

import numpy as np

from ._bisect import critical_step_sizes
from ._format import Column, Progress, Table, sequence_text
from ._margin import margin_inits, margin_problem, margin_target, sigma_max, sigma_min
from . import Option, checked_options

NAME = "step-size"
SUMMARY = "Arora et al. 2019 maximal η and 2/S at the balanced minimum vs the empirical critical η of GD"

#: Search range of the bisection, in units of 2/S(θ*_bal): GD cannot converge far above it.
SEARCH_RANGE = (0.25, 1.25)

OPTIONS = (
    Option("depths", int, tuple(range(2, 11)), "depths N (default 2 … 10)", multiple=True),
    Option("target_norms", float, (1.0,), "target Frobenius norms ‖Φ‖_F (default 1)", multiple=True),
    Option("margin_fractions", float, (0.5,), "deficiency margins c as fractions of σ_min(Φ) (default 0.5)", multiple=True),
    Option("dim", int, 2, "input = hidden = output width d (default 2)"),
    Option("n_inits", int, 256, "initializations per row (default 256)"),
    Option("n_steps", int, 2000, "GD step budget of every run (default 2000)"),
    Option("loss_tolerance", float, 1e-10, "converged: final loss ≤ this (default 1e-10)"),
    Option("grid", int, 8, "step sizes per initialization per bisection round (default 8)"),
    Option("rounds", int, 3, "bisection rounds = batched GD calls per row (default 3)"),
    Option("seed", int, 0, "seed of targets and initializations (default 0)"),
)

COLUMNS = (
    Column("depth", "N", "$N$"),
    Column("target_norm", "‖Φ‖_F", r"$\|\Phi\|_F$"),
    Column("margin", "c", "$c$"),
    Column("eta_arora", "η_ACGH (Arora et al. 2019)", r"$\eta_{\mathrm{ACGH}}$"),
    Column("eta_stability", "2/S(θ*_bal)", r"$2/S(\theta^*_{\mathrm{bal}})$"),
    Column("eta_empirical", "η* median", r"$\eta^*$ median", ".4g"),
    Column("eta_empirical_min", "η* min", r"$\eta^*$ min", ".4g"),
    Column("ratio_arora", "η*/η_ACGH", r"$\eta^*/\eta_{\mathrm{ACGH}}$"),
    Column("ratio_stability", "η*/(2/S)", r"$\eta^*/(2/S)$", ".4f"),
    Column("unresolved", "outside range", "outside range"),
)


def stability_step(depth: int, target: np.ndarray) -> float:
    """``2/S`` with ``S = N σ_1(Φ)^{2−2/N}`` the sharpness at the balanced minimum.

    theory.md §3 [checked] (``min_sharpness_balanced``) and §4 (GD is stable at a minimum iff
    ``S ≤ 2/η``).
    """
    from .. import bounds  # lazy: SymPy

    s = bounds.get("min_sharpness_balanced").evaluate(depth=depth, sigma_max=sigma_max(target))
    return 2.0 / s


@checked_options
def build(
    *,
    depths=OPTIONS[0].default,
    target_norms=OPTIONS[1].default,
    margin_fractions=OPTIONS[2].default,
    dim: int = 2,
    n_inits: int = 256,
    n_steps: int = 2000,
    loss_tolerance: float = 1e-10,
    grid: int = 8,
    rounds: int = 3,
    seed: int = 0,
    backend=None,
    progress=None,
) -> Table:
    """Build the ``step-size`` table (see the module docstring).

    Parameters
    ----------
    depths, target_norms, margin_fractions : sequences
        One row per combination; ``c = fraction · σ_min(Φ)``.
    dim, n_inits, n_steps, loss_tolerance, grid, rounds, seed
        See ``OPTIONS``.
    backend : str, optional
        GD engine (None: the fast default).
    progress : bool, optional
        Draw a progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    Table
        Rows carry, besides the columns, ``"critical"`` (the per-initialization
        :class:`~linflow.tables._bisect.CriticalSteps`), ``"target"`` and ``"weights0"`` (for
        plots and for recomputing a row directly).
    """
    from .. import bounds  # lazy: SymPy

    depths, target_norms, margin_fractions = tuple(depths), tuple(target_norms), tuple(margin_fractions)
    for f in margin_fractions:
        if not 0 < f < 1:
            raise ValueError(f"margin_fractions must lie in (0, 1); got margin_fractions={margin_fractions!r}")
    configs = [(n, t, f) for t in target_norms for f in margin_fractions for n in depths]
    rows = []
    with Progress(len(configs) * rounds, NAME, enabled=progress) as bar:
        # Every row draws from its own stream (seed, depth, …), so a row does not depend on
        # which other rows are built; the target direction is shared by all rows.
        targets = {t: margin_target(dim, t, np.random.default_rng([seed, 0])) for t in target_norms}
        for depth, norm, frac in configs:
            bar.update(0, f"{NAME} N={depth}")
            target = targets[norm]
            c = frac * sigma_min(target)
            problem = margin_problem(depth, target)
            weights0 = margin_inits(problem, c, n_inits, np.random.default_rng([seed, 1, depth, round(1e6 * frac)]))
            eta_s = stability_step(depth, target)
            crit = critical_step_sizes(
                problem, weights0, low=SEARCH_RANGE[0] * eta_s, high=SEARCH_RANGE[1] * eta_s,
                n_steps=n_steps, loss_tolerance=loss_tolerance, grid=grid, rounds=rounds,
                backend=backend, progress=bar.update,
            )
            eta_a = bounds.get("arora2019_step_size").evaluate(depth=depth, margin=c, target_norm=norm)
            # η* per initialization is the bracket's lower end (converged there); an
            # initialization converging at the top of the range counts with that top value
            # (a lower bound), one failing at the bottom is left out; both are counted.
            emp = crit.lower
            med = float(np.nanmedian(emp)) if np.any(np.isfinite(emp)) else None
            rows.append({
                "depth": depth, "target_norm": norm, "margin": c,
                "eta_arora": eta_a, "eta_stability": eta_s,
                "eta_empirical": med,
                "eta_empirical_min": float(np.nanmin(emp)) if med is not None else None,
                "ratio_arora": None if med is None else med / eta_a,
                "ratio_stability": None if med is None else med / eta_s,
                "unresolved": int(np.sum(~crit.resolved)),
                "critical": crit, "target": target, "weights0": weights0,
            })
    precision = (SEARCH_RANGE[1] / SEARCH_RANGE[0]) ** (1.0 / ((grid - 1) * (grid + 1) ** (rounds - 1)))
    notes = (
        f"Whitened loss ½‖W_N⋯W_1 − Φ‖_F², widths ({dim}, …, {dim}), σ_min(Φ)/σ_max(Φ) = 0.75; "
        f"{n_inits} balanced initializations (Procedure 1) per row with ‖W_e(0) − Φ‖_F = σ_min(Φ) − c.",
        "η_ACGH: Arora, Cohen, Golowich & Hu 2019, Thm 1, c^{(4N−2)/N}/(6144 N³ ‖Φ‖_F^{(6N−4)/N}) "
        "(constants recalled, theory.md §3). 2/S: GD stability threshold at the balanced minimum, "
        "S = N σ_1(Φ)^{2−2/N}.",
        f"η*: per initialization, the largest η at which GD converged, where converged = never "
        f"diverged and loss ≤ {loss_tolerance:g} after {n_steps} steps; found by bisection "
        f"({grid} step sizes per round, {rounds} batched rounds, search range "
        f"[{SEARCH_RANGE[0]:g}, {SEARCH_RANGE[1]:g}]·2/S, final bracket ratio ≤ {precision:.4f}), "
        f"counting a step only if every smaller one tried also converged.",
        "outside range: initializations whose critical η lies outside the search range "
        "(converged at the top: counted at the top value; failed at the bottom: left out).",
        f"Depths {sequence_text(depths)}; seed {seed}.",
    )
    params = dict(depths=depths, target_norms=target_norms, margin_fractions=margin_fractions, dim=dim,
                  n_inits=n_inits, n_steps=n_steps, loss_tolerance=loss_tolerance, grid=grid,
                  rounds=rounds, seed=seed)
    return Table(NAME, "Step sizes: Arora et al. 2019 bound and 2/S vs the empirical critical step of GD",
                 COLUMNS, tuple(rows), notes, params)
