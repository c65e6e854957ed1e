"""Phase diagrams from a sweep store: one variable over two of its axes.

On a grid the cells are drawn with ``pcolormesh`` (logarithmic axes when the coordinates are
geometric); on a sample (dimension ``sample``) the points are scattered. Dimensions other than
the two plotted are reduced: ``status`` by its most frequent value, other variables by their
median (NaN-aware). ``status`` is drawn with one colour per outcome.
"""

from __future__ import annotations

import numpy as np

from ..results import Status
from ._plan import SAMPLE_DIM, is_geometric

#: Status → (label, colour) of the phase diagram.
PHASES = {
    Status.CONVERGED.code: ("converged", "#2a9d8f"),
    Status.MAX_STEPS.code: ("neither: oscillating (edge of stability) or slow", "#e9c46a"),
    Status.DIVERGED.code: ("diverged", "#e76f51"),
}


def open_sweep(store, level: int = 0):
    """The sweep in ``store`` (``level`` > 0: that boundary refinement level), with clear errors."""
    import os

    import xarray as xr

    if not os.path.exists(os.fspath(store)):
        raise ValueError(f"store does not exist; got store={os.fspath(store)!r}")
    ds = xr.open_zarr(store)
    if ds.attrs.get("format", "").split("-")[:2] != ["linflow", "sweep"]:
        raise ValueError(f"store is not a linflow sweep store; got store={os.fspath(store)!r}")
    if level:
        from ._execute import open_boundary

        refined = open_boundary(store, level)
        if refined is None:
            raise ValueError(f"level must be a boundary refinement level in the store ([refine.boundary]); "
                             f"got level={level!r}")
        refined["completed"] = refined["computed"] | True  # every point of a level has a status
        return refined
    return ds


def _most_frequent(values: np.ndarray, axis: tuple) -> np.ndarray:
    moved = np.moveaxis(values, axis, tuple(range(values.ndim - len(axis), values.ndim)))
    flat = moved.reshape(moved.shape[: values.ndim - len(axis)] + (-1,))
    codes = sorted(PHASES)
    counts = np.stack([(flat == c).sum(axis=-1) for c in codes], axis=-1)
    return np.asarray(codes)[np.argmax(counts, axis=-1)]


def phase_data(ds, x: str, y: str, color: str):
    """``(x values, y values, 2-D array [y, x])`` of ``color`` on a grid, reduced over other dims."""
    for name, what in ((x, "x"), (y, "y")):
        if name not in ds.coords:
            raise ValueError(f"{what} must be an axis of the sweep ({', '.join(map(str, ds.coords))}); got {what}={name!r}")
    if color not in ds.data_vars or color == "completed":
        raise ValueError(f"color must be a variable of the sweep ({', '.join(v for v in ds.data_vars if v != 'completed')}); "
                         f"got color={color!r}")
    da = ds[color]
    if "step" in da.dims:
        da = da.isel(step=-1)
    da = da.where(ds["completed"]) if da.dtype.kind == "f" else da
    if SAMPLE_DIM in da.dims:
        return ds[x].values, ds[y].values, da.values
    if x == y or x not in da.dims or y not in da.dims:
        raise ValueError(f"x and y must be two different dimensions of {color}; got x={x!r}, y={y!r}")
    other = tuple(d for d in da.dims if d not in (x, y))
    values = da.transpose(y, x, *other).values
    axes = tuple(range(2, 2 + len(other)))
    if other:
        values = _most_frequent(values, axes) if color == "status" else np.nanmedian(values, axis=axes)
    return ds[x].values, ds[y].values, values


def plot_phase_diagram(ds, *, x: str, y: str, color: str = "status"):
    """Draw ``color`` over axes ``x`` and ``y`` of a sweep dataset; return the Figure."""
    from ..plotting import _pyplot

    plt = _pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    xs, ys, values = phase_data(ds, x, y, color)
    fig, ax = plt.subplots(figsize=(6.4, 4.8), constrained_layout=True)
    categorical = color == "status"
    if categorical:
        codes = sorted(PHASES)
        cmap = ListedColormap([PHASES[c][1] for c in codes])
        norm = BoundaryNorm(np.arange(min(codes) - 0.5, max(codes) + 1), cmap.N)
        values = np.where(np.isin(values, codes), values, np.nan)
    else:
        finite = np.asarray(values, dtype=float)[np.isfinite(values)]
        positive = finite.size and finite.min() > 0 and finite.max() / finite.min() > 100
        cmap, norm = "viridis", (LogNorm(finite.min(), finite.max()) if positive else None)
    if "computed" in ds and values.ndim == 2 and color == "status":
        # Refined level: mark the simulated points (the others took their cell's common status).
        sim = ds["computed"].transpose(y, x, ...).values
        sim = sim.reshape(sim.shape[:2] + (-1,)).any(axis=-1)
        yy, xx = np.nonzero(sim)
        ax.scatter(xs[xx], ys[yy], s=2, c="k", linewidths=0, zorder=3)
    if values.ndim == 1:  # a sample: scatter
        art = ax.scatter(xs, ys, c=values, cmap=cmap, norm=norm, s=30, edgecolors="none")
        logx, logy = np.all(xs > 0) and xs.max() / xs.min() > 20, np.all(ys > 0) and ys.max() / ys.min() > 20
    else:
        art = ax.pcolormesh(_edges(xs), _edges(ys), np.ma.masked_invalid(values.astype(float)),
                            cmap=cmap, norm=norm, shading="flat")
        logx, logy = is_geometric(xs), is_geometric(ys)
    for axis, log in ((ax.xaxis, logx), (ax.yaxis, logy)):
        if log:
            (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
            # Ticks at 1, 2, 5 × 10^k written plainly: phase diagrams often span one or two decades.
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FormatStrFormatter("%g"))
            axis.set_minor_formatter(NullFormatter())
    if x == "learning_rate_fraction":
        ax.axvline(1.0, color="k", lw=0.8, ls="--", label="η = 2/S")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if categorical:
        present = [c for c in PHASES if np.any(values == c)]
        handles = [Patch(color=PHASES[c][1], label=PHASES[c][0]) for c in present]
        if x == "learning_rate_fraction":
            handles.append(Line2D([], [], color="k", lw=0.8, ls="--", label="η = 2/S"))
        ax.legend(handles=handles, loc="lower left", fontsize="small", framealpha=0.9)
    else:
        fig.colorbar(art, ax=ax, label=color)
    title = ds.attrs.get("title", "sweep")
    ax.set_title(f"{title}: {color} after {ds.attrs.get('n_steps', '?')} steps")
    return fig


def _edges(centers: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (geometric midpoints on geometric grids)."""
    c = np.asarray(centers, dtype=float)
    if c.size == 1:
        return np.array([c[0] * 0.9, c[0] * 1.1]) if c[0] > 0 else np.array([c[0] - 0.5, c[0] + 0.5])
    if is_geometric(c):
        mid = np.sqrt(c[1:] * c[:-1])
        return np.concatenate([[c[0] ** 2 / mid[0]], mid, [c[-1] ** 2 / mid[-1]]])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])
