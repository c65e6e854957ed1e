"""GPU engine for gradient descent (``backend="cuda"``): ``numba.cuda`` kernels.

The only module of linflow that imports ``numba.cuda``, and only when ``backend="cuda"`` is
asked for (importing linflow needs no CUDA). Same inputs, outputs, statuses and semantics as
the NumPy reference (module docstring of ``linflow/_descent_numpy.py``) and the same gradient
by backpropagation as the CPU engine (``linflow/_descent_numba.py``).

Two kernel shapes, both produced by :func:`make_kernel`, a factory whose Python integers
(widths, offsets, buffer sizes) are compile-time constants of the kernel it returns, as
``cuda.local.array``/``cuda.shared.array`` shapes must be on a real GPU (the simulator does
not check this; theory/numerics):

* max width ≤ :data:`THREAD_MAX_WIDTH`: one thread per trajectory, its matrices in
  per-thread local arrays;
* wider networks: one block of :data:`BLOCK_THREADS` threads (a warp) per trajectory, its
  matrices in shared memory, each matrix product split over the threads of the block.

With ``observing`` (:func:`make_kernel`; deep linear networks) a copy of the kernel records
loss, gradient norm and sharpness inside its loop at the observed steps, by the algorithm of
the CPU engine (module docstring of :mod:`linflow._curvature_numba`): exact Hessian-vector
products by forward-over-reverse differentiation of the backpropagation (derived in this
project from Arora, Cohen & Hazan 2018, eq. (5)), restarted Lanczos (Golub & Van Loan,
*Matrix Computations*, 4th ed., §10.1) with cycles of ``min(P, LANCZOS_CYCLE)`` steps and full
reorthogonalization, warm-started from the trajectory's Ritz vector two observations back,
checked every ``CHECK_EVERY`` steps (after ``MIN_KRYLOV`` in an observed step's first cycle),
stopped when the residual bound ``β_j|s_j| = ‖∇²L y − θy‖ ≤ tol·|θ|`` (then an eigenvalue lies
within ``tol·|θ|`` of θ: Parlett, *The Symmetric Eigenvalue Problem*, Thm 4.5.1); the same
Ritz values as the CPU engine's up to rounding and the same Hessian-vector product counts,
except where a breakdown test (``β_j ≤ 1e-14·(|α_j| + β_{j−1})``) sits at rounding level, as in
Hessians of low rank (measured: 192 of 200 drawn problems identical, the others a few products
apart, every sharpness within 1e-15 relative). Its
scratch (the tangents, one Hessian-vector product, the Lanczos basis) is local to the thread,
or shared by the block in the block kernel, which refuses a network whose scratch exceeds
:data:`SHARED_BYTES` (:func:`in_engine_observables` then offers nothing and the observables
come from recorded weights). The plain kernels hold none of that code (a no-op hook).

All steps run in one launch. Global arrays keep the trajectory index fastest (``(P, B)``)
so that neighbouring threads read neighbouring addresses (coalesced).

Under ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported) the same kernels run in
numba's CUDA simulator, which is how CI tests them (tests/cudasim). The simulator runs them as
Python; ``scripts/check_cuda_ptx.py`` compiles every kernel shape for a real GPU (PTX through
libNVVM, no GPU needed), which tests/test_cuda_ptx.py runs where the CUDA toolkit is installed.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace

import numpy as np

from ._curvature_numba import CHECK_EVERY, LANCZOS_CYCLE, MIN_KRYLOV, OBSERVE_IN_ENGINE
from ._curvature_numba import in_engine_observables as cpu_in_engine_observables
from ._descent_numba import (
    COMPLETION,
    LOSS_CODES,
    SENSING,
    SQUARED,
    activation_of,
    assemble_result,
    kernel_array,
    layout,
    loss_arrays,
)

__all__ = ["run_descent_cuda", "make_kernel", "in_engine_observables", "THREAD_MAX_WIDTH", "BLOCK_THREADS"]

#: Networks whose widths are all ≤ this run one thread per trajectory.
THREAD_MAX_WIDTH = 4
#: Threads per trajectory (one warp) for wider networks.
BLOCK_THREADS = 32
#: Threads per block in the one-thread-per-trajectory kernel.
THREADS_PER_BLOCK = 128
#: Shared memory a block may use without an opt-in on every CUDA GPU (48 KiB).
SHARED_BYTES = 48 * 1024


#: ``numba.cuda``, imported by :func:`_cuda` on first use. A module global (not a local): the
#: simulator swaps the kernels' global ``cuda`` for its fake module.
cuda = None


def _cuda():
    """Import ``numba.cuda`` lazily and check that a GPU (or the simulator) is there."""
    global cuda
    from numba import cuda as module

    cuda = module
    if not cuda.is_available():
        raise RuntimeError(
            "backend='cuda' needs a CUDA GPU, and none is available (numba.cuda.is_available() "
            "is False). Install the `cuda` extra on a machine with an NVIDIA GPU, or set "
            "NUMBA_ENABLE_CUDASIM=1 before numba is imported to use numba's CUDA simulator; "
            "otherwise use backend='numba'."
        )
    return cuda


def uses_block_kernel(widths) -> bool:
    """True when the network is too wide for one thread per trajectory."""
    return max(widths) > THREAD_MAX_WIDTH


#: Losses with a CUDA kernel (``Loss.kind``): the squared-type ones.
CUDA_LOSS_CODES = (SQUARED, SENSING, COMPLETION)


def shared_bytes(widths, cols: int, activated: bool, observing: bool) -> int:
    """Shared memory of one trajectory in the block kernel: weights (current and previous),
    ``H_j`` and ``Δ_j`` (and the pre-activations of a ReLU network), the balances, the
    reduction slots; when ``observing``, also the tangents ``Ḣ_j``, ``Δ̇_j``, a Hessian-vector
    product and the Lanczos basis (``min(P, LANCZOS_CYCLE)`` vectors)."""
    w_off, h_off, b_off = layout(widths, cols)
    n_params, h_size, b_size = int(w_off[-1]), int(h_off[-1]), int(b_off[-1])
    floats = 2 * n_params + 2 * h_size + (h_size if activated else 1) + b_size + BLOCK_THREADS + 4
    if observing:
        floats += 2 * h_size + n_params + min(n_params, LANCZOS_CYCLE) * n_params
    return 8 * floats


@functools.lru_cache(maxsize=32)
def make_kernel(
    widths: tuple, cols: int, whitened: bool, slope=None, loss_code: int = SQUARED, n_measurements: int = 1,
    observing: bool = False,
):
    """Compile-time-specialized GD kernel for one architecture and loss.

    Returns ``(kernel, per_block)``; launch with ``kernel[grid, block](*args)`` over
    ``B`` trajectories (``grid = B`` blocks of :data:`BLOCK_THREADS` if ``per_block``, else
    ``ceil(B / THREADS_PER_BLOCK)`` blocks of :data:`THREADS_PER_BLOCK` threads).
    ``slope`` (ReLU 0, leaky ReLU α; None for a deep linear network) activates the hidden
    layers with ``σ(z) = max(z, slope·z)``, ``σ'(0) = slope`` (as on every engine), keeps the
    pre-activations in one more buffer, and monitors the per-neuron balances (diagonals).
    ``loss_code`` (``linflow._descent_numba.LOSS_CODES``): the squared loss of Φ or of the data
    (``y``), or, on ``W_e`` (``whitened``), matrix sensing (``x`` = A as ``(m, d_N d_0)``,
    ``y`` = b as ``(1, m)``, ``n_measurements`` = m) or matrix completion (``x`` = mask/|Ω|,
    ``y`` = the observed values, both ``(1, d_N d_0)``), with the formulas of the CPU engine.
    ``observing`` (deep linear networks only): the kernel takes eight more arguments (the
    observation step map, the outputs and the Lanczos settings, :func:`run_descent_cuda`) and
    computes the observables at the observed steps (:func:`observe` below).
    """
    _cuda()
    from numba import float64

    widths = tuple(int(d) for d in widths)
    n_layers = len(widths) - 1
    activated = slope is not None
    alpha = float(slope) if activated else 1.0
    w_off, h_off, b_off = (tuple(int(v) for v in a) for a in layout(widths, cols))
    n_params = w_off[-1]
    h_size = h_off[-1]
    b_size = b_off[-1]
    z_size = h_size if activated else 1
    per_block = uses_block_kernel(widths)
    nth = BLOCK_THREADS if per_block else 1
    d_top = widths[-1]
    top = h_off[n_layers]
    sensing, completion = loss_code == SENSING, loss_code == COMPLETION
    n_meas = int(n_measurements)
    if sensing:
        loss_scale = 0.5 / n_meas
    else:
        loss_scale = 0.5 if whitened else 0.5 / cols
    grad_scale = 1.0 if whitened else 1.0 / cols
    if observing and activated:
        raise ValueError(
            f"in-engine observables on backend='cuda' need a deep linear network; got slope={slope!r} "
            "(a ReLU network's observables are computed from recorded weights)"
        )
    cycle = min(n_params, LANCZOS_CYCLE)  # Lanczos steps per restart (Krylov dimension ≤ P)
    min_krylov = min(MIN_KRYLOV, cycle)  # steps of an observed step's first cycle before a check
    check_every = CHECK_EVERY
    basis_size = cycle * n_params  # a Python int: array shapes must be compile-time constants
    if per_block:
        shared = shared_bytes(widths, cols, activated, observing)
        if shared > SHARED_BYTES:
            what = "with its in-engine observables " if observing else ""
            raise ValueError(
                f"backend='cuda' keeps one trajectory {what}in {SHARED_BYTES} bytes of shared memory; "
                f"widths={widths} with {cols} columns needs {shared} bytes: use backend='numba'"
            )

    @cuda.jit(device=True)
    def sync():
        if per_block:
            cuda.syncthreads()

    @cuda.jit(device=True)
    def matmul(c, oc, crs, ccs, a, oa, ars, acs, b, ob, brs, bcs, n, m, p, tid):
        # C = A B; the sum over k in increasing k, like the CPU engine.
        for idx in range(tid, n * p, nth):
            i = idx // p
            j = idx - i * p
            s = 0.0
            for k in range(m):
                s += a[oa + i * ars + k * acs] * b[ob + k * brs + j * bcs]
            c[oc + i * crs + j * ccs] = s

    @cuda.jit(device=True)
    def activate(h, z, off, count, tid):
        """σ(H) in place (``v`` if ``v > 0`` else ``slope·v``, as the reference), ``z`` keeps H."""
        for idx in range(tid, count, nth):
            v = h[off + idx]
            z[off + idx] = v
            h[off + idx] = v if v > 0.0 else alpha * v

    @cuda.jit(device=True)
    def forward_partial_loss(w, h, delta, z, x, y, tid):
        """H_j, Δ_N and this thread's part of Σ r² (the caller reduces over threads)."""
        d0, d1 = widths[0], widths[1]
        if whitened:
            for idx in range(tid, d1 * d0, nth):
                h[idx] = w[idx]  # H_1 = W_1 I
        else:
            for idx in range(tid, d1 * cols, nth):
                i = idx // cols
                q = idx - i * cols
                s = 0.0
                for k in range(d0):
                    s += w[i * d0 + k] * x[k, q]
                h[idx] = s
        if activated and n_layers > 1:
            activate(h, z, h_off[1], d1 * cols, tid)
        sync()
        for j in range(2, n_layers + 1):
            # H_j = W_j σ(H_{j−1})
            dj, dp = widths[j], widths[j - 1]
            matmul(h, h_off[j], cols, 1, w, w_off[j - 1], dp, 1, h, h_off[j - 1], cols, 1, dj, dp, cols, tid)
            if activated and j < n_layers:
                activate(h, z, h_off[j], dj * cols, tid)  # same thread ↔ entry map as matmul
            sync()
        part = 0.0
        if sensing:
            # r_i = ⟨A_i, W_e⟩ − b_i, every thread all of them (their sum is tid 0's part);
            # ∇L = (Σ_i r_i A_i)/m, each thread its entries.
            r = cuda.local.array(n_meas, float64)
            for i in range(n_meas):
                s = 0.0
                for e in range(d_top * cols):
                    s += x[i, e] * h[top + e]
                r[i] = s - y[0, i]
                if tid == 0:
                    part += r[i] * r[i]
            for idx in range(tid, d_top * cols, nth):
                g = 0.0
                for i in range(n_meas):
                    g += r[i] * x[i, idx]
                delta[top + idx] = g / n_meas
            return part
        for idx in range(tid, d_top * cols, nth):
            if completion:  # w ⊙ (W_e − values), w = mask/|Ω|; L = ½ Σ w r²
                r = h[top + idx] - y[0, idx]
                wr = x[0, idx] * r
                part += wr * r
                delta[top + idx] = wr
                continue
            i = idx // cols
            q = idx - i * cols
            r = h[top + idx] - y[i, q]
            part += r * r
            delta[top + idx] = r * grad_scale
        return part

    @cuda.jit(device=True)
    def backward_update(cur, new, h, delta, z, x, lr, tid):
        """new = cur − lr·G, layer by layer from the top, with Δ_{j−1} = W_jᵀ Δ_j
        (times σ'(Z_{j−1}) elementwise for an activated network)."""
        for j in range(n_layers, 0, -1):
            dj, dp = widths[j], widths[j - 1]
            ow = w_off[j - 1]
            if j > 1:
                for idx in range(tid, dj * dp, nth):  # G_j = Δ_j H_{j−1}ᵀ
                    i = idx // dp
                    l = idx - i * dp
                    s = 0.0
                    for q in range(cols):
                        s += delta[h_off[j] + i * cols + q] * h[h_off[j - 1] + l * cols + q]
                    new[ow + idx] = cur[ow + idx] - lr * s
                # Δ_{j−1} = W_jᵀ Δ_j, then σ'(Z_{j−1}) ⊙ (each thread masks the entries it wrote)
                matmul(delta, h_off[j - 1], cols, 1, cur, ow, 1, dp, delta, h_off[j], cols, 1, dp, dj, cols, tid)
                if activated:
                    for idx in range(tid, dp * cols, nth):
                        q = h_off[j - 1] + idx
                        d = delta[q]
                        delta[q] = d if z[q] > 0.0 else alpha * d
            elif whitened:
                for idx in range(tid, dj * dp, nth):  # G_1 = Δ_1
                    new[idx] = cur[idx] - lr * delta[idx]
            else:
                for idx in range(tid, dj * dp, nth):  # G_1 = Δ_1 Xᵀ
                    i = idx // dp
                    l = idx - i * dp
                    s = 0.0
                    for q in range(cols):
                        s += delta[i * cols + q] * x[l, q]
                    new[idx] = cur[idx] - lr * s
            sync()

    @cuda.jit(device=True)
    def balancedness_partial(w, bal, j, tid, store):
        """This thread's part of ‖B_j − bal‖_F² (or, with ``store``, B_j written to bal)."""
        lo, up = w_off[j], w_off[j + 1]
        d_in, d, d_out = widths[j], widths[j + 1], widths[j + 2]
        ob = b_off[j]
        part = 0.0
        for idx in range(tid, d if activated else d * d, nth):
            if activated:  # per-neuron balances: the diagonal only
                i = idx
                l = idx
            else:
                i = idx // d
                l = idx - i * d
            s = 0.0
            for q in range(d_out):
                s += w[up + q * d + i] * w[up + q * d + l]
            for q in range(d_in):
                s -= w[lo + i * d_in + q] * w[lo + l * d_in + q]
            if store:
                bal[ob + idx] = s
            else:
                e = s - bal[ob + idx]
                part += e * e
        return part

    @cuda.jit(device=True)
    def reduce(red, part, tid):
        """Σ over the threads of a trajectory, summed in thread order (deterministic)."""
        if not per_block:
            return part
        red[tid] = part
        cuda.syncthreads()
        total = 0.0
        for q in range(nth):
            total += red[q]
        cuda.syncthreads()
        return total

    @cuda.jit(device=True)
    def no_observation(obs, k, b, tid, w, h, delta, x, red, value):
        """The plain kernel's hook: nothing is observed."""

    if observing:
        @cuda.jit(device=True)
        def matmul_add(c, oc, crs, ccs, a, oa, ars, acs, b, ob, brs, bcs, n, m, p, tid):
            # C += A B, with matmul's thread ↔ entry map (no sync needed between the two)
            for idx in range(tid, n * p, nth):
                i = idx // p
                j = idx - i * p
                s = 0.0
                for k in range(m):
                    s += a[oa + i * ars + k * acs] * b[ob + k * brs + j * bcs]
                c[oc + i * crs + j * ccs] += s

        @cuda.jit(device=True)
        def dot_partial(a, oa, b, ob, tid):
            """This thread's part of the dot product of two P-vectors (offsets ``oa``, ``ob``)."""
            s = 0.0
            for p in range(tid, n_params, nth):
                s += a[oa + p] * b[ob + p]
            return s

        @cuda.jit(device=True)
        def backward_deltas(w, delta, tid):
            """Δ_{j−1} = W_jᵀ Δ_j for every layer (the products backward_update forms next, with
            the same sums: the step taken is unchanged)."""
            for j in range(n_layers, 1, -1):
                dj, dp = widths[j], widths[j - 1]
                matmul(delta, h_off[j - 1], cols, 1, w, w_off[j - 1], 1, dp, delta, h_off[j], cols, 1, dp, dj, cols,
                       tid)
                sync()

        @cuda.jit(device=True)
        def gradient_sq_partial(h, delta, x, tid):
            """This thread's part of ‖∇L‖² = Σ_j ‖G_j‖², G_j = Δ_j H_{j−1}ᵀ (the sums of backward_update)."""
            part = 0.0
            for j in range(n_layers, 0, -1):
                dj, dp = widths[j], widths[j - 1]
                for idx in range(tid, dj * dp, nth):
                    i = idx // dp
                    l = idx - i * dp
                    if j == 1 and whitened:
                        s = delta[idx]
                    else:
                        s = 0.0
                        for q in range(cols):
                            if j > 1:
                                s += delta[h_off[j] + i * cols + q] * h[h_off[j - 1] + l * cols + q]
                            else:
                                s += delta[i * cols + q] * x[l, q]
                    part += s * s
            return part

        @cuda.jit(device=True)
        def hessian_product(w, v, ov, out, h, delta, th, td, x, tid):
            """``out = ∇²L(w)·v`` (``v`` from offset ``ov``), forward-over-reverse from the
            ``H_j`` in ``h`` and ``Δ_j`` in ``delta`` (derived in this project by differentiating
            the backpropagation of Arora, Cohen & Hazan 2018, eq. (5)):
            ``Ḣ_j = V_j H_{j−1} + W_j Ḣ_{j−1}``, ``Δ̇_N = ∇²ℓ[Ḣ_N]``,
            ``Δ̇_{j−1} = V_jᵀ Δ_j + W_jᵀ Δ̇_j``, ``(∇²L v)_j = Δ̇_j H_{j−1}ᵀ + Δ_j Ḣ_{j−1}ᵀ``."""
            d0, d1 = widths[0], widths[1]
            for idx in range(tid, d1 * cols, nth):  # Ḣ_1 = V_1 H_0
                if whitened:
                    th[idx] = v[ov + idx]
                else:
                    i = idx // cols
                    q = idx - i * cols
                    s = 0.0
                    for k in range(d0):
                        s += v[ov + i * d0 + k] * x[k, q]
                    th[idx] = s
            sync()
            for j in range(2, n_layers + 1):
                dj, dp = widths[j], widths[j - 1]
                matmul(th, h_off[j], cols, 1, v, ov + w_off[j - 1], dp, 1, h, h_off[j - 1], cols, 1, dj, dp, cols, tid)
                matmul_add(th, h_off[j], cols, 1, w, w_off[j - 1], dp, 1, th, h_off[j - 1], cols, 1, dj, dp, cols,
                           tid)
                sync()
            count = d_top * cols
            if sensing:
                # ∇²ℓ[Ḣ] = (1/m) Σ_i A_i ⟨A_i, Ḣ⟩; every thread forms all m inner products.
                r = cuda.local.array(n_meas, float64)
                for i in range(n_meas):
                    s = 0.0
                    for e in range(count):
                        s += x[i, e] * th[top + e]
                    r[i] = s / n_meas
                for idx in range(tid, count, nth):
                    g = 0.0
                    for i in range(n_meas):
                        g += r[i] * x[i, idx]
                    td[top + idx] = g
            else:
                for idx in range(tid, count, nth):
                    if completion:  # (mask/|Ω|) ⊙ Ḣ
                        td[top + idx] = x[0, idx] * th[top + idx]
                    else:  # Ḣ (whitened) or Ḣ/m (regression)
                        td[top + idx] = th[top + idx] * grad_scale
            sync()
            for j in range(n_layers, 1, -1):
                dj, dp = widths[j], widths[j - 1]
                matmul(td, h_off[j - 1], cols, 1, v, ov + w_off[j - 1], 1, dp, delta, h_off[j], cols, 1, dp, dj, cols,
                       tid)
                matmul_add(td, h_off[j - 1], cols, 1, w, w_off[j - 1], 1, dp, td, h_off[j], cols, 1, dp, dj, cols,
                           tid)
                sync()
            for j in range(n_layers, 0, -1):
                dj, dp = widths[j], widths[j - 1]
                for idx in range(tid, dj * dp, nth):
                    i = idx // dp
                    l = idx - i * dp
                    if j == 1 and whitened:
                        s = td[idx]
                    else:
                        s = 0.0
                        for q in range(cols):
                            if j > 1:
                                s += td[h_off[j] + i * cols + q] * h[h_off[j - 1] + l * cols + q]
                                s += delta[h_off[j] + i * cols + q] * th[h_off[j - 1] + l * cols + q]
                            else:
                                s += td[i * cols + q] * x[l, q]
                    out[w_off[j - 1] + idx] = s
            sync()

        @cuda.jit(device=True)
        def count_below(alpha, beta, n, ratio, x):
            """Eigenvalues of T·ratio below x: sign changes of the leading principal minors."""
            d = alpha[0] * ratio - x  # p_1
            dd = 1.0  # p_0
            changes = 1 if d < 0.0 else 0
            for i in range(1, n):
                bs = beta[i - 1] * ratio
                p_next = (alpha[i] * ratio - x) * d - bs * bs * dd
                if (p_next < 0.0) != (d < 0.0):
                    changes += 1
                dd = d
                d = p_next
            return changes

        @cuda.jit(device=True)
        def ritz_top(alpha, beta, n, s, up, down, guess):
            """λ_max of the n × n tridiagonal T (diagonal ``alpha``, off-diagonal ``beta``) and its
            unit eigenvector into ``s``, as linflow._curvature_numba._ritz_top for one lane:
            Newton from above on T/σ's characteristic polynomial (σ the Gershgorin radius),
            started at ``guess`` where a Sturm count confirms it above λ_max, else after Sturm
            bisection; twisted factorization (Parlett & Dhillon 2000)."""
            lo = alpha[0]
            hi = alpha[0]
            for i in range(n):  # (no min/max: the CUDA target does not type them on two floats)
                r = 0.0
                if i > 0:
                    r += abs(beta[i - 1])
                if i < n - 1:
                    r += abs(beta[i])
                if alpha[i] - r < lo:
                    lo = alpha[i] - r
                if alpha[i] + r > hi:
                    hi = alpha[i] + r
            # Scaled by the Gershgorin radius (T/σ has entries ≤ 1): the characteristic
            # polynomials below stay far from overflow (|p_n| ≤ 3^n).
            sigma = abs(lo) if abs(lo) > abs(hi) else abs(hi)
            if not sigma > 0.0:
                sigma = 1.0
            ratio = 1.0 / sigma
            hi = hi * ratio + 1e-3 * (hi - lo) * ratio + 1e-300  # strictly above λ_max
            lo = lo * ratio
            # The caller's guess (last check's Ritz value plus twice its residual bound) when a
            # Sturm count confirms it above every eigenvalue; else bisection to 1/256 of the
            # Gershgorin interval by Sturm counts.
            x = guess * ratio
            if x < hi and count_below(alpha, beta, n, ratio, x) == n:
                hi = x
            else:
                for _halving in range(8):
                    x = 0.5 * (lo + hi)
                    if count_below(alpha, beta, n, ratio, x) == n:
                        hi = x
                    else:
                        lo = x
            x = hi
            for _newton in range(60):
                # Newton from above on p_n (monotone to the largest root: real roots only), p_n'
                # from the differentiated recurrence.
                d = alpha[0] * ratio - x  # p_1
                dd = 1.0  # p_0
                dp = -1.0  # p_1'
                dpp = 0.0  # p_0'
                for i in range(1, n):
                    bs = beta[i - 1] * ratio
                    shift = alpha[i] * ratio - x
                    p_next = shift * d - bs * bs * dd
                    dp_next = shift * dp - d - bs * bs * dpp
                    dd = d
                    d = p_next
                    dpp = dp
                    dp = dp_next
                if dp == 0.0:  # p_n' = 0 at or above the largest root: p_n = 0 too, x is the root
                    break
                nxt = x - d / dp
                moved = nxt < x - 4e-16 * abs(x)  # a step below rounding level is convergence
                if nxt < x:
                    x = nxt
                if not moved:
                    break
            x = x / ratio
            # Eigenvector by the twisted factorization of T − xI: pivots from the top (d⁺, ``up``)
            # and from the bottom (d⁻, ``down``); twist at k = argmin |d⁺_k + d⁻_k − (α_k − x)|,
            # s_k = 1, products outwards (each entry accurate relative to itself, the tiny last
            # one included, which the residual bound uses).
            for i in range(n):
                v = alpha[i] - x
                if i > 0:
                    v -= beta[i - 1] ** 2 / up[i - 1]
                up[i] = v if v != 0.0 else -1e-300
            for i in range(n - 1, -1, -1):
                v = alpha[i] - x
                if i < n - 1:
                    v -= beta[i] ** 2 / down[i + 1]
                down[i] = v if v != 0.0 else -1e-300
            twist = 0
            least = math.inf
            for i in range(n):
                g = abs(up[i] + down[i] - (alpha[i] - x))
                if g < least:
                    least = g
                    twist = i
            s[twist] = 1.0
            norm = 1.0
            for i in range(twist - 1, -1, -1):
                s[i] = -(beta[i] / up[i]) * s[i + 1]
                norm += s[i] * s[i]
            for i in range(twist + 1, n):
                s[i] = -(beta[i - 1] / down[i]) * s[i - 1]
                norm += s[i] * s[i]
            scale = 1.0 / math.sqrt(norm)
            for i in range(n):
                s[i] = s[i] * scale
            return x

        @cuda.jit(device=True)
        def lanczos_top(b, o, tid, w, h, delta, x, red, obs):
            """λ_max(∇²L(w)) by restarted Lanczos (Golub & Van Loan, 4th ed., §10.1) into
            ``observed[b, o, 2]``, its residual bound ``β_j|s_j|`` (Parlett, Thm 4.5.1) into
            ``residual[b, o]``, with the schedule of linflow._curvature_numba.observe_chunk: start
            from the trajectory's Ritz vector two observations back (``vectors[P:2P, b]``; the last
            one is at ``[0:P, b]``), check convergence every CHECK_EVERY steps once the first cycle
            has MIN_KRYLOV of them, at a breakdown and at the end of a cycle (then restart from the
            Ritz vector). Every condition depends on reduced values only, uniform over a block
            (syncs stay legal)."""
            (index, observed, residual, hvp_count, vectors, flags, tol, max_cycles,
             th, td, hv, q, alpha, beta, s, up, down) = obs
            for p in range(tid, n_params, nth):
                q[p] = vectors[n_params + p, b]
            theta = 0.0
            bound = math.inf
            guess = math.inf  # no upper bound of λ_max(T) yet at this step (a new Hessian)
            products = 0
            first_steps = min_krylov
            done = False
            for _cycle in range(max_cycles):
                # q_0 normalized (a Ritz vector Q s drifts from unit length as Q loses orthogonality)
                norm = math.sqrt(reduce(red, dot_partial(q, 0, q, 0, tid), tid))
                if not (norm > 0.0 and norm < math.inf):
                    break
                inv = 1.0 / norm
                for p in range(tid, n_params, nth):
                    q[p] = q[p] * inv
                sync()
                for j in range(cycle):
                    qj = j * n_params
                    hessian_product(w, q, qj, hv, h, delta, th, td, x, tid)
                    products += 1
                    alpha[j] = reduce(red, dot_partial(q, qj, hv, 0, tid), tid)
                    # w = H q_j − Σ_{i ≤ j} (q_iᵀ w) q_i (full reorthogonalization), a second pass
                    # where the first cancelled more than half the squared norm (Daniel, Gragg,
                    # Kaufman & Stewart 1976: "twice is enough").
                    before = reduce(red, dot_partial(hv, 0, hv, 0, tid), tid)
                    after = before
                    for _sweep in range(2):
                        for i in range(j + 1):
                            c = reduce(red, dot_partial(q, i * n_params, hv, 0, tid), tid)
                            for p in range(tid, n_params, nth):
                                hv[p] -= c * q[i * n_params + p]
                        after = reduce(red, dot_partial(hv, 0, hv, 0, tid), tid)
                        if not 2.0 * after - before < 0.0:  # ‖w‖² ≥ ½‖Hq‖² (or NaN): done
                            break
                        before = after
                    nb = math.sqrt(after)
                    beta[j] = nb
                    scale = abs(alpha[j]) + (beta[j - 1] if j > 0 else 0.0)
                    # Breakdown: an invariant subspace, whose Ritz values are eigenvalues
                    # (residual 0: converged).
                    breakdown = not nb > 1e-14 * scale
                    if breakdown:
                        beta[j] = 0.0
                    elif j + 1 < cycle:
                        inv = 1.0 / nb
                        for p in range(tid, n_params, nth):
                            q[qj + n_params + p] = hv[p] * inv
                        sync()
                    last = j == cycle - 1
                    if not (breakdown or last or (j + 1 >= first_steps and (j + 1) % check_every == 0)):
                        continue
                    n = j + 1
                    theta = ritz_top(alpha, beta, n, s, up, down, guess)
                    bound = abs(beta[n - 1] * s[n - 1])
                    guess = theta + 2.0 * bound + 1e-12 * abs(theta)
                    done = breakdown or bound <= tol * abs(theta) or not math.isfinite(theta)
                    if done or last:
                        # The Ritz vector y = Q s: the result, and the next start (slot 0; each
                        # thread reads and writes its own entries p).
                        for p in range(tid, n_params, nth):
                            acc = 0.0
                            for i in range(n):
                                acc += s[i] * q[i * n_params + p]
                            q[p] = acc
                        sync()
                    if done:
                        break
                if done:
                    break
                first_steps = 1
            sq = reduce(red, dot_partial(q, 0, q, 0, tid), tid)
            if sq > 0.0 and sq < math.inf:  # the warm starts: last two Ritz vectors
                for p in range(tid, n_params, nth):
                    vectors[n_params + p, b] = vectors[p, b]
                    vectors[p, b] = q[p]
            if tid == 0:
                observed[b, o, 2] = theta
                residual[b, o] = bound
                hvp_count[b] += products

        @cuda.jit(device=True)
        def observe(obs, k, b, tid, w, h, delta, x, red, value):
            """Loss, ‖∇L‖ and λ_max(∇²L) at θ_k into ``observed[b, o]`` when step k is observed
            (``index[k] = o ≥ 0``): after the divergence check, before the update."""
            index, observed, flags = obs[0], obs[1], obs[5]
            o = index[k]
            if o < 0:
                return
            if tid == 0 and flags[0] != 0:
                observed[b, o, 0] = value
            if flags[1] == 0 and flags[2] == 0:
                return
            backward_deltas(w, delta, tid)
            if flags[1] != 0:
                sq = reduce(red, gradient_sq_partial(h, delta, x, tid), tid)
                if tid == 0:
                    observed[b, o, 1] = math.sqrt(sq)
            if flags[2] != 0:
                lanczos_top(b, o, tid, w, h, delta, x, red, obs)

    observe_hook = observe if observing else no_observation

    @cuda.jit(device=True)
    def run_one(b, tid, cur, prev, h, delta, z, bal0, red, params0, lrs, x, y, n_steps,
                record_steps, tol, threshold, reference, has_reference, recorded, record_weights,
                final, losses, final_loss, divergence_step, converged_step, drift, ref_distance, track, obs):
        lr = lrs[b]
        for p in range(tid, n_params, nth):
            v = params0[p, b]
            cur[p] = v
            prev[p] = v
        sync()
        for j in range(n_layers - 1 if track else 0):
            balancedness_partial(cur, bal0, j, tid, True)
        sync()
        rec = 0
        for k in range(n_steps + 1):
            value = loss_scale * reduce(red, forward_partial_loss(cur, h, delta, z, x, y, tid), tid)
            if not math.isfinite(value) or value > threshold:
                # Diverged at step k: stop and keep θ_{k−1} (θ_0 itself if k == 0).
                if tid == 0:
                    divergence_step[b] = k
                    if k == 0:
                        final_loss[b] = value
                for p in range(tid, n_params, nth):
                    cur[p] = prev[p]
                break
            is_record = rec < record_steps.shape[0] and record_steps[rec] == k
            if tid == 0:
                final_loss[b] = value
                if is_record:
                    losses[b, rec] = value
                if converged_step[b] < 0 and value <= tol:
                    converged_step[b] = k
            if is_record and record_weights:
                for p in range(tid, n_params, nth):
                    recorded[b, rec, p] = cur[p]
            if is_record:
                rec += 1
            observe_hook(obs, k, b, tid, cur, h, delta, x, red, value)
            for j in range(n_layers - 1 if track else 0):  # ``track`` is uniform: syncs stay legal
                norm = math.sqrt(reduce(red, balancedness_partial(cur, bal0, j, tid, False), tid))
                if tid == 0 and not norm <= drift[b]:  # larger, or NaN (overflow): +inf
                    drift[b] = norm if norm == norm else math.inf
            if has_reference:
                part = 0.0
                for p in range(tid, n_params, nth):
                    e = cur[p] - reference[b, k, p]
                    part += e * e
                dist = math.sqrt(reduce(red, part, tid))
                if tid == 0 and dist > ref_distance[b]:
                    ref_distance[b] = dist
            if k == n_steps:
                break
            backward_update(cur, prev, h, delta, z, x, lr, tid)
            cur, prev = prev, cur
        sync()
        for p in range(tid, n_params, nth):
            final[p, b] = cur[p]

    if per_block and not observing:
        @cuda.jit
        def kernel(params0, lrs, x, y, n_steps, record_steps, tol, threshold, reference,
                   has_reference, recorded, record_weights, final, losses, final_loss,
                   divergence_step, converged_step, drift, ref_distance, track):
            cur = cuda.shared.array(n_params, float64)
            prev = cuda.shared.array(n_params, float64)
            h = cuda.shared.array(h_size, float64)
            delta = cuda.shared.array(h_size, float64)
            z = cuda.shared.array(z_size, float64)
            bal0 = cuda.shared.array(b_size, float64)
            red = cuda.shared.array(nth, float64)
            b = cuda.blockIdx.x
            if b < params0.shape[1]:  # uniform over the block: syncthreads stay legal
                run_one(b, cuda.threadIdx.x, cur, prev, h, delta, z, bal0, red, params0, lrs, x, y,
                        n_steps, record_steps, tol, threshold, reference, has_reference, recorded,
                        record_weights, final, losses, final_loss, divergence_step,
                        converged_step, drift, ref_distance, track, 0)
    elif not observing:
        @cuda.jit
        def kernel(params0, lrs, x, y, n_steps, record_steps, tol, threshold, reference,
                   has_reference, recorded, record_weights, final, losses, final_loss,
                   divergence_step, converged_step, drift, ref_distance, track):
            cur = cuda.local.array(n_params, float64)
            prev = cuda.local.array(n_params, float64)
            h = cuda.local.array(h_size, float64)
            delta = cuda.local.array(h_size, float64)
            z = cuda.local.array(z_size, float64)
            bal0 = cuda.local.array(b_size, float64)
            red = cuda.local.array(1, float64)
            b = cuda.grid(1)
            if b < params0.shape[1]:
                run_one(b, 0, cur, prev, h, delta, z, bal0, red, params0, lrs, x, y, n_steps,
                        record_steps, tol, threshold, reference, has_reference, recorded,
                        record_weights, final, losses, final_loss, divergence_step,
                        converged_step, drift, ref_distance, track, 0)
    elif per_block:
        # Observing: the same, plus the observation arguments (run_descent_cuda) and the scratch
        # of the Hessian-vector products and of Lanczos; the tridiagonal's scalars are per thread
        # (every thread of the block computes the same Ritz pair).
        @cuda.jit
        def kernel(params0, lrs, x, y, n_steps, record_steps, tol, threshold, reference,
                   has_reference, recorded, record_weights, final, losses, final_loss,
                   divergence_step, converged_step, drift, ref_distance, track,
                   obs_index, observed, residual, hvp_count, vectors, obs_flags, obs_tol, obs_max_cycles):
            cur = cuda.shared.array(n_params, float64)
            prev = cuda.shared.array(n_params, float64)
            h = cuda.shared.array(h_size, float64)
            delta = cuda.shared.array(h_size, float64)
            z = cuda.shared.array(z_size, float64)
            bal0 = cuda.shared.array(b_size, float64)
            red = cuda.shared.array(nth, float64)
            th = cuda.shared.array(h_size, float64)
            td = cuda.shared.array(h_size, float64)
            hv = cuda.shared.array(n_params, float64)
            q = cuda.shared.array(basis_size, float64)
            alpha = cuda.local.array(cycle, float64)
            beta = cuda.local.array(cycle, float64)
            s = cuda.local.array(cycle, float64)
            up = cuda.local.array(cycle, float64)
            down = cuda.local.array(cycle, float64)
            obs = (obs_index, observed, residual, hvp_count, vectors, obs_flags, obs_tol, obs_max_cycles,
                   th, td, hv, q, alpha, beta, s, up, down)
            b = cuda.blockIdx.x
            if b < params0.shape[1]:  # uniform over the block: syncthreads stay legal
                run_one(b, cuda.threadIdx.x, cur, prev, h, delta, z, bal0, red, params0, lrs, x, y,
                        n_steps, record_steps, tol, threshold, reference, has_reference, recorded,
                        record_weights, final, losses, final_loss, divergence_step,
                        converged_step, drift, ref_distance, track, obs)
    else:
        @cuda.jit
        def kernel(params0, lrs, x, y, n_steps, record_steps, tol, threshold, reference,
                   has_reference, recorded, record_weights, final, losses, final_loss,
                   divergence_step, converged_step, drift, ref_distance, track,
                   obs_index, observed, residual, hvp_count, vectors, obs_flags, obs_tol, obs_max_cycles):
            cur = cuda.local.array(n_params, float64)
            prev = cuda.local.array(n_params, float64)
            h = cuda.local.array(h_size, float64)
            delta = cuda.local.array(h_size, float64)
            z = cuda.local.array(z_size, float64)
            bal0 = cuda.local.array(b_size, float64)
            red = cuda.local.array(1, float64)
            th = cuda.local.array(h_size, float64)
            td = cuda.local.array(h_size, float64)
            hv = cuda.local.array(n_params, float64)
            q = cuda.local.array(basis_size, float64)
            alpha = cuda.local.array(cycle, float64)
            beta = cuda.local.array(cycle, float64)
            s = cuda.local.array(cycle, float64)
            up = cuda.local.array(cycle, float64)
            down = cuda.local.array(cycle, float64)
            obs = (obs_index, observed, residual, hvp_count, vectors, obs_flags, obs_tol, obs_max_cycles,
                   th, td, hv, q, alpha, beta, s, up, down)
            b = cuda.grid(1)
            if b < params0.shape[1]:
                run_one(b, 0, cur, prev, h, delta, z, bal0, red, params0, lrs, x, y, n_steps,
                        record_steps, tol, threshold, reference, has_reference, recorded,
                        record_weights, final, losses, final_loss, divergence_step,
                        converged_step, drift, ref_distance, track, obs)

    return kernel, per_block


