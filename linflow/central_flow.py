"""Central flows: the time-averaged path of GD / RMSProp at the edge of stability.

Cohen, Damian, Talwalkar, Kolter & Lee, *Understanding Optimization in Deep Learning with
Central Flows*, ICLR 2025 (arXiv 2410.24206); theory/central-flows. Time is counted in optimizer
steps: flow time t corresponds to iterate t of the discrete optimizer.

One formulation covers the three optimizers. Let ``p`` be the per-coordinate effective step
(``η`` for GD, ``η/(√ν + ε)`` for (Scalar) RMSProp), ``D = diag(√p)`` and ``Ĥ = D H D`` the
preconditioned Hessian, whose eigenvalues are the *effective sharpness* (``ηλ`` for GD,
``ηλ/√ν`` for Scalar RMSProp); the edge of stability is ``λ̂ = 2``. With ``v_i`` the
eigenvectors of ``Ĥ`` whose eigenvalues exceed ``edge_threshold`` (1.95, the authors'
choice), ``u_i = D v_i``, ``g_ij = ∇_θ(u_iᵀ H u_j)`` (:mod:`linflow._third_derivative`) and a
PSD ``k×k`` matrix X (the oscillation covariance ``Σ = U X Uᵀ``):

    dθ/dt = −p ⊙ [∇L + ½ Σ_kl X_kl g_kl],
    dν/dt = ((1−β₂)/β₂) [s(∇L) + q(Σ) − ν]        (RMSProp only),

with ``q(Σ) = tr(HΣH)`` (Scalar RMSProp: ``σ²S²`` for one eigenvalue) or ``diag(HΣH)``
(RMSProp: ``(4ν/η²)⊙diag Σ`` at the edge). X solves the semidefinite complementarity problem
(:mod:`linflow._sdcp`) that keeps the critical block ``M = VᵀĤV`` at or below ``2I`` over
the next Euler substep of length ``dt``: ``M(t + dt) ⪯ 2I`` with complementarity, i.e.

    X ⪰ 0,  α + B[X] ⪰ 0,  ⟨X, α + B[X]⟩ = 0,   −dM/dt = α + B[X] − (2I − Λ)/dt,

where the residual ``(2I − Λ)/dt`` is folded into α so that drift away from the edge is
corrected (the authors' discretization). For GD ``α_ij = η⟨g_ij, ∇L⟩ + (2 − λ̂_i)δ_ij/dt``
and ``B[X]_ij = (η/2)Σ⟨g_ij, g_kl⟩X_kl`` (with the scaled ``u = √η v``); one critical
eigenvalue gives the closed form ``σ² = max(0, 2⟨−∇L, ∇S⟩/‖∇S‖²)`` of theory/central-flows. For
RMSProp, α and B also contain the change of the preconditioner through ν (derived by
Hellmann–Feynman on ``vᵀDHDv``): ``−(λ̂_i + λ̂_j) v_iᵀ diag(ṗ/(2p)) v_j``. The X-dependent
part of that term is made self-adjoint by the factor ``√((λ̂_i+λ̂_j)λ̂_iλ̂_j)`` on each
side, exact for one critical eigenvalue and at the edge (λ̂ = 2); for one eigenvalue and
Scalar RMSProp this reproduces the [checked] closed form of theory/central-flows
``σ² = [2⟨−∇L,∇S⟩ + c(S²/2 − 2‖∇L‖²/η²)] / [‖∇S‖² + 2cS²/η²]``.

Predictions (Cohen et al. 2025, §3.3): time-averaged loss ``L + ½⟨Σ, H⟩`` (``= L + tr Σ/η``
for GD at the edge) and squared gradient norm ``‖∇L‖² + tr(HΣH)``.

Ablations (``ablation=``): ``"stable"`` drops X entirely (GF for GD; the "stable flow" of
RMSProp, ``dθ/dt = −p⊙∇L``, ``dν/dt = c(s(∇L) − ν)``); ``"no_penalty"`` (RMSProp only) keeps
the oscillation's effect on ν but drops the implicit sharpness penalty ``½∇⟨Σ, H⟩`` from
dθ/dt, so the edge is held by growing ν alone ("acceleration via regularization", §5).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

from ._edge_eigen import DENSE_MAX_PARAMS, dense_hessian, top_eigenpairs
from ._flow_guard import DEFAULT_MAX_SECONDS
from ._persist import ResultIO
from ._sdcp import solve_sdcp
from ._third_derivative import hessian_entry_gradients, require_end_to_end
from ._validation import (
    check_finite_array,
    check_int,
    check_memory,
    check_positive,
    check_single_weights,
)
from .network import flatten, unflatten
from .optimizers import Optimizer, as_optimizer
from .problem import Problem
from .results import Status

__all__ = ["integrate_central_flow", "CentralFlowResult", "ABLATIONS"]

ABLATIONS = (None, "stable", "no_penalty")
_EIGENSOLVERS = ("auto", "dense", "lobpcg")
# An SDCP residual above this (relative) means no solution was found: far above the solver's
# 1e-10 target, yet small next to the O(dt) error of the Euler discretization.
_SDCP_ACCEPT = 1e-6
# Entering the edge: a substep that carries an eigenvalue of Ĥ from below 2 − _ENTRY_TOL to above
# 2 + _ENTRY_TOL is redone in halves (see _refine), at most _MAX_REFINE times nested. The
# tolerance is 4× below the central flow's accuracy target ηS = 2 ± 1e-3; the overshoot falls ~4× per
# halving (Euler's O(dt²) error), so 6 halvings bring the largest one measured at dt = 1/4
# (0.07) below it.
_ENTRY_TOL = 2.5e-4
_MAX_REFINE = 6
# Explicit Euler on θ' = −p⊙∇L multiplies the component along an eigenvector of Ĥ = DHD by
# 1 − hλ̂ (to first order): |1 − hλ̂| < 1 needs hλ̂ < 2, and hλ̂ ≤ 1 keeps the factor in [0, 1)
# (no sign flip, so the loss decreases as along the flow). Eigenvalues above the edge are held by
# the oscillation term; any other eigenvalue λ̂ with dt·λ̂ > _EULER_MARGIN (the stable ablation
# past the edge, or substeps=1) gets ⌈dt·λ̂/_EULER_MARGIN⌉ Euler steps per substep instead of one.
_EULER_MARGIN = 1.0
# More Euler steps than this per substep: the flow is too stiff for this integrator (LEFT_REGIME).
_MAX_SPLIT = 64
# Substeps per optimizer step accepted from the caller (each costs an eigensolve and an SDCP).
_MAX_SUBSTEPS = 4096


@dataclass(frozen=True)
class CentralFlowResult(ResultIO):
    """Outcome of :func:`integrate_central_flow`; R records at times ``t`` (in steps).

    Attributes
    ----------
    t : ndarray (R,)
        Times in optimizer steps (flow time t ↔ iterate t).
    weights : tuple of ndarray, each (R, d_{j+1}, d_j)
    final_weights : tuple of ndarray
        Weights at the last recorded time; after an early stop (LEFT_REGIME), the state where the
        flow stopped (recorded at its fractional time ``stop_time``).
    losses : ndarray (R,)
        ``L(θ(t))`` along the flow.
    sharpness : ndarray (R, n_eigenvalues)
        Top eigenvalues of ``∇²f(θ(t))``, descending (``sharpness[:, 0]`` is S).
    effective_sharpness : ndarray (R,)
        Top eigenvalue of the preconditioned ``Ĥ = DHD``: ``ηS`` (GD), ``ηS/(√ν+ε)`` (Scalar
        RMSProp), ``λ_max(P^{−1/2}HP^{−1/2})`` (RMSProp). The edge is 2.
    sigma : tuple of ndarray (k_r, k_r)
        The complementarity solution X per record (``Σ = U X Uᵀ``, ``U = D V`` with V the
        orthonormal critical eigenvectors of Ĥ; for GD ``U = √η V``, so ``ηX`` is Σ in the
        orthonormal eigenbasis). Empty (0×0) below the edge.
    sigma_trace : ndarray (R,)
        ``tr Σ``: predicted mean squared distance of the optimizer from the flow.
    n_critical : ndarray of int (R,)
        Number of eigenvalues of Ĥ above ``edge_threshold``.
    predicted_loss, predicted_grad_norm_sq, grad_norm_sq : ndarray (R,)
        ``L + ½⟨Σ, H⟩``, ``‖∇L‖² + tr(HΣH)`` and ``‖∇L‖²``.
    nu : ndarray (R,) or (R, P), or None
        RMSProp second moment along the flow.
    kkt_residual : ndarray (R,)
        Largest relative SDCP residual over the substeps of the step that starts at ``t``.
    oscillation_ratio : ndarray (R,)
        ``max_i ‖∇λ̂_i‖·√(tr Σ)/2``: relative change of the effective sharpness across the
        predicted oscillation; the flow's Taylor expansion needs it ≪ 1.
    status : Status
        SUCCESS, DIVERGED (non-finite loss) or LEFT_REGIME (see ``message``).
    message : str
    stop_time : float
        Time (in steps) at which integration stopped.
    observables : dict
        ``integrate_central_flow(observe=...)``: each observable at the times ``t``, ``(R[, m])``.
    """

    t: np.ndarray
    weights: tuple
    final_weights: tuple
    losses: np.ndarray
    sharpness: np.ndarray
    effective_sharpness: np.ndarray
    sigma: tuple
    sigma_trace: np.ndarray
    n_critical: np.ndarray
    predicted_loss: np.ndarray
    predicted_grad_norm_sq: np.ndarray
    grad_norm_sq: np.ndarray
    nu: Optional[np.ndarray]
    kkt_residual: np.ndarray
    oscillation_ratio: np.ndarray
    status: Status
    message: str
    stop_time: float
    learning_rate: float
    optimizer: Optimizer
    substeps: int
    ablation: Optional[str] = None
    extra: dict = field(default_factory=dict)
    observables: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.status is Status.SUCCESS

    @property
    def flat_weights(self) -> np.ndarray:
        """Recorded weights as flat parameter vectors, shape (R, P)."""
        return flatten(self.weights)

    def _repr_html_(self) -> str:
        from ._html import number, table

        rows = [
            ("optimizer", f"{self.optimizer}, η = {number(self.learning_rate)}, {self.substeps} substeps per step"),
            ("status", f"{self.status.name.lower()}: {self.message}"),
            ("steps", f"{number(self.t[0])} … {number(self.stop_time)}" if self.t.size else "—"),
            ("loss (first / last)",
             f"{number(self.losses[0])} / {number(self.losses[-1])}" if self.losses.size else "—"),
            ("final effective sharpness", number(self.effective_sharpness[-1]) if self.t.size else "—"),
            ("steps at the edge", f"{int(np.sum(self.n_critical > 0))} of {self.t.size} records"),
        ]
        if self.ablation:
            rows.insert(1, ("ablation", self.ablation))
        return table("CentralFlowResult", rows)


@dataclass(frozen=True)
class _Config:
    problem: Problem
    eta: float
    optimizer: Optimizer
    dt: float
    ablation: Optional[str]
    edge_threshold: float
    edge_tolerance: float
    max_oscillation_ratio: float
    n_eigenvalues: int
    dense: bool
    sdcp_tol: float

    @property
    def c(self) -> float:
        """``(1 − β₂)/β₂``: the rate of ``dν/dt`` (0 without a second moment)."""
        if not self.optimizer.adaptive:
            return 0.0
        return (1.0 - self.optimizer.beta2) / self.optimizer.beta2

    @property
    def eps(self) -> float:
        return self.optimizer.eps if self.optimizer.adaptive else 0.0


@dataclass
class _Evaluation:
    loss: float
    grad: np.ndarray
    lam: np.ndarray  # top eigenvalues of Ĥ (descending, at least n_eigenvalues)
    V: np.ndarray  # matching eigenvectors
    k: int
    X: np.ndarray
    dtheta: np.ndarray
    dnu: object
    sigma_trace: float
    predicted_loss: float
    predicted_grad_norm_sq: float
    kkt: float
    sdcp_ok: bool
    oscillation_ratio: float
    hessian: Optional[np.ndarray]


def _effective_step(cfg: _Config, nu, n_params: int) -> np.ndarray:
    if not cfg.optimizer.adaptive:
        return np.full(n_params, cfg.eta)
    return np.broadcast_to(cfg.eta / (np.sqrt(nu) + cfg.eps), (n_params,)).astype(np.float64)


def _evaluate(cfg: _Config, theta: np.ndarray, nu, X_prev, V_prev) -> _Evaluation:
    """Velocity of the central flow at ``(θ, ν)`` (solving the SDCP) and its predictions."""
    problem = cfg.problem
    shapes = problem.network.shapes
    weights = unflatten(theta, shapes)
    loss, grads = problem._loss_and_gradient(weights)
    g = flatten(grads)
    n = g.size
    p = _effective_step(cfg, nu, n)
    d = np.sqrt(p)
    hess = dense_hessian(problem, weights) if cfg.dense else None

    m = max(cfg.n_eigenvalues, (V_prev.shape[1] + 1) if V_prev is not None else 1)
    while True:
        lam, V = top_eigenpairs(problem, weights, d, m, hessian=hess, start=V_prev)
        if np.sum(lam > cfg.edge_threshold) < lam.size or lam.size == n:
            break
        m *= 2  # every computed eigenvalue is critical: look further down the spectrum

    dnu0 = None
    if cfg.optimizer.adaptive:
        dnu0 = cfg.c * (cfg.optimizer.flat_squared_gradient(g) - nu)
    # Candidates: the computed top eigenpairs with λ̂ > 0. Critical: above the threshold, or
    # about to cross the edge within the next substep without the oscillation term
    # (λ̂_i − dt·α_ii > 2), so that a fast-sharpening eigenvalue cannot jump over the edge
    # between two substeps. Including extra ones is harmless: thanks to the folded residual
    # (2 − λ̂_i)/dt the SDCP leaves X = 0 on eigenvalues that stay below 2.
    n_cand = 0 if cfg.ablation == "stable" else int(np.sum(lam > 0))
    alpha = np.zeros((0, 0))
    B = np.zeros((0, 0, 0, 0))
    G = np.zeros((0, 0, n))
    if n_cand:
        U = d[:, None] * V[:, :n_cand]
        G = hessian_entry_gradients(problem, weights, U)
        alpha, B = _sdcp_terms(cfg, G, p, g, nu, dnu0, lam[:n_cand], V[:, :n_cand])
        crit = (lam[:n_cand] > cfg.edge_threshold) | (lam[:n_cand] - cfg.dt * np.diag(alpha) > 2.0)
        idx = np.flatnonzero(crit)
        alpha = alpha[np.ix_(idx, idx)]
        B = B[np.ix_(idx, idx, idx, idx)]
        G = G[np.ix_(idx, idx)]
    else:
        idx = np.zeros(0, dtype=np.int64)
    k = idx.size
    lk = lam[idx]
    Vk = V[:, idx]
    U = d[:, None] * Vk
    HU = hess @ U if hess is not None else _hvp_block(problem, weights, U)
    if k == 0:
        X = np.zeros((0, 0))
        kkt, ok = 0.0, True
    else:
        alpha = alpha + np.diag((2.0 - lk) / cfg.dt)  # folded residual: λ̂(t + dt) ⪯ 2
        warm = X_prev if X_prev is not None and X_prev.shape == (k, k) else None
        sol = solve_sdcp(alpha, B, X0=warm, tol=cfg.sdcp_tol)
        X, kkt = sol.X, sol.residual
        ok = bool(np.isfinite(kkt) and kkt <= _SDCP_ACCEPT)
        if not ok:
            X = np.where(np.isfinite(X), X, 0.0)

    force = g.copy()
    if k and cfg.ablation != "no_penalty":
        force += 0.5 * np.einsum("kl,klp->p", X, G)
    dtheta = -p * force
    gram = HU.T @ HU  # (Hu_k)·(Hu_l)
    dnu = None
    if cfg.optimizer.scalar_second_moment:
        dnu = dnu0 + cfg.c * float(np.sum(X * gram))
    elif cfg.optimizer.adaptive:
        dnu = dnu0 + cfg.c * np.einsum("kl,pk,pl->p", X, HU, HU)
    sigma_trace = float(np.sum(X * (U.T @ U)))
    osc = 0.0
    if k:
        grad_norms = np.linalg.norm(G[np.arange(k), np.arange(k)], axis=1)
        osc = float(grad_norms.max() * np.sqrt(max(sigma_trace, 0.0)) / 2.0)
    return _Evaluation(
        loss=float(loss), grad=g, lam=lam, V=V, k=k, X=X, dtheta=dtheta, dnu=dnu,
        sigma_trace=sigma_trace,
        predicted_loss=float(loss + 0.5 * np.sum(X * (U.T @ HU))),
        predicted_grad_norm_sq=float(g @ g + np.sum(X * gram)),
        kkt=float(kkt), sdcp_ok=ok, oscillation_ratio=osc, hessian=hess,
    )


def _sdcp_terms(cfg: _Config, G, p, g, nu, dnu0, lk, Vk):
    """α (without the folded residual) and B of the complementarity problem.

    ``−dM/dt = α + B[X]`` for ``M = VᵀĤV`` (V held fixed), with ``G[i, j] = ∇_θ(u_iᵀHu_j)``,
    ``u = D v``; see the module docstring for the RMSProp (preconditioner) terms.
    """
    k = lk.size
    alpha = np.einsum("ijp,p->ij", G, p * g)
    B = np.zeros((k, k, k, k))
    if cfg.ablation != "no_penalty":
        B += 0.5 * np.einsum("ijp,klp->ijkl", G, p[None, None, :] * G)
    if cfg.optimizer.adaptive:
        sq = np.sqrt(nu)
        inv = 1.0 / (4.0 * sq * (sq + cfg.eps))  # −(dp/dt)/(2p) = inv · dν/dt
        pair = lk[:, None] + lk[None, :]
        weight = np.sqrt(pair * lk[:, None] * lk[None, :])
        if cfg.optimizer.scalar_second_moment:
            alpha = alpha + np.diag(2.0 * lk) * (dnu0 * inv)
            kern = (cfg.c * inv / p[0]) * np.einsum("ij,kl->ijkl", np.eye(k), np.eye(k))
        else:
            alpha = alpha + pair * np.einsum("pi,pj,p->ij", Vk, Vk, dnu0 * inv)
            kern = np.einsum("pi,pj,pk,pl,p->ijkl", Vk, Vk, Vk, Vk, cfg.c * inv / p)
        B += weight[:, :, None, None] * kern * weight[None, None, :, :]
    return alpha, B


def _hvp_block(problem, weights, block: np.ndarray) -> np.ndarray:
    if block.shape[1] == 0:
        return np.zeros_like(block)
    return flatten(problem._hvp(weights, unflatten(block.T, problem.network.shapes))).T


def _raw_eigenvalues(cfg: _Config, ev: _Evaluation, theta, nu, m: int) -> np.ndarray:
    """Top ``m`` eigenvalues of H itself (for the record)."""
    if not cfg.optimizer.adaptive:
        return ev.lam[:m] / cfg.eta
    if cfg.optimizer.scalar_second_moment:
        return ev.lam[:m] / float(_effective_step(cfg, nu, 1)[0])
    n = theta.size
    weights = unflatten(theta, cfg.problem.network.shapes)
    vals, _ = top_eigenpairs(cfg.problem, weights, np.ones(n), m, hessian=ev.hessian)
    return vals[:m]


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}; got {name}={value!r}")
    return value


def integrate_central_flow(
    problem: Problem,
    weights0,
    *,
    learning_rate: float,
    n_steps: int,
    optimizer="gd",
    beta2: Optional[float] = None,
    eps: Optional[float] = None,
    substeps: int = 4,
    record_every: int = 1,
    ablation: Optional[str] = None,
    nu0=None,
    edge_threshold: float = 1.95,
    edge_tolerance: float = 0.05,
    max_oscillation_ratio: Optional[float] = None,
    n_eigenvalues: int = 3,
    eigensolver: str = "auto",
    sdcp_tol: float = 1e-10,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    observe=None,
    observe_options=None,
) -> CentralFlowResult:
    """Integrate the central flow of GD, Scalar RMSProp or RMSProp (Cohen et al. 2025).

    Parameters
    ----------
    problem : Problem
        Network and loss (½ convention: ``½‖W_e − Φ‖_F²`` or ``(1/2m)‖W_e X − Y‖_F²``).
    weights0 : tuple of ndarray
        Initial weights (single network), the same as the discrete optimizer's ``θ_0``.
    learning_rate : float
        The optimizer's η; the edge of stability is ``ηS = 2`` (GD).
    n_steps : int
        Integrate over ``t ∈ [0, n_steps]`` (time in optimizer steps).
    optimizer : linflow.optimizers.Optimizer or {"gd", "scalar_rmsprop", "rmsprop"}
        ``GD()``, ``ScalarRMSProp(β₂, ε)`` or ``RMSProp(β₂, ε)`` (the optimizers with a central
        flow; others are refused), or a shorthand string with ``beta2`` and ``eps``.
    beta2 : float in (0, 1)
        With a shorthand string only: RMSProp's β₂ (required for RMSProp).
    eps : float ≥ 0
        With a shorthand string only: RMSProp's ε in ``η/(√ν + ε)`` (default 0).
    substeps : int
        Euler substeps per optimizer step (``dt = 1/substeps``; 4 as in the authors' code), at
        most 4096.
    record_every : int
        Record every this many steps (the last time is always recorded).
    ablation : {None, "stable", "no_penalty"}
        See the module docstring. ``"no_penalty"`` needs an RMSProp optimizer.
    nu0 : float or ndarray (P,), optional
        Initial second moment; default as the discrete optimizer (:mod:`linflow.optimizers`):
        ``ν_0 = s(∇f(θ_0))``, or 0 for ``nu_init="zero"``.
    edge_threshold : float in (0, 2)
        Eigenvalues of Ĥ above this are treated as at the edge (default 1.95, the authors').
    edge_tolerance : float > 0
        The run stops with ``Status.LEFT_REGIME`` when the effective sharpness exceeds
        ``2 + edge_tolerance`` (the flow could not hold the edge, or started beyond it).
    max_oscillation_ratio : float > 0, optional
        Stop with ``LEFT_REGIME`` when ``oscillation_ratio`` (recorded in any case) exceeds
        this: the predicted oscillation is so large that the effective sharpness would change
        by more than this fraction across it and the Taylor model behind the flow degrades.
        Off by default: in the runs of ``scripts/central_flow_vs_gd.py`` predictions were within
        3 % at ratio 0.02 but 43 % low at 0.6, while entering the edge can briefly reach 0.9 in
        runs that track GD closely, so no single threshold separates the cases.
    n_eigenvalues : int
        Number of top Hessian eigenvalues recorded (and computed at least).
    eigensolver : {"auto", "dense", "lobpcg"}
        ``"auto"``: dense for P ≤ 600, LOBPCG on Hessian-vector products beyond.
    sdcp_tol : float
        Relative tolerance of the complementarity solver.
    max_seconds : float
        Wall-clock budget (default 120 s), checked at every substep: when it runs out the flow
        stops with :attr:`Status.BUDGET_EXHAUSTED` at the time reached.
    observe : sequence of str, optional
        Observables (:data:`linflow.observables.OBSERVABLES`, as for ``simulate_descent``)
        recorded at the flow's record times into ``result.observables[name]`` (``(R[, m])``);
        ``effective_sharpness`` of RMSProp uses the flow's own ``ν`` at each record.
    observe_options : dict, optional
        Per-observable options, as for ``simulate_descent``.

    Returns
    -------
    CentralFlowResult
        ``status`` SUCCESS, DIVERGED, BUDGET_EXHAUSTED or LEFT_REGIME: beyond the edge, no SDCP
        solution, oscillation too large, or too stiff — an eigenvalue of Ĥ off the edge so large
        that even 64 Euler steps per substep cannot keep ``h·λ̂ ≤ 1`` (each substep is split into
        ``⌈dt·λ̂⌉`` Euler steps when ``dt·λ̂ > 1``, e.g. the stable ablation past the edge, so
        that the loss does not rise through Euler instability).

    Raises
    ------
    TypeError, ValueError
        Invalid arguments (before any computation).

    Notes
    -----
    Cohen et al. 2025 (ICLR), §3 (GD), §5 (RMSProp); theory/central-flows [paper]. Equations and
    discretization in the module docstring. Weights are flat Euler updates
    ``θ ← θ + dt·dθ/dt``; the eigenvectors are recomputed at every substep.

    Examples
    --------
    >>> import numpy as np
    >>> from linflow import DeepLinearNetwork, Problem, integrate_central_flow
    >>> prob = Problem(DeepLinearNetwork((1, 1, 1, 1)), target=[[1.0]])
    >>> w0 = tuple(np.array([[v]]) for v in (0.35, 0.54, 1.65))
    >>> res = integrate_central_flow(prob, w0, learning_rate=0.64, n_steps=60)
    >>> res.status.name, round(float(res.effective_sharpness[0]), 2)  # starts below the edge
    ('SUCCESS', 0.79)
    >>> round(float(res.effective_sharpness[-1]), 6)  # ...and is pinned at ηS = 2
    2.0
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a linflow.Problem; got problem={problem!r}")
    require_end_to_end(problem)
    weights0 = check_single_weights(weights0, problem.network.shapes, name="weights0")
    eta = check_positive(learning_rate, "learning_rate")
    n_steps = check_positive(n_steps, "n_steps", integer=True)
    substeps = check_int(substeps, "substeps", minimum=1, maximum=_MAX_SUBSTEPS)
    record_every = check_positive(record_every, "record_every", integer=True)
    n_eigenvalues = check_positive(n_eigenvalues, "n_eigenvalues", integer=True)
    optimizer = as_optimizer(optimizer, beta2, eps)
    if not optimizer.has_central_flow:
        raise ValueError(
            "integrate_central_flow has central flows of GD, ScalarRMSProp and RMSProp only "
            f"(Cohen et al. 2025); got optimizer={optimizer!r}"
        )
    _check_choice(ablation, "ablation", ABLATIONS)
    _check_choice(eigensolver, "eigensolver", _EIGENSOLVERS)
    if ablation == "no_penalty" and not optimizer.adaptive:
        raise ValueError(
            "ablation='no_penalty' needs an RMSProp optimizer (GD has no preconditioner to hold the "
            f"edge); got optimizer={optimizer!r}"
        )
    edge_threshold = check_positive(edge_threshold, "edge_threshold")
    if edge_threshold >= 2.0:
        raise ValueError(f"edge_threshold must lie in (0, 2); got edge_threshold={edge_threshold!r}")
    edge_tolerance = check_positive(edge_tolerance, "edge_tolerance")
    if max_oscillation_ratio is None:
        max_oscillation_ratio = np.inf
    else:
        max_oscillation_ratio = check_positive(max_oscillation_ratio, "max_oscillation_ratio")
    sdcp_tol = check_positive(sdcp_tol, "sdcp_tol")
    max_seconds = check_positive(max_seconds, "max_seconds")
    names = options = None
    if observe is not None:
        from .observables import check_observe

        names, _, options = check_observe(observe, 1, observe_options, problem, optimizer)

    n = problem.network.n_params
    n_records = float(n_steps) / record_every + 2.0
    per_record = 2 * n + n_eigenvalues + 16  # θ, ν (RMSProp), eigenvalues and the scalar series
    check_memory(8.0 * n_records * per_record, argument=f"n_steps={n_steps} (record_every={record_every})",
                 what="the recorded central flow", advice="reduce n_steps or record every k-th step (record_every=k)")
    theta = flatten(weights0).astype(np.float64)
    eps = optimizer.eps if optimizer.adaptive else 0.0
    if not optimizer.adaptive:
        if nu0 is not None:
            raise ValueError(f"nu0 is only used by RMSProp; got nu0={nu0!r} with optimizer={optimizer!r}")
        nu = None
    else:
        if nu0 is None:
            g0 = flatten(problem._gradient(weights0))
            nu = optimizer.flat_initial_second_moment(g0)
        elif optimizer.scalar_second_moment:
            nu = float(check_positive(nu0, "nu0"))
        else:
            nu = check_finite_array(nu0, "nu0", shape=(n,)).copy()
        if np.any(np.sqrt(nu) + eps <= 0):
            raise ValueError(
                "the RMSProp preconditioner η/(√ν + ε) is infinite: nu0 has zero entries (a zero "
                f"initial gradient coordinate) and eps=0; pass eps > 0 or a positive nu0; got eps={eps!r}"
            )
    dense = eigensolver == "dense" or (eigensolver == "auto" and n <= DENSE_MAX_PARAMS)
    cfg = _Config(
        problem=problem, eta=eta, optimizer=optimizer, dt=1.0 / substeps,
        ablation=ablation, edge_threshold=edge_threshold, edge_tolerance=edge_tolerance,
        max_oscillation_ratio=max_oscillation_ratio, n_eigenvalues=n_eigenvalues, dense=dense,
        sdcp_tol=sdcp_tol,
    )
    result = _integrate(cfg, theta, nu, n_steps, substeps, record_every, max_seconds)
    if names is None:
        return result
    from .observables import observe_path

    precond = None
    if optimizer.adaptive:
        # RMSProp's diagonal preconditioner √ν + ε at each record (ν scalar for Scalar RMSProp).
        nu_rec = np.asarray(result.nu, dtype=np.float64).reshape(result.t.size, -1)
        precond = np.broadcast_to(np.sqrt(nu_rec) + eps, (result.t.size, n))
    observed = observe_path(problem, result.weights, weights0, names, options, preconditioner=precond)
    return replace(result, observables=observed)


def _integrate(cfg: _Config, theta, nu, n_steps, substeps, record_every, max_seconds=np.inf) -> CentralFlowResult:
    deadline = time.monotonic() + max_seconds
    record_steps = list(range(0, n_steps + 1, record_every))
    if record_steps[-1] != n_steps:
        record_steps.append(n_steps)
    record_set = set(record_steps)
    rec = {key: [] for key in (
        "t", "theta", "loss", "sharp", "eff", "X", "trace", "k", "pl", "pg", "gn", "nu", "kkt", "osc")}
    status, message = Status.SUCCESS, "integrated over the whole time span"
    stop_time = float(n_steps)

    def record(time, th, nu_now, ev, kkt_max):
        rec["t"].append(float(time))
        rec["theta"].append(th.copy())
        rec["loss"].append(ev.loss)
        rec["sharp"].append(_raw_eigenvalues(cfg, ev, th, nu_now, cfg.n_eigenvalues))
        rec["eff"].append(float(ev.lam[0]))
        rec["X"].append(ev.X.copy())
        rec["trace"].append(ev.sigma_trace)
        rec["k"].append(ev.k)
        rec["pl"].append(ev.predicted_loss)
        rec["pg"].append(ev.predicted_grad_norm_sq)
        rec["gn"].append(float(ev.grad @ ev.grad))
        rec["nu"].append(None if nu_now is None else np.copy(nu_now))
        rec["kkt"].append(kkt_max)
        rec["osc"].append(ev.oscillation_ratio)

    def invalid(ev, t):
        if not np.isfinite(ev.loss) or not np.all(np.isfinite(ev.dtheta)):
            return Status.DIVERGED, f"the loss or the velocity became non-finite at t={t:g}"
        if time.monotonic() > deadline:
            return Status.BUDGET_EXHAUSTED, (
                f"stopped at t={t:g} after max_seconds={max_seconds:g}; raise max_seconds to integrate further")
        if ev.lam[0] > 2.0 + cfg.edge_tolerance:
            return Status.LEFT_REGIME, (
                f"effective sharpness {ev.lam[0]:.4f} exceeds 2 + edge_tolerance at t={t:g}: the flow "
                "cannot hold the edge (the optimizer would catapult or diverge)")
        if not ev.sdcp_ok:
            return Status.LEFT_REGIME, (
                f"the complementarity problem has no solution at t={t:g} (relative residual "
                f"{ev.kkt:.2e}): the edge cannot be held")
        if ev.oscillation_ratio > cfg.max_oscillation_ratio:
            return Status.LEFT_REGIME, (
                f"predicted oscillation too large at t={t:g} (oscillation_ratio="
                f"{ev.oscillation_ratio:.3f} > {cfg.max_oscillation_ratio}): the flow's Taylor "
                "expansion fails; GD would leave this region (catapult)")
        return None

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss0, grads0 = cfg.problem._loss_and_gradient(unflatten(theta, cfg.problem.network.shapes))
        if not (np.isfinite(loss0) and all(np.all(np.isfinite(g)) for g in grads0)):
            _record_unevaluated(rec, 0.0, theta, nu, loss0, cfg.n_eigenvalues)
            message = "the loss or its gradient overflows at the initial weights (t=0)"
            return _build_result(cfg, rec, Status.DIVERGED, message, 0.0, substeps)
        try:
            ev = _evaluate(cfg, theta, nu, None, None)
        except np.linalg.LinAlgError as exc:
            _record_unevaluated(rec, 0.0, theta, nu, loss0, cfg.n_eigenvalues)
            return _build_result(
                cfg, rec, Status.DIVERGED, f"the Hessian eigensolver failed at t=0: {exc}", 0.0, substeps
            )
        for step in range(n_steps + 1):
            theta_start, nu_start, first = theta, nu, ev
            kkt_max, bad = 0.0, None
            for sub in range(substeps if step < n_steps else 1):
                t = step + sub * cfg.dt
                kkt_max = max(kkt_max, ev.kkt) if np.isfinite(ev.kkt) else np.inf
                bad = invalid(ev, t)
                if bad is not None or step == n_steps:
                    break
                X_prev, V_prev = ev.X, ev.V[:, : max(ev.k, 1)]
                split = _euler_split(cfg.dt, ev)
                if split > _MAX_SPLIT:
                    bad = Status.LEFT_REGIME, (
                        f"the flow is too stiff at t={t:g}: effective sharpness {_free_sharpness(ev):.4g} off "
                        f"the edge needs more than {_MAX_SPLIT} Euler steps per substep to stay stable")
                    break
                try:
                    if split > 1:
                        theta_new, nu_new, X_prev, V_prev = _split_euler(cfg, theta, nu, ev, split)
                    else:
                        theta_new, nu_new = _euler(cfg.dt, theta, nu, ev)
                    ev_new = _evaluate(cfg, theta_new, nu_new, X_prev, V_prev)
                    if split == 1 and _crosses_edge(ev, ev_new):
                        # An eigenvalue jumped over the edge within the substep: redo it in halves.
                        theta_new, nu_new, X_prev, V_prev, kkt_sub = _refine(
                            cfg, theta, nu, cfg.dt, X_prev, V_prev, 1)
                        kkt_max = max(kkt_max, kkt_sub) if np.isfinite(kkt_sub) else np.inf
                        ev_new = _evaluate(cfg, theta_new, nu_new, X_prev, V_prev)
                except np.linalg.LinAlgError as exc:  # non-finite curvature after the step
                    bad = Status.DIVERGED, f"the Hessian eigensolver failed after t={t:g}: {exc}"
                    break
                theta, nu, ev = theta_new, nu_new, ev_new
            if step in record_set:
                record(step, theta_start, nu_start, first, kkt_max)
            if bad is not None:
                status, message = bad
                stop_time = t
                # Also record the state where the flow stopped, when it is a new, finite one.
                if (sub > 0 or step not in record_set) and status in (Status.LEFT_REGIME, Status.BUDGET_EXHAUSTED):
                    record(t, theta, nu, ev, ev.kkt)
                break
    return _build_result(cfg, rec, status, message, stop_time, substeps)


def _record_unevaluated(rec, t, theta, nu, loss, n_eigenvalues):
    """A record of a state whose velocity could not be computed (NaN predictions)."""
    for key, value in (("t", float(t)), ("theta", theta.copy()), ("loss", float(loss)),
                       ("sharp", np.full(n_eigenvalues, np.nan)), ("eff", np.nan), ("X", np.zeros((0, 0))),
                       ("trace", np.nan), ("k", 0), ("pl", np.nan), ("pg", np.nan), ("gn", np.nan),
                       ("nu", None if nu is None else np.copy(nu)), ("kkt", np.nan), ("osc", np.nan)):
        rec[key].append(value)


def _euler(h: float, theta, nu, ev: _Evaluation):
    """One explicit Euler step of length ``h`` with the velocity ``ev``."""
    return theta + h * ev.dtheta, (None if nu is None else nu + h * ev.dnu)


def _free_sharpness(ev: _Evaluation) -> float:
    """Largest eigenvalue of Ĥ not held at the edge by the oscillation term (all of them when
    no eigenvalue is critical, e.g. in the stable ablation)."""
    free = ev.lam[ev.k:] if ev.k < ev.lam.size else ev.lam[:0]
    return float(free[0]) if free.size else 0.0


def _euler_split(h: float, ev: _Evaluation) -> int:
    """Euler steps needed over a substep of length ``h`` so that each has ``h·λ̂ ≤ _EULER_MARGIN``."""
    stiff = h * _free_sharpness(ev) / _EULER_MARGIN
    if not np.isfinite(stiff):
        return 1  # a non-finite state is reported as DIVERGED by the caller
    return max(1, int(np.ceil(stiff)))


def _split_euler(cfg: _Config, theta, nu, ev: _Evaluation, split: int):
    """Advance over one substep ``cfg.dt`` in ``split`` Euler steps, re-evaluating the velocity
    (with the SDCP of each short step) in between; returns the state and the warm starts."""
    sub = replace(cfg, dt=cfg.dt / split)
    X_prev, V_prev = ev.X, ev.V[:, : max(ev.k, 1)]
    for i in range(split):
        if i or ev.k:  # the SDCP's folded residual (2 − λ̂)/dt depends on the step length
            ev = _evaluate(sub, theta, nu, X_prev, V_prev)
            X_prev, V_prev = ev.X, ev.V[:, : max(ev.k, 1)]
        theta, nu = _euler(sub.dt, theta, nu, ev)
        if not np.all(np.isfinite(theta)):
            break
    return theta, nu, X_prev, V_prev


def _crosses_edge(before: _Evaluation, after: _Evaluation) -> bool:
    """Whether a substep carried an eigenvalue of Ĥ from below the edge to beyond it.

    Counts eigenvalues ``≥ 2 − _ENTRY_TOL`` before and ``> 2 + _ENTRY_TOL`` after: more of the
    latter means one crossed by more than the tolerance (eigenvalues already held at the edge,
    whose O(dt²) drift the folded residual corrects, do not count).
    """
    n_edge = int(np.sum(before.lam >= 2.0 - _ENTRY_TOL))
    return int(np.sum(after.lam > 2.0 + _ENTRY_TOL)) > n_edge


def _refine(cfg: _Config, theta, nu, h: float, X_prev, V_prev, depth: int):
    """Advance ``(θ, ν)`` over an interval of length ``h`` in two Euler substeps of ``h/2``.

    Called where one substep of length ``h`` carried an eigenvalue over the edge
    (:func:`_crosses_edge`): the folded residual only lands the *linear* prediction on 2, so a
    fast, curved rise overshoots by O(h²). Each half that still crosses is halved again, down
    to ``h/2^_MAX_REFINE``; the SDCP of each half uses its own ``dt``, so the crossing half
    lands on the edge and the rest of the interval follows the constrained dynamics.

    Returns the state at the end, the warm starts (X, V) for the next evaluation and the largest
    SDCP residual met.
    """
    sub = replace(cfg, dt=h / 2.0)
    kkt = 0.0
    ev = _evaluate(sub, theta, nu, X_prev, V_prev)
    for half in range(2):
        kkt = max(kkt, ev.kkt) if np.isfinite(ev.kkt) else np.inf
        X_prev, V_prev = ev.X, ev.V[:, : max(ev.k, 1)]
        theta_new, nu_new = _euler(sub.dt, theta, nu, ev)
        if depth >= _MAX_REFINE:
            ev_new = _evaluate(sub, theta_new, nu_new, X_prev, V_prev) if half == 0 else None
        else:
            ev_new = _evaluate(sub, theta_new, nu_new, X_prev, V_prev)
            if _crosses_edge(ev, ev_new):
                theta_new, nu_new, X_prev, V_prev, kkt_sub = _refine(
                    cfg, theta, nu, sub.dt, X_prev, V_prev, depth + 1)
                kkt = max(kkt, kkt_sub) if np.isfinite(kkt_sub) else np.inf
                ev_new = _evaluate(sub, theta_new, nu_new, X_prev, V_prev) if half == 0 else None
        theta, nu, ev = theta_new, nu_new, ev_new
    return theta, nu, X_prev, V_prev, kkt


def _build_result(cfg, rec, status, message, stop_time, substeps) -> CentralFlowResult:
    shapes = cfg.problem.network.shapes
    thetas = np.array(rec["theta"]) if rec["theta"] else np.zeros((0, cfg.problem.network.n_params))
    weights = unflatten(thetas, shapes)
    final = unflatten(thetas[-1], shapes) if len(thetas) else None
    nus = None
    if cfg.optimizer.adaptive and rec["nu"]:
        nus = np.array(rec["nu"], dtype=np.float64)
    m = cfg.n_eigenvalues
    sharp = np.full((len(rec["sharp"]), m), np.nan)
    for i, s in enumerate(rec["sharp"]):
        sharp[i, : len(s)] = s
    return CentralFlowResult(
        t=np.array(rec["t"]), weights=weights, final_weights=final, losses=np.array(rec["loss"]),
        sharpness=sharp, effective_sharpness=np.array(rec["eff"]), sigma=tuple(rec["X"]),
        sigma_trace=np.array(rec["trace"]), n_critical=np.array(rec["k"], dtype=np.int64),
        predicted_loss=np.array(rec["pl"]), predicted_grad_norm_sq=np.array(rec["pg"]),
        grad_norm_sq=np.array(rec["gn"]), nu=nus, kkt_residual=np.array(rec["kkt"]),
        oscillation_ratio=np.array(rec["osc"]), status=status, message=message,
        stop_time=float(stop_time), learning_rate=cfg.eta, optimizer=cfg.optimizer,
        substeps=substeps, ablation=cfg.ablation,
    )
