"""
GD tracks gradient flow to first order in η
===========================================

Elkabetz & Cohen (NeurIPS 2021) view gradient descent as Euler's method for gradient flow: on a
deep linear network GD stays within ``O(η)`` of the flow ``θ' = −∇f(θ)`` over a fixed horizon,
because the curvature along the flow is favourable. Here GD runs with four step sizes from one
initialization of a depth-3 network, and the distance ``‖θ_k − θ(kη)‖`` to the flow at
``t = kη`` is measured; the fitted slope of the maximal distance against η is the order.
"""

import matplotlib.pyplot as plt
import numpy as np

import linflow

net = linflow.DeepLinearNetwork((3, 4, 4, 2))
rng = np.random.default_rng(0)
problem = linflow.Problem(net, target=rng.standard_normal((2, 3)))
w0 = linflow.init.gaussian(net.widths, std=0.5, seed=rng)

etas = [0.04, 0.02, 0.01, 0.005]
cmp = linflow.compare_descent_to_flow(problem, w0, etas, horizon=4.0)
print(f"fitted order in η: {cmp.order:.3f} (Euler's method: 1)")
for eta, d in zip(cmp.learning_rates, cmp.max_distance):
    print(f"η = {eta:<6} max_k ‖θ_k − θ(kη)‖ = {d:.3e}   ratio to η: {d / eta:.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
for eta, t, d in zip(cmp.learning_rates, cmp.times, cmp.distances):
    left.plot(t, d, label=f"η = {eta}")
left.set(xlabel="t = kη", ylabel="‖θ_k − θ(kη)‖", title="distance of GD to GF")
left.legend()
right.loglog(cmp.learning_rates, cmp.max_distance, "o-", label="measured")
right.loglog(
    cmp.learning_rates, cmp.max_distance[0] * cmp.learning_rates / cmp.learning_rates[0], "k--", label="slope 1"
)
right.set(xlabel="η", ylabel="max distance", title=f"order {cmp.order:.2f}")
right.legend()
fig.tight_layout()
