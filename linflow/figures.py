"""Named figures: compute the data (batched engine, GF, tables) and draw with :mod:`linflow.plotting`.

Each figure has a stable name, a summary, command-line ``OPTIONS`` (same
:class:`linflow.tables.Option` as the tables) and a builder returning ``(figure, data)``:
the matplotlib Figure and a dict of the numbers drawn (so tests and reports can check them).

Examples
--------
>>> from linflow import figures
>>> figures.names()
('gd-gf-distance', 'loss-sharpness', 'central-flow', 'bounds-vs-depth', 'lambda-min', 'phase-diagram')
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .tables import Option

__all__ = ["FeatureUnavailable", "FigureSpec", "build", "get", "names"]


class FeatureUnavailable(RuntimeError):
    """A figure needs a part of linflow this installation does not have."""


@dataclass(frozen=True)
class FigureSpec:
    name: str
    summary: str
    options: tuple
    builder: Callable
    #: The builder takes ``problem=`` (a :class:`linflow.Problem`) and ``weights0=``.
    accepts_problem: bool = False
    #: Positional command-line arguments: (name, metavar, help) each.
    arguments: tuple = ()
    #: Boolean command-line switches: (name, help) each, passed as ``name=True/False``.
    flags: tuple = ()

    def build(self, **params):
        """``(figure, data)`` for these parameters (defaults from ``options``)."""
        return self.builder(**params)


# ---------------------------------------------------------------------- gd-gf-distance
def _problem_and_start(problem, weights0, seed: int, default):
    """The user's problem (and start, or a Gaussian one of std 0.3 from ``seed``), else ``default(seed)``."""
    from .init import gaussian
    from .problem import Problem

    if problem is None:
        if weights0 is not None:
            raise ValueError("weights0 needs a problem; got weights0 without problem")
        return default(seed)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    if weights0 is None:
        weights0 = gaussian(problem.network.widths, std=0.3, seed=seed)
    return problem, problem.network.check(weights0, "weights0")


def _gd_gf_distance(*, seed: int = 0, horizon: float = 4.0, learning_rates=(0.04, 0.02, 0.01, 0.005), backend=None,
                    problem=None, weights0=None):
    from .compare import compare_descent_to_flow, default_problem
    from .flow import integrate_flow
    from .plotting import plot_descent_vs_flow

    problem, weights0 = _problem_and_start(problem, weights0, seed, default_problem)
    comparison = compare_descent_to_flow(problem, weights0, list(learning_rates), horizon,
                                         **({} if backend is None else {"backend": backend}))
    flow = integrate_flow(problem, weights0, t_span=(0.0, horizon), t_eval=np.linspace(0.0, horizon, 201))
    fig = plot_descent_vs_flow(comparison, problem, weights0, flow)
    return fig, {"comparison": comparison, "flow": flow, "problem": problem, "weights0": weights0}


# ---------------------------------------------------------------------- loss-sharpness
def loss_sharpness_runs(*, depth: int = 3, eta_fractions=(0.8, 1.3, 1.7), n_steps: int = 250,
                        init_std: float = 0.5, n_candidates: int = 16, seed: int = 0, backend=None):
    """GD runs (loss and sharpness at every step) from the candidate init with the sharpest GF limit.

    Setting of the ``sharpness`` table (whitened, widths ``(2, …, 2)``); step sizes are
    ``η = f · 2/S_GF`` with ``S_GF`` the sharpness of that init's gradient-flow limit, so
    ``f > 1`` means GD cannot converge where GF does.
    """
    from ._validation import check_positive
    from .descent import simulate_descent
    from .init import gaussian
    from .tables._margin import margin_problem, margin_target
    from .tables.sharpness import flow_limit_sharpness

    eta_fractions = tuple(eta_fractions)
    for f in eta_fractions:
        check_positive(f, "eta_fractions")
    init_std = check_positive(init_std, "init_std")
    if not np.isfinite(np.float64(init_std) ** (2 * depth)):  # the end-to-end product's scale
        raise ValueError(f"init_std too large: the network's output overflows float64; got init_std={init_std!r}")
    rng = np.random.default_rng(seed)
    target = margin_target(2, 1.0, rng)
    problem = margin_problem(depth, target)
    candidates = gaussian(problem.network.widths, std=init_std, seed=rng, batch=n_candidates)
    s_flow = flow_limit_sharpness(problem, candidates)
    if not np.any(np.isfinite(s_flow)):
        raise RuntimeError("gradient flow converged from none of the candidate initializations")
    b = int(np.nanargmax(s_flow))
    weights0 = tuple(w[b] for w in candidates)
    runs = []
    for f in eta_fractions:
        eta = float(f) * 2.0 / s_flow[b]
        if not np.isfinite(eta):
            raise ValueError(
                f"eta_fractions entry too large: η = f·2/S_GF overflows; got eta_fractions={eta_fractions!r}"
            )
        res = simulate_descent(problem, weights0, learning_rate=eta, n_steps=n_steps, backend=backend,
                               observe=("sharpness",))
        sharp = res.observables["sharpness"]
        runs.append({"learning_rate": eta, "label": f"η = {f:g}·2/S_GF = {eta:.3g}", "steps": res.observable_steps,
                     "losses": res.losses, "sharpness": sharp, "flow_sharpness": float(s_flow[b]),
                     "status": res.status})
    return problem, weights0, runs


