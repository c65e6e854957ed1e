"""``linflow plot NAME --out FILE``: draw a named figure (PNG, SVG or PDF by extension)."""

from __future__ import annotations

import argparse
import time

from ._options import CLIError, builder_error, check_output_file, load_user_code, missing_name
from .compare import PLOT_EXTENSIONS
from .table import option_type


def register(subparsers) -> None:
    from .. import figures

    p = subparsers.add_parser(
        "plot",
        help="draw a figure (GD vs GF, edge of stability, central flow, bounds vs depth, λ_min)",
        description=(
            "Compute and draw one of linflow's figures with matplotlib (Agg backend). The format "
            "follows the extension of --out: .png, .svg or .pdf. Each figure has its own "
            "parameters (linflow plot NAME -h)."
        ),
    )
    sub = p.add_subparsers(dest="figure", metavar="NAME")
    for name in figures.names():
        spec = figures.get(name)
        fp = sub.add_parser(name, help=spec.summary, description=spec.summary + ".")
        for arg, metavar, text in spec.arguments:
            fp.add_argument(arg, metavar=metavar, help=text)
        for opt in spec.options:
            fp.add_argument(opt.flag, dest=opt.name, type=option_type(opt.type), default=opt.default, help=opt.help,
                            nargs="+" if opt.multiple else None)
        for flag, text in spec.flags:
            fp.add_argument("--" + flag.replace("_", "-"), dest=flag, action="store_true", help=text)
        if spec.accepts_problem:
            fp.add_argument("--problem", metavar="FILE.py:NAME", default=None,
                            help="your problem: global NAME of FILE.py, a linflow.Problem, a (problem, weights0) "
                                 "pair or a function returning one (the file is imported like --module)")
        fp.add_argument("--out", metavar="FILE", required=True, help="output file (.png, .svg or .pdf)")
        fp.set_defaults(func=run, figure=name)
    p.set_defaults(func=lambda args: missing_name("plot", figures.names()))


def run(args: argparse.Namespace) -> int:
    from .. import figures
    from ..plotting import save_figure

    spec = figures.get(args.figure)
    path = check_output_file(args.out, "--out")
    if path.suffix.lower() not in PLOT_EXTENSIONS:
        raise CLIError(f"--out {args.out!r}: path must end in {', '.join(PLOT_EXTENSIONS)}")
    params = {o.name: (tuple(getattr(args, o.name)) if o.multiple else getattr(args, o.name)) for o in spec.options}
    params.update({arg: getattr(args, arg) for arg, _, _ in spec.arguments})
    params.update({flag: getattr(args, flag) for flag, _ in spec.flags})
    if getattr(args, "problem", None) is not None:
        from ..user_problem import load_problem

        params["problem"], params["weights0"] = load_user_code(load_problem, args.problem, "--problem")
    start = time.perf_counter()
    try:
        fig, _ = spec.build(**params)
    except (TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: no figure from these parameters
        raise builder_error(exc, spec.options, params) from exc
    try:
        save_figure(fig, args.out)
    except OSError as exc:
        raise CLIError(f"--out {args.out!r}: cannot write ({exc.strerror or exc})") from exc
    print(f"wrote {args.out} ({time.perf_counter() - start:.1f} s)")
    return 0
