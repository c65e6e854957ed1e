"""``gd-gf-distance``: the Elkabetz–Cohen certificate E_k vs the measured GD–GF distance.

Per depth N and step η, GD and GF start from the same initialization; GF is integrated with
DOP853 (rtol 1e-10) and sampled at ``t = kη``. The certificate is the discrete recursion
derived in this project from the argument of Elkabetz & Cohen 2021 (not a lemma of the paper), computed by
:func:`linflow.curvature.error_certificate`: ``E_0 = 0``,
``E_{k+1} = (1 − ηm_k)E_k + ½η²β_kγ_k`` with ``m_k ≤ λ_min(∇²f)`` and ``β_k ≥ ‖∇²f‖₂`` on the
ball ``B_ε(θ(kη))`` and ``γ_k ≥ ‖∇f‖`` on the flow segment. It *guarantees*
``‖θ_k − θ(kη)‖ ≤ E_k`` when ``ηβ_k ≤ 1``, ``ηγ_k ≤ ε`` and ``E_k ≤ ε`` for all k ≤ K; the
table uses the smallest tube radius ε of a geometric grid for which these hold.

With ``activation="relu"`` or ``"leaky_relu"`` the network is a homogeneous network with the
regression loss on seeded synthetic data (:mod:`linflow.tables._activation`); GF is integrated
pattern by pattern and may stop in a sliding mode, and the certificate covers only the stretch
where GF stays in one activation pattern (:mod:`linflow.tables._relu_distance`). The table then
also reports how often GF changes pattern and whether it stopped in a sliding mode.
"""

from __future__ import annotations

import numpy as np

from . import Option, checked_options
from ._activation import ACTIVATION_OPTIONS, activation_text, check_activation, regression_problem
from ._format import Column, Progress, Table, sequence_text

NAME = "gd-gf-distance"
SUMMARY = "Elkabetz–Cohen certificate E_K vs the measured max distance between GD and GF, per η and depth"

#: Tube radii tried, smallest first (the certificate is valid for each ε on its own, so the
#: smallest valid one is a valid — and the tightest — certificate).
EPSILONS = np.geomspace(1e-3, 1.0, 13)

OPTIONS = (
    (
        Option("depths", int, (2, 3, 4), "depths N (default 2 3 4)", multiple=True),
        Option(
            "learning_rates", float, (0.01, 0.005, 0.0025), "GD step sizes η (default 0.01 0.005 0.0025)", multiple=True
        ),
        Option("horizon", float, 2.0, "GF time horizon T; K = ⌊T/η⌋ steps (default 2)"),
        Option("input_dim", int, 3, "input width d_0 (default 3)"),
        Option("hidden", int, 4, "hidden width (default 4)"),
        Option("output_dim", int, 2, "output width d_N (default 2)"),
        Option(
            "target_norm",
            float,
            1.0,
            "Frobenius norm of the Gaussian target Φ (ReLU: RMS norm ‖Y‖_F/√m of the targets) (default 1)",
        ),
        Option(
            "init_distance",
            float,
            0.5,
            "‖W_e(0) − Φ‖_F / ‖Φ‖_F of the balanced initialization (linear only) (default 0.5)",
        ),
        Option("seed", int, 0, "seed of target and initialization (default 0)"),
    )
    + ACTIVATION_OPTIONS
    + (Option("n_samples", int, 8, "samples m of the synthetic regression data (ReLU / leaky ReLU only) (default 8)"),)
)

COLUMNS = (
    Column("depth", "N", "$N$"),
    Column("learning_rate", "η", r"$\eta$"),
    Column("steps", "K", "$K$"),
    Column("epsilon", "tube ε", r"$\varepsilon$"),
    Column("certificate", "max_k E_k", r"$\max_k E_k$"),
    Column("closed_form", "closed form", "closed form"),
    Column("measured", "max_k ‖θ_k − θ(kη)‖", r"$\max_k\|\theta_k-\theta(k\eta)\|$"),
    Column("ratio", "E/measured", "ratio"),
    Column("holds", "d_k ≤ E_k ∀k", r"$d_k\le E_k\ \forall k$"),
)