def problem_sharpness_runs(problem, weights0, *, optimizer="gd", beta2: float = 0.99, learning_rates=(),
                           eta_fractions=(0.8, 1.3, 1.7), n_steps: int = 250, central_flow: bool = False,
                           backend=None):
    """Runs of any problem and optimizer with the sharpness observed at every step.

    The observable is ``sharpness`` for GD and ``effective_sharpness`` (``λ_max`` of
    ``P^{-1/2} H P^{-1/2}``, RMSProp's preconditioner ``P = diag(√ν + ε)``) for RMSProp, both
    compared with ``2/η`` (Cohen et al., ICLR 2025: their central flows hold it there). Step
    sizes are ``learning_rates``, or ``η = f · 2/S_0`` for ``f`` in ``eta_fractions`` with
    ``S_0`` the (effective) sharpness at ``weights0``. ``central_flow=True`` adds the central
    flow's prediction (its effective sharpness over η, and its loss) to each run.
    """
    from .descent import simulate_descent
    from .optimizers import as_optimizer

    opt = as_optimizer(optimizer, beta2 if optimizer in ("rmsprop", "scalar_rmsprop") else None)
    name = "effective_sharpness" if opt.adaptive else "sharpness"
    start = simulate_descent(problem, weights0, learning_rate=1.0, n_steps=1, optimizer=opt, observe=(name,),
                             backend="numpy")
    s0 = float(start.observables[name][0])
    if learning_rates:
        etas = [(float(eta), f"η = {float(eta):.3g}") for eta in learning_rates]
    else:
        if not s0 > 0:
            raise ValueError(f"the {name} at weights0 is {s0!r}: pass learning_rates (η = f·2/S_0 needs S_0 > 0)")
        etas = [(float(f) * 2.0 / s0, f"η = {float(f):g}·2/S_0 = {float(f) * 2.0 / s0:.3g}") for f in eta_fractions]
    runs = []
    for eta, label in etas:
        res = simulate_descent(problem, weights0, learning_rate=eta, n_steps=n_steps, optimizer=opt,
                               observe=(name,), backend=backend)
        run = {"learning_rate": eta, "label": label, "steps": res.observable_steps, "losses": res.losses,
               "sharpness": res.observables[name], "status": res.status}
        if central_flow:
            from .central_flow import integrate_central_flow

            cf = integrate_central_flow(problem, weights0, learning_rate=eta, n_steps=n_steps, optimizer=opt)
            # Its effective sharpness is η·λ_max(P^{-1/2}HP^{-1/2}) (edge 2): divide by η for the 2/η scale.
            run.update(central_steps=cf.t, central_sharpness=cf.effective_sharpness / eta, central_losses=cf.losses)
        runs.append(run)
    return runs, name


def _loss_sharpness(*, problem=None, weights0=None, optimizer: str = "gd", beta2: float = 0.99, learning_rates=(),
                    central_flow: bool = False, backend=None, **params):
    from .optimizers import _check_open_beta
    from .plotting import plot_loss_and_sharpness

    _check_open_beta(beta2, "beta2")  # also with GD, which does not use it: a bad value is a typo
    if problem is None and optimizer == "gd" and not learning_rates and not central_flow:
        problem, weights0, runs = loss_sharpness_runs(backend=backend, **params)
        fig = plot_loss_and_sharpness(runs, title=f"GD on a depth-{problem.network.depth} linear net: loss")
        return fig, {"runs": runs, "problem": problem, "weights0": weights0}
    problem, weights0 = _problem_and_start(problem, weights0, params.get("seed", 0),
                                           lambda _seed: central_flow_problem())
    runs, name = problem_sharpness_runs(problem, weights0, optimizer=optimizer, beta2=beta2,
                                        learning_rates=learning_rates,
                                        eta_fractions=params.get("eta_fractions", (0.8, 1.3, 1.7)),
                                        n_steps=params.get("n_steps", 250), central_flow=central_flow,
                                        backend=backend)
    label = "effective sharpness λ_max(P^{-1/2}HP^{-1/2})" if name == "effective_sharpness" else None
    fig = plot_loss_and_sharpness(runs, title=f"{optimizer} on your problem: loss", sharpness_label=label)
    return fig, {"runs": runs, "problem": problem, "weights0": weights0}


