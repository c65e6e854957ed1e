"""Saving results to ``.npz`` (no pickle) and converting them to :class:`xarray.Dataset`.

Archive layout: ``__class__`` names the result class (only the classes in :data:`RESULT_CLASSES`
are accepted when loading), ``__format__`` the layout version, and one entry per dataclass field,
its key prefixed by the kind of value: ``a:`` array, ``t:NAME:i`` the i-th array of a tuple (with
``n:NAME`` its length), ``s:`` a :class:`~linflow.results.Status` by name, ``u:`` a string,
``none:`` an explicit None, ``e:NAME:KEY`` an array entry of a dict field (``et:NAME:KEY:i`` the
i-th array of a tuple entry), ``o:NAME`` the class of a built-in optimizer object with
``op:NAME:PARAM`` its hyper-parameters. Callables (a flow's dense output ``sol``) are not saved
and load as None. Loading reads plain arrays with
``allow_pickle=False`` and never imports or evaluates anything from the file.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
from pathlib import Path

import numpy as np

FORMAT = "linflow-result-1"


def _result_classes() -> dict:
    """The result classes by name: the subclasses of :class:`ResultIO` (no import, no cycle)."""
    return {cls.__name__: cls for cls in ResultIO.__subclasses__()}


def _optimizer_classes() -> dict:
    from . import optimizers

    return {
        cls.__name__: cls
        for cls in (optimizers.GD, optimizers.Momentum, optimizers.ScalarRMSProp, optimizers.RMSProp, optimizers.Adam)
    }


def _check_result(result):
    classes = _result_classes()
    if type(result).__name__ not in classes or not isinstance(result, classes[type(result).__name__]):
        raise TypeError(f"result must be one of {sorted(classes)}; got {type(result).__name__}")


def save(result, path) -> Path:
    """Write ``result`` to the ``.npz`` archive ``path`` (``.npz`` is appended if missing).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    from .optimizers import Optimizer

    _check_result(result)
    path = Path(os.fspath(path))
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    if not path.parent.is_dir():
        raise ValueError(f"path must be in an existing directory; got path={str(path)!r}")
    entries = {"__class__": np.array(type(result).__name__), "__format__": np.array(FORMAT)}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if value is None:
            entries[f"none:{f.name}"] = np.array(True)
        elif isinstance(value, enum.Enum):  # a Status
            entries[f"s:{f.name}"] = np.array(value.name)
        elif isinstance(value, Optimizer):
            if type(value).__name__ not in _optimizer_classes():
                raise TypeError(
                    f"only linflow's built-in optimizers can be saved; got {type(value).__name__} in field {f.name!r}"
                )
            entries[f"o:{f.name}"] = np.array(type(value).__name__)
            for p in dataclasses.fields(value):
                entries[f"op:{f.name}:{p.name}"] = np.asarray(getattr(value, p.name))
        elif isinstance(value, str):
            entries[f"u:{f.name}"] = np.array(value)
        elif isinstance(value, tuple):
            entries[f"n:{f.name}"] = np.array(len(value))
            for i, item in enumerate(value):
                entries[f"t:{f.name}:{i}"] = np.asarray(item)
        elif isinstance(value, dict):
            for key, item in value.items():
                if not str(key).isidentifier():
                    continue
                if isinstance(item, (np.ndarray, float, int, np.number)):
                    entries[f"e:{f.name}:{key}"] = np.asarray(item)
                elif isinstance(item, tuple) and all(isinstance(x, np.ndarray) for x in item):
                    for i, x in enumerate(item):
                        entries[f"et:{f.name}:{key}:{i}"] = x
        elif callable(value):
            continue  # dense output: not data
        else:
            array = np.asarray(value)
            if array.dtype == object:
                raise TypeError(f"field {f.name!r} of {type(result).__name__} cannot be saved without pickle")
            entries[f"a:{f.name}"] = array
    np.savez(path, **entries)
    return path


