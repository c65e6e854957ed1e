"""Benchmark of the GD engines against the machine's float64 ceiling and against peers.

Canonical workload: 10,000 trajectories of a depth-4, width-8 whitened problem,
1,000 GD steps each, per-trajectory learning rates. In one run this script measures

* the float64 matrix-multiply ceiling: NumPy dgemm on large square matrices, with as many
  BLAS threads as linflow uses (numba's thread count) and with one (threadpoolctl);
* linflow ``backend="numba"`` (and ``backend="cuda"`` with ``--backend cuda``), with the full
  metrics and, as ``plain``, with ``track_balancedness=False``;
* the NumPy reference ``backend="numpy"`` (stacked ``@``);
* JAX ``jit(vmap(...))`` and PyTorch (batched ``@``) when importable (the ``bench`` extra);

and, for the other built-in losses (matrix sensing and completion, logistic, cross-entropy,
regression on a leaky-ReLU network; 2,000 trajectories, 400 with ``--quick``), the numba engine
against the NumPy reference. It checks every peer's final weights, final loss and balancedness
drift against the reference before timing it, times each at least ``--repeat`` times (best and median reported), reports
compile time separately (a fresh process with an empty numba cache, then a second process
that loads the cache), and prints trajectory-steps/s, GFLOP/s, % of the ceiling and the
ratio of linflow's speed to each peer's. ``--json FILE`` writes all figures.

Flop count per trajectory-step (N layers of width d), the arithmetic linflow's kernel does:

    F = 6(N−1)d³          gradient: N−1 forward products H_j, N−1 backward products Δ_j,
                          N−1 gradient products G_j, 2d³ flops each
      + 2(N−1)d²(d+1)     balancedness: upper triangles of the 2(N−1) Gram matrices
      + 3d² + 2Nd²        residual and loss, GD update

(d=8, N=4: F = 13,376; without the balancedness term, "plain", 9,920). Two metric sets,
compared like for like: *full* (GD, balancedness drift at every step, final loss: the NumPy
reference, linflow, JAX, PyTorch) and *plain* (GD and final loss: linflow with
``track_balancedness=False``, JAX without the drift). Every row of a set is credited with
the same F, so GFLOP/s ratios equal speed ratios within a set. linflow additionally evaluates
the loss and checks divergence at every step in both sets (the peers do not).

Usage::

    python scripts/bench_descent.py            # canonical workload
    python scripts/bench_descent.py --quick    # < 2 minutes
    python scripts/bench_descent.py --backend cuda   # on a GPU: 10^6 trajectories
    python scripts/bench_descent.py --shapes   # every shape class vs NumPy and JAX (--quick: smaller)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from linflow import DeepLinearNetwork, Problem, simulate_descent  # noqa: E402
from linflow import init as linit  # noqa: E402


# ----------------------------------------------------------------------------- workload
def flops_per_step(depth: int, width: int, *, balancedness: bool = True) -> int:
    """Flop per trajectory-step (module docstring); without the balancedness Gram matrices
    when ``balancedness`` is False (plain GD + loss)."""
    n, d = depth, width
    gram = 2 * (n - 1) * d**2 * (d + 1) if balancedness else 0
    return 6 * (n - 1) * d**3 + gram + 3 * d**2 + 2 * n * d**2


def make_workload(n_traj: int, depth: int, width: int, seed: int = 0):
    """Whitened problem, near-identity initializations, stable per-trajectory step sizes."""
    rng = np.random.default_rng(seed)
    net = DeepLinearNetwork((width,) * (depth + 1))
    target = rng.standard_normal((width, width))
    target *= 1.5 / np.linalg.norm(target, 2)  # spectral norm 1.5: a nontrivial fit
    problem = Problem(net, target=target)
    weights0 = linit.near_identity(net.widths, std=0.1 / np.sqrt(width), seed=rng, batch=n_traj)
    # η ∈ [0.05, 0.25]·2/S with S the largest initial sharpness of a sample: stable runs, so
    # every engine can be compared with the reference step for step.
    sample = range(min(n_traj, 16))
    s_max = max(problem.sharpness(tuple(w[i] for w in weights0)) for i in sample)
    lrs = rng.uniform(0.05, 0.25, n_traj) * 2.0 / (1.5 * s_max)
    return problem, weights0, lrs


def loss_workloads(n_traj: int, seed: int = 0) -> list:
    """The other built-in losses (linflow.losses): ``(name, problem, weights0, η)`` with stable
    per-trajectory step sizes as in :func:`make_workload`. Depth 3, width 8 (a scalar output
    for the logistic loss), m = 32 samples or measurements; completion observes ~half of an
    8×8 matrix; the ReLU row is a leaky-ReLU network on the regression loss."""
    from linflow import HomogeneousNetwork
    from linflow import losses as ll

    rng = np.random.default_rng(seed)
    d, m = 8, 32
    mask = rng.random((d, d)) < 0.5
    X = rng.standard_normal((d, m))
    cases = [
        ("matrix sensing", DeepLinearNetwork((d,) * 4),
         ll.MatrixSensing(rng.standard_normal((m, d, d)) / d, rng.standard_normal(m))),
        ("matrix completion", DeepLinearNetwork((d,) * 4), ll.MatrixCompletion(mask, rng.standard_normal((d, d)))),
        ("logistic", DeepLinearNetwork((d, d, d, 1)), ll.Logistic(X, rng.choice([-1.0, 1.0], m))),
        ("cross-entropy", DeepLinearNetwork((d,) * 4), ll.CrossEntropy(X, rng.integers(0, d, m))),
        ("regression, leaky ReLU", HomogeneousNetwork((d,) * 4, activation="leaky_relu", negative_slope=0.1),
         ll.Regression(X, rng.standard_normal((d, m)))),
    ]
    out = []
    for name, net, loss in cases:
        problem = Problem(net, loss)
        weights0 = linit.near_identity(net.widths, std=0.1 / np.sqrt(d), seed=rng, batch=n_traj)
        s_max = max(problem.sharpness(tuple(w[i] for w in weights0)) for i in range(min(n_traj, 8)))
        out.append((name, problem, weights0, rng.uniform(0.05, 0.25, n_traj) * 2.0 / (1.5 * s_max)))
    return out


# ----------------------------------------------------------------------------- timing
def timed(fn, repeat: int, cpu: list | None = None):
    """Wall-clock seconds of ``repeat`` calls; the CPU seconds of this process (all its
    threads) are appended to ``cpu``: on a shared machine they show the work per core."""
    times = []
    out = None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if cpu is not None:
            cpu.append(time.process_time() - c0)
    return out, times


def dgemm_ceiling(n: int, repeat: int, threads: int | None = None):
    """(GFLOP/s, GFLOP per CPU-second) of NumPy's dgemm on n×n matrices, best of ``repeat``,
    with the BLAS limited to ``threads`` threads (None: BLAS default). Returns None when the
    thread count cannot be set (threadpoolctl missing)."""
    limit = contextlib.nullcontext()
    if threads is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return None
        limit = threadpool_limits(limits=threads, user_api="blas")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    with limit:
        a @ b  # warm up the BLAS threads
        cpu = []
        _, times = timed(lambda: a @ b, repeat, cpu)
    return 2.0 * n**3 / min(times) / 1e9, 2.0 * n**3 / min(cpu) / 1e9


def compare(name, weights, loss, drift, ref, *, rtol):
    """Largest relative differences to the reference; raise if any exceeds ``rtol``."""
    b = ref.final_weights[0].shape[0]
    wa = np.concatenate([np.asarray(w).reshape(b, -1) for w in weights], axis=1)
    wb = np.concatenate([w.reshape(b, -1) for w in ref.final_weights], axis=1)
    werr = float(np.max(np.abs(wa - wb).max(axis=1) / np.abs(wb).max(axis=1)))
    lerr = float(np.max(np.abs(np.asarray(loss) - ref.final_loss) / np.abs(ref.final_loss)))
    # Drift: None for a run that does not track it.
    derr = 0.0 if drift is None else float(np.max(np.abs(np.asarray(drift) - ref.balancedness_drift)))
    print(f"  check {name:<20} vs reference: weights {werr:.1e}, loss {lerr:.1e} (relative), "
          + ("drift not tracked" if drift is None else f"drift {derr:.1e} (absolute)"))
    if not (werr <= rtol and lerr <= rtol and derr <= rtol):
        raise SystemExit(f"{name} disagrees with the NumPy reference beyond {rtol:g}")
    return dict(weights=werr, loss=lerr, drift=derr)


# ----------------------------------------------------------------------------- peers
def jax_peer(problem, weights0, lrs, n_steps, track: bool = True):
    """JAX jit(vmap) GD; with ``track`` also the balancedness drift at every step (else NaN)."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    phi = jnp.asarray(problem.target)
    depth = len(weights0)

    def loss_fn(ws):
        we = ws[0]
        for w in ws[1:]:
            we = w @ we
        r = we - phi
        return 0.5 * jnp.sum(r * r)

    def bal(ws):
        return [ws[j + 1].T @ ws[j + 1] - ws[j] @ ws[j].T for j in range(depth - 1)]

    def run_one(ws, lr):
        b0 = bal(ws)

        def body(_, carry):
            ws, drift = carry
            g = jax.grad(loss_fn)(ws)
            ws = tuple(w - lr * gj for w, gj in zip(ws, g))
            for bj, b0j in zip(bal(ws) if track else [], b0):
                drift = jnp.maximum(drift, jnp.sqrt(jnp.sum((bj - b0j) ** 2)))
            return ws, drift

        ws, drift = jax.lax.fori_loop(0, n_steps, body, (ws, jnp.float64(0.0 if track else np.nan)))
        return ws, loss_fn(ws), drift

    fn = jax.jit(jax.vmap(run_one))
    args = (tuple(jnp.asarray(w) for w in weights0), jnp.asarray(lrs))

    def run():
        out = fn(*args)
        jax.block_until_ready(out)
        return out

    return run, f"jax {jax.__version__} jit(vmap)" + ("" if track else " plain")


