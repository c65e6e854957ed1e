"""Shape matrix of the default GD engine against its peers (``bench_descent.py --shapes``).

One row per shape class: narrow batched (the canonical workload), wide single (B = 1, widths
64–1024), wide small batch (B = 8), linear data loss with m ≫ d, ReLU with data, matrix
completion 100×100 depth 3. For every row, in one run:

* the default engine (``backend=None``) is first checked against the NumPy reference
  (``backend="numpy"``) on the first few steps: final weights and losses to 1e-9 relative (the
  engines agree to ~1e-12 on stable runs, ``tests/descent_agreement.py``; 1e-9 leaves room for
  the longer sums of wide layers), and so is every peer;
* then timed, best of ``--repeat``: linflow with the default metrics (balancedness drift at
  every step, ``full``) and without (``plain``, ``track_balancedness=False``); the peers, which
  compute plain GD and the final loss: a NumPy loop with ``@`` (2-D arrays for one network,
  stacked ``@`` for a batch), with the BLAS's default threads and with one thread, and JAX
  ``jit`` (``jit(vmap)`` for a batch) of a ``fori_loop`` over ``jax.grad`` steps;
* printed: seconds, GFLOP/s and % of the float64 dgemm ceiling measured in the same run
  (NumPy, 2000², as many BLAS threads as linflow uses), and each peer's time over linflow's
  plain time (> 1: linflow is faster), like for like.

GFLOP/s credit every column of a row with the flops of linflow's algorithm (matrix products
of backpropagation, ``2·d_j·d_{j−1}·cols`` each; the linear data loss through ``W_e``), so the
ratios are speed ratios. The machine is shared: ratios of runs made back to back are the
figures to quote, not absolute times.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import NamedTuple

import numpy as np

import linflow
from linflow import DeepLinearNetwork, HomogeneousNetwork, Problem
from linflow import init as linit

#: Agreement with the reference required before a row is timed (module docstring).
CHECK_RTOL = 1e-9


class Row(NamedTuple):
    name: str
    problem: Problem
    weights0: tuple
    learning_rate: np.ndarray
    n_steps: int
    n_check: int


def _whitened(depth, width, batch, seed):
    rng = np.random.default_rng(seed)
    net = DeepLinearNetwork((width,) * (depth + 1))
    target = rng.standard_normal((width, width))
    target *= 1.5 / np.linalg.norm(target, 2)
    w0 = linit.near_identity(net.widths, std=0.1 / np.sqrt(width), seed=rng, batch=batch)
    # Near I with ‖Φ‖₂ = 1.5: sharpness ≲ 2N, so η = 0.05 is well inside the stable range.
    return Problem(net, target=target), w0, np.full(batch, 0.05)


def _regression(widths, m, batch, seed, activation=None):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((widths[0], m))
    if activation is None:
        net = DeepLinearNetwork(widths)
        phi = rng.standard_normal((widths[-1], widths[0])) / np.sqrt(widths[0])
        y = phi @ x + 0.1 * rng.standard_normal((widths[-1], m))
        w0 = linit.near_identity(widths, std=0.1 / np.sqrt(max(widths)), seed=rng, batch=batch)
    else:
        net = HomogeneousNetwork(widths, activation)
        y = rng.standard_normal((widths[-1], m))
        w0 = tuple(rng.standard_normal((batch,) + s) * np.sqrt(1.0 / s[1]) for s in net.shapes)
    problem = Problem(net, X=x, Y=y)
    return problem, w0, _stable_rate(problem, w0, batch)


def _completion(d, depth, batch, seed):
    from linflow.losses import MatrixCompletion

    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((d, 5)) @ rng.standard_normal((5, d)) / np.sqrt(5)
    mask = rng.random((d, d)) < 0.3
    problem = Problem(DeepLinearNetwork((d,) * (depth + 1)), MatrixCompletion(mask, np.where(mask, truth, np.nan)))
    w0 = linit.near_identity(problem.network.widths, std=0.1 / np.sqrt(d), seed=rng, batch=batch)
    return problem, w0, _stable_rate(problem, w0, batch)


def _stable_rate(problem, w0, batch):
    """η = 0.2·2/S_0 (S_0 at the first initialization): stable, so every engine can be compared
    step for step with the reference."""
    s0 = problem.sharpness(tuple(w[0] for w in w0))
    return np.full(batch, 0.4 / s0)


def shape_rows(quick: bool) -> list:
    """The shape matrix (smaller sizes and fewer steps with ``quick``)."""
    rows = []
    traj, steps = (2000, 100) if quick else (10_000, 200)
    rows.append(Row(f"narrow batched B={traj} d=8 N=4", *_whitened(4, 8, traj, 0), steps, 10))
    for width in (64, 256) if quick else (64, 128, 256, 512, 1024):
        n = int(np.clip(4e9 / (20 * width**3), 3, 400)) // (4 if quick else 1)
        rows.append(Row(f"wide single B=1 d={width} N=4", *_whitened(4, width, 1, width), max(n, 3), 2 if width >= 512 else 5))
    for width in (64,) if quick else (64, 256):
        n = int(np.clip(4e9 / (160 * width**3), 3, 200)) // (4 if quick else 1)
        rows.append(Row(f"wide batch B=8 d={width} N=4", *_whitened(4, width, 8, width + 1), max(n, 3), 5))
    m = 2048 if quick else 8192
    rows.append(Row(f"data m={m} (32,64,64,10) B=8", *_regression((32, 64, 64, 10), m, 8, 3), 50 if quick else 200, 5))
    m = 512 if quick else 1024
    for batch in (1, 8):
        rows.append(Row(f"ReLU data m={m} (32,128,128,10) B={batch}",
                        *_regression((32, 128, 128, 10), m, batch, 4, "relu"), 20 if quick else 100, 5))
    rows.append(Row("completion 100x100 N=3 B=1", *_completion(100, 3, 1, 5), 50 if quick else 300, 5))
    return rows


# ----------------------------------------------------------------------------- flops
def _loss_kind(problem):
    from linflow._descent_blas import _blas_shape
    from linflow._descent_numba import COMPLETION, loss_arrays

    code, whitened, cols, _, _, _ = loss_arrays(problem.loss_function, problem.network.widths)
    return code == COMPLETION, whitened, cols, _blas_shape(problem)


def flops_per_step(problem) -> int:
    """Flop of one trajectory-step of linflow's algorithm (plain GD; module docstring)."""
    _, whitened, cols, shape = _loss_kind(problem)
    widths = problem.network.widths
    samples = 0
    if shape is not None:
        _, cols, samples = shape
    ident = whitened or samples > 0
    prods = [2 * a * b * cols for a, b in zip(widths[1:], widths[:-1])]
    forward = sum(prods) - (prods[0] if ident else 0)
    backward = sum(prods[1:])
    grads = sum(prods) - (prods[0] if ident else 0)
    return forward + backward + grads + 4 * widths[-1] * widths[0] * samples


