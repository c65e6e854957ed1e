"""Reproduce Elkabetz & Cohen (NeurIPS 2021): GD with a conventional step already tracks GF.

The seed's experiment (their Fig. 1 / §5: fully connected networks on MNIST-1000, GD with a
conventional step η₀ against runs with η₀/2 … η₀/20 as proxies of gradient flow) on data we can
ship:

* ``synthetic``: whitened inputs X ∈ R^{20×200} (XXᵀ/m = I exactly), targets Y = ΦX with a
  Gaussian Φ ∈ R^{5×20}; networks 20-50-50-5, linear and ReLU;
* ``digits`` (optional, needs scikit-learn: ``pip install linflow[digits]``): the 8×8 digits
  bundled with scikit-learn (no download), 500 images scaled to [0, 1], one-hot targets;
  networks 64-32-32-10, linear and ReLU (smaller than the seed's MNIST-1000 runs, to fit the
  3-minute budget on 2 CPU cores).

Loss ``(1/2m)‖h(X) − Y‖_F²``; initialization ``N(0, g²/d_in)`` per layer (g = 1 linear,
g = √2 ReLU). GD runs with η₀/r, r ∈ {1, 2, 5, 10, 20}, over the same time horizon T = K₀η₀.
The reference path: for linear networks gradient flow from :func:`linflow.integrate_flow`
(DOP853, rtol 1e-10); for ReLU networks classical GF typically ends early in a sliding mode
on an activation boundary (``integrate_flow`` reports LEFT_REGIME; try it with
``--relu-flow``), so — as the seed paper does — the reference is GD with η₀/``--fine``.

Printed and written (CSV): per network and η the maximal distance ``max_k ‖θ_k − θ(kη)‖``,
the length of the reference path up to T (the "distance travelled"), their ratio, the largest
loss gap ``max_k |ℓ_GD(θ_k) − ℓ_ref(kη)| / ℓ(0)`` (how far the loss curves are apart on a
linear scale), and the fitted order in η.

Usage::

    python scripts/reproduce_elkabetz_cohen.py [--out DIR] [--steps K0] [--no-digits]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import numpy as np

from linflow import DeepLinearNetwork, Problem, fit_order, integrate_flow, simulate_descent
from linflow.network import flatten

DIVISORS = (1, 2, 5, 10, 20)
#: One trajectory of a wide network: NumPy's BLAS matrix products beat the batched engine,
#: whose kernels loop explicitly over small matrices (fast for many small trajectories).
BACKEND = "numpy"


# ---------------------------------------------------------------------- data and networks
def synthetic_data(seed: int = 0, d_in: int = 20, d_out: int = 5, m: int = 200):
    """Whitened X (XXᵀ/m = I to rounding) and Y = ΦX, Φ Gaussian with ‖Φ‖_F ≈ 2√d_out."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((d_in, m))
    x = np.linalg.solve(np.linalg.cholesky(x @ x.T / m), x)
    phi = 2.0 * rng.standard_normal((d_out, d_in)) / np.sqrt(d_in)
    return x, phi @ x


def digits_data(n: int = 500, seed: int = 0):
    """The first ``n`` of scikit-learn's bundled 8×8 digits (no download): X ∈ [0, 1]^{64×n}, one-hot Y."""
    from sklearn.datasets import load_digits

    data = load_digits()
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(data.target))[:n]
    x = data.data[idx].T / 16.0
    y = np.eye(10)[data.target[idx]].T
    return x, y


def make_problem(widths, activation: str, x, y):
    if activation == "linear":
        return Problem(DeepLinearNetwork(widths), X=x, Y=y)
    from linflow.homogeneous import HomogeneousNetwork  # the homogeneous-network module

    return Problem(HomogeneousNetwork(widths, activation=activation), X=x, Y=y)


def init_weights(widths, activation: str, seed: int):
    rng = np.random.default_rng(seed)
    gain = 1.0 if activation == "linear" else np.sqrt(2.0)
    return tuple(gain * rng.standard_normal((widths[j + 1], widths[j])) / np.sqrt(widths[j])
                 for j in range(len(widths) - 1))


