"""Observables inside the 8-lane CPU engine: loss, gradient norm and sharpness at the iterate.

A copy of the batch kernel (:func:`linflow._descent_numba.kernel_for` with ``observing``) calls
:func:`observe_chunk` at every observed step, on the weights of a chunk of 8 trajectories in
the engine's lane layout (module docstring of ``linflow/_descent_numba.py``); the canonical
kernel calls the no-op hooks and compiles without any of this.

**Hessian-vector products** (forward-over-reverse, exact to rounding). For a deep linear network
with a squared loss, ``H_0 = X`` (``I`` for a loss of ``W_e``), ``H_j = W_j H_{j−1}``,
``Δ_N = ∇ℓ(H_N)``, ``Δ_{j−1} = W_jᵀ Δ_j`` and the gradient ``G_j = Δ_j H_{j−1}ᵀ`` (Arora, Cohen &
Hazan 2018, eq. (5)). Differentiating along ``V = (V_1, …, V_N)``::

    Ḣ_0 = 0,   Ḣ_j = V_j H_{j−1} + W_j Ḣ_{j−1},   Δ̇_N = ∇²ℓ(H_N)[Ḣ_N],
    Δ̇_{j−1} = V_jᵀ Δ_j + W_jᵀ Δ̇_j,   (∇²L · V)_j = Δ̇_j H_{j−1}ᵀ + Δ_j Ḣ_{j−1}ᵀ,

with ``∇²ℓ[Ḣ] = Ḣ/m`` (regression; whitened: ``m = 1``), ``Ḣ Σ`` with ``Σ = X Xᵀ/m`` for a data
loss run through ``W_e``, ``(1/m) Σ_i A_i ⟨A_i, Ḣ⟩`` (matrix sensing) and ``(mask/|Ω|) ⊙ Ḣ``
(matrix completion). ``H_j`` and ``Δ_j`` are formed once per observed step; each product then
costs about ``6N`` matrix products, twice a gradient.

**Sharpness** ``λ_max(∇²L(θ_k))`` by restarted Lanczos (Golub & Van Loan, *Matrix Computations*,
4th ed., §10.1) with full reorthogonalization, in cycles of ``m = min(P, 16)`` steps, each
restarted from the Ritz vector of the largest Ritz value. Every second step (and at a breakdown)
the iteration stops when the residual bound of the top Ritz pair ``(θ, y = Q_j s)`` after ``j``
steps, ``r = β_j |s_j| = ‖∇²L y − θ y‖``, satisfies ``r ≤ tol·|θ|`` (default ``tol = 1e-8``):
then some eigenvalue of the Hessian lies within ``tol·|θ|`` of ``θ`` (Parlett, *The Symmetric
Eigenvalue Problem*, Thm 4.5.1), and within ``r²/gap`` when the top eigenvalue is separated by
``gap``.

Warm start: the first cycle of an observed step starts from the trajectory's Ritz vector two
observations back (before there is one, from a fixed Gaussian vector, seed 0). Two back, not
one: on the period-2 orbits of GD at the edge of stability the iterate two steps back has the
nearest Hessian; on the edge-of-stability benchmark this start took 20% fewer Hessian-vector
products per step on average (30% fewer for the slowest trajectory of each 8-lane chunk, which
sets the chunk's cost) than the previous step's vector. The first cycle runs at least 6 steps
before it may stop, so that an eigenvalue that rose past the tracked one is seen; a breakdown
(an invariant Krylov subspace, e.g. a warm start that is already an eigenvector at a fixed
point) stops at once, its Ritz values exact.

What is not certified: that the eigenvalue found is the largest. Started from a vector with a
component along the top eigenvector, Lanczos finds it first; a warm start can be nearly
orthogonal to an eigenvalue that has just risen past the tracked one (a crossing), and then a
loose ``tol`` may stop on the one below (seen at ``tol = 1e-4`` on the benchmark, never at the
default). On the edge-of-stability benchmark (``scripts/bench_observables.py``: 15,120 observed
points) every value agreed with dense ``eigh`` to 1e-13 relative at the default tolerance, and
the tests check 1e-8 on drawn problems. A lane whose residual still exceeds the tolerance after
``max_cycles`` cycles keeps its last Ritz value; its residual is reported
(``DescentResult.extra["sharpness_residual"]``), so such values can be found. At a
near-degenerate top eigenvalue the Ritz value converges, the Ritz vector may be any vector of
the near-invariant subspace: the warm start then costs iterations, never accuracy.

The Ritz pair of the small tridiagonal ``T`` is computed for the 8 lanes at once without LAPACK
(a call per lane and check would cost more than the Hessian-vector products): Newton's method
from above converges to ``λ_max(T)`` monotonically (the characteristic polynomial has real roots
only), started at the last check's Ritz value plus twice its residual bound once a Sturm count
confirms that this lies above every eigenvalue, else at the upper end of a Sturm-count
bisection bracket; the eigenvector comes
from the twisted factorization of ``T − θI`` (Parlett & Dhillon 2000), whose entries are each
accurate relative to themselves: the residual bound ``β_m |s_m|`` needs the tiny last one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._descent_numba import (
    COMPLETION,
    LANES,
    LOSS_CODES,
    SENSING,
    SQUARED,
    _completion_loss,
    _copy,
    _end_to_end_data_loss,
    _keep_alive,
    _matmul,
    _residual_loss,
    _sensing_loss,
    kernel_array,
)
from ._jit_cache import cached_njit
from ._simd import borrow, prefer_wide_vectors, vadd, vdiv, vfma, vfnma, vload, vmul, vsplat, vsqrt, vstore, vsub, vzero

__all__ = ["Observation", "in_engine_observables", "observe_chunk", "OBSERVE_IN_ENGINE", "LANCZOS_CYCLE"]

_JIT = dict(error_model="numpy", nogil=True)

#: Observables the lane engine computes in its loop (index into ``KernelOutputs.observed``).
OBSERVE_IN_ENGINE = ("loss", "grad_norm", "sharpness")
#: Lanczos steps per restart cycle (at most P).
LANCZOS_CYCLE = 16
#: Lanczos steps between convergence checks (a check solves a small tridiagonal eigenproblem
#: for the 8 lanes, measured at 1–2 Hessian-vector products' time; checking every step was
#: 15% slower on the edge-of-stability benchmark, every second step is the better of the two).
CHECK_EVERY = 2
#: Lanczos steps an observed step takes at least before it may stop (see observe_chunk).
MIN_KRYLOV = 6


def in_engine_observables(problem) -> tuple:
    """The observables the lane engine computes in its loop for ``problem``, ``()`` when it
    runs none: deep linear networks with the squared, sensing and completion losses (the
    Hessian-vector products of the module docstring); the Hessian does not depend on the
    optimizer."""
    kind = LOSS_CODES.get(getattr(problem.loss_function, "kind", None))
    if problem.is_activated or kind not in (SQUARED, SENSING, COMPLETION):
        return ()
    return OBSERVE_IN_ENGINE


@dataclass(frozen=True)
class Observation:
    """In-engine observables of one run: ``names`` (of :data:`OBSERVE_IN_ENGINE`) at the
    ``steps``, the sharpness to the residual tolerance ``tol`` in at most ``max_cycles``
    Lanczos cycles per step; what :func:`linflow._descent_numba.run_descent_numba` needs."""

    names: tuple
    steps: np.ndarray
    tol: float
    max_cycles: int

    @property
    def hook(self):
        """The kernel's ``observe_hook``."""
        return observe_chunk

    def kernel_fields(self, loss, widths, cols: int, e2e: bool, x, batch: int, n_params: int) -> dict:
        """The ``observe_*`` fields of :class:`linflow._descent_numba.KernelRun`."""
        cycle = min(LANCZOS_CYCLE, n_params)
        # Fixed Gaussian start (seed 0): a component along every eigenvector, almost surely.
        start = np.random.default_rng(0).standard_normal(n_params)
        sigma = kernel_array(x @ x.T / x.shape[1]) if e2e else np.zeros((1, 1))  # Σ = X Xᵀ/m
        kind = LOSS_CODES[loss.kind]
        n_res = int(widths[-1]) * x.shape[1] if e2e else (loss.A.shape[0] if kind == SENSING else 1)
        return dict(
            observe_steps=kernel_array(self.steps, np.int64),
            observe_flags=np.array([name in self.names for name in OBSERVE_IN_ENGINE], dtype=np.int64),
            observe_tol=float(self.tol), observe_cycle=cycle, observe_max_cycles=int(self.max_cycles),
            observe_vectors=np.tile(start, (batch, 2)), observe_sigma=sigma,
            observe_work_size=workspace_size(widths, cols, n_params, cycle, n_res),
        )

    def finish(self, result, out):
        """``result`` with the observables (and, for the sharpness, the residual bounds and the
        Hessian-vector product counts in ``extra``) from the kernel's outputs ``out``."""
        observables = {name: out.observed[:, :, OBSERVE_IN_ENGINE.index(name)] for name in self.names}
        extra = dict(result.extra)
        if "sharpness" in self.names:
            extra["sharpness_residual"] = out.observed_residual
            extra["hvp_count"] = out.hvp_count
        return replace(result, observables=observables, observable_steps=np.asarray(self.steps), extra=extra)


