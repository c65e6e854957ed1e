"""``linflow table sweep STORE``: a sweep store as a table, optionally summarized over axes.

One row per configuration, or, with ``over``, one row per configuration of the remaining axes:
floating-point variables by their median over the summarized axes (NaN-aware), ``status`` by
the fractions of converged and diverged runs; other integer variables are left out then.
Configurations whose task has not finished count as missing.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..results import Status
from ..tables._format import Column, Table
from ._phase_diagram import open_sweep


def sweep_table(store, *, over=(), variables=()) -> Table:
    """The :class:`~linflow.tables.Table` of a sweep store (see the module docstring)."""
    ds = open_sweep(store)
    dims = tuple(ds["completed"].dims)
    over = tuple(over)
    for d in over:
        if d not in dims:
            raise ValueError(f"over must name dimensions of the sweep {dims}; got over={over!r}")
    scalar = [v for v in ds.data_vars if v != "completed" and set(ds[v].dims) <= set(dims)]
    for v in variables:
        if v not in scalar:
            raise ValueError(f"variables must be scalar variables of the sweep {tuple(scalar)}; got variables={tuple(variables)!r}")
    chosen = list(variables) or scalar
    done = ds["completed"].values
    keep = tuple(d for d in dims if d not in over)
    columns = [Column(d, d) for d in keep]
    if ds.sizes.get("sample") and "sample" in keep:
        columns += [Column(str(c), str(c)) for c in ds.coords if c not in dims and ds[c].dims == ("sample",)]
    data = {}
    for v in chosen:
        values = ds[v].transpose(*dims).values
        if values.dtype.kind == "f":
            data[v] = np.where(done, values, np.nan)
            columns.append(Column(v, v, fmt=".4g"))
        elif v == "status":
            data[v] = np.where(done, values, -1)
            if over:
                columns += [Column("converged", "converged (fraction)", fmt=".3f"),
                            Column("diverged", "diverged (fraction)", fmt=".3f")]
            else:
                columns.append(Column("status", "status"))
        elif not over:
            data[v] = np.where(done, values, np.iinfo(values.dtype).min)
            columns.append(Column(v, v))
    rows = []
    for index in itertools.product(*(range(ds.sizes[d]) for d in keep)):
        where = dict(zip(keep, index))
        row = {d: ds[d].values[i].item() for d, i in where.items()}
        if "sample" in where:
            row.update({c.key: ds[c.key].values[where["sample"]].item() for c in columns if c.key in ds.coords
                        and c.key not in keep})
        sel = tuple(where.get(d, slice(None)) for d in dims)
        for v, values in data.items():
            part = values[sel]
            if v == "status":
                if over:
                    finished = part[part >= 0]
                    row["converged"] = float(np.mean(finished == Status.CONVERGED.code)) if finished.size else None
                    row["diverged"] = float(np.mean(finished == Status.DIVERGED.code)) if finished.size else None
                else:
                    row["status"] = Status.from_code(int(part)).name if part >= 0 else None
            elif values.dtype.kind == "f" and over:
                finite = part[~np.isnan(part)]
                row[v] = float(np.median(finite)) if finite.size else None
            elif values.dtype.kind == "f":
                row[v] = None if np.isnan(part) else float(part)
            else:
                row[v] = None if part == np.iinfo(values.dtype).min else int(part)
        rows.append(row)
    n_missing = int(done.size - done.sum())
    notes = [
        (f"Sweep {ds.attrs.get('title', '')!r}: {ds.attrs.get('n_steps')} steps per run, engine "
         f"{ds.attrs.get('engine')}, linflow {ds.attrs.get('linflow_version')}; spec in the store's attrs."),
    ]
    if over:
        notes.append(f"Median over {', '.join(over)} (missing values left out); status as fractions of finished runs.")
    if n_missing:
        notes.append(f"{n_missing} of {done.size} configurations not computed yet (rerun linflow sweep to finish).")
    return Table("sweep", f"Sweep {ds.attrs.get('title', '')}", tuple(columns), tuple(rows), tuple(notes),
                 {"store": str(store), "over": over, "variables": tuple(chosen)})
