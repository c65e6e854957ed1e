"""Matplotlib figures. Every function returns the Figure so users can restyle it.

matplotlib is imported lazily with the non-interactive Agg backend (no screen needed).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = [
    "plot_bounds_vs_depth",
    "plot_central_flow",
    "plot_descent_vs_flow",
    "plot_lambda_min",
    "plot_loss_and_sharpness",
    "save_figure",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_descent_vs_flow(comparison, problem=None, weights0=None, flow=None):
    """Loss curves of GD (each η) and GF against time ``t = kη``, and max distance vs η.

    Parameters
    ----------
    comparison : DescentFlowComparison
        From :func:`linflow.compare_descent_to_flow`.
    problem : Problem, optional
        Named in the figure title (widths and loss).
    weights0 : optional
        Unused; accepted for call-site symmetry with other plots.
    flow : FlowResult, optional
        A finely sampled GF run to draw as the continuous curve.

    Returns
    -------
    matplotlib.figure.Figure
        Left: losses (log scale) vs t. Right: ``max_k ‖θ_k − θ(kη)‖`` vs η on log-log axes with a
        slope-1 guide through the smallest η.
    """
    plt = _pyplot()
    fig, (ax_loss, ax_dist) = plt.subplots(1, 2, figsize=(10, 4))
    for eta, t, losses in zip(comparison.learning_rates, comparison.times, comparison.descent_losses):
        ax_loss.semilogy(t, losses, lw=1, label=f"GD η={eta:g}")
    if flow is not None:
        ax_loss.semilogy(flow.t, flow.losses, "k--", lw=1.5, label="GF")
    ax_loss.set_xlabel("t = kη")
    ax_loss.set_ylabel("loss")
    ax_loss.legend(fontsize=8)
    ax_loss.set_title("GD iterates vs gradient flow")
    etas = comparison.learning_rates
    ax_dist.loglog(etas, comparison.max_distance, "o-", label=f"measured (order {comparison.order:.2f})")
    i = int(np.argmin(etas))
    guide = comparison.max_distance[i] * etas / etas[i]
    ax_dist.loglog(etas, guide, "k:", label="slope 1")
    # Label exactly the step sizes used; log-axis minor labels would overlap.
    from matplotlib.ticker import NullFormatter

    ax_dist.xaxis.set_minor_formatter(NullFormatter())
    ax_dist.set_xticks(etas)
    ax_dist.set_xticklabels([f"{eta:g}" for eta in etas])
    ax_dist.set_xlabel("η")
    ax_dist.set_ylabel("max_k ‖θ_k − θ(kη)‖")
    ax_dist.legend(fontsize=8)
    ax_dist.set_title(f"GD→GF distance over t ≤ {comparison.horizon:g}")
    if problem is not None:
        widths = "-".join(str(d) for d in problem.network.widths)
        fig.suptitle(f"network {widths}, {problem.loss_function.kind} loss", fontsize=10)
    fig.tight_layout()
    return fig


def _color(i: int):
    return f"C{i % 10}"


def plot_loss_and_sharpness(runs, *, title: str = "GD at the edge of stability", sharpness_label=None):
    """Loss and sharpness along GD runs, with the stability threshold 2/η of each run.

    Parameters
    ----------
    runs : sequence of mappings
        One per step size, with keys ``learning_rate`` (η), ``steps`` (R,), ``losses`` (R,),
        ``sharpness`` (R,) and optionally ``label`` and ``flow_sharpness`` (the sharpness of the
        gradient-flow limit, drawn as a dotted line) and ``central_steps``, ``central_sharpness``,
        ``central_losses`` (the central flow's prediction, drawn dash-dotted).
    title : str
    sharpness_label : str, optional
        Name of the plotted curvature (default the sharpness; e.g. RMSProp's effective sharpness).

    Returns
    -------
    matplotlib.figure.Figure
        Left: loss (log scale) vs step. Right: sharpness ``S(θ_k) = λ_max(∇²f(θ_k))`` vs step
        with a dashed line at ``2/η`` in the run's colour (GD is linearly stable at a minimum
        iff S ≤ 2/η).
    """
    plt = _pyplot()
    fig, (ax_loss, ax_s) = plt.subplots(1, 2, figsize=(10, 4))
    for i, run in enumerate(runs):
        eta = float(run["learning_rate"])
        label = run.get("label", f"η={eta:.3g}")
        c = _color(i)
        ax_loss.semilogy(run["steps"], run["losses"], color=c, lw=1, label=label)
        ax_s.plot(run["steps"], run["sharpness"], color=c, lw=1, label=label)
        ax_s.axhline(2.0 / eta, color=c, ls="--", lw=1)
        if run.get("central_sharpness") is not None:
            ax_s.plot(run["central_steps"], run["central_sharpness"], color=c, ls="-.", lw=1.5)
            ax_loss.semilogy(run["central_steps"], run["central_losses"], color=c, ls="-.", lw=1.5)
    flow_levels = sorted({float(r["flow_sharpness"]) for r in runs if r.get("flow_sharpness") is not None})
    for level in flow_levels:
        ax_s.axhline(level, color="k", ls=":", lw=1)
    # A diverging run's sharpness explodes (1e30+) and would flatten every other curve: keep the
    # axis on the scale of the thresholds and say that the run left it.
    levels = [2.0 / float(r["learning_rate"]) for r in runs] + flow_levels
    top = 2.0 * max(levels)
    if any(np.nanmax(np.asarray(r["sharpness"], dtype=float), initial=0.0) > top for r in runs):
        ax_s.set_ylim(0.0, top)
        ax_s.text(0.98, 0.97, "curves leaving the axis diverged", transform=ax_s.transAxes,
                  ha="right", va="top", fontsize=8)
    ax_loss.set_xlabel("step k")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title(title)
    ax_loss.legend(fontsize=8)
    ax_s.set_xlabel("step k")
    ax_s.set_ylabel(sharpness_label or "sharpness S = λ_max(∇²f)")
    central = any(r.get("central_sharpness") is not None for r in runs)
    ax_s.set_title("sharpness; dashed: 2/η" + ("; dotted: GF limit" if flow_levels else "")
                   + ("; dash-dot: central flow" if central else ""))
    fig.tight_layout()
    return fig


def plot_central_flow(panels, *, title: Optional[str] = None, loss_floor: float = 1e-12):
    """Central flow vs the discrete optimizer vs gradient (or stable) flow: loss and sharpness.

    Parameters
    ----------
    panels : sequence of mappings
        One row per optimizer, with ``name`` (e.g. ``"GD, η = 0.14"``), optional ``edge`` (a
        sharpness level drawn dotted, e.g. ``2/η`` for GD) and ``series``: mappings with
        ``label``, ``t`` (time in optimizer steps), ``loss`` and optionally ``sharpness``
        (same length as ``t``) and ``kind`` — ``"discrete"`` (thin grey), ``"central"``
        (thick red), ``"flow"`` (dashed), ``"average"`` (black dotted: a running average of
        the discrete run, what the central flow predicts) or anything else (default style).
    title : str, optional
    loss_floor : float
        Lower limit of the loss axes: converged runs reach rounding level (~1e-30), whose
        noise would otherwise dominate the picture.

    Returns
    -------
    matplotlib.figure.Figure
        Left column: losses (log scale; for the central flow, its predicted time-averaged loss
        ``L + ½⟨Σ, H⟩``, Cohen et al. 2025 §3.3). Right column: sharpness ``S = λ_max(∇²f)``.
    """
    plt = _pyplot()
    styles = {
        "discrete": dict(color="0.55", lw=0.6),
        "central": dict(color="C3", lw=2.0),
        "flow": dict(color="C0", lw=1.3, ls="--"),
        "average": dict(color="k", lw=1.0, ls=":"),
    }
    fig, axes = plt.subplots(len(panels), 2, figsize=(11, 3.7 * len(panels)), squeeze=False)
    for (ax_l, ax_s), panel in zip(axes, panels):
        for i, series in enumerate(panel["series"]):
            style = styles.get(series.get("kind"), dict(color=_color(i + 1), lw=1.0))
            t = np.asarray(series["t"])
            loss = np.asarray(series["loss"], dtype=float)
            ax_l.semilogy(t, np.where(loss > 0, loss, np.nan), label=series["label"], **style)
            if series.get("sharpness") is not None:
                ax_s.plot(t, series["sharpness"], label=series["label"], **style)
        if panel.get("edge") is not None:
            ax_s.axhline(panel["edge"], color="k", ls=":", lw=1, label="2/η")
        ax_l.set_ylim(bottom=loss_floor)
        ax_l.set_title(f"{panel['name']}: loss (central flow: L + ½⟨Σ,H⟩)", fontsize=10)
        ax_l.set_xlabel("step t (flow time t ↔ iterate t)")
        ax_l.set_ylabel("loss")
        ax_l.legend(fontsize=7)
        ax_s.set_title(f"{panel['name']}: sharpness")
        ax_s.set_xlabel("step t")
        ax_s.set_ylabel("S = λ_max(∇²f)")
        ax_s.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_bounds_vs_depth(table):
    """Step-size bounds vs the empirical critical step across depth (the ``step-size`` table).

    Parameters
    ----------
    table : linflow.tables.Table
        Built by ``linflow.tables.build("step-size", ...)`` (one target norm and margin).

    Returns
    -------
    matplotlib.figure.Figure
        Log-scale step sizes vs depth N: Arora et al. 2019's bound η_ACGH, the stability
        threshold 2/S at the balanced minimum, and the empirical critical η* (median, with the
        min–max range over initializations as a band).
    """
    plt = _pyplot()
    depth = table.column("depth")
    lo = np.array(
        [np.nanmin(r["critical"].lower) if np.any(np.isfinite(r["critical"].lower)) else np.nan for r in table.rows]
    )
    hi = np.array(
        [np.nanmax(r["critical"].lower) if np.any(np.isfinite(r["critical"].lower)) else np.nan for r in table.rows]
    )
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(10, 4))
    ax.semilogy(depth, table.column("eta_arora"), "s-", color="C2", label="η_ACGH (Arora et al. 2019, Thm 1)")
    ax.semilogy(depth, table.column("eta_stability"), "k--", label="2/S at the balanced minimum")
    ax.semilogy(depth, table.column("eta_empirical"), "o-", color="C0", label="empirical η* (median)")
    ax.fill_between(depth, lo, hi, color="C0", alpha=0.25, label="η* min–max")
    ax.set_xlabel("depth N")
    ax.set_ylabel("step size η")
    ax.set_title("Largest step size: bounds vs GD")
    ax.legend(fontsize=8)
    ax_r.plot(depth, table.column("ratio_stability"), "o-", color="C0", label="η*/(2/S) median")
    ax_r.plot(depth, lo / table.column("eta_stability"), "v:", color="C0", label="η*/(2/S) min")
    ax_r.axhline(1.0, color="k", ls="--", lw=1)
    ax_r.set_xlabel("depth N")
    ax_r.set_ylabel("η* / (2/S)")
    ax_r.set_title("Empirical critical step relative to 2/S")
    ax_r.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_lambda_min(curves, *, title: str = "λ_min(∇²f) along gradient flow"):
    """``λ_min`` of the Hessian along gradient-flow paths, and its accumulated negative part.

    Parameters
    ----------
    curves : linflow.tables.Table or sequence of mappings
        The ``curvature`` table (its rows carry ``t`` and ``lambda``), or mappings with keys
        ``t``, ``lambda`` and ``label``.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        Left: ``λ_min(t)`` (symlog time axis). Right: ``∫_0^t λ_− ds`` with, for table rows,
        the prediction ``−((N−1)/N) ln(‖φ‖/s)`` as a dotted line.
    """
    plt = _pyplot()
    rows = getattr(curves, "rows", curves)
    fig, (ax, ax_i) = plt.subplots(1, 2, figsize=(10, 4))
    for i, row in enumerate(rows):
        t, lam = np.asarray(row["t"]), np.asarray(row["lambda"])
        label = row.get("label") or f"N={row['depth']}, s={row['scale']:g}"
        c = _color(i)
        ax.plot(t, lam, color=c, lw=1, label=label)
        neg = np.minimum(lam, 0.0)
        running = np.concatenate([[0.0], np.cumsum(0.5 * (neg[1:] + neg[:-1]) * np.diff(t))])
        ax_i.plot(t, running, color=c, lw=1, label=label)
        if row.get("prediction") is not None:
            ax_i.axhline(row["prediction"], color=c, ls=":", lw=1)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=0.0)
    ax.set_xlabel("t")
    ax.set_ylabel("λ_min(∇²f(θ(t)))")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax_i.set_xscale("symlog", linthresh=1.0)
    ax_i.set_xlim(left=0.0)
    ax_i.set_xlabel("t")
    ax_i.set_ylabel("∫_0^t λ_− ds")
    ax_i.set_title("accumulated negative curvature (dotted: −((N−1)/N) ln(‖φ‖/s))")
    ax_i.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def save_figure(fig, path) -> None:
    """Save ``fig`` to ``path``; the format (PNG, SVG, PDF, …) follows the extension."""
    import os

    ext = os.path.splitext(str(path))[1].lower().lstrip(".")
    if ext not in ("png", "svg", "pdf", "jpg", "jpeg", "eps", "ps"):
        raise ValueError(f"path must end in .png, .svg, .pdf, .jpg, .eps or .ps; got path={str(path)!r}")
    fig.savefig(path, dpi=120 if ext in ("png", "jpg", "jpeg") else None, bbox_inches="tight")
