"""``curvature``: accumulated negative curvature ∫λ_− dt along GF vs init scale and depth.

Elkabetz & Cohen 2021: GD drifts from GF by ``O(e^{−∫λ_−} tη)``, ``λ_− = min(λ_min(∇²f), 0)``
along the flow (theory/gd-vs-gf [paper]). For a scalar-output deep linear network with a
balanced near-zero initialization whose end-to-end matrix has norm s,
``∫_0^∞ λ_− dt ≈ −((N−1)/N) ln(‖φ‖/s)`` (theory/gd-vs-gf [checked]): only logarithmic in 1/s, so
the step size GD needs to track GF is polynomial in 1/s. This table integrates the flow to
convergence, evaluates ``λ_min`` of the exact Hessian on a uniform time grid (batched analytic
Hessian-vector products) and integrates its negative part with the trapezoidal rule.
"""

from __future__ import annotations

import numpy as np

from .._hessian import hessian_eigenvalues
from . import Option, checked_options
from ._format import Column, Progress, Table, sequence_text

NAME = "curvature"
SUMMARY = "∫λ_− along gradient flow vs initialization scale and depth, with the ln(1/s) prediction"

#: theory/gd-vs-gf reference target (scalar output) and hidden width.
DEFAULT_TARGET = (1.0, 0.5, -0.3, 0.2, 0.0)

OPTIONS = (
    Option("depths", int, (2, 3, 4), "depths N (default 2 3 4)", multiple=True),
    Option(
        "scales",
        float,
        (1e-1, 1e-2, 1e-3),
        "end-to-end norms s of the initialization (default 1e-1 1e-2 1e-3)",
        multiple=True,
    ),
    Option(
        "target", float, DEFAULT_TARGET, "scalar-output target φ (row vector)", multiple=True
    ),
    Option("hidden", int, 4, "hidden width (default 4)"),
    Option("n_samples", int, 2001, "time samples of λ_min along the flow (default 2001)"),
    Option("seed", int, 0, "seed of the random balanced initialization (default 0)"),
)

COLUMNS = (
    Column("depth", "N", "$N$"),
    Column("scale", "s", "$s$"),
    Column("integral", "∫λ_− dt", r"$\int\lambda_-\,dt$", ".4g"),
    Column("prediction", "−((N−1)/N) ln(‖φ‖/s)", r"$-\frac{N-1}{N}\ln\frac{\|\phi\|}{s}$", ".4g"),
    Column("difference", "difference", "difference", ".3f"),
    Column("lambda_min", "min_t λ_min", r"$\min_t\lambda_{\min}$", ".4g"),
    Column("horizon", "T", "$T$", ".4g"),
)

#: The flow counts as converged at T once ℓ(θ(T)) ≤ this fraction of ℓ(0).
RELATIVE_LOSS = 1e-10
FIRST_HORIZON = 20.0
MAX_DOUBLINGS = 8


def batched_min_eigenvalues(problem, weights) -> np.ndarray:
    """``λ_min(∇²f(θ_r))`` for a batch of points ``(R, d_{j+1}, d_j)``."""
    return hessian_eigenvalues(problem, weights)[:, 0]


def flow_to_convergence(problem, weights0):
    """GF (DOP853, rtol 1e-10) on ``[0, T]`` with T doubled from 20 until ℓ(T) ≤ 1e-10·ℓ(0)."""
    from ..flow import integrate_flow

    ell0 = float(problem.loss(weights0))
    horizon = FIRST_HORIZON
    for _ in range(MAX_DOUBLINGS):
        flow = integrate_flow(problem, weights0, t_span=(0.0, horizon))
        if not flow.success:
            raise RuntimeError(f"gradient flow failed on [0, {horizon:g}]: {flow.message}")
        if flow.losses[-1] <= RELATIVE_LOSS * ell0:
            return flow
        horizon *= 2
    raise RuntimeError(f"gradient flow did not converge by t = {horizon / 2:g} (loss {flow.losses[-1]:.3g})")


def lambda_min_along_flow(problem, weights0, *, n_samples: int = 2001):
    """``(t, λ_min(t), flow)`` on a uniform grid of ``[0, T]``, T from :func:`flow_to_convergence`."""
    from ..network import unflatten

    flow = flow_to_convergence(problem, weights0)
    t = np.linspace(0.0, float(flow.t[-1]), n_samples)
    points = unflatten(np.asarray(flow.sol(t)).T, problem.network.shapes)
    return t, batched_min_eigenvalues(problem, points), flow


