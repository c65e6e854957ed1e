"""GPU engine for gradient descent (``backend="cuda"``): ``numba.cuda`` kernels.

The only module of linflow that imports ``numba.cuda``, and only when ``backend="cuda"`` is
asked for (importing linflow needs no CUDA). Same inputs, outputs, statuses and semantics as
the NumPy reference (module docstring of ``linflow/_descent_numpy.py``) and the same gradient
by backpropagation as the CPU engine (``linflow/_descent_numba.py``).

Two kernel shapes, both produced by :func:`make_kernel`, a factory whose Python integers
(widths, offsets, buffer sizes) are compile-time constants of the kernel it returns, as
``cuda.local.array``/``cuda.shared.array`` shapes must be on a real GPU (the simulator does
not check this; theory.md §7):

* max width ≤ :data:`THREAD_MAX_WIDTH`: one thread per trajectory, its matrices in
  per-thread local arrays;
* wider networks: one block of :data:`BLOCK_THREADS` threads (a warp) per trajectory, its
  matrices in shared memory, each matrix product split over the threads of the block.

All steps run in one launch. Global arrays keep the trajectory index fastest (``(P, B)``)
so that neighbouring threads read neighbouring addresses (coalesced).

Under ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported) the same kernels run in
numba's CUDA simulator, which is how CI tests them (tests/cudasim).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ._descent_numba import (
    COMPLETION, SENSING, SQUARED, activation_of, assemble_result, kernel_array, layout, loss_arrays,
)

__all__ = ["run_descent_cuda", "make_kernel", "THREAD_MAX_WIDTH", "BLOCK_THREADS"]

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


@functools.lru_cache(maxsize=32)
def make_kernel(
    widths: tuple, cols: int, whitened: bool, slope=None, loss_code: int = SQUARED, n_measurements: int = 1
):
    """Compile-time-specialized GD kernel for one architecture and loss.

    Returns ``(kernel, per_block)``; launch with ``kernel[grid, block](*args)`` over
    ``B`` trajectories (``grid = B`` blocks of :data:`BLOCK_THREADS` if ``per_block``, else
    ``ceil(B / THREADS_PER_BLOCK)`` blocks of :data:`THREADS_PER_BLOCK` threads).
    ``slope`` (ReLU 0, leaky ReLU α; None for a deep linear network) activates the hidden
    layers with ``σ(z) = max(z, slope·z)``, ``σ'(0) = slope`` (issue 7), keeps the
    pre-activations in one more buffer, and monitors the per-neuron balances (diagonals).
    ``loss_code`` (``linflow._descent_numba.LOSS_CODES``): the squared loss of Φ or of the data
    (``y``), or, on ``W_e`` (``whitened``), matrix sensing (``x`` = A as ``(m, d_N d_0)``,
    ``y`` = b as ``(1, m)``, ``n_measurements`` = m) or matrix completion (``x`` = mask/|Ω|,
    ``y`` = the observed values, both ``(1, d_N d_0)``), with the formulas of the CPU engine.
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
    if per_block:
        shared = 8 * (2 * n_params + 2 * h_size + z_size + b_size + nth + 4)
        if shared > SHARED_BYTES:
            raise ValueError(
                f"backend='cuda' keeps one trajectory in {SHARED_BYTES} bytes of shared memory; "
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
    def run_one(b, tid, cur, prev, h, delta, z, bal0, red, params0, lrs, x, y, n_steps,
                record_steps, tol, threshold, reference, has_reference, recorded, record_weights,
                final, losses, final_loss, divergence_step, converged_step, drift, ref_distance, track):
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

    if per_block:
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
                        converged_step, drift, ref_distance, track)
    else:
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
                        converged_step, drift, ref_distance, track)

    return kernel, per_block


def run_descent_cuda(setup):
    """Run a validated :class:`linflow.descent.DescentSetup` on the GPU (or the simulator)."""
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
    kernel, per_block = make_kernel(
        widths, cols, whitened, slope if activated else None, loss_code, x.shape[0] if loss_code == SENSING else 1
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
    kernel[grid, block](
        cuda.to_device(params0), cuda.to_device(kernel_array(setup.learning_rates)),
        cuda.to_device(x), cuda.to_device(y), setup.n_steps,
        cuda.to_device(kernel_array(setup.record_steps, np.int64)), setup.loss_tolerance,
        setup.divergence_threshold, cuda.to_device(reference), has_reference, dev["recorded"],
        setup.record_weights, dev["final"], dev["losses"], dev["final_loss"],
        dev["divergence_step"], dev["converged_step"], dev["drift"], dev["ref_distance"],
        setup.track_balancedness,
    )
    out = {name: d.copy_to_host() for name, d in dev.items()}
    return assemble_result(
        setup, out["final"].T, out["losses"], out["final_loss"], out["divergence_step"],
        out["converged_step"], out["drift"], out["ref_distance"] if has_reference else None,
        out["recorded"] if setup.record_weights else None, backend="cuda",
    )