def workspace_size(widths, cols: int, n_params: int, cycle: int, n_res: int) -> int:
    """Entries of the scratch array of :func:`observe_chunk` (all multiples of 8 lanes)."""
    h_total = int(sum(int(w) for w in widths[1:])) * int(cols)
    return LANES * (_workspace_rows(h_total, n_params, cycle)[-1] + n_res)


@cached_njit(**_JIT)
def _workspace_rows(h_total, n_params, cycle):
    """Row offsets (of 8 lanes) in the scratch of :func:`observe_chunk`: ``H``, ``Δ``, their
    tangents and a scratch in ``H``'s layout (``h_total`` rows each); a gradient scratch and a
    Hessian-vector product (``P`` each); the Lanczos basis (``cycle + 1`` vectors); α, β (and a
    spare row of ``cycle``); loss and ‖g‖²; then the loss's residuals, from the last offset on."""
    hf = 0
    df = hf + h_total
    th = df + h_total
    td = th + h_total
    tmph = td + h_total
    tmpw = tmph + h_total
    hv = tmpw + n_params
    q = hv + n_params
    ab = q + (cycle + 1) * n_params
    misc = ab + 3 * cycle
    res = misc + 2
    return hf, df, th, td, tmph, tmpw, hv, q, ab, misc, res


