"""Adaptive refinement of a 2-D phase boundary: more points where the status changes.

Level ℓ halves the spacing of the ``x`` × ``y`` grid of level ℓ − 1 (geometric midpoints on
geometric axes, arithmetic ones otherwise). A cell of the coarser grid whose four corners do not
all share one status contains a piece of the boundary: its edge midpoints and centre are
simulated. The other new points lie in cells whose corners agree, and take that common status
(``computed`` is False there, their other variables NaN). Every other axis (seeds, depths, …)
is refined independently. Each level is stored as the group ``boundary_ℓ`` of the store, once
complete; a rerun reuses the complete levels.
"""

from __future__ import annotations

import numpy as np

from ._plan import is_geometric
from ._task import variables

STATUS = "status"


def refine_coordinates(values: np.ndarray) -> np.ndarray:
    """``2n − 1`` values: the old ones and the midpoints between them (geometric if the axis is)."""
    v = np.asarray(values, dtype=float)
    mid = np.sqrt(v[1:] * v[:-1]) if is_geometric(v) else 0.5 * (v[1:] + v[:-1])
    out = np.empty(2 * v.size - 1)
    out[::2], out[1::2] = v, mid
    return out


def boundary_points(status: np.ndarray) -> tuple:
    """``(need, filled)`` on the refined grid of ``status`` (x, y the last two axes, y first).

    ``need``: new points inside or on the edge of a cell whose corners differ; ``filled``: the
    refined status with the coarse values, the common value of uniform cells, and −1 at
    ``need``.
    """
    *lead, ny, nx = status.shape
    c = [status[..., :-1, :-1], status[..., :-1, 1:], status[..., 1:, :-1], status[..., 1:, 1:]]
    mixed = ~((c[0] == c[1]) & (c[0] == c[2]) & (c[0] == c[3]))
    filled = np.full((*lead, 2 * ny - 1, 2 * nx - 1), -1, dtype=status.dtype)
    filled[..., ::2, ::2] = status
    need = np.zeros(filled.shape, dtype=bool)
    # Offsets of a cell's new points from its lower-left fine index (2j, 2i).
    for dy, dx in ((0, 1), (1, 0), (1, 1), (2, 1), (1, 2)):
        sl = (..., slice(dy, dy + 2 * ny - 2, 2), slice(dx, dx + 2 * nx - 2, 2))
        need[sl] |= mixed
        uniform = filled[sl]
        filled[sl] = np.where(~mixed & (uniform < 0), c[0], uniform)
    filled[need] = -1
    return need, filled


def refine_boundary(spec, plan, base, compute, *, load=lambda level: None, save=lambda ds: None) -> list:
    """Refine ``base`` (the grid results) ``spec.boundary.levels`` times.

    ``compute(configs)`` runs a list of configurations and returns name → array (one entry per
    configuration); ``load(level)`` returns a level finished earlier (or None), ``save(ds)``
    stores a finished level. Returns the list of level datasets.
    """
    import xarray as xr

    b = spec.boundary
    others = tuple(d for d in plan.dims if d not in (b.x, b.y))
    order = others + (b.y, b.x)
    current = base.transpose(*order, ...)
    names = [n for n, v in variables(spec).items() if not v.series]
    levels = []
    for level in range(1, b.levels + 1):
        done = load(level)
        if done is not None:
            current = done.transpose(*order, ...)
            levels.append(current)
            continue
        xs, ys = refine_coordinates(current[b.x].values), refine_coordinates(current[b.y].values)
        need, status = boundary_points(current[STATUS].values)
        computed = np.zeros(need.shape, dtype=bool)
        previous_computed = current["computed"].values if "computed" in current else np.ones(current[STATUS].shape, bool)
        computed[..., ::2, ::2] = previous_computed
        data = {}
        for name in names:
            fill = np.nan if np.dtype(variables(spec)[name].dtype).kind == "f" else -2
            arr = np.full(need.shape, fill, dtype=variables(spec)[name].dtype)
            arr[..., ::2, ::2] = current[name].values
            data[name] = arr
        index = np.argwhere(need)
        coords = [current[d].values for d in others] + [ys, xs]
        configs = [{d: coords[k][i].item() for k, (d, i) in enumerate(zip(order, idx))} for idx in index]
        if configs:
            results = compute(configs)
            for name in names:
                data[name][tuple(index.T)] = results[name]
        data[STATUS] = np.where(need, data[STATUS], status)
        computed |= need
        ds = xr.Dataset({name: (order, values) for name, values in data.items()},
                        coords={**{d: current[d].values for d in others}, b.y: ys, b.x: xs})
        ds["computed"] = (order, computed)
        ds.attrs = {**base.attrs, "boundary_level": level, "boundary_points": int(need.sum())}
        save(ds)
        levels.append(ds)
        current = ds
    return levels
