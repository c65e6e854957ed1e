"""One sweep task: its configurations grouped by problem, one batched engine call per group.

Configurations that share every non-batched parameter (network, loss and data, optimizer)
run as one :func:`linflow.simulate_descent` call whose trajectory axis holds their
initializations and step sizes. Every random draw comes from a generator seeded by the spec's
``seed`` and the configuration's own ``data_seed`` / ``seed``, never by its position, so a
configuration's numbers do not depend on the chunking, on the other configurations of its task
or on the worker that ran it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..analysis import effective_rank
from ..descent import simulate_descent
from ..homogeneous import NonDifferentiableError
from ..init import balanced
from ..network import DeepLinearNetwork, end_to_end
from ..results import Status
from ._registry import (
    PARAMETERS,
    Instance,
    make_init,
    make_instance,
    make_network,
    make_optimizer,
)
from ._spec import Spec

#: The dimension of time-series observables.
STEP_DIM = "step"

_NON_BATCHED = tuple(p.name for p in PARAMETERS if not p.batched)


@dataclass(frozen=True)
class Variable:
    """A result variable: dtype, fill value of unwritten chunks, time series or not, meaning."""

    dtype: str
    fill: object
    series: bool
    description: str


def variables(spec: Spec) -> dict:
    """Name → :class:`Variable` of every result variable of ``spec`` (besides ``completed``)."""
    out = {}
    if spec.critical is not None:
        unit = spec.critical.parameter
        out["critical_lower"] = Variable("float64", np.nan, False,
                                         f"largest {unit} seen to converge, with every smaller one tried "
                                         "(NaN: failed at the bottom of the search range)")
        out["critical_upper"] = Variable("float64", np.nan, False,
                                         f"smallest {unit} above critical_lower seen to fail "
                                         "(inf: converged at the top of the search range)")
    else:
        out["final_loss"] = Variable("float64", np.nan, False, "loss of the last iterate (last finite one if diverged)")
        out["status"] = Variable("int8", -1, False, "outcome: " + ", ".join(f"{s.code} = {s.name}" for s in
                                                                             (Status.MAX_STEPS, Status.CONVERGED,
                                                                              Status.DIVERGED)))
        out["converged_step"] = Variable("int64", -2, False, "first step with loss ≤ loss_tolerance; −1 if never")
        out["divergence_step"] = Variable("int64", -2, False, "step at which the loss overflowed; −1 if never")
        out["learning_rate_used"] = Variable("float64", np.nan, False, "step size η of the run")
    if _uses_fraction(spec):
        out["stability_step"] = Variable("float64", np.nan, False,
                                         f"2/S, S the sharpness at the {spec.settings['sharpness_reference']} "
                                         "point, that learning_rate_fraction multiplies")
    descriptions = {
        "loss": "loss at the recorded steps (NaN after divergence)",
        "balancedness_drift": "max over steps and layers of ‖B_j(θ_k) − B_j(θ_0)‖_F",
        "final_sharpness": "λ_max of the Hessian at the last iterate (NaN where not differentiable)",
        "initial_sharpness": "λ_max of the Hessian at the initialization",
        "initial_imbalance": "max_j ‖B_j(θ_0)‖_F at the initialization",
        "effective_rank": "effective rank exp(H(σ/Σσ)) of the final W_e (Roy & Vetterli 2007); NaN for ReLU",
        "reconstruction_error": "‖W_e − W*‖_F / ‖W*‖_F at the last iterate, W* the teacher / completed "
                                "matrix; NaN for ReLU",
    }
    for name in spec.observables:
        out[name] = Variable("float64", np.nan, name == "loss", descriptions[name])
    return out


def recorded_steps(spec: Spec) -> np.ndarray:
    """Step indices of the ``loss`` series (every ``record_every`` steps, and the last)."""
    steps = np.arange(0, spec.n_steps + 1, spec.record_every, dtype=np.int64)
    return steps if steps[-1] == spec.n_steps else np.append(steps, spec.n_steps)


def _uses_fraction(spec: Spec) -> bool:
    return ("learning_rate_fraction" in spec.axis_names or spec.base["learning_rate_fraction"] is not None
            or (spec.critical is not None and spec.critical.parameter == "learning_rate_fraction"))


def configuration_parameters(spec: Spec, config: dict) -> dict:
    """All parameter values of one configuration: the spec's base values, then its axis values."""
    p = {**spec.base, **config, **spec.settings}
    p["input_dim"] = p["input_dim"] or p["width"]
    p["output_dim"] = p["output_dim"] or p["width"]
    return p


