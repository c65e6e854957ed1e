"""How often does gradient flow on a ReLU / leaky-ReLU network change its activation pattern?

For each configuration (activation, widths, samples) the script draws ``--seeds`` problems
(Gaussian X, Y; weights N(0, 1/fan_in)), integrates gradient flow with
:func:`linflow.integrate_flow` up to ``--horizon`` and reports

* how many runs stayed in one pattern, crossed patterns transversally and finished, or stopped
  in a sliding mode (``Status.LEFT_REGIME``: the field points into a boundary from both sides,
  so classical GF ends there);
* median / max number of pattern changes and the median time of the sliding stop;
* ``confirmed``: for every sliding stop, an independent check with the true gradient (central
  differences of the unit's pre-activation, points pushed 1e-9 to either side of the boundary)
  that the field really points back into the boundary on both sides;
* mean wall time per flow.

Usage::

    python scripts/homogeneous_pattern_report.py            # 20 seeds, horizon 10
    python scripts/homogeneous_pattern_report.py --quick    # 5 seeds, horizon 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from linflow import HomogeneousNetwork, Problem, Status, flatten, integrate_flow, unflatten

CONFIGS = (
    ("relu", None, (2, 4, 1), 8),
    ("relu", None, (3, 6, 6, 2), 10),
    ("relu", None, (5, 16, 1), 20),
    ("leaky_relu", 0.1, (2, 4, 1), 8),
    ("leaky_relu", 0.1, (3, 6, 6, 2), 10),
    ("leaky_relu", 0.1, (5, 16, 1), 20),
)


def _sliding_confirmed(prob, weights, site) -> bool:
    """True-gradient check that the field points into the boundary of ``site`` from both sides."""
    layer, neuron, sample = (int(i) for i in site)
    shapes = prob.network.shapes
    theta = flatten(weights)

    def z(vec):
        return prob.network.pre_activations(unflatten(vec, shapes), prob.X)[layer][neuron, sample]

    h = 1e-7
    grad_z = np.array([(z(theta + h * e) - z(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    unit = grad_z / (grad_z @ grad_z)
    for side in (1.0, -1.0):
        point = theta + (side * 1e-9 - z(theta)) * unit
        if np.sign(z(point)) != side:
            return False
        rate = grad_z @ -flatten(prob.gradient(unflatten(point, shapes)))
        if side * rate >= 0:
            return False
    return True


def run(seeds: int, horizon: float) -> None:
    header = (
        f"{'activation':<16}{'widths':<16}{'m':>4}{'one':>6}{'cross':>7}{'slide':>7}{'conf':>6}"
        f"{'chg med':>9}{'chg max':>9}{'t_slide':>9}{'s/flow':>8}"
    )
    print(header)
    print("-" * len(header))
    for activation, slope, widths, m in CONFIGS:
        one = cross = slide = confirmed = 0
        changes, slide_times, seconds = [], [], []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            net = HomogeneousNetwork(widths, activation, negative_slope=slope)
            prob = Problem(net, X=rng.standard_normal((widths[0], m)), Y=rng.standard_normal((widths[-1], m)))
            w0 = tuple(rng.standard_normal(s) / np.sqrt(s[1]) for s in net.shapes)
            start = time.perf_counter()
            res = integrate_flow(prob, w0, t_span=(0.0, horizon))
            seconds.append(time.perf_counter() - start)
            changes.append(res.pattern_changes)
            if res.status is Status.LEFT_REGIME:
                slide += 1
                slide_times.append(res.t[-1])
                confirmed += _sliding_confirmed(prob, res.final_weights, res.pattern_change_sites[-1])
            elif res.pattern_changes == 0:
                one += 1
            else:
                cross += 1
        label = activation if slope is None else f"{activation}({slope})"
        t_slide = f"{np.median(slide_times):9.3f}" if slide_times else f"{'-':>9}"
        print(
            f"{label:<16}{str(widths):<16}{m:>4}{one:>6}{cross:>7}{slide:>7}{confirmed:>6}"
            f"{np.median(changes):>9.1f}{max(changes):>9d}{t_slide}{np.mean(seconds):>8.3f}"
        )
    print(
        f"\none: no pattern change up to T={horizon}; cross: only transversal changes, integrated to T; "
        "slide: stopped in a sliding mode (LEFT_REGIME); conf: sliding stops confirmed with the true gradient"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--horizon", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="5 seeds, horizon 5")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.horizon = 5, 5.0
    run(args.seeds, args.horizon)


if __name__ == "__main__":
    main()
