"""Cost of recording the sharpness at every step, against plain GD, in the same run.

Workload (batched edge of stability): B = 32 trajectories of a depth-3, width-4 whitened deep
linear network (P = 48), target with singular values 1–3, near-identity init (std 0.3, seed 0),
learning rates ``η = c · 2/S_0`` with c spread over [1.05, 1.9] (every run starts past the edge
and self-stabilizes or diverges), 500 GD steps. Rows, each timed best of ``--repeat``:

* ``gd``: ``simulate_descent`` on the default engine (numba), losses every step;
* ``gd + sharpness (engine, tol)``: ``observe=("sharpness",)`` every step, computed inside the
  engine's loop (warm-started restarted Lanczos on exact Hessian-vector products,
  :mod:`linflow._curvature_numba`) to the residual tolerance ``tol`` (default 1e-8), with the
  mean number of Hessian-vector products per observed step;
* ``gd + sharpness (dense, afterwards)``: weights recorded by the engine, dense batched
  Hessians and ``eigvalsh`` afterwards (``method="dense"``, the independent check);
* ``afterwards, per point``: the user's approach before observables — record the weights and
  call ``Problem.sharpness`` on each recorded point (timed on a tenth of the points and
  scaled up).

``--one-product`` measures instead how accurate the estimate is that a ≤ 3× budget would allow
(one Hessian-vector product per step). ``--oracle`` measures the fewest products any Krylov
method warm-started from earlier steps needs at each point, and the cost ratio that implies even
with no overhead. ``--wide`` compares single networks of growing width.

The ratio to ``gd`` is printed for each row (target of the issue: ≤ 3× for the sharpness at
every step), and every in-engine value is compared with dense ``eigh`` at the same step
(largest relative difference over all observed points). The machine is shared: compare ratios
within one run only.

``--backend cuda`` times the same rows on the CUDA engine (the sharpness then in its kernel).

Usage::

    python scripts/bench_observables.py [--batch 32] [--steps 500] [--repeat 3] [--backend cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import linflow.descent
from linflow import DeepLinearNetwork, Problem, init, simulate_descent


def _workload(batch: int):
    widths = (4, 4, 4, 4)
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    v, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    problem = Problem(DeepLinearNetwork(widths), target=u @ np.diag([3.0, 2.0, 1.5, 1.0]) @ v.T)
    w0 = init.near_identity(widths, std=0.3, seed=rng, batch=batch)
    s0 = np.array([problem.sharpness(tuple(w[b] for w in w0)) for b in range(batch)])
    return problem, w0, np.linspace(1.05, 1.9, batch) * 2.0 / s0


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _recorded_hessians(problem, res, b: int):
    """``(i, dense Hessian)`` at trajectory ``b``'s recorded points, until it diverged."""
    from linflow._hessian import dense_hessian

    for i in range(res.steps.size):
        w = tuple(x[b, i] for x in res.weights)
        if not all(np.all(np.isfinite(x)) for x in w):
            return
        yield i, dense_hessian(problem, w)


def _one_product(args) -> None:
    """Errors of a one-product-per-step sharpness estimate on the workload: at step k the
    Rayleigh quotient of v (the warm start) and v ← Hv/‖Hv‖, v from one or two steps back."""
    problem, w0, lr = _workload(args.batch)
    res = simulate_descent(problem, w0, learning_rate=lr, n_steps=args.steps, record_weights=True)
    start = np.random.default_rng(0).standard_normal(problem.network.n_params)
    lags = (1, 2)
    errors = {lag: [] for lag in lags}
    for b in range(args.batch):
        history = {lag: [start / np.linalg.norm(start)] * 2 for lag in lags}
        for _, h in _recorded_hessians(problem, res, b):
            top = np.linalg.eigvalsh(h)[-1]
            for lag in lags:
                v = history[lag][-lag]
                hv = h @ v
                errors[lag].append(abs(v @ hv - top) / top)
                history[lag].append(hv / np.linalg.norm(hv))
    for lag in lags:
        e = np.array(errors[lag])
        print(f"one product per step, warm start {lag} step(s) back: relative error median {np.median(e):.1e}, "
              f"90th percentile {np.quantile(e, 0.9):.1e}, max {e.max():.1e} ({e.size} points)")


def _krylov_products(hessian: np.ndarray, start: np.ndarray, top: float, tol: float) -> int:
    """Fewest Hessian-vector products k after which the top Ritz value of the Krylov space
    K_k(H, start) is within ``tol`` (relative) of ``top``: what a Krylov method told the answer
    would need (K_k takes k products: the last one gives its last diagonal entry)."""
    basis = [start / np.linalg.norm(start)]
    for k in range(1, hessian.shape[0] + 1):
        q = np.stack(basis, axis=1)
        if abs(np.linalg.eigvalsh(q.T @ hessian @ q)[-1] - top) <= tol * abs(top):
            return k
        z = hessian @ basis[-1]
        for _ in range(2):  # full reorthogonalization, twice
            z -= q @ (q.T @ z)
        norm = np.linalg.norm(z)
        if norm <= 1e-13 * abs(top):  # an invariant subspace: its Ritz values are eigenvalues
            return k
        basis.append(z / norm)
    return hessian.shape[0]