def data_generator(spec: Spec, p: dict) -> np.random.Generator:
    return np.random.default_rng([spec.seed, 1, p["data_seed"]])


def init_generator(spec: Spec, p: dict) -> np.random.Generator:
    return np.random.default_rng([spec.seed, 2, p["seed"]])


def build_instance(spec: Spec, p: dict) -> Instance:
    """The configuration's problem and ground truth (data drawn from ``(seed, data_seed)``)."""
    return make_instance(make_network(p), p, data_generator(spec, p))


def build_problem(spec: Spec, p: dict):
    return build_instance(spec, p).problem


def build_init(spec: Spec, p: dict, problem) -> tuple:
    return make_init(problem.network.widths, p, problem, init_generator(spec, p))


def minimum_sharpness(instance: Instance) -> float:
    """Sharpness at a balanced global minimum of a deep linear network.

    The minimizer's end-to-end matrix is the least-squares solution (``Φ``, resp.
    ``C_yx C_xx⁻¹``), or the observed matrix ``W*`` itself for noise-free matrix completion (it
    has loss 0); Procedure 1 of Arora et al. 2019 factors it into balanced weights, and the
    Hessian there is evaluated numerically (all balanced factorizations of one end-to-end matrix
    differ by orthogonal changes of basis, so S does not depend on the one chosen). For the
    whitened loss this is ``S = N σ_1(Φ)^{2−2/N}`` (bound ``min_sharpness_balanced`` of
    :mod:`linflow.bounds`, after Arora, Cohen & Hazan 2018).
    """
    problem = instance.problem
    if not isinstance(problem.network, DeepLinearNetwork):
        raise ValueError("sharpness_reference='minimum' needs a deep linear network (activation='linear'); "
                         f"got {problem.network!r}; use sharpness_reference='initial'")
    if problem.loss_function.kind in ("whitened", "regression"):
        c_xx = problem.input_covariance
        if np.linalg.matrix_rank(c_xx) < c_xx.shape[0]:
            raise ValueError("sharpness_reference='minimum' needs n_samples ≥ input_dim (invertible XXᵀ); "
                             f"got {problem!r}")
        w_star = np.linalg.solve(c_xx.T, problem.cross_covariance.T).T
    else:
        w_star = instance.truth
    return problem.sharpness(balanced(problem.network.widths, w_star))


#: Minimum sharpness per (spec, problem) in this process: tasks of one problem share it (a dense
#: eigendecomposition each time cost up to a second per task under load).
_MINIMUM_SHARPNESS: dict = {}
_CACHE_SIZE = 4096


def _cached_minimum_sharpness(spec: Spec, p: dict, instance: Instance) -> float:
    key = (spec.canonical, tuple(p[name] for name in _NON_BATCHED))
    if key not in _MINIMUM_SHARPNESS:
        if len(_MINIMUM_SHARPNESS) >= _CACHE_SIZE:
            _MINIMUM_SHARPNESS.clear()
        _MINIMUM_SHARPNESS[key] = minimum_sharpness(instance)
    return _MINIMUM_SHARPNESS[key]


def check_configurations(spec: Spec, plan) -> None:
    """Build every distinct problem, initialization kind and optimizer of the sweep once.

    Raises the ``ValueError`` / ``TypeError`` a task would raise (e.g. more observations than
    entries, a margin initialization on a non-square target), before any task runs. Seeds do
    not change whether a configuration can be built, so one value of each is tried.
    """
    varying = [name for name in plan.values if name in _NON_BATCHED + ("init",) and name != "data_seed"]
    if plan.sampled:
        candidates = plan.configurations((slice(0, plan.shape[0]),))
    else:
        grids = [plan.values[name] if name in varying else plan.values[name][:1] for name in plan.dims]
        candidates = [dict(zip(plan.dims, (v.item() for v in values))) for values in itertools.product(*grids)]
    seen = set()
    for config in candidates:
        p = configuration_parameters(spec, config)
        key = tuple(p[name] for name in varying)
        if key in seen:
            continue
        seen.add(key)
        try:
            instance = build_instance(spec, p)
            build_init(spec, p, instance.problem)
            make_optimizer(p)
            if spec.settings["sharpness_reference"] == "minimum" and _uses_fraction(spec):
                _cached_minimum_sharpness(spec, p, instance)
        except (TypeError, ValueError) as exc:
            shown = ", ".join(f"{k}={config[k]!r}" for k in config)
            raise type(exc)(f"configuration {shown}: {exc}") from exc


