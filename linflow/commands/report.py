"""``linflow report --out DIR``: checks, tables and figures in one Markdown report."""

from __future__ import annotations

import argparse
import sys

from ._options import CLIError, check_output_directory


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="run the checks, build every table and figure, write DIR/report.md",
        description=(
            "Run linflow check, build every table (CSV, Markdown, LaTeX) and every figure (PNG) "
            "on default parameters and write DIR/report.md with the tables and images embedded: "
            "the artifact to attach to a paper draft. A few minutes on defaults; --quick uses "
            "tiny sizes (seconds). On Ctrl-C the sections completed so far are written (exit status 130)."
        ),
    )
    p.add_argument("--out", metavar="DIR", required=True, help="output directory (created if needed)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the whole pipeline")
    p.add_argument("--tables", nargs="*", metavar="NAME", help="only these tables (default all; none: no tables)")
    p.add_argument("--figures", nargs="*", metavar="NAME", help="only these figures (default all; none: no figures)")
    p.add_argument("--no-checks", action="store_true", help="skip linflow check")
    p.add_argument("--no-progress", action="store_true", help="never draw progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import ReportInterrupted, write_report

    check_output_directory(args.out, "--out")
    try:
        result = write_report(
            args.out, quick=args.quick, tables=args.tables, figures=args.figures, checks=not args.no_checks,
            progress=False if args.no_progress else None, log=lambda line: print(line, file=sys.stderr),
        )
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None
    except ReportInterrupted as exc:
        done = exc.result
        print(f"interrupted during {done.interrupted}: wrote the partial report {done.report} "
              f"({len(done.tables)} tables, {len(done.figures)} figures)")
        print("linflow report: interrupted", file=sys.stderr)
        return 130
    print(f"wrote {result.report} ({len(result.tables)} tables, {len(result.figures)} figures, "
          f"{result.timings['total']:.1f} s)")
    for what, why in result.skipped.items():
        print(f"skipped {what}: {why}")
    for what, why in result.failed.items():
        print(f"FAILED {what}: {why}")
    return 0 if result.ok else 1