def torch_peer(problem, weights0, lrs, n_steps):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    phi = torch.as_tensor(problem.target)
    lr = torch.as_tensor(lrs)[:, None, None]
    depth = len(weights0)

    def bal(ws):
        return [ws[j + 1].mT @ ws[j + 1] - ws[j] @ ws[j].mT for j in range(depth - 1)]

    @torch.no_grad()
    def run():
        ws = [torch.as_tensor(w).clone() for w in weights0]
        b0 = bal(ws)
        drift = torch.zeros(len(lrs), dtype=torch.float64)
        for _ in range(n_steps):
            prefix = [ws[0]]
            for w in ws[1:]:
                prefix.append(w @ prefix[-1])
            r = prefix[-1] - phi
            delta = r
            grads = [None] * depth
            for j in range(depth - 1, 0, -1):
                grads[j] = delta @ prefix[j - 1].mT
                delta = ws[j].mT @ delta
            grads[0] = delta
            ws = [w - lr * g for w, g in zip(ws, grads)]
            for bj, b0j in zip(bal(ws), b0):
                drift = torch.maximum(drift, torch.sqrt(((bj - b0j) ** 2).sum(dim=(1, 2))))
        we = ws[0]
        for w in ws[1:]:
            we = w @ we
        loss = 0.5 * ((we - phi) ** 2).sum(dim=(1, 2))
        return ws, loss, drift

    return run, f"torch {torch.__version__} batched @"