def _oracle(args) -> None:
    """Lower bound of the cost of the sharpness at every step for warm-started Krylov methods.

    At every point of the workload: the dense Hessian, its top eigenpair (``eigh``), and the fewest
    products a Krylov method needs to be within ``--oracle-tol`` (default 1e-8) of λ_max, started
    from the *exact* top eigenvector one step back, two steps back, or extrapolated from two and
    four steps back (2v₋₂ − v₋₄); stopping is told by the oracle, so no product is spent on
    certifying. Mean products per trajectory-step n̄ are given for lanes that each go their own
    way, and for 8 lanes in lockstep (a chunk takes its slowest lane's count), as the lane engine
    runs; the engine's own count at the same tolerance (a certified residual) is printed below.

    Cost bound: nothing but the products is counted, each as h GD steps: h = 1 (generous), and
    h = 2, its count of matrix products (a GD step of a depth-N whitened chain takes 3(N − 1),
    a Hessian-vector product 6(N − 1): the tangent forward and backward passes and the two
    outer-product terms). GD's per-call cost F (its 1-step run) is not multiplied, so the bound
    on the measured ratio of whole runs is 1 + h·n̄·(T − F)/T, T the GD run's time."""
    tol = args.oracle_tol
    problem, w0, lr = _workload(args.batch)
    res = simulate_descent(problem, w0, learning_rate=lr, n_steps=args.steps, record_weights=True)
    starts = ("one step back", "two steps back", "extrapolated")
    need = np.full((len(starts), args.batch, res.steps.size), np.nan)
    for b in range(args.batch):
        tops = []
        for i, hessian in _recorded_hessians(problem, res, b):
            values, vectors = np.linalg.eigh(hessian)
            top = vectors[:, -1] if not tops or vectors[:, -1] @ tops[-1] >= 0 else -vectors[:, -1]
            tops.append(top)
            if i >= 4:
                for s, start in enumerate((tops[-2], tops[-3], 2 * tops[-3] - tops[-5])):
                    need[s, b, i] = _krylov_products(hessian, start, values[-1], tol)
    live = np.isfinite(need[0])
    engine = simulate_descent(problem, w0, learning_rate=lr, n_steps=args.steps, observe=("sharpness",),
                              observe_options={"sharpness": {"tol": tol}})
    run = dict(learning_rate=lr, backend=args.backend)
    simulate_descent(problem, w0, n_steps=1, **run)  # compile / warm up
    whole = _best(lambda: simulate_descent(problem, w0, n_steps=args.steps, **run), args.repeat)
    per_step = 1.0 - _best(lambda: simulate_descent(problem, w0, n_steps=1, **run), args.repeat) / whole
    print(f"relative tolerance {tol:g}; workload: B={args.batch}, {args.steps} steps; {int(live.sum())} points "
          f"from step 4 on; GD {whole * 1e3:.2f} ms, of it per-step {per_step:.0%} (the rest: a 1-step run)")
    print(f"{'warm start (exact eigenvector)':31s} {'lanes':>6s} {'products/step':>14s} {'needing one':>12s} "
          f"{'ratio per step >= (h=1, h=2)':>29s} {'whole run >= (h=1, h=2)':>24s}")
    for s, name in enumerate(starts):
        chunks = [need[s, c:c + 8] for c in range(0, args.batch, 8)]
        lockstep = np.concatenate([np.nanmax(np.where(np.isfinite(c), c, 0.0), axis=0) for c in chunks])
        for lanes, counts in (("own", need[s][live]), ("8", lockstep[lockstep > 0])):
            n = counts.mean()
            print(f"{name:31s} {lanes:>6s} {n:14.2f} {np.mean(counts == 1):12.2f} "
                  f"{1 + n:14.2f} {1 + 2 * n:14.2f} {1 + n * per_step:11.2f} {1 + 2 * n * per_step:12.2f}")
    done = np.isfinite(engine.observables["sharpness"])
    print(f"the engine (certified residual <= {tol:g}·θ, Ritz vector two back): "
          f"{engine.extra['hvp_count'].sum() / done.sum():.2f} products per trajectory-step")


