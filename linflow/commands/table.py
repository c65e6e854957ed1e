"""``linflow table NAME``: a bound-vs-measurement table as Markdown, CSV or LaTeX (booktabs)."""

from __future__ import annotations

import argparse
import sys
import time

from ._options import CLIError, builder_error, check_output_file, finite_float, missing_name, nonnegative_int


def option_type(kind):
    """The command-line type of a table or figure option: floats must be finite and integers
    (sizes, depths, seeds) ≥ 0; anything else (strings) as given. The builders check the rest."""
    return {float: finite_float, int: nonnegative_int}.get(kind, kind)


def register(subparsers) -> None:
    from .. import tables

    p = subparsers.add_parser(
        "table",
        help="build a bound-vs-measurement table (markdown, csv or latex)",
        description=(
            "Build one of linflow's tables: theoretical bounds beside what GD and GF actually "
            "do, measured with the batched engine. Each table has its own parameters "
            "(linflow table NAME -h). A progress bar is drawn on stderr when it is a terminal."
        ),
    )
    sub = p.add_subparsers(dest="table", metavar="NAME")
    for name in tables.names():
        module = tables.get(name)
        tp = sub.add_parser(name, help=module.SUMMARY, description=module.SUMMARY + ".")
        for opt in module.OPTIONS:
            tp.add_argument(
                opt.flag, dest=opt.name, type=option_type(opt.type), default=opt.default, help=opt.help,
                nargs="+" if opt.multiple else None, metavar=opt.name.upper().rstrip("S") if opt.multiple else None,
                choices=opt.choices or None,
            )
        add_output_arguments(tp)
        tp.set_defaults(func=run, table=name)
    sp = sub.add_parser("sweep", help="a sweep store (linflow sweep) as a table",
                        description="A sweep store as a table: one row per configuration, or with "
                                    "--over the median over those axes.")
    sp.add_argument("store", metavar="STORE.zarr", help="store written by linflow sweep")
    sp.add_argument("--over", nargs="+", default=(), metavar="AXIS", help="summarize over these axes (median)")
    sp.add_argument("--variables", nargs="+", default=(), metavar="NAME", help="variables to show (default: all)")
    add_output_arguments(sp)
    sp.set_defaults(func=run_sweep_table)
    p.set_defaults(func=lambda args: missing_name("table", (*tables.names(), "sweep")))


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("markdown", "csv", "latex"), default="markdown",
                        help="output format (latex uses booktabs)")
    parser.add_argument("--out", metavar="FILE", help="write the table to FILE instead of stdout")
    parser.add_argument("--no-progress", action="store_true", help="never draw the progress bar")


def table_params(module, args: argparse.Namespace) -> dict:
    """The builder's keyword arguments from parsed options (lists → tuples)."""
    params = {}
    for opt in module.OPTIONS:
        value = getattr(args, opt.name)
        params[opt.name] = tuple(value) if opt.multiple else value
    return params


def run_sweep_table(args: argparse.Namespace) -> int:
    from ..sweep._table import sweep_table

    return run(args, build=lambda: sweep_table(args.store, over=args.over, variables=args.variables))


def run(args: argparse.Namespace, build=None) -> int:
    from .. import tables

    if args.out is not None:
        check_output_file(args.out, "--out")
    start = time.perf_counter()
    module = None
    try:
        if build is None:
            module = tables.get(args.table)
            table = module.build(**table_params(module, args), progress=False if args.no_progress else None)
        else:
            table = build()
    except (TypeError, ValueError, RuntimeError, OSError) as exc:  # RuntimeError: no table from these parameters
        if module is None:
            raise CLIError(str(exc)) from exc
        raise builder_error(exc, module.OPTIONS, table_params(module, args)) from exc
    except KeyboardInterrupt:
        print(f"linflow table {args.table}: interrupted after {time.perf_counter() - start:.1f} s; "
              "no table written", file=sys.stderr)
        return 130
    text = table.render(args.format)
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            sys.stdout.write(text)  # the table is not lost
            raise CLIError(f"--out {args.out!r}: cannot write ({exc.strerror or exc}); the table is above") from exc
        print(f"wrote {args.out} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return 0
