"""Implicit regularization of deep matrix factorization, and the logistic loss on separable data.

Part 1 — Arora, Cohen, Hu & Luo (NeurIPS 2019), "Implicit Regularization in Deep Matrix
Factorization", Sec. 3: gradient descent from a small initialization on a depth-N linear network
``W_e = W_N ⋯ W_1`` fitting the observed entries of a low-rank matrix (``losses.MatrixCompletion``)
finds low-rank solutions, and more so with depth. For depth N = 2, 3, 4 and several numbers of
observed entries it prints, over seeds (one batched run per depth and observation count):

* the effective rank of W_e (Roy & Vetterli 2007: ``exp(H(p))``, ``p_i = σ_i/Σ_j σ_j``);
* the relative error on the unobserved entries, ``‖(W_e − M)_{Ω^c}‖_F / ‖M_{Ω^c}‖_F``;
* the training loss reached.

Part 2 — the logistic loss on linearly separable data (Soudry et al. 2018; Ji & Telgarsky 2019
for deep linear networks): the loss tends to 0 and the direction of the end-to-end vector W_e
converges — towards the hard-margin SVM direction. It prints the loss and the cosine between
W_e and the SVM direction along GD.

Figure: ``scripts/figures/implicit_regularization.png``.

Run ``python scripts/reproduce_implicit_regularization.py`` (``--quick`` for a smaller sweep,
``--backend numpy`` for the NumPy reference engine, which prints the same table).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

import linflow
from linflow import losses


def effective_rank(matrices: np.ndarray) -> np.ndarray:
    """Roy & Vetterli (2007) effective rank ``exp(−Σ p_i log p_i)``, ``p = σ/Σσ``, per matrix."""
    s = np.linalg.svd(matrices, compute_uv=False)
    p = s / np.sum(s, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)
    return np.exp(entropy)


def low_rank_truth(size: int, rank: int, rng: np.random.Generator) -> np.ndarray:
    """``U Vᵀ`` with Gaussian factors, scaled to spectral norm 1 (so step sizes carry over)."""
    m = rng.standard_normal((size, rank)) @ rng.standard_normal((rank, size))
    return m / np.linalg.norm(m, 2)


def completion_run(depth: int, n_observed: int, *, size: int, rank: int, n_seeds: int, init_scale: float,
                   n_steps: int, backend: str, seed: int) -> dict:
    """GD on one completion problem (observations drawn from ``seed``), batched over ``n_seeds`` inits."""
    rng = np.random.default_rng(seed)
    truth = low_rank_truth(size, rank, rng)
    mask = np.zeros(size * size, dtype=bool)
    mask[rng.choice(size * size, n_observed, replace=False)] = True
    mask = mask.reshape(size, size)
    problem = linflow.Problem(linflow.DeepLinearNetwork((size,) * (depth + 1)),
                              losses.MatrixCompletion(mask, np.where(mask, truth, np.nan)))
    # Per-entry std init_scale/√d: every layer has spectral norm ≈ 2·init_scale, W_e ≈ (2·init_scale)^N.
    w0 = linflow.init.gaussian(problem.network.widths, std=init_scale / np.sqrt(size), seed=rng, batch=n_seeds)
    # ∇²L = mask/|Ω| has norm 1/|Ω| and ‖W_e‖₂ ≲ 1 near the solution, so the sharpness is ≲ N/|Ω|
    # (Gauss–Newton part at a balanced point); η = |Ω|/(2N) keeps GD below 2/S.
    eta = n_observed / (2.0 * depth)
    run = linflow.simulate_descent(problem, w0, learning_rate=eta, n_steps=n_steps, record_every=n_steps,
                                   backend=backend, track_balancedness=False)
    e2e = linflow.end_to_end(run.final_weights)
    hidden = ~mask
    err = np.linalg.norm(np.where(hidden, e2e - truth, 0.0), axis=(-2, -1)) / np.linalg.norm(truth[hidden])
    return {"effective_rank": effective_rank(e2e), "unobserved_error": err, "loss": run.final_loss,
            "status": [s.name for s in run.status] if hasattr(run.status, "__iter__") else [run.status.name],
            "truth_effective_rank": float(effective_rank(truth))}


def max_margin_direction(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Hard-margin SVM without bias: ``argmin ‖w‖²`` s.t. ``y_i wᵀx_i ≥ 1`` (SLSQP), normalized."""
    cons = {"type": "ineq", "fun": lambda w: labels * (w @ X) - 1.0, "jac": lambda w: (labels * X).T}
    w0 = np.linalg.lstsq(X.T, labels, rcond=None)[0]
    res = minimize(lambda w: w @ w, w0, jac=lambda w: 2 * w, constraints=[cons], method="SLSQP",
                   options={"ftol": 1e-14, "maxiter": 500})
    return res.x / np.linalg.norm(res.x)