# ---------------------------------------------------------------------- central-flow
def central_flow_problem(init_std: float = 0.05):
    """Deep linear regression net 4-4-4-4 on 16 samples (theory/central-flows reference setting).

    ``X`` (4×16) standard normal from ``default_rng(0)``, ``Φ = Q_1 diag(s) Q_2ᵀ`` with
    ``Q_1, Q_2`` the Q factors of two further Gaussian draws, ``s = 1.08·(3, 2.6, 1.5, 0.8)``,
    ``Y = ΦX``; initialization ``gaussian(std=init_std, seed=1)`` — the setting of
    ``scripts/central_flow_vs_gd.py`` (b').
    """
    from .init import gaussian
    from .network import DeepLinearNetwork
    from .problem import Problem

    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16))
    q1, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    q2, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    phi = q1 @ np.diag(1.08 * np.array([3.0, 2.6, 1.5, 0.8])) @ q2.T
    problem = Problem(DeepLinearNetwork((4, 4, 4, 4)), X=x, Y=phi @ x)
    return problem, gaussian((4, 4, 4, 4), std=init_std, seed=1)


#: Window of the running average of the discrete runs (a multiple of the orbit periods 1, 2, 4
#: seen on this problem, as in scripts/central_flow_vs_gd.py).
AVERAGE_WINDOW = 4


def running_average(values: np.ndarray, window: int = AVERAGE_WINDOW) -> np.ndarray:
    """Trailing average over ``window`` entries (shorter at the start)."""
    c = np.concatenate([[0.0], np.cumsum(values)])
    k = np.arange(1, len(values) + 1)
    lo = np.maximum(k - window, 0)
    return (c[k] - c[lo]) / (k - lo)


def central_flow_runs(*, learning_rate: float = 0.14, n_steps: int = 400, rmsprop_learning_rate: float = 0.005,
                      rmsprop_steps: int = 400, beta2: float = 0.99, record_every: int = 5, backend=None,
                      problem=None, weights0=None, seed: int = 1):
    """GD, its central flow and GF; RMSProp, its central flow and its stable flow (same start).

    ``problem`` (a :class:`linflow.Problem`, with ``weights0`` or a Gaussian start of std 0.3
    from ``seed``) replaces the default regression problem of :func:`central_flow_problem`.

    Returns a dict with ``problem``, ``weights0`` and, under ``"gd"`` and ``"rmsprop"``, the
    discrete run (``descent``), the central flow (``central``), the comparison flow (``flow``:
    GF for GD, the stable flow for RMSProp), the record steps and sharpness series.
    """
    from ._validation import check_positive
    from .optimizers import as_optimizer

    # Every option checked before the GD half runs (it takes most of a minute).
    for name, value in (("n_steps", n_steps), ("rmsprop_steps", rmsprop_steps), ("record_every", record_every)):
        check_positive(value, name, integer=True)
    for name, value, steps in (("learning_rate", learning_rate, n_steps),
                               ("rmsprop_learning_rate", rmsprop_learning_rate, rmsprop_steps)):
        check_positive(value, name)
        if not np.isfinite(value * steps):
            raise ValueError(f"{name} × its number of steps must be a finite time; got {name}={value!r}")
    as_optimizer("rmsprop", beta2=beta2)
    try:
        from .central_flow import integrate_central_flow
    except ImportError as exc:  # pragma: no cover - installations without central flows
        raise FeatureUnavailable("the central-flow figure needs linflow.integrate_central_flow") from exc
    from ._hessian import hessian_eigenvalues
    from .descent import simulate_descent
    from .flow import integrate_flow

    problem, w0 = _problem_and_start(problem, weights0, seed, lambda _seed: central_flow_problem())

    def top(weights):
        return hessian_eigenvalues(problem, weights)[:, -1]

    out = {"problem": problem, "weights0": w0}
    # Discrete runs are recorded at every step (GD oscillates with period 2 or 4 at the edge:
    # sparser records would alias); the flows every ``record_every`` steps.
    steps = np.arange(n_steps + 1)
    gd = simulate_descent(problem, w0, learning_rate=learning_rate, n_steps=n_steps, record_weights=True,
                          backend=backend)
    flow_steps = np.arange(0, n_steps + 1, record_every)
    gf = integrate_flow(problem, w0, t_span=(0.0, learning_rate * n_steps), t_eval=learning_rate * flow_steps)
    cf = integrate_central_flow(problem, w0, learning_rate=learning_rate, n_steps=n_steps, record_every=record_every)
    out["gd"] = {"descent": gd, "central": cf, "flow": gf, "steps": steps, "eta": learning_rate,
                 "descent_sharpness": top(gd.weights), "flow_sharpness": top(gf.weights),
                 "flow_t": flow_steps}
    rsteps = np.arange(rmsprop_steps + 1)
    opt = dict(optimizer="rmsprop", beta2=beta2)
    rms = simulate_descent(problem, w0, learning_rate=rmsprop_learning_rate, n_steps=rmsprop_steps,
                           record_weights=True, backend=backend, **opt)
    rcf = integrate_central_flow(problem, w0, learning_rate=rmsprop_learning_rate, n_steps=rmsprop_steps,
                                 record_every=record_every, **opt)
    # The stable flow (no oscillation term) may cross the edge: let it run (as the central-flow
    # validation script does).
    stable = integrate_central_flow(problem, w0, learning_rate=rmsprop_learning_rate, n_steps=rmsprop_steps,
                                    record_every=record_every, ablation="stable", edge_tolerance=1e3, **opt)
    out["rmsprop"] = {"descent": rms, "central": rcf, "flow": stable, "steps": rsteps, "eta": rmsprop_learning_rate,
                      "descent_sharpness": top(rms.weights),
                      "flow_sharpness": stable.sharpness[:, 0], "flow_t": stable.t}
    return out