def _sharpness(problem, weights) -> float:
    try:
        return problem.sharpness(weights)
    except NonDifferentiableError:
        return np.nan


def run_task(spec: Spec, configs: list, shape: tuple) -> dict:
    """Simulate the configurations ``configs`` (C order of a region of shape ``shape``).

    Returns
    -------
    dict
        Variable name → ndarray of shape ``shape`` (``shape + (R,)`` for time series), and
        ``"engine"`` → the engine that ran.
    """
    specs = variables(spec)
    n_rec = len(recorded_steps(spec))
    out = {name: np.full((len(configs),) + ((n_rec,) if v.series else ()), v.fill, dtype=v.dtype)
           for name, v in specs.items()}
    params = [configuration_parameters(spec, c) for c in configs]
    groups: dict = {}
    for i, p in enumerate(params):
        groups.setdefault(tuple(p[name] for name in _NON_BATCHED), []).append(i)
    engine = None
    for members in groups.values():
        engine = _run_group(spec, [params[i] for i in members], np.asarray(members), out)
    out = {name: value.reshape(tuple(shape) + value.shape[1:]) for name, value in out.items()}
    out["engine"] = engine
    return out


def _run_group(spec: Spec, params: list, index: np.ndarray, out: dict) -> str:
    first = params[0]
    instance = build_instance(spec, first)
    problem = instance.problem
    inits = [build_init(spec, p, problem) for p in params]
    weights0 = tuple(np.stack([w[j] for w in inits]) for j in range(len(inits[0])))
    if "stability_step" in out:
        if spec.settings["sharpness_reference"] == "minimum":
            stability = np.full(len(params), 2.0 / _cached_minimum_sharpness(spec, first, instance))
        else:
            stability = np.array([2.0 / problem.sharpness(w) for w in inits])
        out["stability_step"][index] = stability
    else:
        stability = np.ones(len(params))
    if "initial_sharpness" in out:
        out["initial_sharpness"][index] = [_sharpness(problem, w) for w in inits]
    if "initial_imbalance" in out:
        out["initial_imbalance"][index] = [
            max((float(np.linalg.norm(b)) for b in problem._balancedness(w)), default=0.0) for w in inits]

    if spec.critical is not None:
        return _run_critical(spec, problem, weights0, stability, index, out)

    rates = np.array([p["learning_rate"] if p["learning_rate"] is not None else p["learning_rate_fraction"]
                      for p in params]) * stability
    result = simulate_descent(
        problem, weights0, learning_rate=rates, n_steps=spec.n_steps,
        record_every=spec.record_every if "loss" in out else spec.n_steps,
        loss_tolerance=spec.loss_tolerance, divergence_threshold=spec.divergence_threshold,
        backend=spec.backend, track_balancedness="balancedness_drift" in out, optimizer=make_optimizer(first),
    )
    out["final_loss"][index] = result.final_loss
    out["status"][index] = result.status_codes
    out["converged_step"][index] = result.converged_step
    out["divergence_step"][index] = result.divergence_step
    out["learning_rate_used"][index] = result.learning_rates
    if "loss" in out:
        out["loss"][index] = result.losses
    if "balancedness_drift" in out:
        out["balancedness_drift"][index] = result.balancedness_drift
    if "final_sharpness" in out:
        out["final_sharpness"][index] = [_sharpness(problem, result.trajectory(i)) for i in range(len(params))]
    if ("effective_rank" in out or "reconstruction_error" in out) and problem.has_end_to_end:
        w_e = end_to_end(result.final_weights)
        if "effective_rank" in out:
            out["effective_rank"][index] = effective_rank(w_e)
        if "reconstruction_error" in out:
            out["reconstruction_error"][index] = (np.linalg.norm(w_e - instance.truth, axis=(-2, -1))
                                                  / np.linalg.norm(instance.truth))
    return result.backend


def _run_critical(spec: Spec, problem, weights0, stability, index, out) -> str:
    from ..descent import DEFAULT_BACKEND
    from ..tables._bisect import critical_step_sizes

    c = spec.critical
    crit = critical_step_sizes(
        problem, weights0, low=c.low * stability, high=c.high * stability, n_steps=spec.n_steps,
        loss_tolerance=spec.loss_tolerance, grid=c.grid, rounds=c.rounds, backend=spec.backend,
    )
    out["critical_lower"][index] = crit.lower / stability
    out["critical_upper"][index] = crit.upper / stability
    return spec.backend or DEFAULT_BACKEND
