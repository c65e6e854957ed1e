"""
The step-size table: a recalled theorem against measured stability
===================================================================

Arora, Cohen, Golowich & Hu (ICLR 2019, Thm 1) guarantee linear convergence of GD on a deep linear
network from a δ-balanced initialization with deficiency margin ``c`` if the step size is below
``c^{(4N−2)/N} / (6144 N³ ‖Φ‖_F^{(6N−4)/N})``. The constants are *recalled* in linflow (see
:doc:`/theory/deep-linear`), so the table measures them: it sets the theorem's step beside the
stability threshold ``2/S`` at the balanced minimum (``S = N σ_1(Φ)^{2−2/N}``) and the empirical
critical step of GD, found by batched bisection on the numba engine.

This reduced build (2 depths, 16 initializations, 500 steps) runs in seconds; ``linflow table
step-size`` builds the full table (depths 2–10, 256 initializations, 2000 steps).
"""

from linflow.tables import step_size

table = step_size.build(depths=(2, 3), n_inits=16, n_steps=500, rounds=2, seed=0, progress=False)
print(table.render("markdown"))