#: Columns of the ReLU / leaky-ReLU table (certificate on the one-pattern stretch k ≤ K₁).
RELU_COLUMNS = (
    Column("depth", "N", "$N$"),
    Column("learning_rate", "η", r"$\eta$"),
    Column("horizon", "T_GF", r"$T_{\mathrm{GF}}$", ".4g"),
    Column("steps", "K", "$K$"),
    Column("pattern_changes", "pattern changes", "changes"),
    Column("sliding", "GF sliding stop", "sliding"),
    Column("measured", "max_{k≤K} d_k", r"$\max_{k\le K} d_k$"),
    Column("certified_steps", "K₁ (one pattern)", "$K_1$"),
    Column("epsilon", "tube ε", r"$\varepsilon$"),
    Column("certificate", "max_{k≤K₁} E_k", r"$\max_{k\le K_1} E_k$"),
    Column("measured_certified", "max_{k≤K₁} d_k", r"$\max_{k\le K_1} d_k$"),
    Column("ratio", "E/measured (k≤K₁)", "ratio"),
    Column("holds", "d_k ≤ E_k ∀k≤K₁", r"$d_k\le E_k\ \forall k\le K_1$"),
)


def distance_problem(depth: int, *, input_dim: int = 3, hidden: int = 4, output_dim: int = 2,
                     target_norm: float = 1.0, init_distance: float = 0.5, seed=0):
    """Whitened problem and initialization of the table.

    Gaussian target Φ with ``‖Φ‖_F = target_norm``, widths ``(d_0, h, …, h, d_N)``, and the
    balanced initialization (Procedure 1, random hidden rotations) of
    ``W_e(0) = Φ + init_distance·‖Φ‖_F·D`` with D a random unit-Frobenius direction.
    """
    from .._validation import check_positive
    from ..init import balanced
    from ..network import DeepLinearNetwork
    from ..problem import Problem

    init_distance = check_positive(init_distance, "init_distance")
    rng = np.random.default_rng(seed)
    widths = (input_dim,) + (hidden,) * (depth - 1) + (output_dim,)
    target = rng.standard_normal((output_dim, input_dim))
    target *= target_norm / np.linalg.norm(target)
    direction = rng.standard_normal(target.shape)
    start = target + init_distance * target_norm * direction / np.linalg.norm(direction)
    return Problem(DeepLinearNetwork(widths), target=target), balanced(widths, start, seed=rng)


#: Most GD steps (horizon / η) one row may take: every iterate and GF point is kept, and the
#: certificate evaluates curvature bounds at each of them.
MAX_STEPS = 100_000


def check_step_counts(horizon: float, learning_rates) -> None:
    """Refuse a (horizon, η) pair whose step count ``⌊horizon/η⌋`` is 0, not finite or above
    :data:`MAX_STEPS`, before any row is computed."""
    for eta in learning_rates:
        with np.errstate(over="ignore"):
            ratio = np.float64(horizon) / np.float64(eta)
        if not (1.0 <= ratio * (1 + 1e-12) and ratio <= MAX_STEPS):  # the slack of measure()
            raise ValueError(
                f"horizon / learning_rates must give between 1 and {MAX_STEPS:,} GD steps per row; "
                f"got horizon={horizon!r}, learning_rates entry {eta!r} ({ratio:.3g} steps)"
            )


def measure(problem, weights0, learning_rate: float, horizon: float, *, backend=None):
    """GF path, GD distances ``d_k = ‖θ_k − θ(kη)‖`` (k ≤ K) and the smallest valid certificate.

    Returns
    -------
    dict with ``flow`` (FlowResult on ``[0, Kη]``), ``distances`` (K+1,), ``certificate``
    (:class:`~linflow.curvature.ErrorCertificate` or None when no ε of :data:`EPSILONS` is valid).
    """
    from ..curvature import error_certificate
    from ..descent import simulate_descent
    from ..flow import integrate_flow
    from ..network import flatten, unflatten

    n_steps = int(np.floor(horizon / learning_rate * (1 + 1e-12)))
    t = learning_rate * np.arange(n_steps + 1)
    flow = integrate_flow(problem, weights0, t_span=(0.0, t[-1]))
    if not flow.success:
        raise RuntimeError(f"gradient flow failed on [0, {t[-1]}]: {flow.message}")
    reference = np.asarray(flow.sol(t)).T
    run = simulate_descent(problem, weights0, learning_rate=learning_rate, n_steps=n_steps,
                           record_weights=True, backend=backend)
    path = flatten(run.weights)
    distances = np.linalg.norm(path - reference, axis=1)
    # ηγ_k ≥ η‖∇f(θ(kη))‖ must fit in the tube: skip radii that cannot be valid.
    grads = problem._gradient(unflatten(reference, problem.network.shapes))
    step_length = learning_rate * float(np.max(np.linalg.norm(flatten(grads), axis=1)))
    certificate = None
    for eps in EPSILONS[EPSILONS >= step_length]:
        cert = error_certificate(problem, flow, learning_rate=learning_rate, epsilon=float(eps))
        if cert.valid:
            certificate = cert
            break
    return {"flow": flow, "distances": distances, "certificate": certificate, "descent": run}