# ----------------------------------------------------------------------------- peers
def _top_loss(problem):
    """``(x, loss_and_grad_of_top)`` in NumPy: the loss of the top H_N and its gradient."""
    completion, whitened, _, _ = _loss_kind(problem)
    loss = problem.loss_function
    if completion:
        mask = loss.mask
        filled = np.where(mask, loss.values, 0.0)
        weight = mask / mask.sum()

        def top(h):
            r = h - filled
            wr = weight * r
            return 0.5 * np.sum(wr * r, axis=(-2, -1)), wr

        return None, top, (filled, weight, "completion")
    if whitened:
        phi = problem.target

        def top(h):
            r = h - phi
            return 0.5 * np.sum(r * r, axis=(-2, -1)), r

        return None, top, (phi, None, "whitened")
    y, m = problem.Y, problem.n_samples

    def top(h):
        r = h - y
        return 0.5 / m * np.sum(r * r, axis=(-2, -1)), r / m

    return problem.X, top, (y, None, "regression")


def numpy_peer(problem, weights0, lrs, n_steps):
    """Plain NumPy GD: forward, backpropagation with ``@``, ``W ← W − ηG``."""
    x, top, _ = _top_loss(problem)
    net = problem.network
    slope = getattr(net, "negative_slope", 0.0) if isinstance(net, HomogeneousNetwork) else None
    single = weights0[0].shape[0] == 1
    ws0 = [w[0] if single else w for w in weights0]
    lr = lrs[0] if single else lrs[:, None, None]
    t = (lambda a: a.T) if single else (lambda a: np.swapaxes(a, -1, -2))
    depth = len(ws0)

    def run(n=n_steps):
        ws = [w.copy() for w in ws0]
        for k in range(n + 1):
            acts, masks = [x], []
            a = x
            for j, w in enumerate(ws):
                z = w if (j == 0 and x is None) else w @ a
                if slope is not None and j < depth - 1:
                    mask = z > 0
                    a = np.where(mask, z, slope * z)
                    masks.append(mask)
                else:
                    a = z
                acts.append(a)
            value, delta = top(a)
            if k == n:
                break
            for j in range(depth - 1, -1, -1):
                g = delta if (j == 0 and x is None) else delta @ t(acts[j])
                if j > 0:
                    delta = t(ws[j]) @ delta
                    if slope is not None:
                        delta = np.where(masks[j - 1], delta, slope * delta)
                ws[j] = ws[j] - lr * g
        if single:
            return [w[None] for w in ws], np.atleast_1d(value)
        return ws, value

    return run


