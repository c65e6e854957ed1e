"""
Edge of stability and its central flow
======================================

With a large step, GD on a deep linear regression problem raises its sharpness ``S = λ_max(∇²f)``
until ``ηS`` reaches 2 — the *edge of stability* — and then oscillates there while the loss keeps
decreasing non-monotonically. Gradient flow ignores the step size altogether. The
*central flow* of Cohen, Damian, Talwalkar, Kolter & Lee (ICLR 2025) is an ODE for the
time-averaged GD trajectory: at the edge it adds the term ``½σ²∇S`` with ``σ²`` chosen so that
``S`` stays at ``2/η`` (:func:`linflow.integrate_central_flow`).

The network is 4-4-4-4 on 16 samples (the setting of ``scripts/central_flow_vs_gd.py``); time is
counted in GD steps. The sharpness of GD is computed from the exact Hessian at every step. On
this problem and horizon gradient flow itself ends only slightly above the edge; the printed
figures say how close each flow stays to GD (larger η, e.g. 0.19, separates them more).
"""

import matplotlib.pyplot as plt
import numpy as np

import linflow
from linflow.figures import central_flow_problem, running_average

problem, w0 = central_flow_problem()
eta, n_steps = 0.14, 300

gd = linflow.simulate_descent(problem, w0, learning_rate=eta, n_steps=n_steps, record_weights=True)
steps = np.arange(n_steps + 1)
gd_sharpness = np.array([problem.sharpness(tuple(w[0, k] for w in gd.weights)) for k in steps])
cf = linflow.integrate_central_flow(problem, w0, learning_rate=eta, n_steps=n_steps, record_every=5)
gf = linflow.integrate_flow(problem, w0, t_span=(0.0, eta * n_steps), t_eval=eta * cf.t)
gf_sharpness = np.array([problem.sharpness(tuple(w[i] for w in gf.weights)) for i in range(len(cf.t))])

print(
    f"final ηS: GD {eta * gd_sharpness[-1]:.3f} (mean of the last 20 steps "
    f"{eta * gd_sharpness[-20:].mean():.3f}), central flow {eta * cf.sharpness[-1, 0]:.3f}, "
    f"gradient flow {eta * gf_sharpness[-1]:.3f}"
)
final_gd = tuple(w[0, -1] for w in gd.weights)
distance = {
    name: np.linalg.norm(linflow.flatten(final_gd) - linflow.flatten(w))
    for name, w in (("central flow", cf.final_weights), ("gradient flow", gf.final_weights))
}
print("distance of the final GD weights to: " + ", ".join(f"{k} {v:.3f}" for k, v in distance.items()))

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
left.semilogy(steps, gd.losses[0], color="0.7", label="GD")
left.semilogy(steps, running_average(gd.losses[0]), color="C0", label="GD, running average")
left.semilogy(cf.t, cf.predicted_loss, "C1--", label="central flow: predicted mean loss")
left.semilogy(cf.t, gf.losses, "C2", label="gradient flow")
left.set(xlabel="step", ylabel="loss")
left.legend(fontsize=8)
right.plot(steps, eta * gd_sharpness, color="0.7", label="GD")
right.plot(cf.t, eta * cf.sharpness[:, 0], "C1--", label="central flow")
right.plot(cf.t, eta * gf_sharpness, "C2", label="gradient flow")
right.axhline(2.0, color="k", lw=0.8, ls=":")
right.set(xlabel="step", ylabel="ηS", title="sharpness in units of 2/η")
right.legend(fontsize=8)
fig.tight_layout()