@checked_options
def build(
    *,
    depths=OPTIONS[0].default,
    learning_rates=OPTIONS[1].default,
    horizon: float = 2.0,
    input_dim: int = 3,
    hidden: int = 4,
    output_dim: int = 2,
    target_norm: float = 1.0,
    init_distance: float = 0.5,
    seed: int = 0,
    activation: str = "linear",
    negative_slope=None,
    n_samples: int = 8,
    backend=None,
    progress=None,
) -> Table:
    """Build the ``gd-gf-distance`` table; one row per (N, η).

    Rows also carry ``"distances"`` (d_k) and ``"bound"`` (E_k, or None). With a ReLU / leaky-ReLU
    ``activation`` see :func:`build_relu` (``n_samples`` is used only there).
    """
    activation, slope = check_activation(activation, negative_slope)
    check_step_counts(horizon, learning_rates)
    if activation != "linear":
        return build_relu(depths=depths, learning_rates=learning_rates, horizon=horizon, input_dim=input_dim,
                          hidden=hidden, output_dim=output_dim, target_norm=target_norm, seed=seed,
                          activation=activation, negative_slope=slope, n_samples=n_samples, backend=backend,
                          progress=progress)
    depths, learning_rates = tuple(depths), tuple(learning_rates)
    rows = []
    with Progress(len(depths) * len(learning_rates), NAME, enabled=progress) as bar:
        for depth in depths:
            problem, weights0 = distance_problem(depth, input_dim=input_dim, hidden=hidden, output_dim=output_dim,
                                                 target_norm=target_norm, init_distance=init_distance, seed=seed)
            for eta in learning_rates:
                bar.update(0, f"{NAME} N={depth} η={eta:g}")
                m = measure(problem, weights0, float(eta), horizon, backend=backend)
                cert, d = m["certificate"], m["distances"]
                measured = float(np.max(d))
                row = {"depth": depth, "learning_rate": float(eta), "steps": len(d) - 1, "measured": measured,
                       "distances": d, "bound": None}
                if cert is not None:
                    row.update({
                        "epsilon": cert.epsilon, "certificate": float(np.max(cert.bound)),
                        "closed_form": float(np.max(cert.closed_form)),
                        "ratio": float(np.max(cert.bound)) / measured if measured > 0 else None,
                        # Rounding slack 1e-12: both sides are O(η) ≫ 1e-12 here.
                        "holds": bool(np.all(d <= cert.bound + 1e-12)),
                        "bound": cert.bound,
                    })
                rows.append(row)
                bar.update()
    notes = (
        f"Whitened loss ½‖W_e − Φ‖_F², widths ({input_dim}, {hidden}, …, {hidden}, {output_dim}), Gaussian Φ "
        f"with ‖Φ‖_F = {target_norm:g}, balanced initialization (Procedure 1) of W_e(0) = Φ + "
        f"{init_distance:g}‖Φ‖_F·D (D a random unit direction); GF by DOP853 (rtol 1e-10) on [0, Kη], "
        f"K = ⌊{horizon:g}/η⌋.",
        "E_k: discrete certificate derived from the argument of Elkabetz & Cohen 2021, valid when ηβ_k ≤ 1, ηγ_k ≤ ε "
        "and E_k ≤ ε for all k; ε = the smallest valid tube radius on a geometric grid 1e-3…1 "
        "('—': none valid). Closed form: ½η²k·max(β_iγ_i)·exp(−ηΣ min(m_i, 0)).",
        f"Depths {sequence_text(depths)}; seed {seed}.",
    )
    params = dict(depths=depths, learning_rates=learning_rates, horizon=horizon, input_dim=input_dim,
                  hidden=hidden, output_dim=output_dim, target_norm=target_norm, init_distance=init_distance, seed=seed)
    return Table(NAME, "GD vs GF: Elkabetz–Cohen certificate and measured distance", COLUMNS, tuple(rows),
                 notes, params)


def relu_problem(depth: int, *, activation: str = "relu", negative_slope=None, input_dim: int = 3, hidden: int = 4,
                 output_dim: int = 2, n_samples: int = 8, target_norm: float = 1.0, seed=0):
    """ReLU / leaky-ReLU regression problem and He initialization of the table (one per depth).

    Widths ``(d_0, h, …, h, d_N)``; data and weights from ``default_rng([seed, depth])``
    (:func:`linflow.tables._activation.regression_problem`).
    """
    widths = (input_dim,) + (hidden,) * (depth - 1) + (output_dim,)
    return regression_problem(widths, activation, negative_slope, n_samples=n_samples, target_norm=target_norm,
                              seed=np.random.default_rng([seed, depth]))