def jax_peer(problem, weights0, lrs, n_steps):
    """JAX ``jit`` (``jit(vmap)`` for a batch) of a ``fori_loop`` of ``jax.grad`` GD steps."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    x, _, (data, weight, kind) = _top_loss(problem)
    x = None if x is None else jnp.asarray(x)
    data = jnp.asarray(data)
    weight = None if weight is None else jnp.asarray(weight)
    net = problem.network
    slope = getattr(net, "negative_slope", 0.0) if isinstance(net, HomogeneousNetwork) else None
    m = 1 if x is None else x.shape[1]

    def loss_fn(ws):
        a = ws[0] if x is None else ws[0] @ x
        for w in ws[1:]:
            if slope is not None:
                a = jnp.where(a > 0, a, slope * a)
            a = w @ a
        r = a - data
        if kind == "completion":
            return 0.5 * jnp.sum(weight * r * r)
        return 0.5 / m * jnp.sum(r * r)

    def run_one(ws, lr, n):
        def body(_, ws):
            g = jax.grad(loss_fn)(ws)
            return tuple(w - lr * gj for w, gj in zip(ws, g))

        ws = jax.lax.fori_loop(0, n, body, ws)
        return ws, loss_fn(ws)

    single = weights0[0].shape[0] == 1
    fn = jax.jit(run_one) if single else jax.jit(jax.vmap(run_one, in_axes=(0, 0, None)))
    ws = tuple(jnp.asarray(w[0] if single else w) for w in weights0)
    lr = jnp.asarray(lrs[0] if single else lrs)

    def run(n=n_steps):
        out_ws, value = fn(ws, lr, n)
        jax.block_until_ready(value)
        if single:
            return [np.asarray(w)[None] for w in out_ws], np.atleast_1d(np.asarray(value))
        return [np.asarray(w) for w in out_ws], np.asarray(value)

    return run


# ----------------------------------------------------------------------------- the run
def _blas_limit(threads):
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def _check(name, weights, loss, ref):
    b = ref.final_weights[0].shape[0]
    wa = np.concatenate([np.asarray(w).reshape(b, -1) for w in weights], axis=1)
    wb = np.concatenate([w.reshape(b, -1) for w in ref.final_weights], axis=1)
    werr = float(np.max(np.abs(wa - wb).max(axis=1) / np.abs(wb).max(axis=1)))
    lerr = float(np.max(np.abs(np.asarray(loss) - ref.final_loss) / np.abs(ref.final_loss)))
    if not (werr <= CHECK_RTOL and lerr <= CHECK_RTOL):
        raise SystemExit(f"{name} disagrees with the NumPy reference: weights {werr:.1e}, loss {lerr:.1e}")
    return max(werr, lerr)


def _best(fn, repeat):
    """(best wall-clock seconds, best CPU seconds of this process) of ``repeat`` calls."""
    times, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(times), min(cpu)


#: Each row's step count is raised until linflow's plain run lasts about this long (seconds):
#: shorter runs are dominated by the scheduler's noise on a shared machine.
TARGET_SECONDS = {True: 0.3, False: 1.0}

#: A peer is timed on at most as many steps as fit in about this long (seconds).
PEER_SECONDS = {True: 1.0, False: 3.0}


def run_shapes(*, quick: bool, repeat: int, ceiling: float, threads: int, peers: bool = True, only=None) -> list:
    """Check and time every row of :func:`shape_rows` (those whose name contains ``only``, if
    given); print the table; return the rows."""
    try:
        import jax  # noqa: F401

        have_jax = peers
    except ImportError:
        have_jax = False
        print("  (JAX not installed: pip install 'jax[cpu]<0.11'; the JAX column is skipped)")
    print(f"\nshape matrix: best of {repeat}; GFLOP/s and % of the dgemm ceiling (NumPy, 1000², the "
          f"better of 1 and {threads} BLAS threads, measured before each row) for linflow plain; peer columns: peer time / linflow plain time, wall clock "
          f"and CPU seconds of this process (> 1: linflow faster)")
    print(f"{'shape':<38} {'steps':>5} {'path':>5} {'check':>6} {'full s':>7} {'plain s':>7} {'GFLOP/s':>7} "
          f"{'%ceil':>5} {'ceil':>5} | {'numpy':>11} {'numpy 1t':>11} {'jax':>11}  (wall/cpu)\n"
          "  (a peer slower than ~3 s per run is timed on fewer steps; its time is scaled to the row's steps)")
    results = []
    for row in shape_rows(quick):
        if only and only not in row.name:
            continue
        # The ceiling again just before each row (NumPy dgemm 1000², best of 3, with one BLAS
        # thread and with linflow's thread count): the machine's load changes within minutes.
        rng = np.random.default_rng(1)
        a, b = rng.standard_normal((1000, 1000)), rng.standard_normal((1000, 1000))
        ceiling = 0.0
        for n_thr in sorted({1, threads}):  # the better of one thread and linflow's count
            with _blas_limit(n_thr):
                ceiling = max(ceiling, 2e9 / _best(lambda: a @ b, 3)[0] / 1e9)
        p, w0, lr = row.problem, row.weights0, row.learning_rate
        kw = dict(learning_rate=lr, n_steps=row.n_check)
        ref = linflow.simulate_descent(p, w0, backend="numpy", **kw)
        fast = linflow.simulate_descent(p, w0, **kw)
        worst = _check("linflow", fast.final_weights, fast.final_loss, ref)
        peer_runs = {"numpy": (numpy_peer(p, w0, lr, row.n_steps), None),
                     "numpy 1t": (numpy_peer(p, w0, lr, row.n_steps), 1)}
        if have_jax:
            peer_runs["jax"] = (jax_peer(p, w0, lr, row.n_steps), None)
        for name, (run, thr) in peer_runs.items():
            with _blas_limit(thr):
                weights, loss = run(row.n_check)
            worst = max(worst, _check(name, weights, loss, ref))

        def linflow_run(n, track):
            return lambda: linflow.simulate_descent(p, w0, learning_rate=lr, n_steps=n, track_balancedness=track)

        linflow_run(row.n_steps, False)()  # warm-up, and the time that sets the step count
        t_probe = _best(linflow_run(row.n_steps, False), 1)[0]
        n = int(row.n_steps * min(max(TARGET_SECONDS[quick] / t_probe, 1.0), 20.0))
        full = _best(linflow_run(n, True), repeat)
        plain = _best(linflow_run(n, False), repeat)
        # Peers run at most ~PEER_SECONDS (a peer can be 100× slower than linflow): per-step
        # times are compared (every run is linear in the steps once compiled and warmed up).
        times, peer_steps = {}, {}
        for name, (run, thr) in peer_runs.items():
            with _blas_limit(thr):
                run(1)  # warm-up (JAX compiles here)
                t1 = _best(lambda run=run: run(row.n_check), 1)[0] / row.n_check
                k = int(min(n, max(1, PEER_SECONDS[quick] / max(t1, 1e-9))))
                best = _best(lambda run=run, k=k: run(k), repeat)
                times[name] = (best[0] * n / k, best[1] * n / k)
                peer_steps[name] = k
        work = len(lr) * n * flops_per_step(p)
        gflops = work / plain[0] / 1e9
        ratios = {name: (t[0] / plain[0], t[1] / plain[1]) for name, t in times.items()}
        path = fast.extra.get("path", "simd")
        cells = " ".join(f"{ratios[k][0]:5.2f}/{ratios[k][1]:5.2f}" if k in ratios else f"{'-':>11}"
                         for k in ("numpy", "numpy 1t", "jax"))
        print(f"{row.name:<38} {n:>5} {path:>5} {worst:6.0e} {full[0]:7.3f} {plain[0]:7.3f} {gflops:7.2f} "
              f"{100 * gflops / ceiling:5.1f} {ceiling:5.1f} | {cells}")
        results.append(dict(name=row.name, steps=n, batch=len(lr), path=path, check=worst, full_s=full,
                            plain_s=plain, gflops=gflops, ceiling_gflops=ceiling,
                            percent_of_ceiling=100 * gflops / ceiling,
                            peers_s=times, peer_steps=peer_steps, peer_over_linflow=ratios, load=os.getloadavg()))
    slower = [(r["name"], k, v[0]) for r in results for k, v in r["peer_over_linflow"].items() if v[0] < 1]
    print("rows where a peer beat linflow plain (wall clock): "
          + (", ".join(f"{n} ({k}: {v:.2f})" for n, k, v in slower) or "none"))
    return results