def in_engine_observables(problem) -> tuple:
    """The observables the CUDA kernels compute inside their loop for ``problem``, ``()`` when
    they compute none (the others are computed from recorded weights): those of the CPU engine
    (:func:`linflow._curvature_numba.in_engine_observables`: deep linear networks with the
    squared, sensing and completion losses, all of which have a CUDA kernel), in the one-thread
    kernel, or in the block kernel when its scratch fits the shared memory
    (:func:`shared_bytes`). Checks only sizes: imports no CUDA."""
    offered = cpu_in_engine_observables(problem)
    if not offered or LOSS_CODES[problem.loss_function.kind] not in CUDA_LOSS_CODES:
        return ()
    widths = tuple(int(d) for d in problem.network.widths)
    if uses_block_kernel(widths):
        cols = loss_arrays(problem.loss_function, widths)[2]
        if shared_bytes(widths, cols, False, True) > SHARED_BYTES:
            return ()
    return offered


def _observation_arrays(observe, setup) -> dict:
    """The observing kernel's extra arguments (host arrays) for ``observe`` (a
    :class:`linflow._curvature_numba.Observation`) of :func:`run_descent_cuda`."""
    names = tuple(observe.names)
    unknown = [name for name in names if name not in OBSERVE_IN_ENGINE]
    if unknown:
        raise ValueError(f"backend='cuda' computes {OBSERVE_IN_ENGINE} in its loop; got names={names!r}")
    batch, n_params = setup.batch_size, setup.problem.network.n_params
    steps = kernel_array(observe.steps, np.int64)
    index = np.full(setup.n_steps + 1, -1, dtype=np.int64)
    index[steps] = np.arange(steps.size)
    # Fixed Gaussian start (seed 0), as the CPU engine: a component along every eigenvector.
    start = np.random.default_rng(0).standard_normal(n_params)
    return dict(
        obs_index=index,
        observed=np.full((batch, steps.size, len(OBSERVE_IN_ENGINE)), np.nan),
        residual=np.full((batch, steps.size), np.nan),
        hvp_count=np.zeros(batch, dtype=np.int64),
        # (2P, B), trajectory fastest: the last two Ritz vectors (both the Gaussian at first)
        vectors=np.ascontiguousarray(np.tile(start[:, None], (2, batch))),
        obs_flags=np.array([name in names for name in OBSERVE_IN_ENGINE], dtype=np.int64),
    )


