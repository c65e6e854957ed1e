"""Throughput of ``linflow.sweep`` locally and on a Dask LocalCluster, and a projection to 100 workers.

Measures, in one run (so that the machine's load is shared by every figure):

1. the engine alone: one batched :func:`linflow.simulate_descent` call on all trajectories;
2. the sweep locally (tasks one after another in this process, numba on all cores), into a
   Zarr store — the ratio to (1) is the sweep's own overhead;
3. the sweep on a ``dask.distributed.LocalCluster`` with ``--workers`` worker processes of one
   thread each (numba limited to one thread per worker);
4. the per-task overhead: a sweep of one-step, one-trajectory tasks, locally and on the cluster;
5. the store size per configuration;

then projects a sweep of 10⁹ trajectory-steps over a 100-worker cluster from (3) and (4).
Usage: ``python scripts/bench_sweep.py [--trajectories 4096] [--steps 1000] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np


def spec_text(n_traj: int, n_steps: int, task_size: int) -> str:
    # Depth 4, width 8, whitened: the problem of scripts/bench_descent.py; n_traj initializations
    # (the seed axis) at 4 step sizes.
    n_seeds = n_traj // 4
    return f"""
n_steps = {n_steps}
[network]
depth = 4
width = 8
[init]
kind = "gaussian"
scale = 0.3
[optimizer]
sharpness_reference = "minimum"
[execution]
task_size = {task_size}
[axes]
learning_rate_fraction = [0.2, 0.4, 0.6, 0.8]
seed = {{range = [0, {n_seeds}]}}
"""


def engine_alone(spec) -> float:
    """Seconds of one batched simulate_descent call on every trajectory of the sweep."""
    from linflow import simulate_descent
    from linflow.sweep import make_plan
    from linflow.sweep._task import build_init, build_problem, configuration_parameters

    plan = make_plan(spec)
    configs = plan.configurations(tuple(slice(0, n) for n in plan.shape))
    params = [configuration_parameters(spec, c) for c in configs]
    problem = build_problem(spec, params[0])
    inits = [build_init(spec, p, problem) for p in params]
    weights0 = tuple(np.stack([w[j] for w in inits]) for j in range(len(inits[0])))
    etas = np.array([p["learning_rate_fraction"] for p in params]) * 0.5  # any stable η
    simulate_descent(problem, tuple(w[:8] for w in weights0), learning_rate=etas[:8], n_steps=2)  # compile
    start = time.perf_counter()
    simulate_descent(problem, weights0, learning_rate=etas, n_steps=spec.n_steps, record_every=spec.n_steps,
                     track_balancedness=False)
    return time.perf_counter() - start


def timed_sweep(spec, store, client=None):
    from linflow.sweep._execute import run_sweep

    if os.path.exists(store):
        shutil.rmtree(store)
    start = time.perf_counter()
    _, report = run_sweep(spec, store=store, client=client, progress=False)
    return time.perf_counter() - start, report


def store_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trajectories", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--task-size", type=int, default=512)
    parser.add_argument("--overhead-tasks", type=int, default=64)
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    from linflow.sweep import load_spec

    spec = load_spec(spec_text(args.trajectories, args.steps, args.task_size))
    tiny = load_spec(spec_text(4 * args.overhead_tasks, 1, 1).replace("learning_rate_fraction = [0.2, 0.4, 0.6, 0.8]",
                                                                          "learning_rate_fraction = [0.2]"))
    work = args.trajectories * args.steps
    tmp = tempfile.mkdtemp(prefix="bench_sweep_")
    try:
        t_engine = engine_alone(spec)
        timed_sweep(tiny, os.path.join(tmp, "warm.zarr"))  # imports, kernels loaded
        t_local, rep = timed_sweep(spec, os.path.join(tmp, "local.zarr"))
        size = store_bytes(os.path.join(tmp, "local.zarr"))
        t_tiny_local, tiny_rep = timed_sweep(tiny, os.path.join(tmp, "tiny_local.zarr"))
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          env={"NUMBA_NUM_THREADS": str(threads)}) as cluster, Client(cluster) as client:
            timed_sweep(tiny, os.path.join(tmp, "warm_cluster.zarr"), client)  # workers import and compile
            t_cluster, _ = timed_sweep(spec, os.path.join(tmp, "cluster.zarr"), client)
            t_tiny_cluster, _ = timed_sweep(tiny, os.path.join(tmp, "tiny_cluster.zarr"), client)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n_tasks = rep.n_tasks
    print(f"sweep: {args.trajectories} trajectories × {args.steps} steps (depth 4, width 8, whitened), "
          f"{n_tasks} tasks of ≤ {args.task_size}; {os.cpu_count()} cores; same run, same load")
    rate_engine, rate_local, rate_cluster = work / t_engine, work / t_local, work / t_cluster
    print(f"  engine alone (one batched call)   {t_engine:7.2f} s   {rate_engine:.3g} trajectory-steps/s")
    print(f"  sweep, local                      {t_local:7.2f} s   {rate_local:.3g} trajectory-steps/s "
          f"({rate_local / rate_engine:.2f}× the engine alone)")
    print(f"  sweep, LocalCluster {args.workers} processes  {t_cluster:7.2f} s   {rate_cluster:.3g} trajectory-steps/s "
          f"({rate_cluster / rate_local:.2f}× local)")
    over_local = t_tiny_local / tiny_rep.n_tasks
    over_cluster = t_tiny_cluster / tiny_rep.n_tasks
    print(f"  per-task overhead (1 trajectory, 1 step, store write): local {1e3 * over_local:.1f} ms, "
          f"cluster {1e3 * over_cluster:.1f} ms (wall time per task, {args.workers} workers)")
    per_config = size / args.trajectories
    print(f"  store: {size / 1e6:.2f} MB, {per_config:.1f} bytes per configuration (default variables)")

    # Projection: 10⁹ trajectory-steps = 10⁶ trajectories × 1000 steps on 100 workers, each
    # running at the measured per-worker cluster rate; tasks of 1024 trajectories.
    total, n_traj, task = 1e9, 1e6, 1024
    per_worker = rate_cluster / args.workers
    tasks = int(np.ceil(n_traj / task))
    compute = total / (100 * per_worker)
    overhead = tasks * over_cluster * args.workers / 100  # measured wall per task × workers = worker-seconds
    print("projection: 10⁹ trajectory-steps (10⁶ trajectories × 1000 steps) on 100 single-threaded workers")
    print(f"  {tasks} tasks of {task} trajectories; store ≈ {n_traj * per_config / 1e6:.0f} MB "
          f"({n_traj * per_config / tasks / 1e3:.0f} kB per task and chunk)")
    # The client writes every task's chunk itself: at most 1/(local per-task overhead) tasks/s.
    writes = tasks * over_local
    print(f"  compute ≈ {compute:.0f} s at {per_worker:.3g} trajectory-steps/s per worker, task overhead ≈ "
          f"{overhead:.1f} s; the client's store writes need ≥ {writes:.0f} s ({1 / over_local:.0f} tasks/s "
          f"measured), so ≈ {max(compute + overhead, writes):.0f} s in all")


if __name__ == "__main__":
    main()
