"""``step-size``: Arora et al.'s maximal η and the stability threshold 2/S vs the empirical one.

For each depth N, target norm ‖Φ‖_F and deficiency margin c (setting of
:mod:`linflow.tables._margin`):

* ``η_ACGH`` — the step-size bound of Arora, Cohen, Golowich & Hu 2019 (ICLR), Thm 1,
  ``c^{(4N−2)/N} / (6144 N³ ‖Φ‖_F^{(6N−4)/N})`` (theory/deep-linear, constants [recalled]);
* ``2/S`` — the GD stability threshold at the balanced global minimum,
  ``S = N σ_1(Φ)^{2−2/N}`` (theory/deep-linear [checked]; a minimum is linearly stable iff S ≤ 2/η);
* ``η*`` — the empirical critical step size: per initialization, the largest η for which GD
  from that initialization converges, bracketed by a batched bisection
  (:mod:`linflow.tables._bisect`) on the fast engine; median and minimum over initializations.

``η*`` is computed as a sweep (:mod:`linflow.sweep`): :func:`critical_spec` is the spec (axes
margin fraction × depth × initialization seed, ``[refine.critical]``) and every row is one task
of it run by the sweep's task layer in this process, so ``linflow.sweep(critical_spec(...))``
gives the same numbers (and needs xarray only for its labelled result).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from . import Option, checked_options
from ._bisect import CriticalSteps
from ._format import Column, Progress, Table, sequence_text
from ._margin import margin_spectrum, sigma_max, sigma_min

if TYPE_CHECKING:
    from ..sweep import Spec

NAME = "step-size"
SUMMARY = "Arora et al. 2019 maximal η and 2/S at the balanced minimum vs the empirical critical η of GD"

#: Search range of the bisection, in units of 2/S(θ*_bal): GD cannot converge far above it.
SEARCH_RANGE = (0.25, 1.25)

OPTIONS = (
    Option("depths", int, tuple(range(2, 11)), "depths N (default 2 … 10)", multiple=True),
    Option("target_norms", float, (1.0,), "target Frobenius norms ‖Φ‖_F (default 1)", multiple=True,
           flag_name="target_norm"),
    Option(
        "margin_fractions", float, (0.5,), "deficiency margins c as fractions of σ_min(Φ) (default 0.5)", multiple=True,
        flag_name="margin_fraction",
    ),
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

    theory/deep-linear [checked] (``min_sharpness_balanced``) and theory/scalar (GD is stable at a minimum iff
    ``S ≤ 2/η``).
    """
    from .. import bounds  # lazy: SymPy

    s = bounds.get("min_sharpness_balanced").evaluate(depth=depth, sigma_max=sigma_max(target))
    return 2.0 / s


def critical_spec(
    *,
    depths,
    target_norm: float,
    margin_fractions,
    dim: int,
    n_inits: int,
    n_steps: int,
    loss_tolerance: float,
    grid: int,
    rounds: int,
    seed: int,
    backend: Optional[str] = None,
) -> "Spec":
    """The sweep spec of the table's empirical ``η*`` for one target norm.

    Whitened loss with a ``dim × dim`` target of singular values :func:`margin_spectrum`
    (drawn from the sweep's data stream ``(seed, 1, 0)``, shared by all rows), widths
    ``(dim, …, dim)``, balanced initializations with deficiency margin
    ``c = margin_fraction · σ_min(Φ)`` (init kind ``margin``; initialization ``i`` from the
    stream ``(seed, 2, i)``, the same end-to-end matrix at every depth and margin), and
    ``[refine.critical]`` on ``learning_rate_fraction`` over :data:`SEARCH_RANGE`. One task
    per (margin fraction, depth) = one row.

    Returns
    -------
    linflow.sweep.Spec
    """
    from ..sweep import load_spec  # lazy: the sweep package is needed only when building

    raw = {
        "name": NAME, "seed": seed, "n_steps": n_steps, "loss_tolerance": loss_tolerance,
        "network": {"width": dim},
        "loss": {"kind": "whitened", "target_norm": target_norm,
                 "spectrum": margin_spectrum(dim, target_norm).tolist()},
        "init": {"kind": "margin"},
        "optimizer": {"kind": "gd", "sharpness_reference": "minimum"},
        "axes": {"margin_fraction": list(margin_fractions), "depth": list(depths),
                 "seed": {"range": [0, n_inits]}},
        "refine": {"critical": {"parameter": "learning_rate_fraction", "low": SEARCH_RANGE[0],
                                "high": SEARCH_RANGE[1], "grid": grid, "rounds": rounds}},
        "execution": {"task_size": n_inits, **({} if backend is None else {"backend": backend})},
    }
    return load_spec(raw)


