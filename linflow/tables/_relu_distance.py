"""``gd-gf-distance`` for ReLU / leaky-ReLU networks: GD vs a gradient flow that changes pattern.

Gradient flow of a ReLU network is integrated pattern by pattern and ends where it enters a
sliding mode (``Status.LEFT_REGIME``, ``linflow/_pattern_flow.py``): beyond that time there is no
classical flow to compare GD with. The Elkabetz–Cohen certificate (theory.md §2 [checked], with
the per-sample pattern bounds of §5 [checked]) needs every ball ``B_ε(θ(kη))`` inside one
activation pattern, so it is computed on the one-pattern stretch only:

* the comparison horizon is ``T_GF = min(T, t_stop)`` with ``t_stop`` the sliding stop, and
  ``K = ⌊T_GF/η⌋`` GD steps are compared with GF at ``t = kη``;
* the certified stretch is ``K₁ = ⌊0.8·t₁/η⌋`` steps with ``t₁`` the first pattern change (all K
  when GF never changes pattern); 80% keeps the balls away from the boundary GF reaches at t₁
  (the convention of the claim ``homogeneous_ec21_certificate``); the certificate checks that
  each ball lies in the pattern anyway.
"""

from __future__ import annotations

import math

import numpy as np

#: Fraction of the first pattern-change time that the certified stretch covers.
ONE_PATTERN_FRACTION = 0.8


def _smallest_valid_certificate(problem, path, learning_rate: float, epsilons, step_length: float):
    """Smallest ε of ``epsilons`` (ascending) whose certificate is valid (or None), and why not.

    A larger ε only helps when the failing hypothesis is ``E_k ≤ ε`` or ``ηγ_k ≤ ε``; when
    ``ηβ_k ≤ 1`` or "ball inside one pattern" fails (β_k grows with ε, balls grow with ε) no larger
    radius can be valid, so the search stops there.
    """
    from ..curvature import error_certificate

    reason = f"no radius of the grid reaches ηγ_k ≥ {step_length:.3g}"
    for eps in epsilons[epsilons >= step_length]:
        cert = error_certificate(problem, path, learning_rate=learning_rate, epsilon=float(eps))
        if cert.valid:
            return cert, cert.message
        reason = f"ε = {eps:.3g}: {cert.message}"
        smooth_ok = bool(np.all(learning_rate * cert.smoothness[:-1] <= 1.0))
        grows_ok = bool(np.all(cert.bound <= eps)) and bool(np.all(learning_rate * cert.gradient_bound[:-1] <= eps))
        if not smooth_ok or grows_ok:  # ηβ fails, or only the pattern check fails: stop
            break
    return None, reason


def measure_relu(problem, weights0, learning_rate: float, horizon: float, epsilons, *, backend=None) -> dict:
    """GD vs pattern-by-pattern GF and the certificate on the one-pattern stretch.

    Returns
    -------
    dict with ``flow`` (FlowResult), ``horizon`` (T_GF), ``slid`` (GF stopped in a sliding mode),
    ``changes`` (pattern changes completed on [0, T_GF]), ``first_change`` (t₁, inf if none),
    ``distances`` (K+1,), ``certified_steps`` (K₁), ``certificate`` (ErrorCertificate on
    ``k ≤ K₁`` or None), ``certificate_message`` (why it is valid, or why none is: the last radius
    tried and its first failing hypothesis), ``descent``.
    """
    from ..descent import simulate_descent
    from ..flow import integrate_flow
    from ..network import flatten, unflatten
    from ..results import Status

    eta = float(learning_rate)
    n_max = int(np.floor(horizon / eta * (1 + 1e-12)))
    flow = integrate_flow(problem, weights0, t_span=(0.0, eta * n_max))
    if flow.status is Status.FAILED:
        raise RuntimeError(f"gradient flow failed on [0, {eta * n_max}]: {flow.message}")
    slid = flow.status is Status.LEFT_REGIME
    t_stop = float(flow.t[-1])
    times = flow.pattern_change_times if flow.pattern_change_times is not None else np.zeros(0)
    # At a sliding stop the last recorded switch was attempted, not made: count completed ones.
    changes = int(np.sum(times < t_stop)) if slid else int(times.size)
    first = float(times[0]) if times.size and (times[0] < t_stop or not slid) else math.inf
    if slid:
        first = min(first, t_stop)  # the pattern is left (or the flow ends) at the stop
    # 1e-9 relative slack: a stop at exactly kη keeps step k (as error_certificate samples).
    n_steps = min(n_max, int(np.floor(t_stop / eta * (1 + 1e-9)))) if slid else n_max
    t = eta * np.arange(n_steps + 1)
    shapes = problem.network.shapes
    reference = np.atleast_2d(np.asarray(flow.sol(np.minimum(t, t_stop))).T) if flow.sol is not None else flatten(weights0)[None, :]
    run = None
    if n_steps > 0:
        run = simulate_descent(problem, weights0, learning_rate=eta, n_steps=n_steps, record_weights=True,
                               backend=backend)
        path = flatten(run.weights)
    else:
        path = reference
    distances = np.linalg.norm(path - reference, axis=1)
    k1 = n_steps if math.isinf(first) else min(n_steps, int(np.floor(ONE_PATTERN_FRACTION * first / eta)))
    certificate, reason = None, "no step before the first pattern change (K₁ = 0)"
    if k1 > 0:
        sampled = unflatten(reference[: k1 + 1], shapes)
        # ηγ_k ≥ η‖∇f(θ(kη))‖ must fit in the tube: skip radii that cannot be valid.
        grads = problem._gradient(sampled)
        step_length = eta * float(np.max(np.linalg.norm(flatten(grads), axis=1)))
        certificate, reason = _smallest_valid_certificate(problem, sampled, eta, epsilons, step_length)
    return {"flow": flow, "horizon": eta * n_steps if not slid else t_stop, "slid": slid, "changes": changes,
            "first_change": first, "distances": distances, "certified_steps": k1, "certificate": certificate,
            "certificate_message": reason, "descent": run}