def _central_flow(**params):
    from .plotting import plot_central_flow

    data = central_flow_runs(**params)
    panels = []
    for key, name, flow_name in (("gd", "GD", "gradient flow"), ("rmsprop", "RMSProp", "stable flow")):
        d = data[key]
        flow = d["flow"]
        flow_loss = flow.predicted_loss if key == "rmsprop" else flow.losses
        panels.append({
            "name": f"{name}, η = {d['eta']:g}",
            "edge": 2.0 / d["eta"] if key == "gd" else None,
            "series": [
                {"label": name, "t": d["steps"], "loss": d["descent"].losses, "sharpness": d["descent_sharpness"],
                 "kind": "discrete"},
                {"label": f"{name}, {AVERAGE_WINDOW}-step average", "t": d["steps"],
                 "loss": running_average(d["descent"].losses), "kind": "average"},
                {
                    "label": flow_name, "t": d["flow_t"], "loss": flow_loss, "sharpness": d["flow_sharpness"],
                    "kind": "flow",
                },
                {"label": "central flow", "t": d["central"].t, "loss": d["central"].predicted_loss,
                 "sharpness": d["central"].sharpness[:, 0], "kind": "central"},
            ],
        })
    widths = "-".join(str(d) for d in data["problem"].network.widths)
    fig = plot_central_flow(panels, title=f"Central flow vs discrete optimizer vs GF (deep linear net {widths}, "
                                          f"{data['problem'].loss_function.kind} loss)")
    return fig, data


# ---------------------------------------------------------------------- bounds-vs-depth
def _bounds_vs_depth(*, depths=tuple(range(2, 11)), n_inits: int = 256, seed: int = 0, backend=None):
    from . import tables
    from .plotting import plot_bounds_vs_depth

    table = tables.build("step-size", depths=tuple(depths), n_inits=n_inits, seed=seed, backend=backend, progress=False)
    return plot_bounds_vs_depth(table), {"table": table}


# ---------------------------------------------------------------------- lambda-min
def _lambda_min(*, depths=(2, 3, 4), scales=(1e-1, 1e-3), n_samples: int = 2001, seed: int = 0, backend=None):
    from . import tables
    from .plotting import plot_lambda_min

    table = tables.build("curvature", depths=tuple(depths), scales=tuple(scales), n_samples=n_samples, seed=seed,
                         progress=False)
    return plot_lambda_min(table), {"table": table}


