"""
Saxe learning times grow with depth
===================================

Saxe, McClelland & Ganguli (ICLR 2014) solved gradient flow on deep linear networks from a
decoupled, balanced initialization: every singular mode of the end-to-end matrix evolves on its
own. With ``N`` weight matrices, a mode of target strength ``s`` and current strength ``u`` obeys
``u' = N u^{2−2/N}(s − u)`` (time τ = 1; the ½ in the loss). For ``N = 2`` the solution is the
logistic curve ``u(t) = s e^{2st}/(e^{2st} − 1 + s/u_0)`` (:func:`linflow.exact.saxe_mode`).

Here GF is integrated on networks of depth 2–5 from a small spectral initialization and the time
at which each mode reaches half its target strength is measured. Small modes are learned later,
and from a small start deeper networks wait longer (the plateau grows like ``u_0^{−(N−2)/N}``);
the depth-2 curve is checked against the closed form.
"""

import matplotlib.pyplot as plt
import numpy as np

import linflow

target = np.diag([3.0, 1.5, 0.75])  # three modes, singular values s_r
u0 = 1e-3  # initial strength of every mode
t_end = 40.0
t = np.linspace(0.0, t_end, 2001)

fig, axes = plt.subplots(1, 4, figsize=(12, 3), sharey=True)
for ax, depth in zip(axes, (2, 3, 4, 5)):
    widths = (3,) * (depth + 1)
    problem = linflow.Problem(linflow.DeepLinearNetwork(widths), target=target)
    w0 = linflow.init.spectral(widths, target, mode_strength=u0)
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, t_end), t_eval=t, rtol=1e-10, atol=1e-12)
    strengths = np.array([np.diag(linflow.end_to_end(tuple(w[i] for w in flow.weights))) for i in range(len(t))])
    # first recorded time at which mode r reaches s_r/2 (NaN: not within t_end)
    reached = strengths >= np.diag(target) / 2
    halves = np.where(reached.any(axis=0), t[np.argmax(reached, axis=0)], np.nan)
    times = ", ".join(f"s={s:g}: {h:.2f}" for s, h in zip(np.diag(target), halves))
    print(f"N = {depth}: half-learning times {times}")
    for r in range(3):
        ax.plot(t, strengths[:, r], label=f"s = {target[r, r]:g}")
    if depth == 2:
        exact = np.stack([linflow.exact.saxe_mode(s, u0, t) for s in np.diag(target)], axis=1)
        error = np.max(np.abs(exact - strengths))
        print(f"N = 2: max |GF − closed form| = {error:.1e}")
        ax.plot(t, exact, "k:", lw=1)
    ax.set(title=f"N = {depth}", xlabel="t")
axes[0].set_ylabel("mode strength u_r(t)")
axes[0].legend()
fig.tight_layout()
