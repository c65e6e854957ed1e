"""The Zarr store of a sweep: layout, spec check, chunk-aligned writes and the completion mask.

The store is created once from an ``xarray.Dataset`` template (metadata, coordinates and
attributes only; Zarr format 2 with consolidated metadata, so that a plain
``xarray.open_zarr(store)`` reopens it). Every task then writes exactly its own chunk of every
variable, and only after them its chunk of the boolean ``completed`` mask: a chunk is
finished iff its mask is set. Zarr's local store writes each chunk file atomically (write to a
temporary file, then rename), so a killed run leaves finished chunks intact and at worst
some data chunks of unfinished tasks, which a rerun overwrites.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ._plan import SAMPLE_DIM, Plan
from ._spec import Spec
from ._task import STEP_DIM, recorded_steps, variables

COMPLETED = "completed"
FORMAT = "linflow-sweep-1"


def _is_zarr(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, name)) for name in (".zgroup", "zarr.json"))


def _template(spec: Spec, plan: Plan, engine: str, version: str):
    import dask.array as da
    import xarray as xr

    coords = {}
    if plan.sampled:
        coords[SAMPLE_DIM] = np.arange(plan.shape[0])
        for name, values in plan.values.items():
            coords[name] = ((SAMPLE_DIM,), values)
    else:
        coords.update(plan.values)
    data_vars, encoding = {}, {}
    specs = variables(spec)
    if any(v.series for v in specs.values()):
        coords[STEP_DIM] = recorded_steps(spec)
    for name, var in specs.items():
        dims, shape, chunks = plan.dims, plan.shape, plan.chunks
        if var.series:
            n = len(coords[STEP_DIM])
            dims, shape, chunks = dims + (STEP_DIM,), shape + (n,), chunks + (n,)
        fill = var.fill if np.dtype(var.dtype).kind == "f" else 0
        data_vars[name] = (dims, da.full(shape, fill, dtype=var.dtype, chunks=chunks), {"description": var.description})
        # Integer fills would make xarray mask them into floats; `completed` says what is written.
        encoding[name] = {"chunks": chunks, "_FillValue": var.fill if np.dtype(var.dtype).kind == "f" else None}
    data_vars[COMPLETED] = (plan.dims, da.zeros(plan.shape, dtype=bool, chunks=plan.chunks),
                            {"description": "the configuration's task finished and was written"})
    encoding[COMPLETED] = {"chunks": plan.chunks, "_FillValue": None}
    attrs = {"format": FORMAT, "spec": spec.canonical, "linflow_version": version, "engine": engine,
             "n_steps": spec.n_steps, "title": spec.name}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs), encoding


def _spec_difference(stored: str, new: str) -> str:
    old, cur = json.loads(stored), json.loads(new)
    keys = sorted(k for k in set(old) | set(cur) if old.get(k) != cur.get(k))
    details = []
    for key in keys:
        if isinstance(old.get(key), dict) and isinstance(cur.get(key), dict):
            sub = sorted(k for k in set(old[key]) | set(cur[key]) if old[key].get(k) != cur[key].get(k))
            details.extend(f"{key}.{k}: {old[key].get(k)!r} → {cur[key].get(k)!r}" for k in sub)
        else:
            details.append(f"{key}: {old.get(key)!r} → {cur.get(key)!r}")
    return "; ".join(details)


def open_store(store, spec: Spec, plan: Plan, *, resume: bool, engine: str, version: str):
    """Open (or create) the store of ``spec``; return ``(zarr group, store)``.

    Raises
    ------
    ValueError
        ``store`` exists but is not a sweep store, or was written by a different spec
        (with ``resume=True``).
    """
    import zarr

    if store is None:
        store = zarr.storage.MemoryStore()
        exists = False
    elif isinstance(store, (str, os.PathLike)):
        store = os.fspath(store)
        if os.path.isfile(store) or (os.path.isdir(store) and os.listdir(store) and not _is_zarr(store)):
            raise ValueError(f"store {store!r} exists and is not a Zarr store; choose another path")
        exists = _is_zarr(store)
    else:
        exists = False
    if exists and resume:
        group = zarr.open_group(store, mode="r+")
        if group.attrs.get("format") != FORMAT:
            raise ValueError(f"store {store!r} is a Zarr store but not a linflow sweep; choose another path")
        if group.attrs["spec"] != spec.canonical:
            raise ValueError(
                f"store {store!r} holds a sweep of a different spec ({_spec_difference(group.attrs['spec'], spec.canonical)}); "
                "rerun with the original spec to resume, write to a new store, or pass --no-resume "
                "(resume=False) to overwrite it"
            )
        return group, store
    template, encoding = _template(spec, plan, engine, version)
    template.to_zarr(store, mode="w", compute=False, zarr_format=2, consolidated=True, encoding=encoding)
    return zarr.open_group(store, mode="r+"), store


def pending_tasks(group, plan: Plan) -> list:
    """Task regions whose ``completed`` mask is not entirely set."""
    done = group[COMPLETED][...]
    return [region for region in plan.tasks() if not np.all(done[region])]


def write_task(group, region: tuple, result: dict) -> None:
    """Write a task's chunk of every variable, then (last) its chunk of the completion mask."""
    for name, values in result.items():
        if name == "engine":
            continue
        index = region + (slice(None),) * (values.ndim - len(region))
        group[name][index] = values
    group[COMPLETED][region] = True
