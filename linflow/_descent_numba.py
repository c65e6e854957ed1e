"""Batched Numba CPU engine for gradient descent (``backend="numba"``, the default).

Reproduces the semantics of the NumPy reference (see the module docstring of
``linflow/_descent_numpy.py``): divergence at step k keeps ``θ_{k−1}``, NaN losses after
divergence, converged step, balancedness drift ``max_k max_j ‖B_j(θ_k) − B_j(θ_0)‖_F``,
reference distance, ``record_every`` with the last step always recorded, recorded weights.

Layout (structure of arrays, trajectory index innermost). Trajectories are processed in chunks
of :data:`LANES` = 8; all steps of a chunk run inside one compiled call, chunks run in parallel
(threads over disjoint chunk ranges; the kernels release the GIL). A chunk's working matrices
live in 1-D buffers: a matrix stored at row offset ``o`` with strides ``(rs, cs)`` has entry
``(i, j)`` of lane ``t`` at ``8·(o + i·rs + j·cs) + t``, so a transpose is a swap of strides and
every entry is one 8-lane vector (:mod:`linflow._simd`, one AVX-512 register). One compiled
specialization serves every architecture: widths, depth and batch size are runtime values. The
buffers start on 64-byte boundaries (one vector per cache line) and are kept small so that a
chunk stays in L1/L2: the whitened ``H_1 = W_1`` is read in place, the top ``H_N`` is written
straight into the Δ buffer (the residual replaces it), and only two backward products ``Δ_j``,
``Δ_{j−1}`` are kept (slot ``j mod 2``). ``track_balancedness=False`` skips the drift
bookkeeping.

Gradient by backpropagation:

    H_0 = X (whitened: I),   H_j = W_j H_{j−1},   R = H_N − Y (whitened: Y = Φ),
    Δ_N = R / m (whitened: R),   Δ_{j−1} = W_jᵀ Δ_j,   G_j = Δ_j H_{j−1}ᵀ.

ReLU / leaky ReLU (:class:`linflow.HomogeneousProblem`): every hidden ``H_j`` is
replaced by ``σ(Z_j)`` with ``Z_j = W_j H_{j−1}`` kept, and ``Δ_{j−1} = σ'(Z_{j−1}) ⊙ W_jᵀ Δ_j``
(``σ'(0)`` = slope, the reference's convention); the balancedness drift is then that of the
per-neuron balances, the diagonals of ``B_j``.

For the whitened loss ``H_j = W_j⋯W_1`` and ``Δ_j = (W_N⋯W_{j+1})ᵀ R``, so ``G_j = A_jᵀ R B_jᵀ``,
the chain rule through ``W_e = A_j W_j B_j`` (Arora, Cohen & Hazan 2018, eq. (5)); for the data
loss ``G_j = A_jᵀ (R Xᵀ/m) B_jᵀ`` likewise. A linear data loss therefore runs through ``W_e``
when that costs fewer flops (:func:`end_to_end_is_cheaper`, e.g. ``m > d_0``): the whitened
forward and backward passes with ``cols = d_0``, seeded with ``Δ_N = R Xᵀ/m`` where
``R = W_e X − Y``, instead of ``O(m)`` columns in every layer. Losses are computed from the
residual ``R`` (never from covariances), as in the reference, so that small losses keep their
relative accuracy.

Losses (:mod:`linflow.losses`, read from ``problem.loss_function``): the whitened and regression
losses as above, in the cached kernel :func:`_run_chunks`; the others go through ``loss_hook``
in a copy of that kernel (:func:`kernel_for`), so that the canonical kernel compiles without
them: matrix sensing and completion are losses of ``W_e`` and run the whitened passes
(``H_N = W_e``) with ``Δ_N = ∇L(W_e)``; the logistic and cross-entropy losses replace the
residual by ``∇ℓ(H_N)`` (per sample, or through ``W_e`` for a linear network when cheaper); an
:class:`~linflow.losses.EndToEnd` loss with ``numba.njit`` functions gets a copy that calls them.

Optimizers (:mod:`linflow.optimizers`): GD keeps the step fused into the gradient products;
any other optimizer has the products write ``G`` into a gradient buffer and a lane kernel
(:func:`_optimizer_step`) applies its update, with its state swapped together with the weights
so that a diverged trajectory keeps the state of the iterate it keeps. The batch kernel takes
three typed records (:class:`KernelProblem`, :class:`KernelRun`, :class:`KernelOutputs`).

Arithmetic. The product kernels accumulate 4×4 blocks of the output (16 vector accumulators)
with fused multiply-adds, the sum over k in increasing k; a GD step is fused into the product
that forms its gradient (``W ← W − η·G``, one rounding, as ``fma``). No fast-math flags: NaN
and Inf propagate and divergence is detected exactly (theory/numerics).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
from numba import njit

from ._jit_cache import cached_njit
from ._simd import (
    borrow,
    prefer_wide_vectors,
    vadd,
    vbroadcast,
    vdiv,
    ventry,
    vfma,
    vfnma,
    vload,
    vmax_nan,
    vmul,
    vput,
    vsplat,
    vsqrt,
    vstore,
    vsub,
    vzero,
)
from .results import DescentResult, descent_status_codes

__all__ = ["run_descent_numba", "LANES"]

#: Trajectories per chunk: one 8-lane vector per matrix entry (:mod:`linflow._simd`).
LANES = 8

_JIT = dict(error_model="numpy", nogil=True)


# --------------------------------------------------------------------------- matrix kernels
@cached_njit(**_JIT)
def _block(i, n):
    """The 4 rows (or columns) of the block that starts at ``i`` of ``n``: the last block is
    moved back to end at ``n − 1`` and, for ``n < 4``, indices are clamped to ``n − 1``.

    Rows computed twice get the same value twice (same operands, same order of operations),
    so overlapping blocks store identical numbers; no remainder code is needed.
    """
    i0 = max(min(i, n - 4), 0)
    return i0, min(i0 + 1, n - 1), min(i0 + 2, n - 1), min(i0 + 3, n - 1)


@cached_njit(**_JIT)
def _matmul(c, oc, crs, ccs, a, oa, ars, acs, b, ob, brs, bcs, n, m, p, update, cur, lr):
    """``C = A B`` on the 8 lanes (``A`` n×m, ``B`` m×p; offsets and strides in entries).

    ``B`` is a chunk buffer or, 2-D, one array shared by all lanes (the data X, ``Xᵀ`` by
    swapping its strides): :func:`linflow._simd.ventry`. With ``update``, ``C`` is a gradient
    and the kernel stores ``c = cur − lr·C`` instead (the GD step fused into the product); ``c``
    must not overlap ``a``, ``b`` or ``cur``. Blocks of 4×4 entries of C: eight loads per
    sixteen FMAs, sixteen independent FMA chains to hide the latency. A dimension of 1 (a scalar
    output layer, a width-1 network) takes one entry at a time instead of a block of copies.
    """
    prefer_wide_vectors()
    rate = vload(lr, 0)
    if n == 1 or p == 1:
        for i in range(n):
            for j in range(p):
                s = vzero()
                pa, pb = oa + i * ars, ob + j * bcs
                for _ in range(m):
                    s = vfma(ventry(a, pa), ventry(b, pb), s)
                    pa += acs
                    pb += brs
                vput(c, (oc + i * crs + j * ccs) * LANES, s, update, cur, rate)
        return
    for ib in range(0, n, 4):
        i0, i1, i2, i3 = _block(ib, n)
        for jb in range(0, p, 4):
            j0, j1, j2, j3 = _block(jb, p)
            pa0, pa1, pa2, pa3 = oa + i0 * ars, oa + i1 * ars, oa + i2 * ars, oa + i3 * ars
            pb0, pb1, pb2, pb3 = ob + j0 * bcs, ob + j1 * bcs, ob + j2 * bcs, ob + j3 * bcs
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = vzero()
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = vzero()
            for _ in range(m):
                a0, a1, a2, a3 = ventry(a, pa0), ventry(a, pa1), ventry(a, pa2), ventry(a, pa3)
                b0, b1, b2, b3 = ventry(b, pb0), ventry(b, pb1), ventry(b, pb2), ventry(b, pb3)
                s00, s01, s02, s03 = vfma(a0, b0, s00), vfma(a0, b1, s01), vfma(a0, b2, s02), vfma(a0, b3, s03)
                s10, s11, s12, s13 = vfma(a1, b0, s10), vfma(a1, b1, s11), vfma(a1, b2, s12), vfma(a1, b3, s13)
                s20, s21, s22, s23 = vfma(a2, b0, s20), vfma(a2, b1, s21), vfma(a2, b2, s22), vfma(a2, b3, s23)
                s30, s31, s32, s33 = vfma(a3, b0, s30), vfma(a3, b1, s31), vfma(a3, b2, s32), vfma(a3, b3, s33)
                pa0, pa1, pa2, pa3 = pa0 + acs, pa1 + acs, pa2 + acs, pa3 + acs
                pb0, pb1, pb2, pb3 = pb0 + brs, pb1 + brs, pb2 + brs, pb3 + brs
            r0, r1, r2, r3 = (oc + i0 * crs) * LANES, (oc + i1 * crs) * LANES, (oc + i2 * crs) * LANES, (oc + i3 * crs) * LANES
            c0, c1, c2, c3 = j0 * ccs * LANES, j1 * ccs * LANES, j2 * ccs * LANES, j3 * ccs * LANES
            vput(c, r0 + c0, s00, update, cur, rate)
            vput(c, r0 + c1, s01, update, cur, rate)
            vput(c, r0 + c2, s02, update, cur, rate)
            vput(c, r0 + c3, s03, update, cur, rate)
            vput(c, r1 + c0, s10, update, cur, rate)
            vput(c, r1 + c1, s11, update, cur, rate)
            vput(c, r1 + c2, s12, update, cur, rate)
            vput(c, r1 + c3, s13, update, cur, rate)
            vput(c, r2 + c0, s20, update, cur, rate)
            vput(c, r2 + c1, s21, update, cur, rate)
            vput(c, r2 + c2, s22, update, cur, rate)
            vput(c, r2 + c3, s23, update, cur, rate)
            vput(c, r3 + c0, s30, update, cur, rate)
            vput(c, r3 + c1, s31, update, cur, rate)
            vput(c, r3 + c2, s32, update, cur, rate)
            vput(c, r3 + c3, s33, update, cur, rate)


# --------------------------------------------------------------------------- activations
@cached_njit(**_JIT)
def _activate(h, z, off, count, slope):
    """``σ(H) = max(H, slope·H)`` in place on ``count`` entries at row ``off``; ``z`` keeps ``H``.

    Written as ``v if v > 0 else slope·v``, the reference's ``σ'(z)·z`` value for value
    (``1·v = v``), NaN included.
    """
    # Views indexed from 0: a loop over offset indices does not vectorize (numba's wraparound
    # check on an index whose sign LLVM cannot prove).
    src, keep = h[off * LANES : (off + count) * LANES], z[off * LANES : (off + count) * LANES]
    for e in range(count * LANES):
        v = src[e]
        keep[e] = v
        src[e] = v if v > 0.0 else slope * v


@cached_njit(**_JIT)
def _mask(delta, d_off, z, z_off, count, slope):
    """``Δ ← σ'(Z) ⊙ Δ`` with ``σ'(z) = 1`` for ``z > 0`` and ``slope`` otherwise (σ'(0) = slope);
    ``Δ`` at row ``d_off``, ``Z`` at row ``z_off``."""
    grad, pre = delta[d_off * LANES : (d_off + count) * LANES], z[z_off * LANES : (z_off + count) * LANES]
    for e in range(count * LANES):  # views indexed from 0, as in _activate
        d = grad[e]
        grad[e] = d if pre[e] > 0.0 else slope * d


# --------------------------------------------------------------------------- one GD step
@cached_njit(**_JIT)
def _forward_loss(
    w, h, delta, loss, widths, w_off, h_off, d_off, x, y, whitened, cols, one, z, slope, activated, e2e, res,
    loss_code,
):
    """Forward pass ``H_j``, residual, ``Δ_N`` and the loss of every lane.

    ``one`` is the runtime integer 1: literal constants at the call sites below would make
    numba compile one more specialization of each product kernel per literal value. With
    ``activated`` (ReLU / leaky ReLU, slope ``slope``) every hidden ``H_j`` is replaced by
    ``σ(H_j)`` and its pre-activation kept in ``z`` (same offsets as ``h``).

    With ``e2e`` (linear data loss through the end-to-end matrix, ``cols = d_0``) the forward
    pass is the whitened one, ``H_N = W_e``; then ``R = W_e X − Y`` goes to ``res`` and
    ``Δ_N = R Xᵀ/m`` replaces ``W_e`` (the reference's ``end_to_end_gradient``).

    Only the squared losses (``loss_code`` 0: whitened or regression, data ``y``) are
    finished here; for the others (a loss of ``W_e``, with ``whitened`` set so that
    ``H_N = W_e``, or a classification loss of the outputs) ``H_N`` is left in the Δ buffer
    for ``loss_hook`` (:func:`_run_chunks`).
    """
    prefer_wide_vectors()
    no, zero = one == 0, one - one
    ident = whitened or e2e  # H_0 = I
    n_layers = widths.shape[0] - 1
    d0, d1 = widths[0], widths[1]
    n_x = x.shape[1]  # X is d_0 × m: X[k, j] at k·m + j
    if n_layers == 1:
        # H_1 is the top: straight into the Δ buffer, where the residual replaces it.
        if ident:
            _copy(delta, d_off[1], w, w_off[0], d1 * d0)
        else:
            _matmul(delta, d_off[1], cols, one, w, w_off[0], d0, one, x, zero, n_x, one, d1, d0, cols, no, w, loss)
    elif ident and not activated:
        pass  # H_1 = W_1 I = W_1: read in place from ``w`` (same layout, row stride d0 = cols)
    elif ident:
        _copy(h, h_off[1], w, w_off[0], d1 * d0)
    else:
        _matmul(h, h_off[1], cols, one, w, w_off[0], d0, one, x, zero, n_x, one, d1, d0, cols, no, w, loss)
    if activated and n_layers > 1:
        _activate(h, z, h_off[1], d1 * cols, slope)
    for j in range(2, n_layers + 1):
        # H_j = W_j σ(H_{j−1}); the top H_N goes to the Δ buffer (the residual replaces it).
        dj, dp = widths[j], widths[j - 1]
        src, src_off = (w, w_off[0]) if (j == 2 and ident and not activated) else (h, h_off[j - 1])
        if j == n_layers:
            _matmul(delta, d_off[j], cols, one, w, w_off[j - 1], dp, one, src, src_off, cols, one, dj, dp, cols, no, w, loss)
        else:
            _matmul(h, h_off[j], cols, one, w, w_off[j - 1], dp, one, src, src_off, cols, one, dj, dp, cols, no, w, loss)
        if activated and j < n_layers:
            _activate(h, z, h_off[j], dj * cols, slope)
    top = d_off[n_layers]
    d_out = widths[n_layers]
    if loss_code != SQUARED:
        return  # the other losses: ``loss_hook`` in :func:`_run_chunks`
    if e2e:
        _end_to_end_data_loss(delta, top, res, loss, x, y, d_out, cols, one)
    else:
        scale = 0.5 if whitened else 0.5 / cols
        gscale = 1.0 if whitened else 1.0 / cols
        _residual_loss(delta, top * LANES, y, d_out, cols, gscale, scale, loss)

@cached_njit(**_JIT)
def _residual_loss(buf, q, y, rows, cols, gscale, scale, loss):
    """In place: ``buf ← (buf − Y)·gscale`` over a ``rows × cols`` block starting at flat index
    ``q``, and ``loss[lane] = scale·Σ(buf − Y)²`` per lane (summed before the scaling, so the
    loss keeps the residual's relative accuracy).
    """
    prefer_wide_vectors()
    factor = vsplat(gscale)
    # Four partial sums (entries e mod 4), so that the additions are not one dependent chain.
    t0 = t1 = t2 = t3 = vzero()
    n = rows * cols
    e = 0
    while e + 4 <= n:
        r0 = vsub(vload(buf, q), vbroadcast(y, e))
        r1 = vsub(vload(buf, q + LANES), vbroadcast(y, e + 1))
        r2 = vsub(vload(buf, q + 2 * LANES), vbroadcast(y, e + 2))
        r3 = vsub(vload(buf, q + 3 * LANES), vbroadcast(y, e + 3))
        t0, t1, t2, t3 = vfma(r0, r0, t0), vfma(r1, r1, t1), vfma(r2, r2, t2), vfma(r3, r3, t3)
        vstore(buf, q, vmul(r0, factor))
        vstore(buf, q + LANES, vmul(r1, factor))
        vstore(buf, q + 2 * LANES, vmul(r2, factor))
        vstore(buf, q + 3 * LANES, vmul(r3, factor))
        q += 4 * LANES
        e += 4
    while e < n:
        r0 = vsub(vload(buf, q), vbroadcast(y, e))
        t0 = vfma(r0, r0, t0)
        vstore(buf, q, vmul(r0, factor))
        q += LANES
        e += 1
    vstore(loss, 0, vmul(vadd(vadd(t0, t1), vadd(t2, t3)), vsplat(scale)))


@cached_njit(**_JIT)
def _end_to_end_data_loss(delta, top, res, loss, x, y, d_out, d0, one):
    """Data loss and ``Δ_N`` from ``W_e`` (at row ``top`` of ``delta``, ``d_out × d0``).

    ``R = W_e X − Y`` (into ``res``), loss ``‖R‖²/(2m)`` summed from the residual itself (not
    from covariances, so that a small loss keeps its relative accuracy, as in the reference),
    and ``Δ_N = R Xᵀ/m`` over ``W_e``: ``∇L(W_e)`` of the data loss (Arora, Cohen & Hazan 2018,
    eq. (5) for the chain rule that the backward pass then applies).
    """
    prefer_wide_vectors()
    no, zero = one == 0, one - one
    m = x.shape[1]
    _matmul(res, zero, m, one, delta, top, d0, one, x, zero, m, one, d_out, d0, m, no, delta, loss)
    # R = W_e X − Y stays unscaled: Δ_N = R Xᵀ/m is formed from it below.
    _residual_loss(res, zero, y, d_out, m, 1.0, 0.5 / m, loss)
    _matmul(delta, top, d0, one, res, zero, m, one, x, zero, one, m, d_out, m, d0, no, delta, loss)
    count = vsplat(float(m))
    for q in range(top * LANES, (top + d_out * d0) * LANES, LANES):
        vstore(delta, q, vdiv(vload(delta, q), count))  # as the reference: (R Xᵀ) / m


# --------------------------------------------------------------------------- losses
#: Kernel codes of the losses (``Loss.kind`` of :mod:`linflow.losses`).
SQUARED, SENSING, COMPLETION, LOGISTIC, CROSS_ENTROPY, END_TO_END = 0, 1, 2, 3, 4, 5
LOSS_CODES = {
    "whitened": SQUARED, "regression": SQUARED, "sensing": SENSING, "completion": COMPLETION,
    "logistic": LOGISTIC, "cross_entropy": CROSS_ENTROPY, "end_to_end": END_TO_END,
}


@cached_njit(**_JIT)
def loss_hook(delta, top, d_out, cols, loss, x, y, aux, res, e2e, loss_code, one):
    """The losses other than the squared ones: none in the cached kernel :func:`_run_chunks`.

    Copies of :func:`_run_chunks` bind this name to :func:`builtin_loss_hook` (the other
    built-in losses, :func:`kernel_for`) or to a hook that calls an
    :class:`~linflow.losses.EndToEnd` loss's ``numba.njit`` functions (:func:`make_loss_hook`).
    The canonical kernel thus compiles without them (about 2 s less on the first call).
    """


@cached_njit(**_JIT)
def observe_hook(cur, work, active, start, n_lanes, o, loss, prob, run, out, one):
    """Observables at an observed step: none in the cached kernel :func:`_run_chunks`; the
    observing copies (:func:`kernel_for` with ``observe``) bind this name to
    :func:`linflow._curvature_numba.observe_chunk`."""


def make_loss_hook(value, gradient):
    """A compiled :func:`loss_hook` that, for every lane, reads ``E = W_e`` (``d_out × cols``
    at row ``top`` of ``delta``), sets ``loss[lane] = value(E)`` and overwrites ``E`` with
    ``gradient(E)``: user ``numba.njit`` functions called inside the engine's loop."""

    @njit(nogil=True, error_model="numpy")
    def hook(delta, top, d_out, cols, loss, x, y, aux, res, e2e, loss_code, one):
        e2e_matrix = np.empty((d_out, cols))
        q = top * LANES
        for t in range(LANES):
            for i in range(d_out):
                for j in range(cols):
                    e2e_matrix[i, j] = delta[q + (i * cols + j) * LANES + t]
            loss[t] = value(e2e_matrix)
            grad = gradient(e2e_matrix)
            for i in range(d_out):
                for j in range(cols):
                    delta[q + (i * cols + j) * LANES + t] = grad[i, j]

    return hook


_KERNELS: dict = {}


def _kernel_copy(hook, name: str, *, cache: bool, observe=None):
    """:func:`_run_chunks` compiled with ``loss_hook`` bound to ``hook`` and, if given,
    ``observe_hook`` bound to ``observe`` (its own name, so that its disk cache, if any, is its
    own)."""
    import types

    py = _run_chunks.py_func
    bound = dict(py.__globals__, loss_hook=hook)
    if observe is not None:
        bound["observe_hook"] = observe
    fn = types.FunctionType(py.__code__, bound, name, py.__defaults__, py.__closure__)
    fn.__qualname__ = name
    return (cached_njit if cache else njit)(nogil=True, error_model="numpy")(fn)


def kernel_for(loss, *, observe=None):
    """The batch kernel for ``loss``: :func:`_run_chunks` for the squared losses; a cached copy
    with :func:`builtin_loss_hook` for the other built-in losses (compiled on first use,
    then loaded from numba's cache); for an :class:`~linflow.losses.EndToEnd` loss a copy that
    calls its njit functions (:func:`make_loss_hook`), not cached on disk (numba cannot cache a
    function bound to other dispatchers): the first run of each such loss in a process compiles
    the engine anew (a few seconds). With ``observe`` (the in-engine observables' hook,
    :func:`linflow._curvature_numba.observe_chunk`; squared, sensing and completion losses) a
    cached copy that calls it at the observed steps.

    Raises
    ------
    ValueError
        An EndToEnd ``value`` or ``gradient`` that is a plain Python function (names the remedies).
    """
    code = LOSS_CODES[loss.kind]
    if observe is not None:
        key = "observe" if code == SQUARED else "observe_builtin"
        if key not in _KERNELS:
            hook = loss_hook if code == SQUARED else builtin_loss_hook
            _KERNELS[key] = _kernel_copy(hook, "_run_chunks_" + key, cache=True, observe=observe)
        return _KERNELS[key]
    if code == SQUARED:
        return _run_chunks
    if code != END_TO_END:
        if "builtin" not in _KERNELS:
            _KERNELS["builtin"] = _kernel_copy(builtin_loss_hook, "_run_chunks_other_losses", cache=True)
        return _KERNELS["builtin"]
    from numba.core.dispatcher import Dispatcher

    value, gradient = loss.value_function, loss.gradient_function
    for label, fn in (("value", value), ("gradient", gradient)):
        if not isinstance(fn, Dispatcher):
            raise ValueError(
                f"backend='numba' calls an EndToEnd loss's functions inside its compiled loop, so they must be "
                f"numba.njit functions; got {label}={fn!r} (a plain Python callable). Pass @numba.njit functions, "
                f"or use backend='numpy'"
            )
    key = (value, gradient)
    if key not in _KERNELS:
        _KERNELS[key] = _kernel_copy(make_loss_hook(value, gradient), "_run_chunks_end_to_end", cache=False)
    return _KERNELS[key]


@cached_njit(**_JIT)
def _sensing_loss(buf, q, b, a, n, loss, r):
    """Matrix sensing on ``E = W_e`` (``n = d_N d_0`` entries at flat index ``q``), in place
    ``E ← ∇L(E)``: ``r_i = ⟨A_i, E⟩ − b_i``, ``L = (1/2m) Σ r_i²``, ``∇L = (Σ_i r_i A_i)/m``
    (Arora, Cohen, Hu & Luo 2019, Sec. 2); ``a`` is A as ``(m, n)``, ``b`` is ``(1, m)``,
    ``r`` scratch for the m residuals (8 lanes each). Every lane at once: A and b are shared.
    """
    prefer_wide_vectors()
    m = a.shape[0]
    total = vzero()
    for i in range(m):
        s = vzero()
        for e in range(n):
            s = vfma(vbroadcast(a, i * n + e), vload(buf, q + e * LANES), s)
        ri = vsub(s, vbroadcast(b, i))
        vstore(r, i * LANES, ri)
        total = vfma(ri, ri, total)
    vstore(loss, 0, vmul(vsplat(0.5 / m), total))
    count = vsplat(float(m))
    for e in range(n):
        g = vzero()
        for i in range(m):
            g = vfma(vload(r, i * LANES), vbroadcast(a, i * n + e), g)
        vstore(buf, q + e * LANES, vdiv(g, count))


@cached_njit(**_JIT)
def _completion_loss(buf, q, filled, weight, n, loss):
    """Matrix completion on ``E = W_e``, in place ``E ← ∇L(E)``: with ``w = mask/|Ω|`` and
    ``r = E − values`` (0 off the mask), ``L = ½ Σ w r²``, ``∇L = w ⊙ r`` (Arora, Cohen, Hu &
    Luo 2019, Sec. 2); ``filled`` and ``weight`` are ``(1, n)``, row-major."""
    for t in range(LANES):
        total = 0.0
        for e in range(n):
            r = buf[q + e * LANES + t] - filled[0, e]
            wr = weight[0, e] * r
            total += wr * r
            buf[q + e * LANES + t] = wr
        loss[t] = 0.5 * total


@cached_njit(**_JIT)
def _softplus_pair(q):
    """``(log(1 + e^{−q}), log(1 + e^{q}))``, each exactly NumPy's ``logaddexp(0, ∓q)``.

    NumPy evaluates ``logaddexp(0, v)`` as ``log 2`` for ``v = 0``, ``log1p(exp(v))`` for
    ``v < 0`` and ``v + log1p(exp(−v))`` otherwise (NaN passes). Both members share the one
    ``log1p(exp(−|q|))``, so the pair costs one ``exp`` and one ``log1p`` with the reference's
    operations, value for value.
    """
    if q == 0.0:
        half = np.log(2.0)
        return half, half
    if q > 0.0:
        t = np.log1p(np.exp(-q))
        return t, q + t
    if q < 0.0:
        t = np.log1p(np.exp(q))
        return -q + t, t
    return q, q  # NaN


@cached_njit(**_JIT)
def _output_loss(buf, q, labels, rows, cols, loss_code, loss):
    """Classification losses of the outputs ``Z`` (``rows × cols`` at flat index ``q``), in place
    ``Z ← ∇ℓ(Z)`` (with its ``1/m``), the loss per lane in ``loss``; ``labels`` is ``(1, m)``.

    Logistic (one row, labels ±1): ``ℓ = (1/m) Σ log(1 + e^{−y_i z_i})``,
    ``∇ℓ = −y σ(−y z)/m``, ``σ(x) = exp(−log(1 + e^{−x}))``. Cross-entropy (labels are class
    indices): ``ℓ = (1/m) Σ_i −log softmax(z_i)_{y_i}`` with the column maximum subtracted,
    ``∇ℓ = (softmax(z) − e_y)/m``. The formulas of :mod:`linflow.losses`, operation for operation.
    """
    m = cols
    for t in range(LANES):
        total = 0.0
        for i in range(m):
            if loss_code == LOGISTIC:
                y = labels[0, i]
                e = q + i * LANES + t
                loss_i, softplus_q = _softplus_pair(buf[e] * y)  # log(1 + e^{∓q}), q the margin
                total += loss_i
                buf[e] = -y * np.exp(-softplus_q) / m  # −y σ(−q)/m
            else:
                top = -np.inf
                for c in range(rows):
                    v = buf[q + (c * cols + i) * LANES + t]
                    top = v if v > top or c == 0 else top
                s = 0.0
                for c in range(rows):
                    s += np.exp(buf[q + (c * cols + i) * LANES + t] - top)
                log_s = np.log(s)
                y = int(labels[0, i])
                for c in range(rows):
                    e = q + (c * cols + i) * LANES + t
                    log_p = (buf[e] - top) - log_s
                    if c == y:
                        total -= log_p
                    buf[e] = (np.exp(log_p) - (1.0 if c == y else 0.0)) / m
        loss[t] = total / m


@cached_njit(**_JIT)
def builtin_loss_hook(delta, top, d_out, cols, loss, x, y, aux, res, e2e, loss_code, one):
    """:func:`loss_hook` of the built-in losses beyond the squared ones: sensing and
    completion of ``W_e`` (row ``top`` of ``delta``), and the classification losses of the
    outputs ``Z = H_N`` or, through ``W_e`` (``e2e``), of ``Z = W_e X`` (into ``res``, then
    ``Δ_N = ∇ℓ(Z) Xᵀ``). In every case ``Δ_N`` becomes the gradient with respect to ``H_N``."""
    prefer_wide_vectors()
    no, zero = one == 0, one - one
    q = top * LANES
    if loss_code == SENSING:
        _sensing_loss(delta, q, y, aux, d_out * cols, loss, res)
    elif loss_code == COMPLETION:
        _completion_loss(delta, q, y, aux, d_out * cols, loss)
    else:
        m = x.shape[1]
        if e2e:
            _matmul(res, zero, m, one, delta, top, cols, one, x, zero, m, one, d_out, cols, m, no, delta, loss)
            _output_loss(res, zero, y, d_out, m, loss_code, loss)
            _matmul(delta, top, cols, one, res, zero, m, one, x, zero, one, m, d_out, m, cols, no, delta, loss)
        else:
            _output_loss(delta, q, y, d_out, m, loss_code, loss)


@cached_njit(**_JIT)
def _backward_update(
    cur, new, grad, fused, h, delta, lr, widths, w_off, h_off, d_off, x, whitened, cols, one, z, slope, activated
):
    """Gradient ``G_j = Δ_j H_{j−1}ᵀ`` with ``Δ_{j−1} = W_jᵀ Δ_j``, top down.

    With ``fused`` (GD) each ``G_j`` is not stored: the step ``new = cur − lr·G`` is fused into
    the product that forms it (one rounding); otherwise ``G`` goes to ``grad`` (same layout as
    the weights) for the optimizer's update (:func:`_optimizer_step`).
    ``one``: the runtime integer 1, as in :func:`_forward_loss`. With ``activated``,
    ``Δ_{j−1} = σ'(Z_{j−1}) ⊙ W_jᵀ Δ_j`` (the hidden ``H`` in ``h`` are already activated).
    """
    prefer_wide_vectors()
    no, zero = one == 0, one - one
    out = new if fused else grad
    n_layers = widths.shape[0] - 1
    for j in range(n_layers, 0, -1):
        dj, dp = widths[j], widths[j - 1]
        if j > 1:
            # G_j = Δ_j H_{j−1}ᵀ, fused with the step (whitened, linear: H_1 = W_1 read in place)
            src, src_off = (cur, w_off[0]) if (j == 2 and whitened and not activated) else (h, h_off[j - 1])
            _matmul(out, w_off[j - 1], dp, one, delta, d_off[j], cols, one, src, src_off, one, cols, dj, cols, dp, fused, cur, lr)
            # Δ_{j−1} = W_jᵀ Δ_j, times σ'(Z_{j−1}) elementwise for an activated network
            _matmul(delta, d_off[j - 1], cols, one, cur, w_off[j - 1], one, dp, delta, d_off[j], cols, one, dp, dj, cols, no, cur, lr)
            if activated:
                _mask(delta, d_off[j - 1], z, h_off[j - 1], dp * cols, slope)
        elif whitened:
            rate = vload(lr, 0)
            shift = d_off[1] * LANES
            for q in range(0, dj * dp * LANES, LANES):  # G_1 = Δ_1 Iᵀ
                g = vload(delta, shift + q)
                if fused:
                    vstore(new, q, vfnma(rate, g, vload(cur, q)))
                else:
                    vstore(grad, q, g)
        else:  # G_1 = Δ_1 Xᵀ
            _matmul(out, zero, dp, one, delta, d_off[1], cols, one, x, zero, one, x.shape[1], dj, cols, dp, fused, cur, lr)


@cached_njit(**_JIT)
def _optimizer_step(cur, new, grad, s_old, s_new, lr, n_params, code, hyper, k):
    """``new = cur − lr·u`` with the direction ``u`` of optimizer ``code`` (``engine_code`` of
    :mod:`linflow.optimizers`: 1 momentum, 2 Scalar RMSProp, 3 RMSProp, 4 Adam) from the
    gradient ``grad`` at step ``k``; its state goes from ``s_old`` to ``s_new``.

    ``hyper = [β₁ (momentum β), β₂, ε, flag]`` (flag: Nesterov, or ``ν_0 = s(g_0)``). The
    formulas and the order of operations are those of :mod:`linflow.optimizers` (the NumPy
    reference); a zero denominator gives a zero direction. State layout per lane: momentum
    ``v`` at entries ``0 … P−1``; Scalar RMSProp ``ν`` at entry 0; RMSProp ``ν`` at
    ``0 … P−1``; Adam ``m`` at ``0 … P−1`` and ``v`` at ``P … 2P−1``.
    """
    b1, b2, eps, flag = hyper[0], hyper[1], hyper[2], hyper[3] != 0.0
    first = k == 0 and flag
    if code == 2:
        for t in range(LANES):
            s = 0.0
            for p in range(n_params):
                g = grad[p * LANES + t]
                s += g * g
            nu = s if first else s_old[t]
            nu = b2 * nu + (1.0 - b2) * s
            s_new[t] = nu
            denom = np.sqrt(nu) + eps
            rate = lr[t]
            for p in range(n_params):
                e = p * LANES + t
                u = grad[e] / denom if denom > 0.0 else 0.0
                new[e] = cur[e] - rate * u
        return
    c1 = 1.0 - b1 ** (k + 1)
    c2 = 1.0 - b2 ** (k + 1)
    root_c2 = np.sqrt(c2)
    second = n_params * LANES
    for p in range(n_params):
        for t in range(LANES):
            e = p * LANES + t
            g = grad[e]
            if code == 1:
                v = b1 * s_old[e] + g
                s_new[e] = v
                u = g + b1 * v if flag else v
            elif code == 3:
                nu = g * g if first else s_old[e]
                nu = b2 * nu + (1.0 - b2) * (g * g)
                s_new[e] = nu
                denom = np.sqrt(nu) + eps
                u = g / denom if denom > 0.0 else 0.0
            else:
                m = b1 * s_old[e] + (1.0 - b1) * g
                v = b2 * s_old[second + e] + (1.0 - b2) * (g * g)
                s_new[e] = m
                s_new[second + e] = v
                denom = np.sqrt(v) / root_c2 + eps
                u = (m / c1) / denom if denom > 0.0 else 0.0
            new[e] = cur[e] - lr[t] * u


@cached_njit(**_JIT)
def _gram_difference(g, w, lo, up, d_in, d, d_out):
    """``G = W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ`` (``d × d``, row-major into ``g``), ``W_j`` (``d × d_in``) at
    row ``lo`` and ``W_{j+1}`` (``d_out × d``) at row ``up`` of ``w``.

    Each entry is one chain: ``d_out`` FMAs then ``d_in`` negated FMAs, in increasing index. 4×4
    blocks as in :func:`_matmul`, only those on or above the block diagonal (G is symmetric and
    only its upper triangle is read); the others are left unset.
    """
    prefer_wide_vectors()
    for ib in range(0, d, 4):
        i0, i1, i2, i3 = _block(ib, d)
        for lb in range(ib, d, 4):
            l0, l1, l2, l3 = _block(lb, d)
            s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = vzero()
            s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = vzero()
            for q in range(d_out):  # + W_{j+1}[q, i] W_{j+1}[q, l]
                row = (up + q * d) * LANES
                a0, a1 = vload(w, row + i0 * LANES), vload(w, row + i1 * LANES)
                a2, a3 = vload(w, row + i2 * LANES), vload(w, row + i3 * LANES)
                b0, b1 = vload(w, row + l0 * LANES), vload(w, row + l1 * LANES)
                b2, b3 = vload(w, row + l2 * LANES), vload(w, row + l3 * LANES)
                s00, s01, s02, s03 = vfma(a0, b0, s00), vfma(a0, b1, s01), vfma(a0, b2, s02), vfma(a0, b3, s03)
                s10, s11, s12, s13 = vfma(a1, b0, s10), vfma(a1, b1, s11), vfma(a1, b2, s12), vfma(a1, b3, s13)
                s20, s21, s22, s23 = vfma(a2, b0, s20), vfma(a2, b1, s21), vfma(a2, b2, s22), vfma(a2, b3, s23)
                s30, s31, s32, s33 = vfma(a3, b0, s30), vfma(a3, b1, s31), vfma(a3, b2, s32), vfma(a3, b3, s33)
            for q in range(d_in):  # − W_j[i, q] W_j[l, q]
                a0, a1 = vload(w, (lo + i0 * d_in + q) * LANES), vload(w, (lo + i1 * d_in + q) * LANES)
                a2, a3 = vload(w, (lo + i2 * d_in + q) * LANES), vload(w, (lo + i3 * d_in + q) * LANES)
                b0, b1 = vload(w, (lo + l0 * d_in + q) * LANES), vload(w, (lo + l1 * d_in + q) * LANES)
                b2, b3 = vload(w, (lo + l2 * d_in + q) * LANES), vload(w, (lo + l3 * d_in + q) * LANES)
                s00, s01, s02, s03 = vfnma(a0, b0, s00), vfnma(a0, b1, s01), vfnma(a0, b2, s02), vfnma(a0, b3, s03)
                s10, s11, s12, s13 = vfnma(a1, b0, s10), vfnma(a1, b1, s11), vfnma(a1, b2, s12), vfnma(a1, b3, s13)
                s20, s21, s22, s23 = vfnma(a2, b0, s20), vfnma(a2, b1, s21), vfnma(a2, b2, s22), vfnma(a2, b3, s23)
                s30, s31, s32, s33 = vfnma(a3, b0, s30), vfnma(a3, b1, s31), vfnma(a3, b2, s32), vfnma(a3, b3, s33)
            r0, r1, r2, r3 = i0 * d * LANES, i1 * d * LANES, i2 * d * LANES, i3 * d * LANES
            c0, c1, c2, c3 = l0 * LANES, l1 * LANES, l2 * LANES, l3 * LANES
            vstore(g, r0 + c0, s00)
            vstore(g, r0 + c1, s01)
            vstore(g, r0 + c2, s02)
            vstore(g, r0 + c3, s03)
            vstore(g, r1 + c0, s10)
            vstore(g, r1 + c1, s11)
            vstore(g, r1 + c2, s12)
            vstore(g, r1 + c3, s13)
            vstore(g, r2 + c0, s20)
            vstore(g, r2 + c1, s21)
            vstore(g, r2 + c2, s22)
            vstore(g, r2 + c3, s23)
            vstore(g, r3 + c0, s30)
            vstore(g, r3 + c1, s31)
            vstore(g, r3 + c2, s32)
            vstore(g, r3 + c3, s33)


@cached_njit(**_JIT)
def _balancedness(w, gram, bal0, widths, w_off, b_off, store, drift, diagonal):
    """``B_j = W_{j+1}ᵀ W_{j+1} − W_j W_jᵀ`` (j = 1, …, N−1), upper triangles.

    With ``store`` the triangles go to ``bal0``; otherwise ``drift[t]`` becomes
    ``max_j ‖B_j − bal0_j‖_F`` of lane t (off-diagonal entries counted twice: B_j is symmetric).
    With ``diagonal`` only the diagonal: the per-neuron balances that a ReLU / leaky-ReLU
    network conserves under GF (theory/homogeneous), stored contiguously. ``gram`` is scratch for
    one full ``B_j`` (:func:`_gram_difference`).
    """
    prefer_wide_vectors()
    n_layers = widths.shape[0] - 1
    worst = vzero()
    once, twice = vsplat(1.0), vsplat(2.0)
    for j in range(n_layers - 1):
        d = widths[j + 1]
        _gram_difference(gram, w, w_off[j], w_off[j + 1], widths[j], d, widths[j + 2])
        total = vzero()
        entry = b_off[j] * LANES
        for i in range(d):
            for l in range(i, i + 1 if diagonal else d):
                s = vload(gram, (i * d + l) * LANES)
                if store:
                    vstore(bal0, entry, s)
                else:
                    s = vsub(s, vload(bal0, entry))
                    total = vfma(vmul(once if l == i else twice, s), s, total)
                entry += LANES
        worst = vmax_nan(worst, vsqrt(total))  # an overflowed B_j (NaN) must reach the drift
    if not store:
        vstore(drift, 0, worst)


# --------------------------------------------------------------------------- the batch kernel
@cached_njit(**_JIT)
def _aligned_zeros(n):
    """``np.zeros(n)`` starting on a 64-byte boundary (numba aligns arrays to 32 bytes only).

    Every 8-lane vector (64 bytes) of the chunk buffers then sits in one cache line: loads
    that straddle two lines made the product kernels ~20% slower here.
    """
    buf = np.zeros(n + LANES)
    skip = (LANES - (buf.ctypes.data // 8) % LANES) % LANES
    return buf[skip : skip + n]


@cached_njit(**_JIT)
def _copy(dst, do, src, so, count):
    """``count`` rows of 8 lanes from row ``so`` of ``src`` to row ``do`` of ``dst`` (a slice
    copy: a loop over offset indices would not vectorize)."""
    dst[do * LANES : (do + count) * LANES] = src[so * LANES : (so + count) * LANES]


@cached_njit(**_JIT)
def _keep_alive(*owners):
    """Nothing; a use of ``owners`` at this point keeps them (and their borrowed views) alive."""


class KernelProblem(NamedTuple):
    """The network and loss as the kernels see them (built by :func:`kernel_problem`).

    ``widths`` (N + 1,) and the row offsets of :func:`layout`; ``x``, ``y``, ``aux``: the
    loss's data (:func:`loss_arrays`); ``cols``: columns of the forward products (m, or d_0
    when the network's input is the identity: losses of ``W_e``, or a data loss run through
    ``W_e``); ``whitened``: a loss of ``W_e`` (``H_0 = I``); ``e2e``: a linear data loss run
    through ``W_e`` (:func:`end_to_end_is_cheaper`); ``activated``, ``slope``:
    σ(z) = max(z, slope·z); ``loss_code``: :data:`LOSS_CODES`.
    """

    widths: np.ndarray
    w_off: np.ndarray
    h_off: np.ndarray
    b_off: np.ndarray
    x: np.ndarray
    y: np.ndarray
    whitened: bool
    cols: int
    e2e: bool
    activated: bool
    slope: float
    loss_code: int
    aux: np.ndarray


class KernelRun(NamedTuple):
    """What to run: initial weights ``params0`` (B, P), learning rates, steps, recording,
    stopping rules, monitoring, and the optimizer (``opt_code``, ``opt_hyper``: see
    :func:`_optimizer_step`; code 0 is GD, fused into the gradient products). ``abort[0] != 0``
    (set on Ctrl-C, see :func:`_wait_for`) stops every chunk within a step. ``observe_*``: the
    in-engine observables (:mod:`linflow._curvature_numba`; ``observe_steps`` empty for none):
    flags for loss, gradient norm and sharpness, the sharpness tolerance,
    Lanczos cycle length and cycle cap, warm-start vectors (B, 2P, updated in place), ``Σ = X Xᵀ/m``
    for a data loss run through ``W_e`` and the size of the scratch array."""

    params0: np.ndarray
    lrs: np.ndarray
    n_steps: int
    record_steps: np.ndarray
    loss_tolerance: float
    threshold: float
    reference: np.ndarray
    has_reference: bool
    record_weights: bool
    track: bool
    opt_code: int
    opt_hyper: np.ndarray
    state_size: int
    abort: np.ndarray
    observe_steps: np.ndarray
    observe_flags: np.ndarray
    observe_tol: float
    observe_cycle: int
    observe_max_cycles: int
    observe_vectors: np.ndarray
    observe_sigma: np.ndarray
    observe_work_size: int


class KernelOutputs(NamedTuple):
    """Arrays the kernel fills, trajectory index first (``state``: the final optimizer state,
    (B, state_size); ``observed``: (B, n_observed, 3) in-engine observables, NaN where not
    observed, ``observed_residual`` the sharpness's residual bound, ``hvp_count`` the
    Hessian-vector products per trajectory)."""

    final: np.ndarray
    losses: np.ndarray
    final_loss: np.ndarray
    recorded: np.ndarray
    divergence_step: np.ndarray
    converged_step: np.ndarray
    drift: np.ndarray
    ref_distance: np.ndarray
    state: np.ndarray
    observed: np.ndarray
    observed_residual: np.ndarray
    hvp_count: np.ndarray


@cached_njit(**_JIT)
def _run_chunks(first, last, one, prob, run, out):
    """All steps of chunks ``first … last−1`` (8 trajectories each, the last one possibly
    partial); threads run disjoint ranges (``nogil``). One function, not a loop around a
    per-chunk kernel: numba re-optimizes every inlined callee once per level of calls, and a
    level less saved ~1.5 s of the first compilation. Arguments: :class:`KernelProblem`,
    :class:`KernelRun`, :class:`KernelOutputs`.
    """
    prefer_wide_vectors()
    # The callers own every argument for the whole call, so the kernels get borrowed views
    # (no reference counting per call: :func:`linflow._simd.borrow`); the buffers allocated
    # below are borrowed likewise and their owners kept alive to the end (``owners``).
    widths, w_off, h_off, b_off = borrow(prob.widths), borrow(prob.w_off), borrow(prob.h_off), borrow(prob.b_off)
    x, y, aux = borrow(prob.x), borrow(prob.y), borrow(prob.aux)
    whitened, cols, e2e, activated, slope = prob.whitened, prob.cols, prob.e2e, prob.activated, prob.slope
    loss_code = prob.loss_code
    params0, lrs, record_steps, reference = borrow(run.params0), borrow(run.lrs), borrow(run.record_steps), borrow(run.reference)
    n_steps, loss_tolerance, threshold = run.n_steps, run.loss_tolerance, run.threshold
    has_reference, record_weights, track = run.has_reference, run.record_weights, run.track
    code, hyper, n_state = run.opt_code, borrow(run.opt_hyper), run.state_size
    abort = run.abort
    observe_steps = borrow(run.observe_steps)
    n_observe = observe_steps.shape[0]
    recorded, final, losses, final_loss = borrow(out.recorded), borrow(out.final), borrow(out.losses), borrow(out.final_loss)
    drift, ref_distance, final_state = borrow(out.drift), borrow(out.ref_distance), borrow(out.state)
    divergence_step, converged_step = borrow(out.divergence_step), borrow(out.converged_step)
    fused = code == 0
    batch, n_params = params0.shape
    cur = _aligned_zeros(n_params * LANES)
    prev = _aligned_zeros(n_params * LANES)
    h = _aligned_zeros(h_off[-1] * LANES)
    # Δ_j and Δ_{j−1} are the only backward products alive at once: two slots, Δ_j in slot
    # j mod 2 (a smaller working set: the whole chunk should stay in L1).
    n_layers = widths.shape[0] - 1
    rows = 0
    for j in range(1, n_layers + 1):
        rows = max(rows, widths[j])
    d_off = np.zeros(n_layers + 1, dtype=np.int64)
    for j in range(n_layers + 1):
        d_off[j] = (j & 1) * rows * cols
    delta = _aligned_zeros(2 * rows * cols * LANES)
    z = _aligned_zeros(h_off[-1] * LANES if activated else LANES)
    # R = W_e X − Y (linear data loss through W_e), or the residuals of matrix sensing
    res = _aligned_zeros(
        widths[-1] * x.shape[1] * LANES if e2e else (aux.shape[0] * LANES if loss_code == SENSING else LANES)
    )
    bal0 = _aligned_zeros(b_off[-1] * LANES)
    gram = _aligned_zeros(rows * rows * LANES if track else LANES)
    loss = _aligned_zeros(one * LANES)  # (one: not a literal, which would compile another copy)
    step_drift = _aligned_zeros(one * LANES)
    lr = _aligned_zeros(one * LANES)
    # Optimizer with state: the gradient, and the state of θ_k and of θ_{k−1} (swapped with the
    # weights, so that a diverged lane keeps the state of the iterate it keeps).
    grad = _aligned_zeros(LANES if fused else n_params * LANES)
    state = _aligned_zeros(max(n_state, 1) * LANES)
    state_prev = _aligned_zeros(max(n_state, 1) * LANES)
    work = _aligned_zeros(run.observe_work_size)  # scratch of the in-engine observables
    owners = (cur, prev, h, delta, z, res, bal0, gram, loss, step_drift, lr, grad, state, state_prev, work)
    cur, prev, h, delta, z, res = borrow(cur), borrow(prev), borrow(h), borrow(delta), borrow(z), borrow(res)
    bal0, gram, loss, step_drift, lr = borrow(bal0), borrow(gram), borrow(loss), borrow(step_drift), borrow(lr)
    grad, state, state_prev = borrow(grad), borrow(state), borrow(state_prev)
    d_owner, d_off = d_off, borrow(d_off)
    active = np.zeros(LANES, dtype=np.bool_)
    for chunk in range(first, last):
        if abort[0] != 0:
            break
        start = chunk * LANES
        n_lanes = min(LANES, batch - start)
        for t in range(LANES):
            active[t] = t < n_lanes
            lr[t] = lrs[start + t] if t < n_lanes else 0.0
            for p in range(n_params):
                # padding lanes of a partial chunk: zeros, never NaN left by an earlier chunk
                cur[p * LANES + t] = params0[start + t, p] if t < n_lanes else 0.0
                prev[p * LANES + t] = cur[p * LANES + t]
        for e in range(n_state * LANES):
            state[e] = 0.0
            state_prev[e] = 0.0
        if track:
            _balancedness(cur, gram, bal0, widths, w_off, b_off, one == 1, step_drift, activated)

        rec = 0
        obs = 0
        for k in range(n_steps + 1):
            _forward_loss(
                cur, h, delta, loss, widths, w_off, h_off, d_off, x, y, whitened, cols, one, z, slope,
                activated, e2e, res, loss_code,
            )
            if loss_code != SQUARED:
                loss_hook(delta, d_off[n_layers], widths[n_layers], cols, loss, x, y, aux, res, e2e, loss_code, one)
            is_record = rec < record_steps.shape[0] and record_steps[rec] == k
            for t in range(n_lanes):
                if not active[t]:
                    continue
                b = start + t
                value = loss[t]
                if not np.isfinite(value) or value > threshold:
                    # Diverged at step k: stop and keep θ_{k−1} (θ_0 itself if k == 0).
                    active[t] = False
                    lr[t] = 0.0
                    divergence_step[b] = k
                    if k == 0:
                        final_loss[b] = value
                    for p in range(n_params):
                        cur[p * LANES + t] = prev[p * LANES + t]
                    for p in range(n_state):
                        state[p * LANES + t] = state_prev[p * LANES + t]
                    continue
                final_loss[b] = value
                if is_record:
                    losses[b, rec] = value
                    if record_weights:
                        for p in range(n_params):
                            recorded[b, rec, p] = cur[p * LANES + t]
                if converged_step[b] < 0 and value <= loss_tolerance:
                    converged_step[b] = k
            if obs < n_observe and observe_steps[obs] == k:
                observe_hook(cur, work, active, start, n_lanes, obs, loss, prob, run, out, one)
                obs += 1
            if track and n_layers > 1:
                _balancedness(cur, gram, bal0, widths, w_off, b_off, one == 0, step_drift, activated)
                for t in range(n_lanes):
                    # Not ≤: larger, or NaN (B_j overflowed): the drift is then +inf on every backend.
                    if active[t] and not step_drift[t] <= drift[start + t]:
                        drift[start + t] = step_drift[t] if step_drift[t] == step_drift[t] else np.inf
            if has_reference:
                for t in range(n_lanes):
                    if active[t]:
                        b = start + t
                        s = 0.0
                        for p in range(n_params):
                            e = cur[p * LANES + t] - reference[b, k, p]
                            s += e * e
                        s = np.sqrt(s)
                        if s > ref_distance[b]:
                            ref_distance[b] = s
            if is_record:
                rec += 1
            n_active = 0
            for t in range(n_lanes):
                n_active += active[t]
            if k == n_steps or n_active == 0 or abort[0] != 0:
                break
            # θ_{k+1} = θ_k − η u_k into prev; stopped lanes (and padding) keep their weights.
            # (the end-to-end data path seeds Δ_N with cols = d_0: its backward pass is the whitened one)
            _backward_update(
                cur, prev, grad, fused, h, delta, lr, widths, w_off, h_off, d_off, x, whitened or e2e, cols,
                one, z, slope, activated,
            )
            if not fused:
                _optimizer_step(cur, prev, grad, state, state_prev, lr, n_params, code, hyper, k)
            if n_active < LANES:
                for t in range(LANES):
                    if not active[t]:
                        for p in range(n_params):
                            prev[p * LANES + t] = cur[p * LANES + t]
                        for p in range(n_state):
                            state_prev[p * LANES + t] = state[p * LANES + t]
            cur, prev = prev, cur
            state, state_prev = state_prev, state
        for t in range(n_lanes):
            for p in range(n_params):
                final[start + t, p] = cur[p * LANES + t]
            for p in range(n_state):
                final_state[start + t, p] = state[p * LANES + t]
    _keep_alive(owners, d_owner)


# --------------------------------------------------------------------------- Python wrapper
# --------------------------------------------------------------------------- Python wrapper
def layout(widths, cols: int, *, triangular: bool = False):
    """Row offsets of the weights, forward/backward products and balancedness matrices.

    Returns ``(w_off, h_off, b_off)``; ``w_off[j]`` is where ``W_{j+1}`` starts in the flat
    parameter vector (length N + 1, last entry P); ``h_off[j]`` where ``H_j`` (and ``Δ_j``,
    ``d_j × cols``) starts, j = 1, …, N (``h_off[-1]`` is the total); ``b_off[j]`` where
    ``B_{j+1}`` starts (``b_off[-1]`` the total, at least 1 so buffers are never empty), all
    ``d_j²`` entries or, with ``triangular``, the ``d_j(d_j+1)/2`` of the upper triangle.
    """
    widths = np.asarray(widths, dtype=np.int64)
    n = len(widths) - 1
    w_off = np.zeros(n + 1, dtype=np.int64)
    w_off[1:] = np.cumsum(widths[1:] * widths[:-1])
    h_off = np.zeros(n + 2, dtype=np.int64)
    h_off[2:] = np.cumsum(widths[1:] * cols)
    b_off = np.zeros(max(n, 1), dtype=np.int64)
    if n > 1:
        inner = widths[1:-1]
        b_off[1:] = np.cumsum(inner * (inner + 1) // 2 if triangular else inner**2)
    b_off[-1] = max(b_off[-1], 1)
    return w_off, h_off, b_off


def kernel_array(a, dtype=np.float64) -> np.ndarray:
    """C-contiguous, writeable array of ``dtype``: the one layout the kernels are compiled for
    (a read-only or strided input would otherwise trigger another compilation)."""
    return np.require(a, dtype=dtype, requirements=["C", "W"])


def _check_end_to_end_gradient(loss, weights) -> None:
    """The compiled loop trusts the shape of the user's gradient: check it once, at ``θ_0``."""
    e2e = np.linalg.multi_dot(weights[::-1]) if len(weights) > 1 else weights[0]
    got = np.shape(loss.gradient_function(np.ascontiguousarray(e2e)))
    if got != e2e.shape:
        raise ValueError(
            f"the EndToEnd gradient must return an array shaped like W_e {e2e.shape}; got shape {got} from "
            f"gradient={loss.gradient_function!r}"
        )


def loss_arrays(loss, widths) -> tuple:
    """``(code, whitened, cols, x, y, aux)`` for the kernels, from the loss's public data.

    ``whitened``: a loss of ``W_e`` (network input ``I``, ``cols = d_0``). Data: whitened Φ;
    regression X, Y; sensing ``y = b`` (1, m) and ``aux = A`` as (m, d_N d_0); completion
    ``y`` = values with zeros off the mask and ``aux = mask/|Ω|``, both (1, d_N d_0);
    logistic and cross-entropy X and the labels as (1, m) floats; an :class:`EndToEnd` loss
    none (its functions are called through :func:`kernel_for`).

    Raises
    ------
    ValueError
        A loss the engine has no kernel for (names the remedy).
    """
    kind = getattr(loss, "kind", None)
    if kind not in LOSS_CODES:
        raise ValueError(
            f"backend='numba' has no kernel for the loss {loss!r} (kind={kind!r}); use backend='numpy', "
            f"which runs any loss through the problem's own gradient"
        )
    code = LOSS_CODES[kind]
    dummy = np.zeros((1, 1))
    if code == END_TO_END:
        return code, True, int(widths[0]), dummy, dummy, dummy
    if code == SQUARED and not loss.acts_on_outputs:  # whitened: ½‖W_e − Φ‖²
        return code, True, loss.target.shape[1], dummy, kernel_array(loss.target), dummy
    if code == SENSING:
        a = loss.A.reshape(loss.A.shape[0], -1)
        return code, True, loss.A.shape[2], dummy, kernel_array(loss.b.reshape(1, -1)), kernel_array(a)
    if code == COMPLETION:
        mask = loss.mask
        filled = np.where(mask, loss.values, 0.0).reshape(1, -1)
        weight = (mask / float(mask.sum())).reshape(1, -1)
        return code, True, mask.shape[1], dummy, kernel_array(filled), kernel_array(weight)
    x = kernel_array(loss.X)
    if code == SQUARED:
        return code, False, x.shape[1], x, kernel_array(loss.Y), dummy
    return code, False, x.shape[1], x, kernel_array(np.asarray(loss.labels, dtype=np.float64).reshape(1, -1)), dummy


def activation_of(problem) -> tuple:
    """``(activated, slope)``: a ReLU / leaky-ReLU problem has σ(z) = max(z, slope·z) in its
    hidden layers; a deep linear one has none (the slope is then unused)."""
    if problem.is_activated:
        return True, float(problem.activation_slope)
    return False, 1.0


def end_to_end_is_cheaper(widths, n_samples: int) -> bool:
    """Whether a linear data-loss step costs fewer flops through ``W_e`` than per sample.

    Per sample: forward ``H_j = W_j H_{j−1}`` and backward ``G_j``, ``Δ_{j−1}``, three products
    of ``d_j d_{j−1} m`` each. Through ``W_e``: the same three with ``d_0`` columns, plus
    ``R = W_e X`` and ``R Xᵀ``, ``d_N d_0 m`` each.
    """
    widths = [int(v) for v in widths]
    p = sum(a * b for a, b in zip(widths[1:], widths[:-1]))
    d0, dn = widths[0], widths[-1]
    return 3 * d0 * p + 2 * dn * d0 * n_samples < 3 * n_samples * p


def run_descent_numba(setup, observation=None) -> DescentResult:
    """Run a validated :class:`linflow.descent.DescentSetup` on the Numba CPU engine.

    ``observation``: in-engine observables (:class:`linflow._curvature_numba.Observation`:
    its ``hook`` for the kernel, ``kernel_fields`` for :class:`KernelRun` and ``finish`` for
    the result); None runs the canonical kernel.
    """
    problem = setup.problem
    widths = np.asarray(problem.network.widths, dtype=np.int64)
    batch = setup.batch_size
    n_params = problem.network.n_params
    loss = problem.loss_function
    loss_code, whitened, cols, x, y, aux = loss_arrays(loss, widths)
    kernel = kernel_for(loss, observe=None if observation is None else observation.hook)
    if loss_code == END_TO_END:
        _check_end_to_end_gradient(loss, tuple(w[0] for w in setup.weights0))
    activated, slope = activation_of(problem)
    if activated and whitened:
        raise ValueError(f"a loss of W_e needs a deep linear network; got problem={problem!r}")
    e2e = not whitened and not activated and end_to_end_is_cheaper(widths, cols)
    if e2e:
        cols = int(widths[0])  # H_0 = I: the forward products carry d_0 columns, not m
    w_off, h_off, b_off = layout(widths, cols, triangular=True)
    # (B, P), as given: each chunk gathers its 8 trajectories into its lanes once, at the start
    # (a transpose of the whole batch in NumPy cost more than a short run's steps).
    params0 = np.concatenate([w.reshape(batch, -1) for w in setup.weights0], axis=1)
    n_rec = len(setup.record_steps)
    has_reference = setup.reference is not None
    reference = kernel_array(setup.reference) if has_reference else np.zeros((1, 1, 1))
    recorded = np.full((batch, n_rec, n_params), np.nan) if setup.record_weights else np.zeros((1, 1, 1))

    if observation is None:
        obs_fields = dict(observe_steps=np.zeros(0, dtype=np.int64), observe_flags=np.zeros(3, dtype=np.int64),
                          observe_tol=0.0, observe_cycle=1, observe_max_cycles=0, observe_vectors=np.zeros((1, 1)),
                          observe_sigma=np.zeros((1, 1)), observe_work_size=LANES)
    else:
        obs_fields = observation.kernel_fields(loss, widths, int(cols), e2e, x, batch, n_params)
    n_obs = obs_fields["observe_steps"].size
    optimizer = setup.optimizer
    n_state = sum(n_params if per_param else 1 for _, per_param in optimizer.engine_state)
    out = KernelOutputs(
        final=np.empty((batch, n_params)),
        losses=np.full((batch, n_rec), np.nan),
        final_loss=np.full(batch, np.nan),
        recorded=recorded,
        divergence_step=np.full(batch, -1, dtype=np.int64),
        converged_step=np.full(batch, -1, dtype=np.int64),
        drift=np.zeros(batch),
        ref_distance=np.zeros(batch),
        state=np.zeros((batch, max(n_state, 1))),
        observed=np.full((batch, n_obs, 3), np.nan),
        observed_residual=np.full((batch, n_obs), np.nan),
        hvp_count=np.zeros(batch, dtype=np.int64),
    )
    prob = KernelProblem(widths, w_off, h_off, b_off, x, y, whitened, int(cols), e2e, activated, slope, loss_code, aux)
    run = KernelRun(
        params0=params0,
        lrs=kernel_array(setup.learning_rates),
        n_steps=setup.n_steps,
        record_steps=kernel_array(setup.record_steps, np.int64),
        loss_tolerance=setup.loss_tolerance,
        threshold=setup.divergence_threshold,
        reference=reference,
        has_reference=has_reference,
        record_weights=setup.record_weights,
        track=setup.track_balancedness,
        opt_code=optimizer.engine_code,
        opt_hyper=kernel_array(optimizer.engine_hyperparameters()),
        state_size=n_state,
        abort=np.zeros(1, dtype=np.int64),
        **obs_fields,
    )
    n_chunks = (batch + LANES - 1) // LANES
    _run_threaded(kernel, n_chunks, (prob, run, out))
    result = assemble_result(
        setup, out.final, out.losses, out.final_loss, out.divergence_step, out.converged_step, out.drift,
        out.ref_distance if has_reference else None, recorded if setup.record_weights else None,
        backend="numba", extra=engine_state_arrays(optimizer, out.state, problem.network.shapes),
    )
    return result if observation is None else observation.finish(result, out)


def engine_state_arrays(optimizer, flat, shapes) -> dict:
    """The optimizer state of an engine, ``(B, S)`` in the layout of ``optimizer.engine_state``,
    as ``DescentResult.extra`` holds it (per-parameter entries split into layers)."""
    n_params = sum(a * b for a, b in shapes)
    extra, start = {}, 0
    for name, per_param in optimizer.engine_state:
        if per_param:
            extra[name] = split_params(flat[:, start : start + n_params], shapes)
            start += n_params
        else:
            extra[name] = flat[:, start].copy()
            start += 1
    return extra


def _run_threaded(kernel, n_chunks: int, args: tuple) -> None:
    """``kernel`` (:func:`_run_chunks` or a copy) on chunk 0 (compiling or loading it), then on
    chunks 1 … n_chunks−1 over ``numba.get_num_threads()`` threads of the pool.

    Several ranges per thread balance the load when trajectories stop early (divergence). The
    kernels run in the pool even for one thread, so that the main thread only waits and Ctrl-C
    reaches it at once (it then sets the ``abort`` flag the kernels poll).
    """
    n_threads = max(1, min(numba.get_num_threads(), n_chunks - 1))
    pool = _thread_pool(n_threads)
    _wait_for(pool, kernel, [(0, min(n_chunks, 1))], args)  # compiles before several threads would
    if n_chunks > 1:
        bounds = np.linspace(1, n_chunks, 4 * n_threads + 1).astype(np.int64)
        _wait_for(pool, kernel, [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a], args)


def _wait_for(pool: ThreadPoolExecutor, kernel, ranges, args: tuple) -> None:
    """Run the chunk ranges in the pool; on any interruption stop them instead of waiting."""
    futures = [pool.submit(kernel, a, b, 1, *args) for a, b in ranges]
    try:
        for future in futures:
            future.result()
    except BaseException:  # KeyboardInterrupt: the running kernels stop within a step
        args[1].abort[0] = 1
        for future in futures:
            future.cancel()
        raise


_POOLS: dict = {}


def _thread_pool(n_threads: int) -> ThreadPoolExecutor:
    """One pool per thread count, kept between calls: starting threads cost ~4 ms a call, a
    tenth of a short run (2,000 trajectories × 100 steps)."""
    if n_threads not in _POOLS:
        _POOLS[n_threads] = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="linflow-numba")
    return _POOLS[n_threads]


def split_params(flat, shapes) -> tuple:
    """``(…, P)`` flat parameters to a tuple of ``(…, d_{j+1}, d_j)`` arrays (copies)."""
    out, start = [], 0
    lead = flat.shape[:-1]
    for a, b in shapes:
        out.append(np.ascontiguousarray(flat[..., start : start + a * b]).reshape(lead + (a, b)))
        start += a * b
    return tuple(out)


def assemble_result(
    setup, final, losses, final_loss, divergence_step, converged_step, drift, ref_distance,
    recorded, *, backend, extra=None,
) -> DescentResult:
    """Build the :class:`DescentResult` from the kernel outputs (``final`` is ``(B, P)``)."""
    shapes = setup.problem.network.shapes
    status = descent_status_codes(converged_step, divergence_step)
    if not setup.track_balancedness:
        drift = np.full(setup.batch_size, np.nan)  # not tracked
    return DescentResult(
        final_weights=split_params(final, shapes),
        steps=setup.record_steps.copy(),
        losses=losses,
        final_loss=final_loss,
        status_codes=status,
        divergence_step=divergence_step,
        converged_step=converged_step,
        balancedness_drift=drift,
        learning_rates=setup.learning_rates.copy(),
        reference_distance=ref_distance,
        weights=split_params(recorded, shapes) if recorded is not None else None,
        batched=setup.batched,
        backend=backend,
        extra={} if extra is None else extra,
    )