def run_descent_cuda(setup, observe=None):
    """Run a validated :class:`linflow.descent.DescentSetup` on the GPU (or the simulator).

    ``observe``: in-engine observables as for the CPU engine
    (:func:`linflow._descent_numba.run_descent_numba`), a
    :class:`linflow._curvature_numba.Observation` (names of ``("loss", "grad_norm",
    "sharpness")``, steps, residual tolerance, maximum of Lanczos cycles;
    :func:`in_engine_observables` says for which problems); they come back in
    ``result.observables`` (B, n_observed), NaN where not observed or after divergence, with
    the sharpness's residual bounds ``result.extra["sharpness_residual"]`` (B, n_observed) and
    the Hessian-vector products per trajectory ``result.extra["hvp_count"]`` (B,).
    """
    problem = setup.problem
    widths = tuple(problem.network.widths)
    batch = setup.batch_size
    n_params = problem.network.n_params
    loss = problem.loss_function
    loss_code, whitened, cols, x, y, aux = loss_arrays(loss, widths)
    if loss_code not in CUDA_LOSS_CODES:
        raise ValueError(
            f"backend='cuda' runs the squared-type losses (whitened, regression, sensing, completion); "
            f"got the loss {loss!r} (kind={loss.kind!r}): use backend='numba'"
        )
    _cuda()
    activated, slope = activation_of(problem)
    if loss_code != SQUARED:
        x = aux  # sensing: A; completion: mask/|Ω| (a loss of W_e has no data X)
    if observe is not None and activated:
        raise ValueError(
            f"backend='cuda' computes observables in its loop for deep linear networks only; got problem={problem!r}"
        )
    obs_arrays = None if observe is None else _observation_arrays(observe, setup)
    kernel, per_block = make_kernel(
        widths, cols, whitened, slope if activated else None, loss_code, x.shape[0] if loss_code == SENSING else 1,
        observe is not None,
    )

    params0 = np.ascontiguousarray(np.concatenate([w.reshape(batch, -1) for w in setup.weights0], axis=1).T)
    n_rec = len(setup.record_steps)
    has_reference = setup.reference is not None
    reference = kernel_array(setup.reference) if has_reference else np.zeros((1, 1, 1))
    record_shape = (batch, n_rec, n_params) if setup.record_weights else (1, 1, 1)
    host_out = dict(
        final=np.empty((n_params, batch)),
        losses=np.full((batch, n_rec), np.nan),
        final_loss=np.full(batch, np.nan),
        divergence_step=np.full(batch, -1, dtype=np.int64),
        converged_step=np.full(batch, -1, dtype=np.int64),
        drift=np.zeros(batch),
        ref_distance=np.zeros(batch),
        recorded=np.full(record_shape, np.nan),
    )
    dev = {name: cuda.to_device(a) for name, a in host_out.items()}
    if per_block:
        grid, block = batch, BLOCK_THREADS
    else:
        grid, block = (batch + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK, THREADS_PER_BLOCK
    obs_dev = {}
    obs_args: tuple = ()
    if obs_arrays is not None:
        obs_dev = {name: cuda.to_device(a) for name, a in obs_arrays.items()}
        obs_args = (obs_dev["obs_index"], obs_dev["observed"], obs_dev["residual"], obs_dev["hvp_count"],
                    obs_dev["vectors"], obs_dev["obs_flags"], float(observe.tol), int(observe.max_cycles))
    kernel[grid, block](
        cuda.to_device(params0), cuda.to_device(kernel_array(setup.learning_rates)),
        cuda.to_device(x), cuda.to_device(y), setup.n_steps,
        cuda.to_device(kernel_array(setup.record_steps, np.int64)), setup.loss_tolerance,
        setup.divergence_threshold, cuda.to_device(reference), has_reference, dev["recorded"],
        setup.record_weights, dev["final"], dev["losses"], dev["final_loss"],
        dev["divergence_step"], dev["converged_step"], dev["drift"], dev["ref_distance"],
        setup.track_balancedness, *obs_args,
    )
    out = {name: d.copy_to_host() for name, d in dev.items()}
    result = assemble_result(
        setup, out["final"].T, out["losses"], out["final_loss"], out["divergence_step"],
        out["converged_step"], out["drift"], out["ref_distance"] if has_reference else None,
        out["recorded"] if setup.record_weights else None, backend="cuda",
    )
    if observe is None:
        return result
    out = SimpleNamespace(observed=obs_dev["observed"].copy_to_host(),
                          observed_residual=obs_dev["residual"].copy_to_host(),
                          hvp_count=obs_dev["hvp_count"].copy_to_host())
    return observe.finish(result, out)