_SPECS = (
    FigureSpec(
        "gd-gf-distance", "GD vs GF: loss curves and max distance vs η (log-log, slope-1 guide)",
        (Option("seed", int, 0, "seed of the default problem (default 0)"),
         Option("horizon", float, 4.0, "GF horizon T (default 4)"),
         Option("learning_rates", float, (0.04, 0.02, 0.01, 0.005), "step sizes (default 0.04 0.02 0.01 0.005)",
                multiple=True)),
        _gd_gf_distance,
        accepts_problem=True,
    ),
    FigureSpec(
        "loss-sharpness", "loss and sharpness along GD with the 2/η lines (edge of stability)",
        (Option("depth", int, 3, "depth N (default 3)"),
         Option("eta_fractions", float, (0.8, 1.3, 1.7),
                "η as fractions of 2/S_GF (of 2/S_0 with --problem, --optimizer or --central-flow; "
                "default 0.8 1.3 1.7)",
                multiple=True),
         Option("n_steps", int, 250, "GD steps (default 250)"),
         Option("init_std", float, 0.5, "std of the Gaussian candidate initializations (default 0.5)"),
         Option("seed", int, 0, "seed (default 0)"),
         Option("optimizer", str, "gd", "gd, rmsprop or scalar_rmsprop (RMSProp: effective sharpness; default gd)"),
         Option("beta2", float, 0.99, "RMSProp β₂ (default 0.99)"),
         Option("learning_rates", float, (), "step sizes (default: the --eta-fractions of 2/S_0)", multiple=True)),
        _loss_sharpness,
        accepts_problem=True,
        flags=(("central_flow", "overlay the central flow's prediction (Cohen et al. 2025)"),),
    ),
    FigureSpec(
        "central-flow", "central flow vs GD vs GF (and RMSProp vs its central and stable flows)",
        (Option("learning_rate", float, 0.14, "GD step size (default 0.14)"),
         Option("n_steps", int, 400, "GD steps (default 400)"),
         Option("rmsprop_learning_rate", float, 0.005, "RMSProp step size (default 0.005)"),
         Option("rmsprop_steps", int, 400, "RMSProp steps (default 400)"),
         Option("beta2", float, 0.99, "RMSProp β₂ (default 0.99)")),
        _central_flow,
        accepts_problem=True,
    ),
    FigureSpec(
        "bounds-vs-depth", "Arora et al. 2019 step bound, 2/S and the empirical critical η across depth",
        (Option("depths", int, tuple(range(2, 11)), "depths (default 2 … 10)", multiple=True),
         Option("n_inits", int, 256, "initializations per depth (default 256)"),
         Option("seed", int, 0, "seed (default 0)")),
        _bounds_vs_depth,
    ),
    FigureSpec(
        "lambda-min", "λ_min(∇²f) along gradient flow and ∫λ_− dt vs the ln(1/s) prediction",
        (Option("depths", int, (2, 3, 4), "depths (default 2 3 4)", multiple=True),
         Option("scales", float, (1e-1, 1e-3), "init scales s (default 0.1 0.001)", multiple=True),
         Option("n_samples", int, 2001, "time samples (default 2001)"),
         Option("seed", int, 0, "seed (default 0)")),
        _lambda_min,
    ),
)


# ---------------------------------------------------------------------- phase-diagram
def _phase_diagram(*, store=None, x=None, y=None, color: str = "status", level: int = 0):
    if store is None:
        raise FeatureUnavailable(
            "phase-diagram draws a sweep store: linflow plot phase-diagram STORE.zarr --x AXIS --y AXIS"
        )
    if x is None or y is None:
        raise ValueError(f"phase-diagram needs --x and --y, two axes of the sweep; got x={x!r}, y={y!r}")
    from .sweep._phase_diagram import open_sweep, phase_data, plot_phase_diagram

    ds = open_sweep(store, level)
    fig = plot_phase_diagram(ds, x=x, y=y, color=color)
    xs, ys, values = phase_data(ds, x, y, color)
    return fig, {"x": xs, "y": ys, "values": values, "dataset": ds}


_SPECS += (
    FigureSpec(
        "phase-diagram", "a variable of a sweep store (default: the status) over two of its axes",
        (Option("x", str, None, "axis on the horizontal (required)"),
         Option("y", str, None, "axis on the vertical (required)"),
         Option("color", str, "status", "variable to colour by (default status: converged / edge / diverged)"),
         Option("level", int, 0, "boundary refinement level to draw (0: the grid; dots: simulated points)")),
        _phase_diagram,
        arguments=(("store", "STORE.zarr", "sweep store written by linflow sweep"),),
    ),
)
_REGISTRY = {s.name: s for s in _SPECS}


def names() -> tuple:
    """The registered figure names."""
    return tuple(_REGISTRY)


def get(name: str) -> FigureSpec:
    """The figure registered as ``name`` (KeyError with suggestions otherwise)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got name={name!r}")
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=2)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise KeyError(f"no figure named {name!r}{hint}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def build(name: str, **params):
    """``(figure, data)`` of figure ``name``."""
    return get(name).build(**params)