def load(path):
    """Read a result written by :func:`save`; the class is the one named in the archive.

    Raises
    ------
    ValueError
        If the file is not a linflow result archive, names an unknown class or field, or lacks
        a required field.
    """
    classes = _result_classes()
    with np.load(os.fspath(path), allow_pickle=False) as archive:
        data = {key: archive[key] for key in archive.files}
    if str(data.pop("__format__", "")) != FORMAT or "__class__" not in data:
        raise ValueError(f"not a linflow result archive ({FORMAT}): path={str(path)!r}")
    name = str(data.pop("__class__"))
    if name not in classes:
        raise ValueError(f"unknown result class {name!r} in {str(path)!r}; known: {sorted(classes)}")
    cls = classes[name]
    # The Status enum of the module that defines the class (results.py, or a module importing it).
    Status = sys.modules[cls.__module__].Status
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict = {}
    tuples: dict = {}
    optimizer_params: dict = {}
    dict_tuples: dict = {}
    for key, array in data.items():
        kind, _, rest = key.partition(":")
        field_name, _, index = rest.partition(":")
        if field_name not in fields:
            raise ValueError(f"unknown field {field_name!r} for {name} in {str(path)!r}")
        if kind == "a":
            values[field_name] = array[()] if array.ndim == 0 else array
        elif kind == "none":
            values[field_name] = None
        elif kind == "s":
            values[field_name] = Status[str(array)]
        elif kind == "u":
            values[field_name] = str(array)
        elif kind == "n":
            tuples.setdefault(field_name, {})
            values[field_name] = int(array)
        elif kind == "t":
            tuples.setdefault(field_name, {})[int(index)] = array
        elif kind == "e":
            values.setdefault(field_name, {})[index] = array[()] if array.ndim == 0 else array
        elif kind == "et":
            key_name, _, position = index.partition(":")
            dict_tuples.setdefault((field_name, key_name), {})[int(position)] = array
        elif kind == "o":
            optimizers = _optimizer_classes()
            if str(array) not in optimizers:
                raise ValueError(f"unknown optimizer {str(array)!r} in {str(path)!r}; known: {sorted(optimizers)}")
            values[field_name] = optimizers[str(array)]
        elif kind == "op":
            optimizer_params.setdefault(field_name, {})[index] = array.item()
        else:
            raise ValueError(f"unknown entry {key!r} in {str(path)!r}")
    for (field_name, key_name), items in dict_tuples.items():
        if sorted(items) != list(range(len(items))):
            raise ValueError(f"incomplete entry {key_name!r} of {field_name!r} in {str(path)!r}")
        values.setdefault(field_name, {})[key_name] = tuple(items[i] for i in range(len(items)))
    for field_name, params in optimizer_params.items():
        cls_ = values.get(field_name)
        if not isinstance(cls_, type):
            raise ValueError(f"optimizer parameters without an optimizer for {field_name!r} in {str(path)!r}")
        values[field_name] = cls_(**params)
    for field_name, value in list(values.items()):
        if isinstance(value, type):  # an optimizer without hyper-parameters (GD)
            values[field_name] = value()
    for field_name, items in tuples.items():
        length = values.get(field_name, len(items))
        if sorted(items) != list(range(length)):
            raise ValueError(f"incomplete tuple field {field_name!r} in {str(path)!r}")
        values[field_name] = tuple(items[i] for i in range(length))
    for f in fields.values():
        if isinstance(values.get(f.name), np.generic):
            values[f.name] = values[f.name].item() if f.type in ("bool", "int", "float", "str") else values[f.name]
    missing = [
        n
        for n, f in fields.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(f"{name} archive {str(path)!r} lacks the field(s) {missing}")
    return cls(**values)


def _layer_vars(prefix: str, weights, leading: tuple) -> dict:
    """``{prefix}_{j}`` variables for the layers, dims ``leading + (d{j+1}, d{j})``."""
    return {f"{prefix}_{j}": (leading + (f"d{j + 1}", f"d{j}"), np.asarray(w)) for j, w in enumerate(weights)}


def to_xarray(result):
    """The result as an :class:`xarray.Dataset` (xarray is imported here, on first use)."""
    try:
        import xarray as xr
    except ImportError as exc:  # an optional dependency: say how to get it
        raise ImportError("to_xarray needs xarray: python -m pip install xarray") from exc

    _check_result(result)
    kind = type(result).__name__
    if kind == "DescentResult":
        batch = ("trajectory",) if result.batched else ()
        statuses = result.status if result.batched else (result.status,)
        names = np.array([st.name.lower() for st in statuses])
        names = names if result.batched else names[0]
        data = {
            "loss": (batch + ("step",), result.losses),
            "final_loss": (batch, result.final_loss),
            "status": (batch, names),
            "divergence_step": (batch, result.divergence_step),
            "converged_step": (batch, result.converged_step),
            "balancedness_drift": (batch, result.balancedness_drift),
            "learning_rate": (batch, result.learning_rates),
        }
        if result.reference_distance is not None:
            data["reference_distance"] = (batch, result.reference_distance)
        data.update(_layer_vars("final_weight", result.final_weights, batch))
        if result.weights is not None:
            data.update(_layer_vars("weight", result.weights, batch + ("step",)))
        return xr.Dataset(data, coords={"step": result.steps}, attrs={"backend": result.backend})
    attrs = {"status": result.status.name.lower(), "message": result.message}
    if kind == "FlowResult":
        data = {"loss": (("t",), result.losses)}
        data.update(_layer_vars("weight", result.weights, ("t",)))
        data.update(_layer_vars("final_weight", result.final_weights, ()))
        if result.pattern_change_times is not None:
            data["pattern_change_time"] = (("pattern_change",), result.pattern_change_times)
            data["pattern_change_site"] = (("pattern_change", "site"), result.pattern_change_sites)
        attrs["n_evaluations"] = int(result.n_evaluations)
        return xr.Dataset(data, coords={"t": result.t}, attrs=attrs)
    # CentralFlowResult
    data = {
        name: (("t",), getattr(result, attr))
        for name, attr in [
            ("loss", "losses"),
            ("effective_sharpness", "effective_sharpness"),
            ("sigma_trace", "sigma_trace"),
            ("n_critical", "n_critical"),
            ("predicted_loss", "predicted_loss"),
            ("predicted_grad_norm_sq", "predicted_grad_norm_sq"),
            ("grad_norm_sq", "grad_norm_sq"),
            ("kkt_residual", "kkt_residual"),
            ("oscillation_ratio", "oscillation_ratio"),
        ]
    }
    data["sharpness"] = (("t", "eigenvalue"), result.sharpness)
    if result.nu is not None:
        nu = np.asarray(result.nu)
        data["nu"] = (("t",) if nu.ndim == 1 else ("t", "parameter"), nu)
    data.update(_layer_vars("weight", result.weights, ("t",)))
    data.update(_layer_vars("final_weight", result.final_weights, ()))
    attrs.update(
        stop_time=float(result.stop_time),
        learning_rate=float(result.learning_rate),
        optimizer=repr(result.optimizer),
        substeps=int(result.substeps),
        ablation=result.ablation or "",
    )
    return xr.Dataset(data, coords={"t": result.t}, attrs=attrs)


class ResultIO:
    """Mixin of the result classes: ``save``, ``load`` and ``to_xarray``."""

    __slots__ = ()

    def save(self, path) -> Path:
        """Save to the ``.npz`` archive ``path`` (plain arrays, no pickle); returns the path written."""
        return save(self, path)

    @classmethod
    def load(cls, path):
        """Load a result saved by :meth:`save` (``np.load`` with ``allow_pickle=False``).

        Raises
        ------
        ValueError
            If the archive holds another kind of result or is not a linflow result archive.
        """
        result = load(path)
        if not isinstance(result, cls):
            raise ValueError(f"{str(path)!r} holds a {type(result).__name__}, not a {cls.__name__}")
        return result

    def to_xarray(self):
        """The result as an :class:`xarray.Dataset` (imports xarray on first use)."""
        return to_xarray(self)
