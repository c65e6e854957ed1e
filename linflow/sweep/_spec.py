"""Read and validate a sweep spec (TOML via :mod:`tomllib`, or an equivalent dict).

The schema is documented in :mod:`linflow.sweep`. Every error is a ``ValueError`` or
``TypeError`` naming the key (dotted, e.g. ``axes.depth``) and the offending value. Nothing in
a spec is evaluated: values are TOML literals, names are looked up in
:mod:`linflow.sweep._registry`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tomllib
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ._registry import (
    BY_SECTION_KEY,
    OBSERVABLES,
    PARAMETER,
    PARAMETERS,
    SETTINGS,
    SHARPNESS_REFERENCES,
)

TOP_LEVEL = {
    "name": str, "seed": int, "n_steps": int, "record_every": int, "observables": list,
    "loss_tolerance": float, "divergence_threshold": float,
}
SECTIONS = ("network", "loss", "init", "optimizer", "axes", "sample", "refine", "execution")
SAMPLE_METHODS = ("random", "latin_hypercube")
AXIS_FORMS = ("range", "linspace", "logspace")
BACKENDS = ("numba", "numpy")
CRITICAL_PARAMETERS = ("learning_rate", "learning_rate_fraction")

#: Default bound on the trajectories of one task (one engine call per problem in it).
DEFAULT_TASK_SIZE = 1024


@dataclass(frozen=True)
class Axis:
    """A swept parameter: its values (grid), and for sampling its continuous interval if any.

    ``interval = (low, high, log)`` for ``linspace`` / ``logspace`` axes, which random and
    Latin-hypercube samples draw from continuously; ``None`` for lists and ranges, whose
    samples are drawn among ``values``.
    """

    name: str
    values: tuple
    interval: Optional[tuple] = None


@dataclass(frozen=True)
class Sample:
    method: str
    n: int
    seed: int


@dataclass(frozen=True)
class Critical:
    """``[refine.critical]``: bracket, per configuration, the largest converging step size."""

    parameter: str
    low: float
    high: float
    grid: int
    rounds: int


@dataclass(frozen=True)
class Boundary:
    """``[refine.boundary]``: refine the grid of axes ``x`` × ``y`` where the status changes."""

    x: str
    y: str
    levels: int


MAX_BOUNDARY_LEVELS = 6


@dataclass(frozen=True)
class Spec:
    """A validated sweep spec. ``canonical`` is its normalized JSON (stored in the results)."""

    name: str
    seed: int
    n_steps: int
    record_every: int
    loss_tolerance: Optional[float]
    divergence_threshold: float
    observables: tuple
    base: dict
    settings: dict
    axes: tuple
    sample: Optional[Sample]
    critical: Optional[Critical]
    boundary: Optional[Boundary]
    task_size: int
    backend: Optional[str]
    canonical: str

    @property
    def axis_names(self) -> tuple:
        return tuple(a.name for a in self.axes)


def _where(key: str) -> str:
    return f"spec key {key!r}"


def _typed(value, kind, key: str):
    """``value`` as ``kind`` (int, float, str, list, dict), or a TypeError naming ``key``."""
    names = {int: "an integer", float: "a number", str: "a string", list: "an array", dict: "a table"}
    ok = {
        int: isinstance(value, numbers.Integral) and not isinstance(value, bool),
        float: isinstance(value, numbers.Real) and not isinstance(value, bool),
        str: isinstance(value, str),
        list: isinstance(value, list),
        dict: isinstance(value, dict),
    }[kind]
    if not ok:
        raise TypeError(f"{_where(key)} must be {names[kind]}; got {key}={value!r}")
    if kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{_where(key)} must be finite; got {key}={value!r}")
    return int(value) if kind is int else value


def _check_domain(value, domain, key: str):
    bad = {
        "positive": lambda v: v <= 0,
        "nonnegative": lambda v: v < 0,
        "unit": lambda v: not 0 < v < 1,
        "halfunit": lambda v: not 0 <= v < 1,
        "any": lambda v: False,
    }
    if isinstance(domain, tuple):
        if value not in domain:
            raise ValueError(f"{_where(key)} must be one of {domain}; got {key}={value!r}")
        return value
    if bad[domain](value):
        words = {"positive": "> 0", "nonnegative": "≥ 0", "unit": "in (0, 1)", "halfunit": "in [0, 1)"}[domain]
        raise ValueError(f"{_where(key)} must be {words}; got {key}={value!r}")
    return value


def _parameter_value(param, value, key: str):
    return _check_domain(_typed(value, param.kind, key), param.domain, key)


def _unknown(table: dict, known, where: str) -> None:
    for key in table:
        if key not in known:
            prefix = f"{where}." if where else ""
            raise ValueError(
                f"unknown {_where(prefix + key)}; known keys{' of [' + where + ']' if where else ''}: "
                f"{', '.join(sorted(known))}"
            )


def _axis(name: str, raw, key: str) -> Axis:
    param = PARAMETER.get(name)
    if param is None:
        raise ValueError(f"unknown {_where(key)}: {name!r} is not a sweepable parameter; known: "
                         f"{', '.join(p.name for p in PARAMETERS)}")
    if isinstance(raw, list):
        if not raw:
            raise ValueError(f"{_where(key)} is an empty axis; got {key}=[]")
        values = tuple(_parameter_value(param, v, f"{key}[{i}]") for i, v in enumerate(raw))
        interval = None
    else:
        raw = _typed(raw, dict, key)
        if len(raw) != 1 or next(iter(raw)) not in AXIS_FORMS:
            raise ValueError(f"{_where(key)} must be a list or one of {{range = [start, stop(, step)]}}, "
                             f"{{linspace = [start, stop, num]}}, {{logspace = [start, stop, num]}}; got {key}={raw!r}")
        form, args = next(iter(raw.items()))
        args = _typed(args, list, f"{key}.{form}")
        if param.kind is str:
            raise TypeError(f"{_where(key)} takes a list of strings, not {form}; got {key}={raw!r}")
        values, interval = _expand(form, args, param, f"{key}.{form}")
    if len(set(values)) != len(values):
        raise ValueError(f"{_where(key)} repeats a value; got {key}={list(values)!r}")
    return Axis(name, values, interval)


def _expand(form: str, args: list, param, key: str):
    if form == "range":
        if len(args) not in (2, 3):
            raise ValueError(f"{_where(key)} must be [start, stop] or [start, stop, step]; got {key}={args!r}")
        start, stop, *step = (_typed(a, int, f"{key}[{i}]") for i, a in enumerate(args))
        step = step[0] if step else 1
        values = tuple(range(start, stop, step)) if step > 0 else ()
        if not values:
            raise ValueError(f"{_where(key)} is an empty range (needs start < stop, step > 0); got {key}={args!r}")
        return tuple(_parameter_value(param, v, key) for v in values), None
    if len(args) != 3:
        raise ValueError(f"{_where(key)} must be [start, stop, num]; got {key}={args!r}")
    start, stop = (_typed(a, float, f"{key}[{i}]") for i, a in enumerate(args[:2]))
    num = _typed(args[2], int, f"{key}[2]")
    if num < 1 or (num > 1 and stop <= start):
        raise ValueError(f"{_where(key)} needs start < stop and num ≥ 1; got {key}={args!r}")
    if form == "logspace":
        if start <= 0:
            raise ValueError(f"{_where(key)} needs start > 0; got {key}={args!r}")
        grid = np.geomspace(start, stop, num)
    else:
        grid = np.linspace(start, stop, num)
    if param.kind is int:
        rounded = np.rint(grid).astype(np.int64)
        if len(set(rounded.tolist())) != num:
            raise ValueError(f"{_where(key)} gives repeated integers for {param.name}; got {key}={args!r}")
        values = tuple(int(v) for v in rounded)
    else:
        values = tuple(float(v) for v in grid)
    values = tuple(_parameter_value(param, v, key) for v in values)
    return values, (start, stop, form == "logspace")


def _section(raw: dict, name: str) -> dict:
    return _typed(raw.get(name, {}), dict, name)


def _critical(raw: dict, axes: dict) -> Optional[Critical]:
    refine = _section(raw, "refine")
    _unknown(refine, ("critical", "boundary"), "refine")
    if "critical" not in refine:
        return None
    table = _typed(refine["critical"], dict, "refine.critical")
    _unknown(table, ("parameter", "low", "high", "grid", "rounds"), "refine.critical")
    for key in ("parameter", "low", "high"):
        if key not in table:
            raise ValueError(f"{_where('refine.critical.' + key)} is required")
    parameter = _check_domain(_typed(table["parameter"], str, "refine.critical.parameter"),
                              CRITICAL_PARAMETERS, "refine.critical.parameter")
    low = _check_domain(_typed(table["low"], float, "refine.critical.low"), "positive", "refine.critical.low")
    high = _typed(table["high"], float, "refine.critical.high")
    if high <= low:
        raise ValueError(f"{_where('refine.critical.high')} must exceed refine.critical.low = {low!r}; "
                         f"got refine.critical.high={high!r}")
    grid = _typed(table.get("grid", 8), int, "refine.critical.grid")
    if grid < 2:
        raise ValueError(f"{_where('refine.critical.grid')} must be ≥ 2; got refine.critical.grid={grid!r}")
    rounds = _check_domain(_typed(table.get("rounds", 3), int, "refine.critical.rounds"), "positive",
                           "refine.critical.rounds")
    if parameter in axes:
        raise ValueError(f"{_where('refine.critical.parameter')} names a swept axis; got "
                         f"refine.critical.parameter={parameter!r} and axes.{parameter}")
    return Critical(parameter, low, high, grid, rounds)


def _boundary(raw: dict, axes: dict, critical) -> Optional[Boundary]:
    table = _section(raw, "refine").get("boundary")
    if table is None:
        return None
    table = _typed(table, dict, "refine.boundary")
    _unknown(table, ("x", "y", "levels"), "refine.boundary")
    names = []
    for key in ("x", "y"):
        where = f"refine.boundary.{key}"
        if key not in table:
            raise ValueError(f"{_where(where)} is required (an axis of floats)")
        name = _typed(table[key], str, where)
        if name not in axes or PARAMETER[name].kind is not float or len(axes[name].values) < 2:
            raise ValueError(f"{_where(where)} must name an axis of floats with at least 2 values; got {where}={name!r}")
        if list(axes[name].values) != sorted(axes[name].values):
            raise ValueError(f"{_where(where)} must name an increasing axis; got axes.{name}={list(axes[name].values)!r}")
        names.append(name)
    if names[0] == names[1]:
        raise ValueError(f"{_where('refine.boundary.y')} must differ from refine.boundary.x; got {names[1]!r} twice")
    levels = _typed(table.get("levels", 2), int, "refine.boundary.levels")
    if not 1 <= levels <= MAX_BOUNDARY_LEVELS:
        raise ValueError(f"{_where('refine.boundary.levels')} must be in 1 … {MAX_BOUNDARY_LEVELS}; "
                         f"got refine.boundary.levels={levels!r}")
    if critical is not None:
        raise ValueError(f"{_where('refine.boundary')} cannot be combined with refine.critical")
    if "sample" in raw:
        raise ValueError(f"{_where('refine.boundary')} refines a grid; it cannot be combined with [sample]")
    return Boundary(names[0], names[1], levels)


def _settings(raw: dict) -> dict:
    out = {}
    for (section, key), (kind, default, _) in SETTINGS.items():
        value = _section(raw, section).get(key, default)
        where = f"{section}.{key}"
        if value is not None:
            value = _typed(value, kind, where)
        if key == "spectrum" and value is not None:
            if not value:
                raise ValueError(f"{_where(where)} is empty; got {where}=[]")
            value = [_check_domain(_typed(v, float, f"{where}[{i}]"), "nonnegative", f"{where}[{i}]")
                     for i, v in enumerate(value)]
        if key == "sharpness_reference":
            _check_domain(value, SHARPNESS_REFERENCES, where)
        out[key] = value
    return out


def parse_spec(raw: dict) -> Spec:
    """Validate a spec given as a dict (the parsed TOML); see :mod:`linflow.sweep` for the schema."""
    raw = _typed(raw, dict, "spec")
    _unknown(raw, tuple(TOP_LEVEL) + SECTIONS, "")
    top = {}
    for key, kind in TOP_LEVEL.items():
        if key in raw:
            top[key] = _typed(raw[key], kind, key)
    if "n_steps" not in top:
        raise ValueError(f"{_where('n_steps')} is required (the GD step budget of every run)")
    n_steps = _check_domain(top["n_steps"], "positive", "n_steps")
    record_every = _check_domain(top.get("record_every", n_steps), "positive", "record_every")
    seed = _check_domain(top.get("seed", 0), "nonnegative", "seed")
    tolerance = top.get("loss_tolerance")
    if tolerance is not None:
        _check_domain(tolerance, "positive", "loss_tolerance")
    divergence = _check_domain(top.get("divergence_threshold", 1e100), "positive", "divergence_threshold")
    observables = tuple(
        _check_domain(_typed(v, str, f"observables[{i}]"), OBSERVABLES, f"observables[{i}]")
        for i, v in enumerate(top.get("observables", []))
    )

    axes_raw = _section(raw, "axes")
    if not axes_raw:
        raise ValueError(f"{_where('axes')} must sweep at least one parameter, e.g. [axes] seed = [0, 1]")
    axes = {name: _axis(name, value, f"axes.{name}") for name, value in axes_raw.items()}

    base = {}
    for section in ("network", "loss", "init", "optimizer"):
        table = _section(raw, section)
        known = [p.key for p in PARAMETERS if p.section == section] + [k for s, k in SETTINGS if s == section]
        _unknown(table, known, section)
        for key, value in table.items():
            param = BY_SECTION_KEY.get((section, key))
            if param is None:
                continue
            if param.name in axes:
                raise ValueError(f"{_where(section + '.' + key)} is also swept as axes.{param.name}; "
                                 f"remove one; got {section}.{key}={value!r}")
            base[param.name] = _parameter_value(param, value, f"{section}.{key}")
    for param in PARAMETERS:
        base.setdefault(param.name, param.default)
    settings = _settings(raw)
    critical = _critical(raw, axes)
    boundary = _boundary(raw, axes, critical)

    rates = [f"axes.{n}" for n in CRITICAL_PARAMETERS if n in axes]
    rates += [f"optimizer.{n}" for n in CRITICAL_PARAMETERS if base[n] is not None]
    rates += [] if critical is None else [f"refine.critical.parameter = {critical.parameter!r}"]
    if len(rates) != 1:
        raise ValueError(
            "give the step size exactly once, as optimizer.learning_rate or "
            "optimizer.learning_rate_fraction, an axis, or refine.critical.parameter; got "
            f"{', '.join(rates) or 'none'}"
        )
    if critical is not None:
        if tolerance is None:
            raise ValueError(f"{_where('loss_tolerance')} is required with [refine.critical] "
                             "(converged = never diverged and final loss ≤ loss_tolerance)")
        if observables:
            raise ValueError(f"{_where('observables')} must be empty with [refine.critical] (each "
                             f"configuration yields a bracket, not one run); got observables={list(observables)!r}")
        optimizers = axes["optimizer"].values if "optimizer" in axes else (base["optimizer"],)
        if any(o != "gd" for o in optimizers):
            raise ValueError(f"{_where('optimizer.kind')} must be 'gd' with [refine.critical]; "
                             f"got optimizer={list(optimizers)!r}")

    sample = None
    if "sample" in raw:
        table = _section(raw, "sample")
        _unknown(table, ("method", "n", "seed"), "sample")
        if "n" not in table:
            raise ValueError(f"{_where('sample.n')} is required (number of sampled configurations)")
        if not axes:
            raise ValueError(f"{_where('sample')} needs at least one axis in [axes] to sample from")
        sample = Sample(
            _check_domain(_typed(table.get("method", "random"), str, "sample.method"), SAMPLE_METHODS,
                          "sample.method"),
            _check_domain(_typed(table["n"], int, "sample.n"), "positive", "sample.n"),
            _check_domain(_typed(table.get("seed", 0), int, "sample.seed"), "nonnegative", "sample.seed"),
        )

    execution = _section(raw, "execution")
    _unknown(execution, ("task_size", "backend"), "execution")
    task_size = _check_domain(_typed(execution.get("task_size", DEFAULT_TASK_SIZE), int, "execution.task_size"),
                              "positive", "execution.task_size")
    backend = execution.get("backend")
    if backend is not None:
        backend = _check_domain(_typed(backend, str, "execution.backend"), BACKENDS, "execution.backend")

    normalized = {
        "name": top.get("name", "sweep"), "seed": seed, "n_steps": n_steps, "record_every": record_every,
        "loss_tolerance": tolerance, "divergence_threshold": divergence, "observables": list(observables),
        "parameters": base, "settings": settings,
        "axes": {a.name: {"values": list(a.values), "interval": a.interval} for a in axes.values()},
        "sample": None if sample is None else sample.__dict__,
        "refine": {"critical": None if critical is None else critical.__dict__,
                   "boundary": None if boundary is None else boundary.__dict__},
        "execution": {"task_size": task_size, "backend": backend},
    }
    return Spec(
        name=normalized["name"], seed=seed, n_steps=n_steps, record_every=record_every,
        loss_tolerance=tolerance, divergence_threshold=divergence, observables=observables,
        base=base, settings=settings, axes=tuple(axes.values()), sample=sample, critical=critical,
        boundary=boundary, task_size=task_size, backend=backend,
        canonical=json.dumps(normalized, sort_keys=True, ensure_ascii=False),
    )


def load_spec(spec) -> Spec:
    """A :class:`Spec` from a path to a TOML file, a TOML string, a dict, or a Spec.

    Raises
    ------
    ValueError, TypeError
        Invalid TOML or an invalid spec (the message names the key and the value).
    """
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, dict):
        return parse_spec(spec)
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec.endswith(".toml") and "\n" not in spec):
        with open(spec, "rb") as fh:
            text = fh.read().decode("utf-8")
    elif isinstance(spec, str):
        text = spec
    else:
        raise TypeError(f"spec must be a path, a TOML string, a dict or a Spec; got spec={spec!r}")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"spec is not valid TOML: {exc}") from exc
    return parse_spec(raw)
