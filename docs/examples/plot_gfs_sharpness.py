"""
GD decreases the sharpness of the gradient-flow solution
========================================================

Kreisler, Nacson, Soudry & Carmon (ICML 2023) study scalar deep linear networks
``f(w) = ½(w_1⋯w_N − y)²``. Gradient flow from ``w`` conserves the differences ``w_i² − w_j²``, so
it converges to the minimum with ``w_i*² = w_i² + c``, ``c`` the root of ``Π(w_i² + c) = y²``; the
sharpness of that minimum, the *GF-solution sharpness* ``φ(w) = Σ_i y²/(w_i² + c)``, is a function
of the current point (:func:`linflow.analysis.gfs_sharpness`). Their theorem: along GD,
``φ(w_k)`` decreases monotonically (under a step-size condition that linflow *recalls* as
``φ(w_0) ≤ 2√2/η`` and measures).

Here GD starts from an unbalanced initialization with ``π_0 < y`` and a step with
``ηφ(w_0) = 2.6``: the minimum gradient flow would reach is too sharp to be stable for GD, and GD
instead moves towards flatter GF solutions until ``ηφ ≤ 2``. ``φ`` is evaluated at every iterate
and its largest increase printed (float64 rounding of φ is ~1e-15).
"""

import matplotlib.pyplot as plt
import numpy as np

import linflow

y, w0 = 1.0, np.array([1.6, 0.35, 0.8])
net = linflow.DeepLinearNetwork((1, 1, 1, 1))
problem = linflow.Problem(net, target=[[y]])
weights0 = tuple(np.array([[wi]]) for wi in w0)
phi0 = float(linflow.analysis.gfs_sharpness(w0, y))
eta = 2.6 / phi0  # ηφ(w_0) = 2.6: above 2, so GD cannot stop at the GF solution; below 2√2
# learning_rate as a list: a batch of one trajectory (the recorded weights keep that axis).
gd = linflow.simulate_descent(problem, weights0, learning_rate=[eta], n_steps=1000, record_weights=True)
path = np.stack([w[0, :, 0, 0] for w in gd.weights], axis=1)  # (steps, N)
phi = linflow.analysis.gfs_sharpness(path, y)  # φ at every iterate
sharpness = np.array([problem.sharpness(tuple(np.array([[wi]]) for wi in w)) for w in path])

print(f"ηφ(w_0) = {eta * phi0:.3f}; final loss {gd.final_loss[0]:.2e}")
print(f"largest increase of φ along GD: {np.max(np.diff(phi)):.2e} (≤ ~1e-15: monotone)")
print(f"φ: {phi[0]:.4f} → {phi[-1]:.4f}; final sharpness S = {sharpness[-1]:.4f} ≤ 2/η = {2 / eta:.4f}")

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(eta * phi, label="ηφ(w_k): sharpness of the GF solution from w_k")
ax.plot(eta * sharpness, label="ηS(w_k): sharpness at w_k", alpha=0.7)
ax.axhline(2.0, color="k", lw=0.8, ls=":")
ax.set(xlabel="GD step k", ylabel="in units of 2/η")
ax.legend(fontsize=8)
fig.tight_layout()