def conventional_step(sharpness: float) -> float:
    """The largest 1-2-5 step ≤ 1/S: half the stability limit 2/S at initialization."""
    top = 1.0 / sharpness
    decade = 10.0 ** np.floor(np.log10(top))
    return float(max(m * decade for m in (1.0, 2.0, 5.0) if m * decade <= top))


# ---------------------------------------------------------------------- one experiment
def reference_path(problem, weights0, times, *, use_flow: bool, fine_step: float):
    """Flat parameters of the reference at ``times`` and a description of it."""
    if use_flow:
        flow = integrate_flow(problem, weights0, t_span=(0.0, float(times[-1])))
        if flow.success:
            return np.asarray(flow.sol(times)).T, "gradient flow (integrate_flow, DOP853, rtol 1e-10)"
        print(f"    integrate_flow stopped: {flow.status.name} — {flow.message}")
    spacing = times[1] - times[0]
    every = int(round(spacing / fine_step))
    n_steps = every * (len(times) - 1)
    run = simulate_descent(problem, weights0, learning_rate=fine_step, n_steps=n_steps, record_every=every,
                           record_weights=True, backend=BACKEND)
    if run.status is not None and np.any(run.diverged):
        raise RuntimeError("the fine-step reference run diverged")
    return flatten(run.weights), f"GD with step {fine_step:.3g} (GF proxy)"


def experiment(name, problem, weights0, eta0: float, steps0: int, *, use_flow: bool, fine: int):
    """GD at η₀/r for r in DIVISORS against the reference, on the grid t = kη₀/20."""
    finest = eta0 / max(DIVISORS)
    horizon = steps0 * eta0
    grid = finest * np.arange(steps0 * max(DIVISORS) + 1)
    start = time.perf_counter()
    ref, ref_name = reference_path(problem, weights0, grid, use_flow=use_flow, fine_step=eta0 / fine)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ref, axis=0), axis=1))])
    shapes = problem.network.shapes
    from linflow.network import unflatten

    ref_loss = np.asarray(problem.loss(unflatten(ref, shapes)))
    print(f"  {name}: reference = {ref_name}; loss {ref_loss[0]:.4g} → {ref_loss[-1]:.4g} at T = {horizon:g}; "
          f"path length {arc[-1]:.4g}, displacement {np.linalg.norm(ref[-1] - ref[0]):.4g}")
    rows, curves = [], []
    for r in DIVISORS:
        eta = eta0 / r
        n = steps0 * r
        stride = max(DIVISORS) // r  # iterate k sits at grid index k·stride
        run = simulate_descent(problem, weights0, learning_rate=eta, n_steps=n, record_weights=True, backend=BACKEND)
        path = flatten(run.weights)
        at = ref[::stride]
        dist = np.linalg.norm(path - at, axis=1)
        gap = np.abs(run.losses - ref_loss[::stride]) / ref_loss[0]
        rows.append({
            "experiment": name, "divisor": r, "learning_rate": eta, "steps": n, "status": run.status.name,
            "final_loss": float(run.final_loss), "reference_final_loss": float(ref_loss[-1]),
            "max_distance": float(np.nanmax(dist)), "path_length": float(arc[-1]),
            "fraction_of_path": float(np.nanmax(dist) / arc[-1]), "max_loss_gap": float(np.nanmax(gap)),
            "reference": ref_name,
        })
        curves.append({"eta": eta, "t": eta * np.arange(n + 1), "loss": run.losses, "distance": dist,
                       "arc": arc[::stride]})
    order = fit_order([r["learning_rate"] for r in rows], [r["max_distance"] for r in rows])
    for row in rows:
        row["order"] = order
        print(f"    η₀/{row['divisor']:<2d} η={row['learning_rate']:.4g}: max‖θ_k−θ(kη)‖ = {row['max_distance']:.3e} "
              f"= {100 * row['fraction_of_path']:.3f}% of the path; max |Δloss|/ℓ(0) = {100 * row['max_loss_gap']:.3f}%; "
              f"final loss {row['final_loss']:.4g} ({row['status'].lower()})")
    s_end = problem.sharpness(unflatten(ref[-1], shapes))
    print(f"    fitted order in η: {order:.3f}; at T: S = {s_end:.4g}, η₀·S/2 = {eta0 * s_end / 2:.3f} "
          f"({time.perf_counter() - start:.1f} s)")
    return rows, {"name": name, "curves": curves, "ref_t": grid, "ref_loss": ref_loss, "ref_name": ref_name,
                  "eta0": eta0, "order": order}