@cached_njit(**_JIT)
def _lane_dot(a, oa, b, ob, n):
    """Eight dot products (one per lane) of ``n``-entry vectors at rows ``oa``, ``ob``."""
    prefer_wide_vectors()
    s0 = s1 = vzero()
    e = 0
    while e + 2 <= n:
        s0 = vfma(vload(a, (oa + e) * LANES), vload(b, (ob + e) * LANES), s0)
        s1 = vfma(vload(a, (oa + e + 1) * LANES), vload(b, (ob + e + 1) * LANES), s1)
        e += 2
    if e < n:
        s0 = vfma(vload(a, (oa + e) * LANES), vload(b, (ob + e) * LANES), s0)
    return vadd(s0, s1)


@cached_njit(**_JIT)
def _times_input(c, oc, a, oa, rows, d0, x, cols, ident, one, lr):
    """``C = A H_0`` (``A``: ``rows × d_0`` at row ``oa`` of ``a``): a copy when ``H_0 = I``, else
    ``A X``; ``lr`` is an unused lane vector (:func:`linflow._descent_numba._matmul`)."""
    if ident:
        _copy(c, oc, a, oa, rows * d0)
    else:
        _matmul(c, oc, cols, one, a, oa, d0, one, x, one - one, x.shape[1], one, rows, d0, cols, one == 0, a, lr)


@cached_njit(**_JIT)
def _prepare(w, hf, df, tmpw, res, lossbuf, grad_sq, data, kind, with_grad, one):
    """``H_j`` into ``hf`` and ``Δ_j`` into ``df`` (rows ``h_off[j]``) at the weights ``w``;
    with ``with_grad`` the squared gradient norm of every lane into ``grad_sq``."""
    prefer_wide_vectors()
    no, zero = one == 0, one - one
    widths, w_off, h_off, x, y, aux, _ = data
    cols, whitened, e2e, code = kind
    ident = whitened or e2e
    n = widths.shape[0] - 1
    n_x = x.shape[1]
    _times_input(hf, h_off[1], w, w_off[0], widths[1], widths[0], x, cols, ident, one, lossbuf)
    for j in range(2, n + 1):
        dj, dp = widths[j], widths[j - 1]
        _matmul(hf, h_off[j], cols, one, w, w_off[j - 1], dp, one, hf, h_off[j - 1], cols, one, dj, dp, cols,
                no, w, lossbuf)
    d_out = widths[n]
    top = h_off[n]
    _copy(df, top, hf, top, d_out * cols)
    if code == SENSING:
        _sensing_loss(df, top * LANES, y, aux, d_out * cols, lossbuf, res)
    elif code == COMPLETION:
        _completion_loss(df, top * LANES, y, aux, d_out * cols, lossbuf)
    elif e2e:
        _end_to_end_data_loss(df, top, res, lossbuf, x, y, d_out, cols, one)
    else:
        scale = 1.0 if whitened else 1.0 / cols
        _residual_loss(df, top * LANES, y, d_out, cols, scale, 0.5 * scale, lossbuf)
    for j in range(n, 1, -1):
        dj, dp = widths[j], widths[j - 1]
        _matmul(df, h_off[j - 1], cols, one, w, w_off[j - 1], one, dp, df, h_off[j], cols, one, dp, dj, cols,
                no, w, lossbuf)
    if not with_grad:
        return
    for j in range(n, 0, -1):
        dj, dp = widths[j], widths[j - 1]
        if j > 1:
            _matmul(tmpw, w_off[j - 1], dp, one, df, h_off[j], cols, one, hf, h_off[j - 1], one, cols, dj, cols, dp,
                    no, w, lossbuf)
        elif ident:
            _copy(tmpw, w_off[0], df, h_off[1], dj * dp)
        else:
            _matmul(tmpw, w_off[0], dp, one, df, h_off[1], cols, one, x, zero, one, n_x, dj, cols, dp, no, w, lossbuf)
    total = _lane_dot(tmpw, 0, tmpw, 0, w_off[n])
    vstore(grad_sq, 0, total)


