"""Cost of recording the sharpness at every step, against plain GD, in the same run.

Workload (batched edge of stability): B = 32 trajectories of a depth-3, width-4 whitened deep
linear network (P = 48), target with singular values 1–3, near-identity init (std 0.3, seed 0),
learning rates ``η = c · 2/S_0`` with c spread over [1.05, 1.9] (every run starts past the edge
and self-stabilizes or diverges), 500 GD steps. Rows, each timed best of ``--repeat``:

* ``gd``: ``simulate_descent`` on the default engine (numba), losses every step;
* ``gd + sharpness``: the same with ``observe=("sharpness",)`` every step (dense batched
  Hessians, P ≤ 128);
* ``gd + sharpness (lanczos)``: the same with warm-started Lanczos (``method="lanczos"``);
* ``afterwards, per point``: the user's approach before observables — record the weights and
  call ``Problem.sharpness`` on each recorded point (timed on a tenth of the points and
  scaled up).

The ratio to ``gd`` is printed for each row (target of the issue: ≤ 3× for ``gd + sharpness``).
The machine is shared: compare ratios within one run only.

Usage::

    python scripts/bench_observables.py [--batch 32] [--steps 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    problem, w0, lr = _workload(args.batch)
    kw = dict(learning_rate=lr, n_steps=args.steps)
    simulate_descent(problem, w0, observe=("sharpness",), **kw)  # compile / warm up
    rows = {
        "gd": lambda: simulate_descent(problem, w0, **kw),
        "gd + sharpness": lambda: simulate_descent(problem, w0, observe=("sharpness",), **kw),
        "gd + sharpness (lanczos)": lambda: simulate_descent(
            problem, w0, observe=("sharpness",), observe_options={"sharpness": {"method": "lanczos"}}, **kw),
    }
    times = {name: _best(fn, args.repeat if "lanczos" not in name else 1) for name, fn in rows.items()}
    res = simulate_descent(problem, w0, record_weights=True, **kw)
    points = [(b, i) for b in range(args.batch) for i in range(res.steps.size)
              if np.all(np.isfinite([w[b, i].sum() for w in res.weights]))]
    sample = points[:: 10]
    t = time.perf_counter()
    for b, i in sample:
        problem.sharpness(tuple(w[b, i] for w in res.weights))
    per_point = time.perf_counter() - t
    times["afterwards, per point"] = times["gd"] + per_point * len(points) / max(len(sample), 1)
    # The observables agree with the per-point computation (a check, not a timing).
    seen = simulate_descent(problem, w0, observe=("sharpness",), **kw).observables["sharpness"]
    worst = max(abs(seen[b, i] - problem.sharpness(tuple(w[b, i] for w in res.weights))) / seen[b, i]
                for b, i in sample[:50])
    print(f"workload: B={args.batch}, depth 3, width 4 (P={problem.network.n_params}), {args.steps} steps, "
          f"eta = c*2/S0, c in [1.05, 1.9]; diverged: {int(res.diverged.sum())}")
    print(f"sharpness check vs Problem.sharpness on 50 points: max relative difference {worst:.1e}")
    print(f"{'row':28s} {'time [s]':>10s} {'ratio to gd':>12s}")
    for name, sec in times.items():
        print(f"{name:28s} {sec:10.4f} {sec / times['gd']:12.1f}")


if __name__ == "__main__":
    main()