def _distinct(values: tuple, name: str) -> tuple:
    if len(set(values)) != len(values):
        raise ValueError(f"{name} repeats a value; got {name}={values!r}")
    return values


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
    backend : {None, "numba", "numpy"}
        GD engine (None: the fast default); the sweep's ``[execution] backend``.
    progress : bool, optional
        Draw a progress bar on stderr (default: when stderr is a terminal).

    Returns
    -------
    Table
        Rows carry, besides the columns, ``"critical"`` (the per-initialization
        :class:`~linflow.tables._bisect.CriticalSteps` in absolute step sizes), ``"target"`` and
        ``"weights0"`` (for plots and for recomputing a row directly).
    """
    from .. import bounds  # lazy: SymPy
    from ..sweep._plan import make_plan
    from ..sweep._spec import BACKENDS as SWEEP_BACKENDS
    from ..sweep._task import build_init, build_instance, check_configurations, configuration_parameters, run_task

    depths, target_norms, margin_fractions = tuple(depths), tuple(target_norms), tuple(margin_fractions)
    for f in margin_fractions:
        if not 0 < f < 1:
            raise ValueError(f"margin_fractions must lie in (0, 1); got margin_fractions={margin_fractions!r}")
    if grid < 2:
        raise ValueError(f"grid must be at least 2; got grid={grid}")
    _distinct(depths, "depths")
    _distinct(margin_fractions, "margin_fractions")
    if backend is not None and backend not in SWEEP_BACKENDS:
        raise ValueError(f"backend must be None or one of {SWEEP_BACKENDS}; got backend={backend!r}")
    options = dict(depths=depths, margin_fractions=margin_fractions, dim=dim, n_inits=n_inits, n_steps=n_steps,
                   loss_tolerance=loss_tolerance, grid=grid, rounds=rounds, seed=seed, backend=backend)
    plans = []
    for norm in target_norms:
        spec = critical_spec(target_norm=norm, **options)
        plan = make_plan(spec)
        check_configurations(spec, plan)  # refuses what a task would refuse, before any GD run
        plans.append((norm, spec, plan))
    rows = []
    with Progress(len(target_norms) * len(margin_fractions) * len(depths), NAME, enabled=progress) as bar:
        for norm, spec, plan in plans:
            # One task per row (chunks (1, 1, n_inits)): axis values, results over the seeds.
            for region in plan.tasks():
                configs = plan.configurations(region)
                depth, frac = configs[0]["depth"], configs[0]["margin_fraction"]
                bar.update(0, f"{NAME} N={depth}")
                result = run_task(spec, configs, (len(configs),))
                values = [configuration_parameters(spec, config) for config in configs]
                problem, target = build_instance(spec, values[0])
                inits = [build_init(spec, p, problem) for p in values]
                weights0 = tuple(np.stack([w[j] for w in inits]) for j in range(depth))
                # The sweep stores the bracket in units of 2/S; η* is it times the 2/S it ran with.
                scale = result["stability_step"]
                crit = CriticalSteps(lower=result["critical_lower"] * scale,
                                     upper=result["critical_upper"] * scale)
                c = frac * sigma_min(target)
                eta_s = stability_step(depth, target)
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
                bar.update(1)
    precision = (SEARCH_RANGE[1] / SEARCH_RANGE[0]) ** (1.0 / ((grid - 1) * (grid + 1) ** (rounds - 1)))
    notes = (
        f"Whitened loss ½‖W_N⋯W_1 − Φ‖_F², widths ({dim}, …, {dim}), σ_min(Φ)/σ_max(Φ) = 0.75; "
        f"{n_inits} balanced initializations (Procedure 1) per row with ‖W_e(0) − Φ‖_F = σ_min(Φ) − c.",
        "η_ACGH: Arora, Cohen, Golowich & Hu 2019, Thm 1, c^{(4N−2)/N}/(6144 N³ ‖Φ‖_F^{(6N−4)/N}) "
        "(constants recalled, theory/deep-linear). 2/S: GD stability threshold at the balanced minimum, "
        "S = N σ_1(Φ)^{2−2/N}.",
        f"η*: per initialization, the largest η at which GD converged, where converged = never "
        f"diverged and loss ≤ {loss_tolerance:g} after {n_steps} steps; found by bisection "
        f"({grid} step sizes per round, {rounds} batched rounds, search range "
        f"[{SEARCH_RANGE[0]:g}, {SEARCH_RANGE[1]:g}]·2/S, final bracket ratio ≤ {precision:.4f}), "
        f"counting a step only if every smaller one tried also converged.",
        "outside range: initializations whose critical η lies outside the search range "
        "(converged at the top: counted at the top value; failed at the bottom: left out).",
        f"Depths {sequence_text(depths)}; seed {seed}. η* is computed as a sweep (axes margin fraction × depth "
        f"× initialization seed, refine.critical; linflow.sweep of the same spec gives the same numbers): the "
        f"target is drawn from the stream (seed, 1, 0) and initialization i from (seed, 2, i), the same at "
        f"every depth. Earlier versions of this table drew them per row: their η* min differs by up to one "
        f"final bracket ratio, their medians at the default options agree to 1e-14 relative.",
    )
    params = dict(depths=depths, target_norms=target_norms, margin_fractions=margin_fractions, dim=dim,
                  n_inits=n_inits, n_steps=n_steps, loss_tolerance=loss_tolerance, grid=grid,
                  rounds=rounds, seed=seed)
    return Table(NAME, "Step sizes: Arora et al. 2019 bound and 2/S vs the empirical critical step of GD",
                 COLUMNS, tuple(rows), notes, params)