@cached_njit(**_JIT)
def _hvp(w, v, out, hf, df, th, td, tmph, tmpw, minus, data, kind, one):
    """``out = ∇²L(w) · v`` on 8 lanes, from :func:`_prepare`'s ``H_j`` and ``Δ_j`` (module
    docstring); ``th``, ``td``: the tangents ``Ḣ_j``, ``Δ̇_j``; ``tmph``, ``tmpw``: scratch in
    the layouts of ``hf`` and of the weights; ``minus``: −1 in every lane (a product added
    to ``tmp`` is the fused update ``tmp − (−1)·AB``)."""
    prefer_wide_vectors()
    no, yes, zero = one == 0, one == 1, one - one
    widths, w_off, h_off, x, _, aux, sigma = data
    cols, whitened, e2e, code = kind
    ident = whitened or e2e
    n = widths.shape[0] - 1
    n_x = x.shape[1]
    # Ḣ_1 = V_1 H_0, Ḣ_j = V_j H_{j−1} + W_j Ḣ_{j−1}
    _times_input(th, h_off[1], v, w_off[0], widths[1], widths[0], x, cols, ident, one, minus)
    for j in range(2, n + 1):
        dj, dp = widths[j], widths[j - 1]
        _matmul(tmph, h_off[j], cols, one, v, w_off[j - 1], dp, one, hf, h_off[j - 1], cols, one, dj, dp, cols,
                no, w, minus)
        _matmul(th, h_off[j], cols, one, w, w_off[j - 1], dp, one, th, h_off[j - 1], cols, one, dj, dp, cols,
                yes, tmph, minus)
    # Δ̇_N = ∇²ℓ(H_N)[Ḣ_N]
    d_out = widths[n]
    top = h_off[n]
    count = d_out * cols
    if code == SENSING:
        m = aux.shape[0]
        inv = vsplat(1.0 / m)
        for e in range(count):
            td[(top + e) * LANES : (top + e + 1) * LANES] = 0.0
        for i in range(m):
            s = vzero()
            for e in range(count):
                s = vfma(vsplat(aux[i, e]), vload(th, (top + e) * LANES), s)
            s = vmul(s, inv)
            for e in range(count):
                q = (top + e) * LANES
                vstore(td, q, vfma(vsplat(aux[i, e]), s, vload(td, q)))
    elif code == COMPLETION:
        for e in range(count):
            q = (top + e) * LANES
            vstore(td, q, vmul(vsplat(aux[0, e]), vload(th, q)))
    elif e2e:
        _matmul(td, top, cols, one, th, top, cols, one, sigma, zero, cols, one, d_out, cols, cols, no, w, minus)
    elif whitened:
        _copy(td, top, th, top, count)
    else:
        inv = vsplat(1.0 / cols)
        for e in range(count):
            q = (top + e) * LANES
            vstore(td, q, vmul(vload(th, q), inv))
    # Δ̇_{j−1} = V_jᵀ Δ_j + W_jᵀ Δ̇_j
    for j in range(n, 1, -1):
        dj, dp = widths[j], widths[j - 1]
        _matmul(tmph, h_off[j - 1], cols, one, v, w_off[j - 1], one, dp, df, h_off[j], cols, one, dp, dj, cols,
                no, w, minus)
        _matmul(td, h_off[j - 1], cols, one, w, w_off[j - 1], one, dp, td, h_off[j], cols, one, dp, dj, cols,
                yes, tmph, minus)
    # (∇²L V)_j = Δ̇_j H_{j−1}ᵀ + Δ_j Ḣ_{j−1}ᵀ  (Ḣ_0 = 0)
    for j in range(n, 1, -1):
        dj, dp = widths[j], widths[j - 1]
        _matmul(tmpw, w_off[j - 1], dp, one, td, h_off[j], cols, one, hf, h_off[j - 1], one, cols, dj, cols, dp,
                no, w, minus)
        _matmul(out, w_off[j - 1], dp, one, df, h_off[j], cols, one, th, h_off[j - 1], one, cols, dj, cols, dp,
                yes, tmpw, minus)
    if ident:
        _copy(out, w_off[0], td, h_off[1], widths[1] * widths[0])
    else:
        _matmul(out, w_off[0], widths[0], one, td, h_off[1], cols, one, x, zero, one, n_x, widths[1], cols, widths[0],
                no, w, minus)