def build_relu(*, depths, learning_rates, horizon, input_dim, hidden, output_dim, target_norm, seed, activation,
               negative_slope, n_samples, backend=None, progress=None) -> Table:
    """The ReLU / leaky-ReLU ``gd-gf-distance`` table (``build(activation=...)`` calls it).

    Rows also carry ``"distances"`` (d_k, k ≤ K), ``"bound"`` (E_k for k ≤ K₁, or None),
    ``"first_change"`` (t₁), ``"flow_message"`` and ``"certificate_message"`` (why no certificate).
    """
    from ._relu_distance import ONE_PATTERN_FRACTION, measure_relu

    depths, learning_rates = tuple(depths), tuple(learning_rates)
    rows = []
    with Progress(len(depths) * len(learning_rates), NAME, enabled=progress) as bar:
        for depth in depths:
            problem, weights0 = relu_problem(depth, activation=activation, negative_slope=negative_slope,
                                             input_dim=input_dim, hidden=hidden, output_dim=output_dim,
                                             n_samples=n_samples, target_norm=target_norm, seed=seed)
            for eta in learning_rates:
                bar.update(0, f"{NAME} N={depth} η={eta:g}")
                m = measure_relu(problem, weights0, float(eta), horizon, EPSILONS, backend=backend)
                cert, d, k1 = m["certificate"], m["distances"], m["certified_steps"]
                row = {"depth": depth, "learning_rate": float(eta), "horizon": m["horizon"], "steps": len(d) - 1,
                       "pattern_changes": m["changes"], "sliding": m["slid"], "measured": float(np.max(d)),
                       "certified_steps": k1, "measured_certified": float(np.max(d[: k1 + 1])),
                       "distances": d, "bound": None, "first_change": m["first_change"],
                       "flow_message": m["flow"].message, "certificate_message": m["certificate_message"]}
                if cert is not None:
                    measured = row["measured_certified"]
                    row.update({
                        "epsilon": cert.epsilon, "certificate": float(np.max(cert.bound)),
                        "ratio": float(np.max(cert.bound)) / measured if measured > 0 else None,
                        # Rounding slack 1e-12: both sides are O(η) ≫ 1e-12 here.
                        "holds": bool(np.all(d[: k1 + 1] <= cert.bound + 1e-12)),
                        "bound": cert.bound,
                    })
                rows.append(row)
                bar.update()
    notes = (
        f"{activation_text(activation, negative_slope)} network, no biases, widths ({input_dim}, {hidden}, …, "
        f"{hidden}, "
        f"{output_dim}); regression loss (1/2m)‖h(X) − Y‖_F² on m = {n_samples} Gaussian samples, ‖Y‖_F = "
        f"{target_norm:g}·√m; He initialization N(0, 2/d_j); data and weights from seed [{seed}, N].",
        f"GF: DOP853 (rtol 1e-10) pattern by pattern on [0, T_GF], T_GF = min(⌊{horizon:g}/η⌋η, sliding stop); "
        "GF ends at a sliding mode (the field points into an activation boundary from both sides, or several "
        "units reach theirs at once): no classical flow exists beyond it. K = ⌊T_GF/η⌋ GD steps compared at t = kη.",
        "Pattern changes: hidden-unit sign switches GF completed on [0, T_GF] (each unit and sample counts once; "
        "the switch attempted at a sliding stop is not counted).",
        f"E_k: discrete certificate (derived from the argument of Elkabetz & Cohen 2021) with per-sample pattern "
        f"bounds, only where GF "
        f"stays in one activation pattern: K₁ = ⌊{ONE_PATTERN_FRACTION:g}·t₁/η⌋ with t₁ the first pattern change "
        "(K₁ = K when there is none); valid when each ball B_ε(θ(kη)) lies in the pattern, ηβ_k ≤ 1, ηγ_k ≤ ε and "
        "E_k ≤ ε; ε = the smallest valid radius on a geometric grid 1e-3…1 ('—': none valid or K₁ = 0). "
        "Beyond K₁ there is no certificate: max_{k≤K} d_k is measured only.",
        f"Depths {sequence_text(depths)}; seed {seed}.",
    )
    params = dict(depths=depths, learning_rates=learning_rates, horizon=horizon, input_dim=input_dim, hidden=hidden,
                  output_dim=output_dim, target_norm=target_norm, seed=seed, activation=activation,
                  negative_slope=negative_slope, n_samples=n_samples)
    title = (
        f"GD vs GF ({activation_text(activation, negative_slope)}): Elkabetz–Cohen certificate in one pattern "
        "and measured distance"
    )
    return Table(NAME, title, RELU_COLUMNS, tuple(rows), notes, params)