def logistic_run(*, depth: int, n_seeds: int, checkpoints, backend: str, seed: int = 0) -> dict:
    """GD on the logistic loss of separable 5-d data with a depth-``depth`` linear network."""
    rng = np.random.default_rng(seed)
    d0, m = 5, 40
    direction = rng.standard_normal(d0)
    direction /= np.linalg.norm(direction)
    X = rng.standard_normal((d0, m))
    margins = direction @ X
    keep = np.abs(margins) > 0.3  # a margin of at least 0.3 along `direction`: separable
    X, labels = X[:, keep], np.sign(margins[keep])
    svm = max_margin_direction(X, labels)
    widths = (d0,) + (4,) * (depth - 1) + (1,)
    problem = linflow.Problem(linflow.DeepLinearNetwork(widths), losses.Logistic(X, labels))
    w0 = linflow.init.gaussian(widths, std=0.3, seed=rng, batch=n_seeds)
    out = {"steps": [], "loss": [], "cosine": [], "direction_change": []}
    weights, previous, done = w0, None, 0
    for k in checkpoints:
        run = linflow.simulate_descent(problem, weights, learning_rate=0.5, n_steps=k - done, record_every=k - done,
                                       backend=backend, track_balancedness=False)
        weights, done = run.final_weights, k
        e2e = linflow.end_to_end(weights)[:, 0, :]
        unit = e2e / np.linalg.norm(e2e, axis=1, keepdims=True)
        out["steps"].append(k)
        out["loss"].append(run.final_loss)
        out["cosine"].append(unit @ svm)
        out["direction_change"].append(np.full(n_seeds, np.nan) if previous is None
                                       else np.linalg.norm(unit - previous, axis=1))
        previous = unit
    return {k: np.array(v) for k, v in out.items()} | {"n_samples": int(X.shape[1])}


def plot(results, depths, observations, logistic, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for depth in depths:
        er = [np.median(results[depth, n]["effective_rank"]) for n in observations]
        err = [np.median(results[depth, n]["unobserved_error"]) for n in observations]
        axes[0].plot(observations, er, "o-", label=f"depth {depth}")
        axes[1].semilogy(observations, err, "o-", label=f"depth {depth}")
    truth_er = results[depths[0], observations[0]]["truth_effective_rank"]
    axes[0].axhline(truth_er, color="gray", ls=":", label="ground truth")
    axes[0].set(xlabel="observed entries |Ω|", ylabel="effective rank of W_e (median over seeds)",
                title="Matrix completion: effective rank")
    axes[1].set(xlabel="observed entries |Ω|", ylabel="relative error on unobserved entries",
                title="Matrix completion: reconstruction")
    steps = logistic["steps"]
    axes[2].loglog(steps, np.median(logistic["loss"], axis=1), "o-", label="logistic loss")
    axes[2].loglog(steps, 1 - np.median(logistic["cosine"], axis=1), "s-", label="1 − cos(W_e, SVM direction)")
    axes[2].set(xlabel="GD step", title="Logistic loss on separable data (depth 3)")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sweep (a few seconds)")
    parser.add_argument("--backend", default="numba", help="descent engine: numba (default) or numpy")
    parser.add_argument("--out", default=str(Path(__file__).parent / "figures" / "implicit_regularization.png"))
    args = parser.parse_args(argv)
    size, rank = (12, 1) if args.quick else (20, 2)
    depths = (2, 3, 4)
    observations = (40, 80) if args.quick else (60, 100, 140, 200)
    n_seeds, n_steps, init_scale = (3, 3000, 0.05) if args.quick else (5, 20000, 0.05)
    start = time.perf_counter()
    results = {}
    print(f"Matrix completion: {size}×{size}, rank {rank}, init scale {init_scale}, {n_steps} GD steps, "
          f"{n_seeds} seeds, backend {args.backend}")
    print(f"{'depth':>5} {'|Ω|':>5} {'eff. rank':>10} {'unobs. err':>11} {'loss':>9}  statuses")
    for depth in depths:
        for n_obs in observations:
            r = completion_run(depth, n_obs, size=size, rank=rank, n_seeds=n_seeds, init_scale=init_scale,
                               n_steps=n_steps, backend=args.backend, seed=n_obs)
            results[depth, n_obs] = r
            print(f"{depth:>5} {n_obs:>5} {np.median(r['effective_rank']):>10.3f} "
                  f"{np.median(r['unobserved_error']):>11.3e} {np.median(r['loss']):>9.2e}  "
                  f"{sorted(set(r['status']))}")
    print(f"ground-truth effective rank {results[depths[0], observations[0]]['truth_effective_rank']:.3f} "
          f"(medians over seeds; {time.perf_counter() - start:.1f} s)")

    checkpoints = (10, 100, 1000, 10000) if not args.quick else (10, 100, 1000)
    logistic = logistic_run(depth=3, n_seeds=n_seeds, checkpoints=checkpoints, backend=args.backend)
    print(f"\nLogistic loss, depth-3 linear net on {logistic['n_samples']} separable points in R^5, η = 0.5:")
    print(f"{'step':>6} {'loss':>10} {'cos(W_e, SVM)':>14} {'‖Δ direction‖':>14}")
    for i, k in enumerate(logistic["steps"]):
        print(f"{k:>6} {np.median(logistic['loss'][i]):>10.3e} {np.median(logistic['cosine'][i]):>14.6f} "
              f"{np.median(logistic['direction_change'][i]):>14.3e}")
    plot(results, depths, observations, logistic, Path(args.out))
    print(f"\nfigure: {args.out}  (total {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
