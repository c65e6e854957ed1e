"""Run a sweep's pending tasks locally or on a Dask cluster, streaming each result to the store.

Locally (``client=None``) the tasks run one after another in this process: each is one or a
few batched engine calls, which the numba engine already spreads over all cores with its own
thread pool, so a second layer of parallelism would only compete for them. With a
``dask.distributed.Client`` every pending task is submitted as a future and written by this
process as soon as it finishes (``as_completed``): workers need linflow installed but no
access to the store.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ._plan import make_plan
from ._spec import load_spec
from ._store import open_store, pending_tasks, write_task
from ._task import check_configurations, run_task


@dataclass
class SweepReport:
    """What a sweep run did (filled in as it runs, so it is meaningful after an interrupt)."""

    store: object = None
    n_tasks: int = 0
    n_skipped: int = 0
    n_computed: int = 0
    n_trajectories: int = 0
    seconds: float = 0.0
    engines: set = field(default_factory=set)


class _Progress:
    """``sweep [#####.....] 12/36 tasks 3.1s, ETA 8.2s`` on stderr when it is a terminal."""

    def __init__(self, total: int, done: int, enabled: Optional[bool], width: int = 30):
        self.total, self.done, self.start_done = max(total, 1), done, done
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.width = width
        self.start = time.perf_counter()
        self._draw()

    def update(self) -> None:
        self.done += 1
        self._draw()

    def _draw(self) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        computed = self.done - self.start_done
        eta = f"ETA {elapsed / computed * (self.total - self.done):.1f}s" if computed else "ETA ?"
        filled = int(self.width * self.done / self.total)
        sys.stderr.write(f"\rsweep [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
                         f"tasks {elapsed:.1f}s, {eta} ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def expected_engine(spec) -> str:
    """The engine the spec's runs use: ``[execution] backend``, else the default engine."""
    from ..descent import DEFAULT_BACKEND

    return spec.backend or DEFAULT_BACKEND


def open_results(store, in_memory: bool):
    import xarray as xr

    ds = xr.open_zarr(store)
    return ds.load() if in_memory else ds


def run_sweep(spec, *, store=None, client=None, resume: bool = True, progress: Optional[bool] = None,
              report: Optional[SweepReport] = None):
    """:func:`linflow.sweep` returning ``(dataset, report)``; ``report`` is filled while running."""
    from .. import __version__

    report = SweepReport() if report is None else report
    spec = load_spec(spec)
    plan = make_plan(spec)
    check_configurations(spec, plan)
    start = time.perf_counter()
    group, store = open_store(store, spec, plan, resume=resume, engine=expected_engine(spec), version=__version__)
    report.store = store
    tasks = plan.tasks()
    todo = pending_tasks(group, plan)
    report.n_tasks, report.n_skipped = len(tasks), len(tasks) - len(todo)
    bar = _Progress(len(tasks), report.n_skipped, progress)
    try:
        if client is None:
            for region in todo:
                result = run_task(spec, plan.configurations(region), _shape(region))
                _finish(group, region, result, report, bar)
        else:
            _run_on_cluster(client, spec, plan, todo, group, report, bar)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - start
    in_memory = not isinstance(store, str)
    results = open_results(store, in_memory=in_memory)
    if spec.boundary is not None:
        _refine(spec, plan, results.load(), store, client, report, progress)
        report.seconds = time.perf_counter() - start
    return results, report


def boundary_group(level: int) -> str:
    """The store group of boundary refinement level ``level``."""
    return f"boundary_{level}"


def open_boundary(store, level: int):
    """Boundary refinement level ``level`` of a store (``xarray.Dataset``), or None if absent."""
    import xarray as xr

    try:
        ds = xr.open_zarr(store, group=boundary_group(level))
    except (FileNotFoundError, KeyError, OSError, ValueError):
        return None
    return ds if ds.attrs.get("boundary_level") == level else None


def _refine(spec, plan, base, store, client, report: SweepReport, progress) -> None:
    """Boundary refinement levels after the grid; each level stored once complete."""
    from ._boundary import refine_boundary

    def compute(configs):
        regions = [slice(i, min(i + spec.task_size, len(configs))) for i in range(0, len(configs), spec.task_size)]
        out = {}
        bar = _Progress(len(regions), 0, progress)
        try:
            if client is None:
                results = []
                for sl in regions:
                    results.append(run_task(spec, configs[sl], (sl.stop - sl.start,)))
                    bar.update()
            else:
                futures = [client.submit(run_task, spec, configs[sl], (sl.stop - sl.start,), pure=False) for sl in regions]
                try:
                    results = client.gather(futures)
                finally:
                    client.cancel(futures)
        finally:
            bar.close()
        report.n_computed += len(regions)
        report.n_tasks += len(regions)
        report.n_trajectories += len(configs)
        for name in results[0]:
            if name != "engine":
                out[name] = np.concatenate([r[name] for r in results])
        return out

    def save(ds):
        ds.to_zarr(store, group=boundary_group(ds.attrs["boundary_level"]), mode="w", zarr_format=2, consolidated=True)

    def load(level):
        ds = open_boundary(store, level)
        return None if ds is None else ds.load()

    refine_boundary(spec, plan, base, compute, load=load, save=save)


def _shape(region: tuple) -> tuple:
    return tuple(sl.stop - sl.start for sl in region)


def _finish(group, region, result, report: SweepReport, bar: _Progress) -> None:
    write_task(group, region, result)
    report.n_computed += 1
    report.n_trajectories += _size(region)
    report.engines.add(result["engine"])
    bar.update()


def _size(region: tuple) -> int:
    size = 1
    for n in _shape(region):
        size *= n
    return size


def _run_on_cluster(client, spec, plan, todo, group, report, bar) -> None:
    from distributed import as_completed

    futures = {}
    for region in todo:
        future = client.submit(run_task, spec, plan.configurations(region), _shape(region), pure=False)
        futures[future] = region
    try:
        for future in as_completed(futures):
            _finish(group, futures.pop(future), future.result(), report, bar)
    finally:
        if futures:
            client.cancel(list(futures))