def predicted_integral(depth: int, target_norm: float, scale: float) -> float:
    """``−((N−1)/N) ln(‖φ‖/s)`` (theory/gd-vs-gf [checked]; Elkabetz & Cohen 2021, scalar output)."""
    return -(depth - 1) / depth * float(np.log(target_norm / scale))


def curvature_problem(depth: int, target, hidden: int, scale: float, seed):
    """Scalar-output problem, widths ``(d_0, h, …, h, 1)``, random balanced init of norm s."""
    from ..init import random_balanced
    from ..network import DeepLinearNetwork
    from ..problem import Problem

    phi = np.atleast_2d(np.asarray(target, dtype=np.float64))
    widths = (phi.shape[1],) + (hidden,) * (depth - 1) + (1,)
    return Problem(DeepLinearNetwork(widths), target=phi), random_balanced(widths, scale=scale, seed=seed)


@checked_options
def build(
    *,
    depths=OPTIONS[0].default,
    scales=OPTIONS[1].default,
    target=DEFAULT_TARGET,
    hidden: int = 4,
    n_samples: int = 2001,
    seed: int = 0,
    backend=None,
    progress=None,
) -> Table:
    """Build the ``curvature`` table; one row per (N, s).

    Rows also carry ``"t"`` and ``"lambda"`` (the sampled λ_min curve). ``backend`` is unused
    (GF only) and accepted for a uniform builder signature.
    """
    depths, scales = tuple(depths), tuple(float(s) for s in scales)
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be positive; got scales={scales!r}")
    if n_samples < 3:
        raise ValueError(f"n_samples must be at least 3; got n_samples={n_samples!r}")
    phi_norm = float(np.linalg.norm(target))
    if not phi_norm > 0:  # the prediction is −((N−1)/N) ln(‖φ‖/s)
        raise ValueError(f"target must be nonzero (the prediction takes ln‖φ‖); got target={tuple(target)!r}")
    rows = []
    with Progress(len(depths) * len(scales), NAME, enabled=progress) as bar:
        for depth in depths:
            for s in scales:
                bar.update(0, f"{NAME} N={depth} s={s:g}")
                problem, w0 = curvature_problem(depth, target, hidden, s, seed)
                try:
                    t, lam, _ = lambda_min_along_flow(problem, w0, n_samples=n_samples)
                except RuntimeError as exc:  # say which configuration (e.g. a target the flow cannot reach)
                    raise RuntimeError(f"N={depth}, s={s:g}, target={tuple(target)!r}: {exc}") from exc
                integral = float(np.trapezoid(np.minimum(lam, 0.0), t))
                pred = predicted_integral(depth, phi_norm, s)
                rows.append({"depth": depth, "scale": s, "integral": integral, "prediction": pred,
                             "difference": integral - pred, "lambda_min": float(lam.min()),
                             "horizon": float(t[-1]), "t": t, "lambda": lam})
                bar.update()
    notes = (
        f"Scalar output: φ = ({sequence_text(tuple(float(v) for v in target))}), ‖φ‖ = {phi_norm:.4g}, widths "
        f"({len(target)}, {hidden}, …, {hidden}, 1); balanced initialization with a Gaussian end-to-end "
        f"direction of norm s (linflow.init.random_balanced, seed {seed}).",
        f"GF by DOP853 (rtol 1e-10) until ℓ(T) ≤ {RELATIVE_LOSS:g}·ℓ(0); λ_min of the exact Hessian at "
        f"{n_samples} uniform times in [0, T]; ∫ min(λ_min, 0) dt by the trapezoidal rule.",
        "Prediction −((N−1)/N) ln(‖φ‖/s): theory/gd-vs-gf (Elkabetz & Cohen 2021 setting), asymptotic as s → 0.",
    )
    params = dict(depths=depths, scales=scales, target=tuple(target), hidden=hidden, n_samples=n_samples, seed=seed)
    return Table(NAME, "Negative curvature along gradient flow: ∫λ_− dt vs ln(1/s)", COLUMNS, tuple(rows),
                 notes, params)