def _wide(args) -> None:
    """One network, depth 3, widths 16–128, 50 steps, sharpness at every step, both ways."""
    print(f"{'width':>6s} {'P':>7s} {'in engine [s]':>14s} {'afterwards [s]':>15s} {'ratio':>7s} "
          f"{'max rel. diff.':>15s}")
    for width in (16, 32, 64, 128):
        widths = (width,) * 4
        rng = np.random.default_rng(0)
        problem = Problem(DeepLinearNetwork(widths), target=rng.standard_normal((width, width)) / np.sqrt(width))
        w0 = init.near_identity(widths, std=0.1, seed=rng)
        kw = dict(learning_rate=0.05, n_steps=min(args.steps, 50), observe=("sharpness",))
        after = {"sharpness": {"method": "lanczos" if problem.network.n_params > 128 else "dense"}}
        simulate_descent(problem, w0, **dict(kw, n_steps=1))  # compile / warm up both ways
        simulate_descent(problem, w0, observe_options=after, **dict(kw, n_steps=1))
        # The in-engine column forces the 8-lane engine at every width (the default rule,
        # ``linflow.descent.IN_ENGINE_SHARPNESS_MAX_WIDTH``, was set from this table).
        rule = linflow.descent.IN_ENGINE_SHARPNESS_MAX_WIDTH
        linflow.descent.IN_ENGINE_SHARPNESS_MAX_WIDTH = 10**9
        t = time.perf_counter()
        a = simulate_descent(problem, w0, **kw).observables["sharpness"]
        engine = time.perf_counter() - t
        linflow.descent.IN_ENGINE_SHARPNESS_MAX_WIDTH = rule
        t = time.perf_counter()
        b = simulate_descent(problem, w0, observe_options=after, **kw).observables["sharpness"]
        later = time.perf_counter() - t
        diff = float(np.max(np.abs(a - b) / np.abs(b)))
        print(f"{width:6d} {problem.network.n_params:7d} {engine:14.3f} {later:15.3f} {later / engine:7.1f} "
              f"{diff:15.1e}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("numba", "cuda"), default="numba",
                        help="engine of every row (cuda: the one-thread-per-trajectory kernel, in-engine "
                             "sharpness there too; needs a GPU, or NUMBA_ENABLE_CUDASIM=1 for a smoke run)")
    parser.add_argument("--one-product", action="store_true",
                        help="accuracy of the estimate a ≤ 3x budget allows: one Hessian-vector product per "
                             "step (Rayleigh quotient of the power-iterated warm start), against dense eigh")
    parser.add_argument("--oracle", action="store_true",
                        help="fewest Hessian-vector products per step any warm-started Krylov method needs for "
                             "--oracle-tol (stopping told by dense eigh), and the cost ratio that bounds from below")
    parser.add_argument("--oracle-tol", type=float, default=1e-8, help="the tolerance of --oracle")
    parser.add_argument("--wide", action="store_true",
                        help="single networks of growing width instead: in-engine sharpness on the 8-lane "
                             "engine vs BLAS steps and the sharpness from recorded weights")
    args = parser.parse_args(argv)
    if args.wide:
        _wide(args)
        return
    if args.one_product:
        _one_product(args)
        return
    if args.oracle:
        _oracle(args)
        return
    problem, w0, lr = _workload(args.batch)
    kw = dict(learning_rate=lr, n_steps=args.steps, backend=args.backend)
    dense = {"sharpness": {"method": "dense"}}
    tolerances = (1e-8, 1e-6, 1e-4)
    simulate_descent(problem, w0, observe=("sharpness",), **kw)  # compile / warm up
    rows = {"gd": lambda: simulate_descent(problem, w0, **kw)}
    for tol in tolerances:
        rows[f"gd + sharpness (engine, tol {tol:g})"] = lambda tol=tol: simulate_descent(
            problem, w0, observe=("sharpness",), observe_options={"sharpness": {"tol": tol}}, **kw)
    rows["gd + sharpness (dense, afterwards)"] = lambda: simulate_descent(
        problem, w0, observe=("sharpness",), observe_options=dense, **kw)
    times = {name: _best(fn, args.repeat) for name, fn in rows.items()}
    res = simulate_descent(problem, w0, record_weights=True, **kw)
    points = [(b, i) for b in range(args.batch) for i in range(res.steps.size)
              if np.all(np.isfinite([w[b, i].sum() for w in res.weights]))]
    sample = points[:: 10]
    t = time.perf_counter()
    for b, i in sample:
        problem.sharpness(tuple(w[b, i] for w in res.weights))
    per_point = time.perf_counter() - t
    times["afterwards, per point"] = times["gd"] + per_point * len(points) / max(len(sample), 1)
    # Accuracy of the in-engine values against dense eigh at every observed point.
    reference = simulate_descent(problem, w0, observe=("sharpness",), observe_options=dense, **kw)
    exact = reference.observables["sharpness"]
    notes = {}
    for tol in tolerances:
        got = simulate_descent(problem, w0, observe=("sharpness",), observe_options={"sharpness": {"tol": tol}}, **kw)
        seen = got.observables["sharpness"]
        ok = np.isfinite(exact)
        worst = float(np.max(np.abs(seen[ok] - exact[ok]) / np.abs(exact[ok])))
        hvps = float(got.extra["hvp_count"].sum() / ok.sum())
        notes[f"gd + sharpness (engine, tol {tol:g})"] = f"{hvps:5.1f} HVP/step, max rel. diff. vs eigh {worst:.1e}"
    print(f"backend {args.backend}; workload: B={args.batch}, depth 3, width 4 (P={problem.network.n_params}), "
          f"{args.steps} steps, "
          f"eta = c*2/S0, c in [1.05, 1.9]; diverged: {int(res.diverged.sum())}; observed points: {len(points)}")
    print(f"{'row':40s} {'time [s]':>10s} {'ratio to gd':>12s}")
    for name, sec in times.items():
        print(f"{name:40s} {sec:10.4f} {sec / times['gd']:12.1f}   {notes.get(name, '')}")


if __name__ == "__main__":
    main()
