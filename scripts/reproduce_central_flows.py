"""Reproduce the central-flow picture of Cohen et al. (ICLR 2025) on a deep linear network.

The seed's headline figure: at the edge of stability GD (and RMSProp) oscillate, gradient flow
(GF) no longer describes them, and the *central flow* — an ODE for the time-averaged
trajectory — does. Here on a deep linear regression net 4-4-4-4 with 16 samples from a small
initialization (:func:`linflow.figures.central_flow_problem`; the setting (b') of
``scripts/central_flow_vs_gd.py``, whose validation numbers this script does not repeat):

* GD with η = 0.14: sharpness rises to 2/η and stays pinned there, where GF keeps sharpening;
  the central flow's predicted time-averaged loss ``L + ½⟨Σ, H⟩`` against GD's 4-step running
  average;
* RMSProp (η = 0.005, β₂ = 0.99) against its central flow and its stable flow (the flow with
  the oscillation dropped).

Writes ``central_flows.png`` and ``central_flows.csv`` (long form: optimizer, series, step,
loss, sharpness) to ``--out`` and prints the key numbers.

Usage::

    python scripts/reproduce_central_flows.py [--out DIR] [--steps N] [--rmsprop-steps N]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

from linflow import figures
from linflow.network import flatten
from linflow.plotting import save_figure


def key_numbers(data) -> list:
    """Printable lines: edge onset, pinned sharpness, loss prediction error, distances to GD's average."""
    lines = []
    d = data["gd"]
    eta, cf, gf, gd = d["eta"], d["central"], d["flow"], d["descent"]
    active = np.flatnonzero(cf.n_critical > 0)
    onset = float(cf.t[active[0]]) if active.size else None
    lines.append(f"GD η = {eta:g}: central flow at the edge from step {onset:g}" if onset is not None
                 else f"GD η = {eta:g}: the central flow never reached the edge")
    lines.append(f"  final η·S: GD {eta * d['descent_sharpness'][-1]:.4f}, central flow "
                 f"{eta * cf.sharpness[-1, 0]:.4f}, GF {eta * d['flow_sharpness'][-1]:.4f}  (edge: 2)")
    avg = figures.running_average(gd.losses)
    idx = cf.t.astype(int)
    # Edge active and still training (average loss ≥ 1e-2): after convergence both are ~0.
    mask = (cf.sigma_trace > 0) & (avg[idx] >= 1e-2)
    if mask.any():
        rel = np.abs(cf.predicted_loss[mask] / avg[idx][mask] - 1.0)
        lines.append(f"  predicted loss L + ½⟨Σ,H⟩ vs GD's {figures.AVERAGE_WINDOW}-step average while at the edge: "
                     f"median relative error {np.median(rel):.2e}, max {rel.max():.2e} ({mask.sum()} records)")
    w_gd = flatten(gd.weights)
    w_avg = np.stack([figures.running_average(w_gd[:, i]) for i in range(w_gd.shape[1])], axis=1)
    gf_steps = d["flow_t"].astype(int)
    dist_cf = np.linalg.norm(cf.flat_weights - w_avg[idx], axis=1) if hasattr(cf, "flat_weights") else None
    dist_gf = np.linalg.norm(flatten(gf.weights) - w_avg[gf_steps], axis=1)
    if dist_cf is not None and onset is not None:
        after = cf.t >= onset
        after_gf = gf_steps >= onset
        lines.append(f"  weight distance to GD's running average after the edge (max): central flow "
                     f"{dist_cf[after].max():.3g}, GF {dist_gf[after_gf].max():.3g}")
    r = data["rmsprop"]
    lines.append(f"RMSProp η = {r['eta']:g}: final loss RMSProp {r['descent'].losses[-1]:.3g} "
                 f"({figures.AVERAGE_WINDOW}-step average {figures.running_average(r['descent'].losses)[-1]:.3g}), "
                 f"central flow (predicted) {r['central'].predicted_loss[-1]:.3g}, stable flow {r['flow'].losses[-1]:.3g}")
    lines.append(f"  final sharpness S: RMSProp {r['descent_sharpness'][-1]:.4g}, central flow "
                 f"{r['central'].sharpness[-1, 0]:.4g}, stable flow {r['flow'].sharpness[-1, 0]:.4g}")
    return lines


def write_csv(data, path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["optimizer", "series", "step", "loss", "sharpness"])
        for key in ("gd", "rmsprop"):
            d = data[key]
            flow_name = "gradient_flow" if key == "gd" else "stable_flow"
            flow_loss = d["flow"].losses
            for t, loss, s in zip(d["steps"], d["descent"].losses, d["descent_sharpness"]):
                w.writerow([key, key, int(t), repr(float(loss)), repr(float(s))])
            for t, loss, s in zip(d["flow_t"], flow_loss, d["flow_sharpness"]):
                w.writerow([key, flow_name, float(t), repr(float(loss)), repr(float(s))])
            cf = d["central"]
            for t, loss, s in zip(cf.t, cf.predicted_loss, cf.sharpness[:, 0]):
                w.writerow([key, "central_flow_predicted", float(t), repr(float(loss)), repr(float(s))])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("out", "reproduce_central_flows"), help="output directory")
    parser.add_argument("--steps", type=int, default=400, help="GD steps (default 400)")
    parser.add_argument("--rmsprop-steps", type=int, default=400, help="RMSProp steps (default 400)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()
    fig, data = figures.build("central-flow", n_steps=args.steps, rmsprop_steps=args.rmsprop_steps)
    for line in key_numbers(data):
        print(line)
    png = os.path.join(args.out, "central_flows.png")
    save_figure(fig, png)
    csv_path = os.path.join(args.out, "central_flows.csv")
    write_csv(data, csv_path)
    print(f"wrote {png} and {csv_path} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