# ----------------------------------------------------------------------------- compile time
_PROBE = r"""
import time
t0 = time.perf_counter()
import numpy as np
from linflow import DeepLinearNetwork, Problem, simulate_descent
t1 = time.perf_counter()
prob = Problem(DeepLinearNetwork((2, 3, 2)), target=np.eye(2))
w = tuple(0.5 * np.ones(s) for s in prob.network.shapes)
simulate_descent(prob, w, learning_rate=0.05, n_steps=3, backend="numba")
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def compile_times():
    """(import, first call) seconds in a fresh process with an empty numba cache, then in a
    second process that finds the cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=REPO)
        out = []
        for _ in range(2):
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
            imp, first = (float(v) for v in res.stdout.split())
            out.append(dict(import_s=imp, first_call_s=first, process_s=wall))
    return out


# ----------------------------------------------------------------------------- targets
def targets(backend: str, rows: list, linflow: dict, compile_figures: dict | None) -> list:
    """Print and return the engine's speed targets, each with the figure measured in this run and
    whether it is met (the canonical workload is the default one; --quick and other sizes
    are reported against the same thresholds, for orientation only)."""
    found = []

    def target(name, value, threshold, higher_is_better=True, unit=""):
        met = value >= threshold if higher_is_better else value <= threshold
        found.append(dict(target=name, value=value, threshold=threshold, met=bool(met)))
        sign = "≥" if higher_is_better else "≤"
        print(f"  {name:<46} {value:10.3g}{unit}  (target {sign} {threshold:g}{unit})  "
              f"{'met' if met else 'NOT MET'}")

    print("targets:")
    if backend == "cuda":
        if "full" in linflow:
            target("linflow cuda trajectory-steps/s", linflow["full"]["traj_steps_per_s"], 1e9)
        return found
    for metrics, mine in linflow.items():
        target(f"linflow numba {metrics}: % of dgemm ceiling", mine["percent_of_ceiling"], 50.0, unit="%")
    for row in rows:
        if "linflow_speedup" in row and not row["name"].startswith("torch"):
            target(f"speed-up over {row['name']}", row["linflow_speedup"], 5.0, unit="×")
    if compile_figures:
        fresh, cached = compile_figures["fresh"], compile_figures["cached"]
        target("first-call compile time", fresh["first_call_s"], 10.0, higher_is_better=False, unit=" s")
        target("cached process: simulating after", cached["import_s"] + cached["first_call_s"], 1.0,
               higher_is_better=False, unit=" s")
    return found


