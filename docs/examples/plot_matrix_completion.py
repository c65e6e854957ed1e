"""
Implicit regularization in deep matrix completion
=================================================

Arora, Cohen, Hu & Luo (NeurIPS 2019) observed that gradient descent on a *deep* matrix
factorization ``W_e = W_N ⋯ W_1``, started near zero, completes a low-rank matrix from few
entries better than a shallow one: the loss on the observed entries has many minima, and depth
biases GD towards low effective rank.

Here a 10×10 matrix of rank 2 is observed on 45 entries (the rank-2 matrices form a manifold of
dimension 36). GD from a small initialization (numba engine, 4 seeds batched per depth) fits the
observed entries at depth 2, 3 and 4; the effective rank (Roy & Vetterli: the exponential of the
entropy of the normalized singular values) and the relative error on the
*unobserved* entries are printed. ``scripts/reproduce_implicit_regularization.py`` runs the full
experiment.
"""

import matplotlib.pyplot as plt
import numpy as np

import linflow
from linflow import losses

rng = np.random.default_rng(0)
d, rank, n_observed, n_seeds = 10, 2, 45, 4
u, v = rng.standard_normal((d, rank)), rng.standard_normal((d, rank))
truth = u @ v.T
truth /= np.linalg.norm(truth, 2)  # spectral norm 1
mask = np.zeros(d * d, dtype=bool)
mask[rng.choice(d * d, n_observed, replace=False)] = True
mask = mask.reshape(d, d)
loss = losses.MatrixCompletion(mask, np.where(mask, truth, np.nan))


def effective_rank(matrix):
    s = np.linalg.svd(matrix, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


depths = (2, 3, 4)
summary = {}
for depth in depths:
    problem = linflow.Problem(linflow.DeepLinearNetwork((d,) * (depth + 1)), loss)
    # Per-layer Gaussian entries, scaled so that each layer's spectral norm is about 0.1.
    w0 = linflow.init.gaussian(problem.network.widths, std=0.1 / (2 * np.sqrt(d)), seed=1, batch=n_seeds)
    eta = n_observed / (2 * depth)  # the loss is normalized by |Ω|: this step is stable here
    run = linflow.simulate_descent(problem, w0, learning_rate=np.full(n_seeds, eta), n_steps=20000)
    ends = linflow.end_to_end(run.final_weights)  # (seeds, d, d)
    ranks = [effective_rank(e) for e in ends]
    errors = [np.linalg.norm((e - truth)[~mask]) / np.linalg.norm(truth[~mask]) for e in ends]
    summary[depth] = (np.median(ranks), np.median(errors), np.median(run.final_loss))
    print(
        f"depth {depth}: effective rank {summary[depth][0]:.2f}, unobserved error {summary[depth][1]:.1e}, "
        f"observed loss {summary[depth][2]:.1e}  (medians over {n_seeds} seeds)"
    )
print(f"truth: effective rank {effective_rank(truth):.2f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
left.bar([str(n) for n in depths], [summary[n][0] for n in depths])
left.axhline(effective_rank(truth), color="k", ls=":", label="truth")
left.set(xlabel="depth N", ylabel="effective rank")
left.legend()
right.bar([str(n) for n in depths], [summary[n][1] for n in depths])
right.set(xlabel="depth N", ylabel="relative error, unobserved entries")
fig.tight_layout()
