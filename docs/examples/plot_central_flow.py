"""
Edge of stability and its central flow
======================================

With a large step, GD raises its sharpness ``S = λ_max(∇²f)`` until ``ηS`` reaches 2 — the *edge
of stability* — and then stays there, oscillating, while the loss keeps decreasing. Gradient
flow ignores the step size and ends at a sharper minimum. The *central flow* of Cohen, Damian,
Talwalkar, Kolter & Lee (ICLR 2025) is an ODE for the time-averaged GD trajectory: at the edge
it adds the term ``½σ²∇S``, with ``σ²`` chosen so that ``S`` stays at ``2/η``
(:func:`linflow.integrate_central_flow`).

The problem is the scalar network ``½(w_1 w_2 w_3 − 1)²`` from an unbalanced start, with η
chosen so that gradient flow would end at ``ηS = 2.5`` (the design used by linflow's
central-flow claims). Time is counted in GD steps.
"""

import matplotlib.pyplot as plt
import numpy as np

import linflow

w_start = (0.35, 0.54, 1.65)
problem = linflow.Problem(linflow.DeepLinearNetwork((1, 1, 1, 1)), target=[[1.0]])
w0 = tuple(np.array([[v]]) for v in w_start)
# Sharpness of the minimum GF reaches from w0: GF keeps w_i² − w_j², so it ends at w_i² + c.
gf_limit = linflow.integrate_flow(problem, w0, t_span=(0.0, 200.0))
eta = 2.5 / problem.sharpness(gf_limit.final_weights)
n_steps = 800

# learning_rate as a list: a batch of one trajectory, so every field keeps its trajectory axis.
gd = linflow.simulate_descent(problem, w0, learning_rate=[eta], n_steps=n_steps, record_weights=True)
steps = np.arange(n_steps + 1)
gd_sharpness = np.array([problem.sharpness(tuple(w[0, k] for w in gd.weights)) for k in steps])
cf = linflow.integrate_central_flow(problem, w0, learning_rate=eta, n_steps=n_steps, record_every=4)
gf = linflow.integrate_flow(problem, w0, t_span=(0.0, eta * n_steps), t_eval=eta * cf.t)
gf_sharpness = np.array([problem.sharpness(tuple(w[i] for w in gf.weights)) for i in range(cf.t.size)])

print(
    f"η = {eta:.4f}; final ηS: GD {eta * gd_sharpness[-1]:.3f}, central flow "
    f"{eta * cf.sharpness[-1, 0]:.3f}, gradient flow {eta * gf_sharpness[-1]:.3f}"
)
final_gd = linflow.flatten(gd.trajectory(0))
for name, weights in (("central flow", cf.final_weights), ("gradient flow", gf.final_weights)):
    print(f"distance of GD's final weights to the {name}: {np.linalg.norm(final_gd - linflow.flatten(weights)):.3f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.semilogy(steps, gd.losses[0], color="0.6", label="GD")
left.semilogy(cf.t, cf.losses, "C1--", label="central flow")
left.semilogy(cf.t, gf.losses, "C2", label="gradient flow")
left.set(xlabel="step", ylabel="loss")
left.legend(fontsize=8)
right.plot(steps, eta * gd_sharpness, color="0.6", label="GD")
right.plot(cf.t, eta * cf.sharpness[:, 0], "C1--", label="central flow")
right.plot(cf.t, eta * gf_sharpness, "C2", label="gradient flow")
right.axhline(2.0, color="k", lw=0.8, ls=":")
right.set(xlabel="step", ylabel="ηS", title="sharpness in units of 2/η")
right.legend(fontsize=8)
fig.tight_layout()