# ---------------------------------------------------------------------- figure
def draw(results, path):
    from linflow.plotting import _pyplot, save_figure

    plt = _pyplot()
    from matplotlib.ticker import NullFormatter

    n = len(results)
    fig, axes = plt.subplots(n, 3, figsize=(13, 3.2 * n), squeeze=False)
    for row, res in zip(axes, results):
        ax_l, ax_d, ax_o = row
        for i, c in enumerate(res["curves"]):
            r = int(round(res["eta0"] / c["eta"]))
            label = "η₀" if r == 1 else f"η₀/{r}"
            ax_l.semilogy(c["t"], c["loss"], color=f"C{i}", lw=1, label=label)
            ax_d.plot(c["t"], 100 * c["distance"] / c["arc"][-1], color=f"C{i}", lw=1, label=label)
        ax_l.semilogy(res["ref_t"], res["ref_loss"], "k--", lw=1.2, label="reference")
        ax_l.set_title(f"{res['name']}: loss", fontsize=10)
        ax_l.set_xlabel("t = kη")
        ax_l.legend(fontsize=7)
        ax_d.set_title("‖θ_k − θ(kη)‖ as % of the reference path length", fontsize=10)
        ax_d.set_xlabel("t = kη")
        etas = np.array([c["eta"] for c in res["curves"]])
        dmax = np.array([np.nanmax(c["distance"]) for c in res["curves"]])
        ax_o.loglog(etas, dmax, "o-", label=f"measured (order {res['order']:.2f})")
        ax_o.loglog(etas, dmax[-1] * etas / etas[-1], "k:", label="slope 1")
        ax_o.set_title("max distance vs η", fontsize=10)
        ax_o.xaxis.set_minor_formatter(NullFormatter())
        ax_o.set_xlabel("η")
        ax_o.legend(fontsize=7)
    refs = "; ".join(sorted({f"{r['name'].split()[-1]}: {r['ref_name']}" for r in results}))
    fig.suptitle(f"GD with η₀ … η₀/20 vs gradient flow (Elkabetz & Cohen 2021). Reference — {refs}", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


# ---------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("out", "reproduce_elkabetz_cohen"), help="output directory")
    parser.add_argument("--steps", type=int, default=100, help="GD steps at η₀ (horizon T = steps·η₀; default 100)")
    parser.add_argument("--fine", type=int, default=100, help="ReLU reference: GD with η₀/FINE (default 100)")
    parser.add_argument("--relu-flow", action="store_true", help="try integrate_flow for ReLU nets first")
    parser.add_argument("--no-digits", action="store_true", help="skip the scikit-learn digits experiments")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    start = time.perf_counter()

    datasets = [("synthetic 20-50-50-5", synthetic_data(args.seed), (20, 50, 50, 5))]
    if args.no_digits:
        print("digits skipped (--no-digits).")
    else:
        try:
            datasets.append(("digits 64-32-32-10", digits_data(seed=args.seed), (64, 32, 32, 10)))
        except ImportError:
            print("digits skipped: scikit-learn is not installed (pip install 'linflow[digits]').")

    all_rows, results = [], []
    for label, (x, y), widths in datasets:
        for activation in ("linear", "relu"):
            problem = make_problem(widths, activation, x, y)
            w0 = init_weights(widths, activation, args.seed)
            s0 = problem.sharpness(w0)
            eta = conventional_step(s0)
            name = f"{label} {activation}"
            print(f"{name}: {problem.network.n_params} parameters, m = {x.shape[1]}, S(θ_0) = {s0:.4g}, "
                  f"η₀ = {eta:g} (η₀·S(θ_0)/2 = {eta * s0 / 2:.3f})")
            rows, res = experiment(name, problem, w0, eta, args.steps,
                                   use_flow=(activation == "linear" or args.relu_flow), fine=args.fine)
            all_rows += rows
            results.append(res)

    csv_path = os.path.join(args.out, "elkabetz_cohen.csv")
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(all_rows[0]))
        writer.writeheader()
        writer.writerows(all_rows)
    png_path = os.path.join(args.out, "elkabetz_cohen.png")
    draw(results, png_path)
    print(f"wrote {csv_path} and {png_path} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
