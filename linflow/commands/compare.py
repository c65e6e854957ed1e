"""``linflow compare``: GD against GF on the built-in default problem."""

from __future__ import annotations

import argparse
import math
import time

from ._options import CLIError, check_output_file, load_user_code, nonnegative_int, positive_float

#: Figure formats ``--plot`` accepts (matplotlib's writers used by linflow.plotting).
PLOT_EXTENSIONS = (".png", ".svg", ".pdf", ".jpg", ".jpeg", ".eps", ".ps")

DEFAULT_LEARNING_RATES = (0.04, 0.02, 0.01, 0.005)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare gradient descent with gradient flow and fit the order in η",
        description=(
            "Run GD at several step sizes η and GF (DOP853, rtol 1e-10) from the same "
            "initialization on the default problem (depth 3, widths (4,4,4,2), whitened Gaussian "
            "target), print max_k ‖θ_k − θ(kη)‖ per η and the fitted order in η (≈ 1: GD is "
            "Euler's method for GF)."
        ),
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the default problem (default 0)")
    p.add_argument("--horizon", type=positive_float, default=4.0, help="GF time horizon T (default 4)")
    p.add_argument(
        "--learning-rates", type=positive_float, nargs="+", default=list(DEFAULT_LEARNING_RATES),
        metavar="ETA", help="two or more distinct step sizes (default 0.04 0.02 0.01 0.005)",
    )
    p.add_argument("--plot", metavar="FILE", help="also draw loss curves and distance vs η to FILE")
    p.add_argument("--problem", metavar="FILE.py:NAME", default=None,
                   help="your problem instead of the default: global NAME of FILE.py, a linflow.Problem, a "
                        "(problem, weights0) pair or a function returning one (imported like check --module); "
                        "without weights0 the start is Gaussian, std 0.3, from --seed")
    p.set_defaults(func=run)


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse what the order fit or the output cannot use, before any computing."""
    if len(set(args.learning_rates)) < 2:
        rates = " ".join(map(str, args.learning_rates))
        raise CLIError(f"--learning-rates needs two or more distinct step sizes to fit an order; got {rates}")
    if args.plot is not None:
        path = check_output_file(args.plot, "--plot")
        if path.suffix.lower() not in PLOT_EXTENSIONS:
            raise CLIError(f"--plot {args.plot!r}: path must end in {', '.join(PLOT_EXTENSIONS)}")


def run(args: argparse.Namespace) -> int:
    from ..compare import compare_descent_to_flow, default_problem
    from ..flow import integrate_flow

    check_arguments(args)
    start = time.perf_counter()
    if getattr(args, "problem", None) is not None:
        from ..init import gaussian
        from ..user_problem import load_problem

        problem, weights0 = load_user_code(load_problem, args.problem, "--problem")
        if weights0 is None:
            weights0 = gaussian(problem.network.widths, std=0.3, seed=args.seed)
    else:
        problem, weights0 = default_problem(args.seed)
    try:
        result = compare_descent_to_flow(problem, weights0, args.learning_rates, args.horizon)
    except (ValueError, TypeError) as exc:  # e.g. a run too long for memory, refused up front
        raise CLIError(str(exc)) from exc
    print(f"GD vs GF on {problem} (seed {args.seed}), horizon T = {args.horizon:g}")
    print(f"{'eta':>10} {'steps':>7} {'max ||θ_k − θ(kη)||':>22} {'final GD loss':>15} {'status':>10}")
    for i, eta in enumerate(result.learning_rates):
        print(
            f"{eta:>10.4g} {len(result.times[i]) - 1:>7d} {result.max_distance[i]:>22.4e} "
            f"{result.final_descent_loss[i]:>15.4e} {result.statuses[i].name.lower():>10}"
            + (f"  not fitted: {result.notes[i]}" if result.notes[i] else "")
        )
    print(f"final GF loss: {result.final_flow_loss:.4e}")
    order = result.order
    fitted = order is not None and math.isfinite(order)
    if fitted:
        print(f"fitted order in η: {order:.3f}  (Euler's method: 1; {result.order_message})")
    else:
        print(f"fitted order in η: n/a ({result.order_message})")
    if args.plot:
        from ..plotting import plot_descent_vs_flow

        flow = integrate_flow(problem, weights0, t_span=(0.0, args.horizon), t_eval=_grid(args.horizon))
        fig = plot_descent_vs_flow(result, problem, weights0, flow)
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    print(f"({time.perf_counter() - start:.1f} s)")
    return 0 if fitted else 1


def _grid(horizon: float):
    import numpy as np

    return np.linspace(0.0, horizon, 201)