# ----------------------------------------------------------------------------- main
def _shapes(args) -> int:
    """``--shapes``: the shape matrix of :mod:`_bench_shapes` against the dgemm ceiling."""
    import numba
    from _bench_shapes import run_shapes

    sys.stdout.reconfigure(line_buffering=True)
    threads = numba.get_num_threads()
    ceiling = dgemm_ceiling(2000, args.repeat, threads) or dgemm_ceiling(2000, args.repeat)
    load = os.getloadavg()
    print(f"float64 ceiling (NumPy dgemm, 2000², {threads} threads, best of {args.repeat}): {ceiling[0]:.1f} GFLOP/s; "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows = run_shapes(quick=args.quick, repeat=args.repeat, ceiling=ceiling[0], threads=threads,
                      peers=not args.no_peers, only=args.only)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(ceiling_gflops=ceiling[0], threads=threads, rows=rows), fh, indent=1, default=float)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 trajectories × 100 steps")
    ap.add_argument("--backend", choices=["numba", "cuda"], default="numba")
    ap.add_argument("--trajectories", type=int)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true", help="skip JAX and PyTorch")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--loss-trajectories", type=int, default=None,
                    help="trajectories of each other-loss row (default 2000; --quick 400)")
    ap.add_argument("--loss-steps", type=int, default=100, help="steps of each other-loss row")
    ap.add_argument("--shapes", action="store_true",
                    help="the shape matrix instead: every shape class against NumPy and JAX (scripts/_bench_shapes.py)")
    ap.add_argument("--only", metavar="TEXT", help="with --shapes: only the rows whose name contains TEXT")
    args = ap.parse_args(argv)
    if args.shapes:
        return _shapes(args)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped to a file
    if args.repeat < 3:
        ap.error("--repeat must be ≥ 3")
    if args.loss_trajectories is None:
        args.loss_trajectories = 400 if args.quick else 2000
    if args.backend == "cuda":
        n_traj, n_steps = args.trajectories or 10**6, args.steps or 1000
    elif args.quick:
        n_traj, n_steps = args.trajectories or 2000, args.steps or 100
    else:
        n_traj, n_steps = args.trajectories or 10_000, args.steps or 1000
    flops = flops_per_step(args.depth, args.width)
    flops_plain = flops_per_step(args.depth, args.width, balancedness=False)
    work = n_traj * n_steps
    load = os.getloadavg()
    print(f"workload: {n_traj} trajectories × {n_steps} steps, depth {args.depth}, width "
          f"{args.width}, whitened; F = {flops} flop per trajectory-step with the balancedness "
          f"drift, {flops_plain} without; {os.cpu_count()} CPUs, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    report = dict(workload=dict(trajectories=n_traj, steps=n_steps, depth=args.depth,
                                width=args.width, flops_per_step=flops,
                                flops_per_step_plain=flops_plain),
                  cpus=os.cpu_count(), load_average_start=load, results={})

    # The ceiling with as many threads as linflow runs (numba's thread count), and with one:
    # the per-CPU-second percentages use the one-thread ceiling (one core's best), the
    # wall-clock percentages the same-thread-count one.
    import numba

    threads = numba.get_num_threads()
    # 4000²: smaller products (2000²) measured well below the peak on this 2-core machine.
    ceilings = {}
    for n_thr in sorted({threads, 1}, reverse=True):
        got = dgemm_ceiling(4000, args.repeat, n_thr)
        if got is None:
            print("  (threadpoolctl not installed: dgemm runs with the BLAS default threads)")
            got = dgemm_ceiling(4000, args.repeat)
            ceilings = {threads: got, 1: None}
            break
        ceilings[n_thr] = got
        print(f"float64 ceiling (NumPy dgemm, 4000², {n_thr} thread{'s' * (n_thr > 1)}, best of "
              f"{args.repeat}): {got[0]:.1f} GFLOP/s ({got[1]:.1f} GFLOP per CPU-second)")
    ceiling = ceilings[threads][0]
    ceiling_cpu = (ceilings.get(1) or ceilings[threads])[1]
    report["linflow_threads"] = threads
    report["ceiling_gflops"] = ceiling
    report["ceiling_gflops_per_cpu_second"] = ceiling_cpu
    report["ceilings"] = {str(k): v for k, v in ceilings.items()}

    problem, weights0, lrs = make_workload(n_traj, args.depth, args.width)
    rows = []

    def add(name, times, extra=None, cpu=None, metrics="full"):
        best = min(times)
        f = flops if metrics == "full" else flops_plain
        row = dict(name=name, metrics=metrics, best_s=best, median_s=statistics.median(times),
                   times_s=times, traj_steps_per_s=work / best, gflops=work * f / best / 1e9)
        if cpu:
            row["cpu_s"] = cpu
            row["gflops_per_cpu_second"] = work * f / min(cpu) / 1e9
            row["percent_of_ceiling_per_cpu_second"] = 100 * row["gflops_per_cpu_second"] / ceiling_cpu
        row["percent_of_ceiling"] = 100 * row["gflops"] / ceiling
        row.update(extra or {})
        rows.append(row)
        print(f"  {name:<34} best {best:8.3f} s  median {row['median_s']:8.3f} s  "
              f"{row['traj_steps_per_s']:.3g} traj-steps/s  {row['gflops']:6.2f} GFLOP/s  "
              f"{row['percent_of_ceiling']:5.1f}% of ceiling"
              + (f"  ({row['gflops_per_cpu_second']:.2f} GFLOP per CPU-second, "
                 f"{row['percent_of_ceiling_per_cpu_second']:.1f}%)" if cpu else ""))

    kw = dict(learning_rate=lrs, n_steps=n_steps, record_every=n_steps)
    linflow = {}
    if args.backend == "cuda":
        # Reference check on a slice against the numba engine (itself checked by the tests).
        sub = slice(0, 4096)
        w_sub = tuple(w[sub] for w in weights0)
        cpu = simulate_descent(problem, w_sub, backend="numba", **dict(kw, learning_rate=lrs[sub]))
        t0 = time.perf_counter()
        gpu = simulate_descent(problem, w_sub, backend="cuda", **dict(kw, learning_rate=lrs[sub]))
        report["cuda_first_call_s"] = time.perf_counter() - t0
        compare("linflow cuda", gpu.final_weights, gpu.final_loss, gpu.balancedness_drift, cpu, rtol=1e-9)
        _, times = timed(lambda: simulate_descent(problem, weights0, backend="cuda", **kw), args.repeat)
        add("linflow cuda", times)
        linflow["full"] = rows[-1]
    else:
        print("metrics computed: full = GD + balancedness drift every step (+ final loss); "
              "plain = GD + final loss. linflow also checks divergence (loss) at every step in "
              "both; the NumPy reference computes the full set.")
        print("NumPy reference (stacked @), full:")
        cpu = []
        ref, times = timed(lambda: simulate_descent(problem, weights0, backend="numpy", **kw), args.repeat, cpu)
        add("numpy reference", times, cpu=cpu)
        print("linflow numba:")
        # Stable runs: rounding differences stay near 1e-13 (tests/descent_agreement.py).
        for metrics, track in (("full", True), ("plain", False)):
            kw_m = dict(kw, track_balancedness=track)
            fast = simulate_descent(problem, weights0, backend="numba", **kw_m)
            name = "linflow numba" + ("" if track else " plain")
            check = compare(name, fast.final_weights, fast.final_loss,
                            fast.balancedness_drift if track else None, ref, rtol=1e-10)
            cpu = []
            _, times = timed(lambda: simulate_descent(problem, weights0, backend="numba", **kw_m), args.repeat, cpu)  # noqa: B023 - timed within this iteration
            add(name, times, dict(check=check, threads=threads), cpu=cpu, metrics=metrics)
            linflow[metrics] = rows[-1]
        peers = [] if args.no_peers else [
            ("jax", "full", lambda *a: jax_peer(*a, track=True)),
            ("jax", "plain", lambda *a: jax_peer(*a, track=False)),
            ("torch", "full", torch_peer),
        ]
        for label, metrics, make in peers:
            try:
                run, name = make(problem, weights0, lrs, n_steps)
            except ImportError as exc:
                print(f"  {label}: not installed ({exc}); skipped")
                continue
            t0 = time.perf_counter()
            ws, loss, drift = run()
            first = time.perf_counter() - t0
            check = compare(name.split(" ")[0] + ("" if metrics == "full" else " plain"), ws, loss,
                            drift if metrics == "full" else None, ref, rtol=1e-10)
            cpu = []
            _, times = timed(run, args.repeat, cpu)
            add(name, times, dict(first_call_s=first, check=check), cpu=cpu, metrics=metrics)
        print("compile time (fresh process, empty numba cache; then a second process):")
        fresh, cached = compile_times()
        report["compile"] = dict(fresh=fresh, cached=cached)
        print(f"  first call compiles in {fresh['first_call_s']:.2f} s (import {fresh['import_s']:.2f} s); "
              f"cached process: import {cached['import_s']:.2f} s + first call {cached['first_call_s']:.2f} s "
              f"= simulating after {cached['import_s'] + cached['first_call_s']:.2f} s")

    if args.backend == "numba":
        print(f"other losses (linflow.losses; {args.loss_trajectories} trajectories × {args.loss_steps} "
              "steps, depth 3, width 8, full metrics): numba engine vs NumPy reference")
        report["losses"] = []
        for name, lprob, lw0, llrs in loss_workloads(args.loss_trajectories):
            lkw = dict(learning_rate=llrs, n_steps=args.loss_steps, record_every=args.loss_steps)
            ref_l, t_ref = timed(lambda: simulate_descent(lprob, lw0, backend="numpy", **lkw), args.repeat)  # noqa: B023 - timed within this iteration
            fast_l = simulate_descent(lprob, lw0, backend="numba", **lkw)  # compiles (or loads)
            check = compare("  " + name, fast_l.final_weights, fast_l.final_loss, fast_l.balancedness_drift,
                            ref_l, rtol=1e-10)
            _, t_fast = timed(lambda: simulate_descent(lprob, lw0, backend="numba", **lkw), args.repeat)  # noqa: B023 - timed within this iteration
            ratio = min(t_ref) / min(t_fast)
            print(f"  {name:<24} numpy {min(t_ref):7.3f} s  numba {min(t_fast):7.3f} s  "
                  f"numba/numpy speed {ratio:6.1f}×")
            report["losses"].append(dict(name=name, numpy_s=t_ref, numba_s=t_fast, speedup=ratio, check=check))

    print("ratios (linflow speed / peer speed, same metrics):")
    for row in rows:
        mine = linflow.get(row["metrics"])
        if mine is not None and row is not mine:
            row["linflow_speedup"] = row["best_s"] / mine["best_s"]
            per_cpu = ""
            if "cpu_s" in row and "cpu_s" in mine:
                # Work per CPU-second: on a shared machine the wall-clock ratio also measures
                # how many cores each run happened to get.
                row["linflow_speedup_per_cpu_second"] = min(row["cpu_s"]) / min(mine["cpu_s"])
                per_cpu = f"  (per CPU-second {row['linflow_speedup_per_cpu_second']:6.2f}×)"
            print(f"  {mine['name']:<20} vs {row['name']:<34} {row['linflow_speedup']:6.2f}× wall{per_cpu}")
    report["results"] = rows
    report["targets"] = targets(args.backend, rows, linflow, report.get("compile"))
    report["load_average_end"] = os.getloadavg()
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in report['load_average_end'])}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