@cached_njit(**_JIT)
def _count_below(alpha, beta, n, ratio, x, p, q, count):
    """Per lane, the number of eigenvalues of ``T·ratio`` below ``x`` (Sturm): the sign changes
    of the leading principal minors ``p_i(x) = det(T_i·ratio − xI)`` (three-term recurrence, no
    division); ``p``, ``q`` scratch rows."""
    for t in range(LANES):
        p[t] = alpha[t] * ratio[t] - x[t]  # p_1
        q[t] = 1.0  # p_0
        count[t] = 1.0 if p[t] < 0.0 else 0.0
    for i in range(1, n):
        for t in range(LANES):
            b = beta[(i - 1) * LANES + t] * ratio[t]
            nxt = (alpha[i * LANES + t] * ratio[t] - x[t]) * p[t] - b * b * q[t]
            count[t] += 1.0 if (nxt < 0.0) != (p[t] < 0.0) else 0.0
            q[t], p[t] = p[t], nxt


@cached_njit(**_JIT)
def _ritz_top(alpha, beta, n, theta, ritz, scratch, guess, needed):
    """Largest eigenvalue ``θ`` of each lane's ``n × n`` tridiagonal ``T`` (diagonal ``alpha``,
    off-diagonal ``beta``, lane layout) into ``theta`` and its unit eigenvector into ``ritz``
    (``n`` rows of 8 lanes): Sturm bisection, Newton from above, twisted factorization (module
    docstring). All lanes at once, the lane loop innermost and branch-free where it matters, so
    that the divisions are vector instructions; ``scratch`` holds ``2n + 6`` rows of 8 lanes.
    ``guess``: a candidate upper bound per lane, used when a Sturm count confirms it in every
    lane of ``needed`` (the others' values are not used)."""
    lo = scratch[0:LANES]
    hi = scratch[LANES : 2 * LANES]
    x = scratch[2 * LANES : 3 * LANES]
    d = scratch[3 * LANES : 4 * LANES]
    dd = scratch[4 * LANES : 5 * LANES]
    ratio = scratch[5 * LANES : 6 * LANES]
    plus = scratch[6 * LANES : (6 + n) * LANES]
    minus = scratch[(6 + n) * LANES : (6 + 2 * n) * LANES]
    for t in range(LANES):
        lo[t] = alpha[t] - abs(beta[t]) if n > 1 else alpha[t]
        hi[t] = alpha[t] + abs(beta[t]) if n > 1 else alpha[t]
    for i in range(1, n):
        for t in range(LANES):
            r = abs(beta[(i - 1) * LANES + t]) + (abs(beta[i * LANES + t]) if i < n - 1 else 0.0)
            a = alpha[i * LANES + t]
            lo[t] = min(lo[t], a - r)
            hi[t] = max(hi[t], a + r)
    # Scaled by the Gershgorin radius (T/σ has entries ≤ 1): the characteristic polynomials
    # below then stay far from overflow for every n ≤ 16 (|p_n| ≤ 3^n).
    for t in range(LANES):
        sigma = max(abs(lo[t]), abs(hi[t]))
        sigma = sigma if sigma > 0.0 else 1.0
        ratio[t] = 1.0 / sigma
        lo[t] *= ratio[t]
        hi[t] = hi[t] * ratio[t] + 1e-3 * (hi[t] - lo[t] / ratio[t]) * ratio[t] + 1e-300  # strictly above
    # Newton starts from an upper bound of λ_max(T): the caller's guess (the last check's Ritz
    # value plus twice its residual bound: Ritz values grow by about r²/gap between checks) where a
    # Sturm count confirms it lies above every eigenvalue in every lane that needs a value;
    # otherwise bisection to 1/256 of the Gershgorin interval.
    for t in range(LANES):
        x[t] = guess[t] * ratio[t]
    _count_below(alpha, beta, n, ratio, x, d, dd, plus)
    confirmed = True
    for t in range(LANES):
        if needed[t] and not (plus[t] == n and x[t] < hi[t]):
            confirmed = False
    if confirmed:
        for t in range(LANES):
            hi[t] = x[t] if needed[t] else hi[t]
    else:
        for _ in range(8):
            for t in range(LANES):
                x[t] = 0.5 * (lo[t] + hi[t])
            _count_below(alpha, beta, n, ratio, x, d, dd, plus)
            for t in range(LANES):
                top = plus[t] == n
                hi[t] = x[t] if top else hi[t]
                lo[t] = lo[t] if top else x[t]
    for t in range(LANES):
        x[t] = hi[t]
    for _ in range(60):
        # Newton from above on p_n(x) (monotone to the largest root: real roots only), with p_n'
        # from the differentiated recurrence: one division per lane and iteration.
        for t in range(LANES):
            d[t] = alpha[t] * ratio[t] - x[t]  # p_1
            dd[t] = 1.0  # p_0
            lo[t] = -1.0  # p_1'
            minus[t] = 0.0  # p_0'
        for i in range(1, n):
            for t in range(LANES):
                b = beta[(i - 1) * LANES + t] * ratio[t]
                shift = alpha[i * LANES + t] * ratio[t] - x[t]
                p_next = shift * d[t] - b * b * dd[t]
                dp_next = shift * lo[t] - d[t] - b * b * minus[t]
                dd[t], d[t] = d[t], p_next
                minus[t], lo[t] = lo[t], dp_next
        moved = 0
        for t in range(LANES):
            nxt = x[t] - d[t] / lo[t]
            # Monotone from above: a step below rounding level is convergence.
            moved += nxt < x[t] - 4e-16 * abs(x[t])
            x[t] = nxt if nxt < x[t] else x[t]
        if moved == 0:
            break
    for t in range(LANES):
        x[t] /= ratio[t]
    # Eigenvector by the twisted factorization of T − xI (Parlett & Dhillon 2000): pivots from
    # the top (d⁺) and from the bottom (d⁻); twist at k = argmin |γ_k|, γ_k = d⁺_k + d⁻_k −
    # (α_k − x); then s_k = 1 and products outwards (no cancellation: each entry accurate
    # relative to itself, the tiny last one included, which the residual bound uses).
    for t in range(LANES):
        theta[t] = x[t]
        v = alpha[t] - x[t]
        plus[t] = v if v != 0.0 else -1e-300
        v = alpha[(n - 1) * LANES + t] - x[t]
        minus[(n - 1) * LANES + t] = v if v != 0.0 else -1e-300
    for i in range(1, n):
        for t in range(LANES):
            v = alpha[i * LANES + t] - x[t] - beta[(i - 1) * LANES + t] ** 2 / plus[(i - 1) * LANES + t]
            plus[i * LANES + t] = v if v != 0.0 else -1e-300
    for i in range(n - 2, -1, -1):
        for t in range(LANES):
            v = alpha[i * LANES + t] - x[t] - beta[i * LANES + t] ** 2 / minus[(i + 1) * LANES + t]
            minus[i * LANES + t] = v if v != 0.0 else -1e-300
    for t in range(LANES):
        twist = 0
        least = np.inf
        for i in range(n):
            e = i * LANES + t
            g = abs(plus[e] + minus[e] - (alpha[e] - x[t]))
            if g < least:
                least, twist = g, i
        ritz[twist * LANES + t] = 1.0
        norm = 1.0
        for i in range(twist - 1, -1, -1):
            v = -(beta[i * LANES + t] / plus[i * LANES + t]) * ritz[(i + 1) * LANES + t]
            ritz[i * LANES + t] = v
            norm += v * v
        for i in range(twist + 1, n):
            v = -(beta[(i - 1) * LANES + t] / minus[i * LANES + t]) * ritz[(i - 1) * LANES + t]
            ritz[i * LANES + t] = v
            norm += v * v
        scale = 1.0 / np.sqrt(norm)
        for i in range(n):
            ritz[i * LANES + t] *= scale


