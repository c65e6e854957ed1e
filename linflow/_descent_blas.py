"""Gradient descent on wide layers: one trajectory at a time, matrix products through BLAS.

The SIMD engine (:mod:`linflow._descent_numba`) packs 8 trajectories into the lanes of one
vector and multiplies with its own 4×4-block kernels: right for many narrow networks, wasteful
for a few (7 of 8 lanes idle for a single network) or very wide ones (8 copies of every matrix,
past the caches). This path runs each trajectory's products through ``np.dot`` inside compiled
code, which numba hands to SciPy's BLAS ``dgemm``; trajectories are spread over threads.
:func:`prefers_blas` is the deterministic rule that picks it.

Semantics are those of the NumPy reference (``linflow/_descent_numpy.py``) step for step:
divergence at step k keeps ``θ_{k−1}``, losses NaN after divergence, converged step,
balancedness drift ``max_k max_j ‖B_j(θ_k) − B_j(θ_0)‖_F`` (per-neuron balances for ReLU),
reference distance, recorded losses and weights. Results differ from the reference only by
the order of summation inside the products (the same tolerances as the SIMD engine, see
``tests/descent_agreement.py``).

Gradient by backpropagation, as in the SIMD engine:

    H_0 = X (whitened: I),   H_j = W_j H_{j−1},   R = H_N − Y (whitened: Y = Φ),
    Δ_N = R / m (whitened: R),   Δ_{j−1} = W_jᵀ Δ_j,   G_j = Δ_j H_{j−1}ᵀ,

the chain rule through ``W_e = A_j W_j B_j`` (Arora, Cohen & Hazan 2018, eq. (5)); ReLU
networks replace every hidden ``H_j`` by ``σ(Z_j)`` and ``Δ_{j−1}`` by ``σ'(Z_{j−1}) ⊙ W_jᵀ Δ_j``.
A linear data loss with many samples runs through ``W_e`` (``Δ_N = R Xᵀ/m`` with
``R = W_e X − Y``) when that costs fewer flops, the rule of
:func:`linflow._descent_numba.end_to_end_is_cheaper`.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

from ._blas import blas_addresses, gemm, syrk
from ._descent_numba import (
    COMPLETION,
    SQUARED,
    _thread_pool,
    activation_of,
    assemble_result,
    end_to_end_is_cheaper,
    kernel_array,
    loss_arrays,
)
from ._jit_cache import cached_njit

__all__ = ["BLAS_MIN_SIZE", "prefers_blas", "run_descent_blas"]

#: With every SIMD lane in use, the BLAS path is faster from this typical product size on
#: (:func:`product_size`); measured crossover, see :func:`prefers_blas`.
BLAS_MIN_SIZE = 96

#: Below the full-lane crossover, the SIMD engine's time relative to the BLAS path's grows
#: like ``(n / BLAS_MIN_SIZE)^(1/BLAS_SIZE_EXPONENT)`` (measured: 0.12 at n = 8, 0.3 at 16,
#: 0.5 at 32, 0.75 at 64, 1 at 96, both engines with every lane in use).
BLAS_SIZE_EXPONENT = 1.25

_JIT = dict(nogil=True, error_model="numpy")


def product_size(widths, cols: int, samples: int = 0) -> float:
    """Typical size ``n`` of a step's matrix products: ``(mean flops per product / 2)^{1/3}``.

    A step forms ``H_j = W_j H_{j−1}``, ``Δ_{j−1} = W_jᵀΔ_j`` and ``G_j = Δ_j H_{j−1}ᵀ``, each
    ``d_j × d_{j−1} × cols`` (``cols`` = d_0 for the whitened loss, m for data); the data loss
    through ``W_e`` (``samples`` = m > 0) adds ``R = W_e X`` and ``R Xᵀ``, ``d_N × d_0 × m`` each.
    """
    sizes = [int(a) * int(b) * int(cols) for a, b in zip(widths[1:], widths[:-1])]
    if samples:
        sizes += [int(widths[-1]) * int(widths[0]) * int(samples)] * 2
    return (sum(sizes) / len(sizes)) ** (1.0 / 3.0)


def blas_min_size(batch_size: int) -> float:
    """Smallest typical product size at which a batch of ``batch_size`` takes the BLAS path.

    The SIMD engine runs ``8·⌈B/8⌉`` lanes for B trajectories, the BLAS path B trajectories:
    the BLAS path wins once ``(8⌈B/8⌉/B) · (n / 96)^{0.8} ≥ 1``, i.e. for
    ``n ≥ 96 · (B / (8⌈B/8⌉))^{1.25}``: n ≥ 7.1 for one trajectory, 17 for two, 40 for four,
    96 for full chunks.
    """
    lanes = 8 * ((batch_size + 7) // 8)
    return BLAS_MIN_SIZE * (batch_size / lanes) ** BLAS_SIZE_EXPONENT


def prefers_blas(problem, batch_size: int, optimizer=None) -> bool:
    """Whether a GD run takes the BLAS path (this module) instead of the SIMD lanes.

    ``optimizer``: an :class:`linflow.optimizers.Optimizer` (None: GD).

    Rule: plain GD on a squared loss (whitened, regression, ReLU regression) or matrix
    completion, and the typical product of a step (:func:`product_size`) is at least
    :func:`blas_min_size` of the batch. Deterministic: it depends on the widths, the number
    of samples and the batch size only. The constants are the crossover of the two engines
    measured on this project's 2-core AVX-512 machine (whitened, depth 4, widths 4–96,
    batches 1–64): the SIMD engine keeps an 8-trajectory chunk in L1/L2 and has no per-call
    overhead, so it wins for narrow layers when its lanes are full; for a single trajectory it
    computes 8 lanes for one, and for wide layers its working set (8 copies of every matrix)
    leaves the caches while ``dgemm`` blocks for them.
    """
    from .optimizers import GD

    shape = _blas_shape(problem)
    if shape is None or (optimizer or GD()).engine_code != GD.engine_code:
        return False
    widths, cols, samples = shape
    return product_size(widths, cols, samples) >= blas_min_size(batch_size)


def _blas_shape(problem):
    """``(widths, cols, samples)`` of a problem the BLAS path runs (``samples`` = m on the
    end-to-end data path, else 0), or None: the squared losses (whitened, regression, ReLU
    regression) and matrix completion; other losses stay on the SIMD engine."""
    widths = problem.network.widths
    try:
        code, whitened, cols, _, _, _ = loss_arrays(problem.loss_function, widths)
    except ValueError:
        return None  # no kernel for this loss: the SIMD engine raises with the remedy
    activated, _ = activation_of(problem)
    if code not in (SQUARED, COMPLETION) or (activated and whitened):
        return None
    if not whitened and not activated and end_to_end_is_cheaper(widths, cols):
        return widths, widths[0], cols
    return widths, cols, 0


# --------------------------------------------------------------------------- kernels
# Matrices live in flat row-major buffers at offsets: layer j of a parameter vector at
# ``w_off[j]`` (``d_{j+1} × d_j``), H_j / Z_j / Δ_j at ``h_off[j]`` (``d_j × cols``), the
# balancedness matrix B_j at ``b_off[j]``. ``x`` and ``y`` are flattened (X: d_0 × m).
@cached_njit(**_JIT)
def _forward_loss(fns, w, w_off, widths, h, dl, res, x, y, weight, ident, e2e, completion, activated, slope, cols, m, scale):
    """Forward pass (``H_N`` into the Δ_N slot of ``dl``), residual, loss ``scale·‖R‖²``.

    ``ident``: H_0 = I (whitened, or the end-to-end data path), so ``H_1 = W_1`` is read in
    place. ReLU replaces every hidden ``H_j`` by ``σ(H_j)`` in place. With ``e2e`` the top is ``W_e`` and
    ``R = W_e X − Y`` goes to ``res``; otherwise ``R`` replaces ``H_N`` in ``dl``. Matrix
    completion (``completion``): ``y`` holds the observed values (0 off the mask), ``weight``
    the mask over ``|Ω|``; the loss is ``½ Σ w r²`` and ``w ⊙ r`` (its gradient) replaces
    ``H_N = W_e`` (Arora, Cohen, Hu & Luo 2019, Sec. 2).
    """
    n = widths.shape[0] - 1
    src, src_off = x, 0  # H_{j−1}
    if ident:
        src, src_off = w, w_off[0]
    for j in range(1, n + 1):
        dst, dst_off = (dl, h_off_top(widths, cols, n)) if j == n else (h, h_off_of(widths, cols, j))
        dj, dp = widths[j], widths[j - 1]
        if j == 1 and ident:
            if n == 1:
                for e in range(dj * dp):
                    dst[dst_off + e] = w[w_off[0] + e]
            continue  # H_1 = W_1, in place
        gemm(fns[0], False, False, dj, cols, dp, 1.0, w, w_off[j - 1], dp, src, src_off, cols, 0.0, dst, dst_off, cols)
        if activated and j < n:
            z = dst[dst_off : dst_off + dj * cols]  # a view indexed from 0: the loop vectorizes
            for e in range(dj * cols):
                v = z[e]
                z[e] = v if v > 0.0 else slope * v
        src, src_off = dst, dst_off
    top = h_off_top(widths, cols, n)
    d_out = widths[n]
    s = 0.0
    if e2e:
        gemm(fns[0], False, False, d_out, m, cols, 1.0, dl, top, cols, x, 0, m, 0.0, res, 0, m)
        for e in range(d_out * m):
            r = res[e] - y[e]
            res[e] = r
            s += r * r
    elif completion:
        out = dl[top : top + d_out * cols]
        for e in range(d_out * cols):
            r = out[e] - y[e]
            wr = weight[e] * r
            s += wr * r
            out[e] = wr
    else:
        out = dl[top : top + d_out * cols]
        for e in range(d_out * cols):
            r = out[e] - y[e]
            out[e] = r
            s += r * r
    return scale * s


@cached_njit(**_JIT)
def h_off_of(widths, cols, j):
    """Offset of H_j (j ≥ 1) in the forward buffer: ``cols · Σ_{i<j, i≥1} d_i``."""
    off = 0
    for i in range(1, j):
        off += widths[i] * cols
    return off


@cached_njit(**_JIT)
def h_off_top(widths, cols, n):
    return h_off_of(widths, cols, n)


@cached_njit(**_JIT)
def _backward_update(fns, cur, new, w_off, widths, h, dl, res, x, ident, e2e, activated, slope, cols, m, inv_m, lr):
    """``new = cur − lr·G`` with ``G_j = Δ_j H_{j−1}ᵀ`` and ``Δ_{j−1} = W_jᵀΔ_j``, top down."""
    n = widths.shape[0] - 1
    top = h_off_top(widths, cols, n)
    if e2e:  # Δ_N = R Xᵀ/m
        gemm(fns[0], False, True, widths[n], cols, m, inv_m, res, 0, m, x, 0, m, 0.0, dl, top, cols)
    elif inv_m != 1.0:  # Δ_N = R/m
        dl[top : top + widths[n] * cols] *= inv_m
    for j in range(n, 0, -1):
        dj, dp = widths[j], widths[j - 1]
        wo = w_off[j - 1]
        d_off = h_off_of(widths, cols, j)
        layer = new[wo : wo + dj * dp]  # views indexed from 0 (loops with offsets do not vectorize)
        layer[:] = cur[wo : wo + dj * dp]
        if j == 1 and ident:  # G_1 = Δ_1 Iᵀ
            delta = dl[d_off : d_off + dj * dp]
            for e in range(dj * dp):
                layer[e] -= lr * delta[e]
        else:
            if j == 1:
                src, src_off = x, 0
            elif j == 2 and ident:
                src, src_off = cur, w_off[0]
            else:
                src, src_off = h, h_off_of(widths, cols, j - 1)
            gemm(fns[0], False, True, dj, dp, cols, -lr, dl, d_off, cols, src, src_off, cols, 1.0, new, wo, dp)
        if j > 1:
            below = h_off_of(widths, cols, j - 1)
            gemm(fns[0], True, False, dp, cols, dj, 1.0, cur, wo, dp, dl, d_off, cols, 0.0, dl, below, cols)
            if activated:
                # σ'(Z) ⊙ Δ as a select with an unconditional store (vectorizes; a conditional
                # store on the sign of Z mispredicts on half the entries).
                # σ(z) > 0 exactly when z > 0 (slope in [0, 1), NaN included): H holds the mask.
                delta, act = dl[below : below + dp * cols], h[below : below + dp * cols]
                for e in range(dp * cols):
                    d = delta[e]
                    delta[e] = d if act[e] > 0.0 else slope * d


@cached_njit(**_JIT)
def _balances(fns, w, w_off, widths, gram, bal0, b_off, activated, store):
    """Largest ``‖B_j(θ) − B_j(θ_0)‖_F`` over j; with ``store``, ``B_j(θ)`` goes to ``bal0``
    instead (and 0 is returned). Deep linear: ``B_j = W_{j+1}ᵀW_{j+1} − W_jW_jᵀ`` by two
    ``dsyrk`` on its lower triangle; ReLU: the per-neuron balances (its diagonal)."""
    n = widths.shape[0] - 1
    worst = 0.0
    for j in range(n - 1):
        d, d_in, d_out = widths[j + 1], widths[j], widths[j + 2]
        up, lo, bo = w_off[j + 1], w_off[j], b_off[j]
        s = 0.0
        if activated:
            for i in range(d):
                c = 0.0
                for r in range(d_out):
                    c += w[up + r * d + i] * w[up + r * d + i]
                q = 0.0
                for r in range(d_in):
                    q += w[lo + i * d_in + r] * w[lo + i * d_in + r]
                if store:
                    bal0[bo + i] = c - q
                else:
                    e = (c - q) - bal0[bo + i]
                    s += e * e
        else:
            out, o = (bal0, bo) if store else (gram, 0)
            if not store:
                start = bal0[bo : bo + d * d]
                for e in range(d * d):
                    gram[e] = -start[e]
            syrk(fns[1], True, d, d_out, 1.0, w, up, d, 0.0 if store else 1.0, out, o, d)
            syrk(fns[1], False, d, d_in, -1.0, w, lo, d_in, 1.0, out, o, d)
            if not store:
                for a in range(d):
                    s += gram[a * d + a] * gram[a * d + a]
                    for b in range(a):
                        s += 2.0 * gram[a * d + b] * gram[a * d + b]
        s = np.sqrt(s)
        if not s <= worst:  # larger, or NaN (an overflowed B_j): NaN must reach the drift
            worst = s
    return worst


@cached_njit(**_JIT)
def _run_range(
    first, last, fns, params0, lrs, widths, w_off, b_off, x, y, weight, ident, e2e, completion, activated, slope,
    cols, m, scale,
    inv_m, n_steps, record_steps, loss_tolerance, threshold, reference, has_reference, recorded, record_weights,
    track, final, losses, final_loss, divergence_step, converged_step, drift, ref_distance, abort, work,
):
    """All steps of trajectories ``first … last−1``, one after the other (threads take disjoint
    ranges: ``nogil``). ``abort[0] != 0`` (set on Ctrl-C) stops every trajectory within a step.
    ``work``: the large working buffers (:func:`_run_range_task`), allocated by the caller.

    ``params0`` is private to the run and is overwritten: row b is trajectory b's first
    parameter buffer (no copy of θ_0) and ends holding its final parameters — ``final`` is
    ``params0`` (a wide network's parameters are the run's largest arrays: every copy and every
    fresh buffer avoided counts)."""
    n = widths.shape[0] - 1
    n_params = params0.shape[1]
    h, dl, buffer_a, buffer_b = work
    res = np.empty(widths[n] * m if e2e else 1)
    rows = 1
    for j in range(n + 1):
        rows = max(rows, widths[j])
    gram = np.empty(rows * rows if track else 1)
    bal0 = np.empty(max(b_off[-1], 1))
    for b in range(first, last):
        # Three buffers rotate (cur ← new, prev ← cur, spare ← prev): θ_{k−1} stays in ``prev``
        # for a divergence at step k, without a copy per step. ``rotations % 3 == 0``: ``cur`` is
        # params0's row.
        cur, prev, spare = params0[b], buffer_a, buffer_b
        rotations = 0
        lr = lrs[b]
        if track and n > 1:
            _balances(fns, cur, w_off, widths, gram, bal0, b_off, activated, True)
        rec = 0
        for k in range(n_steps + 1):
            value = _forward_loss(
                fns, cur, w_off, widths, h, dl, res, x, y, weight, ident, e2e, completion, activated, slope, cols, m,
                scale,
            )
            is_record = rec < record_steps.shape[0] and record_steps[rec] == k
            if not np.isfinite(value) or value > threshold:
                # Diverged at step k: stop and keep θ_{k−1} (θ_0 itself if k == 0).
                divergence_step[b] = k
                if k == 0:
                    final_loss[b] = value  # θ_0 is still in cur
                else:
                    cur[:] = prev
                break
            final_loss[b] = value
            if is_record:
                losses[b, rec] = value
                if record_weights:
                    recorded[b, rec, :] = cur
            if converged_step[b] < 0 and value <= loss_tolerance:
                converged_step[b] = k
            if track and n > 1:
                worst = _balances(fns, cur, w_off, widths, gram, bal0, b_off, activated, False)
                if not worst <= drift[b]:
                    # Larger, or NaN (B_j overflowed): the drift is then +inf, as on every backend.
                    drift[b] = worst if worst == worst else np.inf
            if has_reference:
                s = 0.0
                for p in range(n_params):
                    e = cur[p] - reference[b, k, p]
                    s += e * e
                s = np.sqrt(s)
                ref_distance[b] = max(ref_distance[b], s)
            if is_record:
                rec += 1
            if k == n_steps or abort[0] != 0:
                break
            _backward_update(fns, cur, spare, w_off, widths, h, dl, res, x, ident, e2e, activated, slope, cols, m, inv_m, lr)
            cur, prev, spare = spare, cur, prev
            rotations += 1
        if rotations % 3 != 0:
            final[b, :] = cur


# --------------------------------------------------------------------------- Python wrapper
def _run_range_task(first: int, last: int, size: int, n_params: int, args: tuple) -> None:
    """:func:`_run_range` with its working buffers allocated here, in the pool thread, by NumPy:
    NumPy advises transparent huge pages for large arrays, numba's allocator does not, and the
    first touch of 4 KiB pages cost ~9 ms per 32 MB buffer (measured at width 1024, where a
    run needs four)."""
    work = (np.empty(size), np.empty(size), np.empty(n_params), np.empty(n_params))
    _run_range(first, last, *args, work)



#: Typical product size (:func:`product_size`) from which one trajectory's products use every
#: BLAS thread (the engine's thread count) instead of one.
BLAS_THREADED_MIN_SIZE = 96


def blas_threads_single(widths, cols: int, samples: int = 0) -> int:
    """BLAS threads for a run of one trajectory: the engine's thread count
    (``numba.get_num_threads()``) when the typical product is at least
    :data:`BLAS_THREADED_MIN_SIZE` (widths ≈ 100 and beyond on the whitened loss), else 1;
    ``widths``, ``cols``, ``samples`` as for :func:`product_size`.

    Deterministic: the shape and the configured thread count, never the machine's load.
    Measured on this project's 2-core machine, one network of depth 4 (``python
    scripts/bench_descent.py --shapes --only "single B=1"``, machine otherwise idle): with two
    threads linflow's time per step over one thread's was 0.78 at width 128, 0.66 at 256, about 0.53 at 512
    and 0.57 at 1024 (NumPy's default threading gains as much, so one thread lost to it); width
    64 keeps one thread (its products are too small to split; not measured with two). On
    a loaded machine a thread whose core is busy stalls its partner (one thread was measured
    1.6× faster at width 1024 with 8–12 runnable processes): ``numba.set_num_threads(1)``
    restores one thread.
    """
    if product_size(widths, cols, samples) >= BLAS_THREADED_MIN_SIZE:
        return max(1, numba.get_num_threads())
    return 1


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _blas_threads(n_threads: int):
    """Limit every loaded BLAS (SciPy's, which the kernels call, and NumPy's) to ``n_threads``
    for the duration of a run: several trajectories run on separate threads, each calling
    single-threaded BLAS, rather than threads inside threads."""
    return _controller().limit(limits=n_threads, user_api="blas")


def run_descent_blas(setup):
    """Run a validated :class:`linflow.descent.DescentSetup` (plain GD) on the BLAS path."""
    problem = setup.problem
    widths = np.asarray(problem.network.widths, dtype=np.int64)
    batch = setup.batch_size
    n_params = problem.network.n_params
    code, whitened, cols, x, y, aux = loss_arrays(problem.loss_function, widths)
    completion = code == COMPLETION
    activated, slope = activation_of(problem)
    m = 1 if whitened else int(cols)  # the 1/m of the regression loss
    e2e = not whitened and not activated and end_to_end_is_cheaper(widths, cols)
    if e2e:
        cols = int(widths[0])
    w_off = np.zeros(len(widths), dtype=np.int64)
    w_off[1:] = np.cumsum(widths[1:] * widths[:-1])
    inner = widths[1:-1]
    b_off = np.zeros(len(inner) + 1, dtype=np.int64)
    b_off[1:] = np.cumsum(inner if activated else inner**2)
    params0 = np.ascontiguousarray(np.concatenate([w.reshape(batch, -1) for w in setup.weights0], axis=1))
    n_rec = len(setup.record_steps)
    has_reference = setup.reference is not None
    reference = kernel_array(setup.reference) if has_reference else np.zeros((1, 1, 1))
    recorded = np.full((batch, n_rec, n_params), np.nan) if setup.record_weights else np.zeros((1, 1, 1))
    final = params0  # overwritten in place by the kernel (_run_range)
    losses = np.full((batch, n_rec), np.nan)
    final_loss = np.full(batch, np.nan)
    divergence_step = np.full(batch, -1, dtype=np.int64)
    converged_step = np.full(batch, -1, dtype=np.int64)
    drift = np.zeros(batch)
    ref_distance = np.zeros(batch)
    abort = np.zeros(1, dtype=np.int64)
    scale = 0.5 / m
    args = (
        blas_addresses(), params0, kernel_array(setup.learning_rates), widths, w_off, b_off,
        kernel_array(x).ravel(), kernel_array(y).ravel(), kernel_array(aux).ravel(), whitened or e2e, e2e,
        completion, activated, slope, cols, m,
        scale, 1.0 / m, setup.n_steps, kernel_array(setup.record_steps, np.int64), setup.loss_tolerance,
        setup.divergence_threshold, reference, has_reference, recorded, setup.record_weights,
        setup.track_balancedness, final, losses, final_loss, divergence_step, converged_step, drift,
        ref_distance, abort,
    )
    n_threads = min(numba.get_num_threads(), batch)
    # Contiguous ranges, several per thread: trajectories that diverge early end sooner. The
    # ranges run in the pool even for one thread, so that the main thread only waits and Ctrl-C
    # reaches it at once (it then sets the abort flag the kernel polls at every step).
    bounds = np.unique(np.linspace(0, batch, 4 * n_threads + 1).astype(np.int64))
    pool = _thread_pool(n_threads)
    with _blas_threads(1 if n_threads > 1 else blas_threads_single(widths, cols, m if e2e else 0)):
        size = int(sum(int(d) for d in widths[1:])) * int(cols)
        futures = [pool.submit(_run_range_task, int(a), int(b), size, n_params, args)
                   for a, b in zip(bounds[:-1], bounds[1:])]
        try:
            for future in futures:
                future.result()
        except BaseException:  # KeyboardInterrupt: the running ranges stop within a step
            abort[0] = 1
            for future in futures:
                future.cancel()
            raise
    result = assemble_result(
        setup, final, losses, final_loss, divergence_step, converged_step, drift,
        ref_distance if has_reference else None, recorded if setup.record_weights else None,
        backend="numba",
    )
    result.extra["path"] = "blas"
    return result