@cached_njit(**_JIT)
def observe_chunk(cur, work, active, start, n_lanes, o, loss, prob, run, out, one):
    """Observables of the chunk's active lanes at observation ``o`` into ``out.observed[b, o]``
    (columns :data:`OBSERVE_IN_ENGINE`), ``out.observed_residual[b, o]`` (the sharpness's
    Lanczos residual bound) and ``out.hvp_count[b]``; the warm-start vectors live in
    ``run.observe_vectors`` (B, 2P: the last two)."""
    prefer_wide_vectors()
    # Borrowed views (no reference counting per call: linflow._simd.borrow); the records own them.
    w_off, h_off = borrow(prob.w_off), borrow(prob.h_off)
    data = (borrow(prob.widths), w_off, h_off, borrow(prob.x), borrow(prob.y), borrow(prob.aux),
            borrow(run.observe_sigma))
    kind = (prob.cols, prob.whitened, prob.e2e, prob.loss_code)
    flags, tol = borrow(run.observe_flags), run.observe_tol
    cycle, max_cycles = run.observe_cycle, run.observe_max_cycles
    vectors = borrow(run.observe_vectors)
    observed, residual, hvps = borrow(out.observed), borrow(out.observed_residual), borrow(out.hvp_count)
    n_params = w_off[-1]
    h_total = h_off[-1]
    o_hf, o_df, o_th, o_td, o_tmph, o_tmpw, o_out, o_q, o_ab, o_misc, o_res = _workspace_rows(h_total, n_params, cycle)
    hf, df, th, td = work[o_hf * LANES:], work[o_df * LANES:], work[o_th * LANES:], work[o_td * LANES:]
    tmph, tmpw, hv = work[o_tmph * LANES:], work[o_tmpw * LANES:], work[o_out * LANES:]
    q = work[o_q * LANES:]
    alpha, beta = work[o_ab * LANES:], work[(o_ab + cycle) * LANES:]
    lossbuf, grad_sq = work[o_misc * LANES:], work[(o_misc + 1) * LANES:]
    res = work[o_res * LANES:]
    minus_owner = np.full(LANES, -1.0)
    minus = borrow(minus_owner)
    _prepare(cur, hf, df, tmpw, res, lossbuf, grad_sq, data, kind, flags[1] != 0, one)
    for t in range(n_lanes):
        if active[t]:
            b = start + t
            if flags[0] != 0:
                observed[b, o, 0] = loss[t]
            if flags[1] != 0:
                observed[b, o, 1] = np.sqrt(grad_sq[t])
    if flags[2] == 0:
        return
    # q_0: the lane's Ritz vector two observations back (run.observe_vectors[b, P:]; the last
    # one is at [b, :P]): on a period-2 orbit at the edge of stability the iterate two steps
    # back is the one whose Hessian is nearest (module docstring).
    for t in range(LANES):
        b = start + t
        for p in range(n_params):
            q[p * LANES + t] = vectors[b, n_params + p] if t < n_lanes else 1.0
    done = np.zeros(LANES, dtype=np.bool_)
    for t in range(LANES):
        done[t] = t >= n_lanes or not active[t]
    size = np.full(LANES, cycle, dtype=np.int64)
    ritz_owner = np.zeros(cycle * LANES)
    theta_owner = np.zeros(LANES)
    guess_owner = np.full(LANES, np.inf)  # no upper bound yet at this step (a new Hessian)
    needed_owner = np.zeros(LANES, dtype=np.bool_)
    guess, needed = borrow(guess_owner), borrow(needed_owner)
    scratch_owner = np.zeros((2 * cycle + 6) * LANES)
    ritz, theta_now, scratch = borrow(ritz_owner), borrow(theta_owner), borrow(scratch_owner)
    theta = np.zeros(LANES)
    lane_sq = np.zeros(LANES)
    bound = np.full(LANES, np.inf)
    finished = False
    # The first cycle of a step runs at least MIN_KRYLOV steps before it may stop: a Krylov space
    # of a few dimensions sees an eigenvalue that rose past the tracked one since the last step.
    first_steps = min(MIN_KRYLOV, cycle)
    for _ in range(max_cycles):
        for t in range(LANES):
            size[t] = cycle
        # q_0 normalized (a Ritz vector Q s drifts from unit length as Q loses orthogonality)
        inv = vdiv(vsplat(1.0), vsqrt(_lane_dot(q, 0, q, 0, n_params)))
        for p in range(n_params):
            vstore(q, p * LANES, vmul(vload(q, p * LANES), inv))
        for j in range(cycle):
            qj = q[(j * n_params) * LANES:]
            _hvp(cur, qj, hv, hf, df, th, td, tmph, tmpw, minus, data, kind, one)
            # α_j = q_jᵀ H q_j; then w = H q_j − Σ_{i ≤ j} (q_iᵀ w) q_i (full reorthogonalization),
            # a second pass where the first cancelled more than 1 − 1/√2 of the norm (Daniel,
            # Gragg, Kaufman & Stewart 1976: "twice is enough"). q_0 is renormalized every cycle.
            a = _lane_dot(q, j * n_params, hv, 0, n_params)
            vstore(alpha, j * LANES, a)
            before = _lane_dot(hv, 0, hv, 0, n_params)
            for _ in range(2):
                for i in range(j + 1):
                    c = _lane_dot(q, i * n_params, hv, 0, n_params)
                    for p in range(n_params):
                        e = p * LANES
                        vstore(hv, e, vfnma(c, vload(q, (i * n_params + p) * LANES), vload(hv, e)))
                after = _lane_dot(hv, 0, hv, 0, n_params)
                vstore(lane_sq, 0, vsub(vmul(vsplat(2.0), after), before))
                again = False
                for t in range(LANES):
                    again = again or (not done[t] and lane_sq[t] < 0.0)  # ‖w‖² < ½‖Hq‖²
                if not again:
                    break
                before = after
            nb = vsqrt(_lane_dot(hv, 0, hv, 0, n_params))
            vstore(beta, j * LANES, nb)
            inv = vdiv(vsplat(1.0), nb)
            nxt = (j + 1) * n_params
            for p in range(n_params):
                vstore(q, (nxt + p) * LANES, vmul(vload(hv, p * LANES), inv))
            for t in range(LANES):
                # Breakdown (an invariant subspace: the Ritz values of T_{j+1} are eigenvalues).
                scale = abs(alpha[j * LANES + t]) + (beta[(j - 1) * LANES + t] if j > 0 else 0.0)
                if size[t] == cycle and not beta[j * LANES + t] > 1e-14 * scale:
                    size[t] = j + 1
                    beta[j * LANES + t] = 0.0
                    for p in range(n_params):
                        q[(nxt + p) * LANES + t] = 0.0
            # Convergence of each lane's top Ritz pair, every CHECK_EVERY steps (a lane that
            # broke down is checked at once: its residual is 0) and at the end of the cycle,
            # where unconverged lanes restart from their Ritz vector.
            last = j == cycle - 1
            check = False
            for t in range(n_lanes):
                if not done[t]:
                    hvps[start + t] += 1
                    check = check or size[t] == j + 1  # a breakdown: residual 0, done
            if not (check or last or (j + 1 >= first_steps and (j + 1) % CHECK_EVERY == 0)):
                continue
            n = j + 1  # (lanes that broke down earlier are done)
            for t in range(LANES):
                needed[t] = t < n_lanes and not done[t]
            _ritz_top(alpha, beta, n, theta_now, ritz, scratch, guess, needed)
            for t in range(n_lanes):
                if done[t]:
                    continue
                theta[t] = theta_now[t]
                bound[t] = abs(beta[(n - 1) * LANES + t] * ritz[(n - 1) * LANES + t])
                guess[t] = theta[t] + 2.0 * bound[t] + 1e-12 * abs(theta[t])
                converged = bound[t] <= tol * abs(theta[t]) or not np.isfinite(theta[t])
                if converged or last:
                    # Ritz vector y = Q s: this lane's result and next start, into q_0.
                    for p in range(n_params):
                        acc = 0.0
                        for i in range(n):
                            acc += ritz[i * LANES + t] * q[(i * n_params + p) * LANES + t]
                        hv[p * LANES + t] = acc
                    for p in range(n_params):
                        q[p * LANES + t] = hv[p * LANES + t]
                    done[t] = converged
            finished = True
            for t in range(LANES):
                finished = finished and done[t]
            if finished:
                break
        if finished:
            break
        first_steps = 1
    for t in range(n_lanes):
        if active[t]:
            b = start + t
            observed[b, o, 2] = theta[t]
            residual[b, o] = bound[t]
            s = 0.0
            for p in range(n_params):
                s += q[p * LANES + t] ** 2
            if s > 0.0 and np.isfinite(s):
                for p in range(n_params):
                    vectors[b, n_params + p] = vectors[b, p]
                    vectors[b, p] = q[p * LANES + t]
    _keep_alive(minus_owner, ritz_owner, theta_owner, scratch_owner, guess_owner, needed_owner)
