"""``linflow bounds``: print the bound registry (name, source, formula; ``--latex`` for papers)."""

from __future__ import annotations

import argparse

from ._options import CLIError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bounds",
        help="print the registered bounds (name, source, formula)",
        description=(
            "Print every bound of linflow.bounds (or the named ones): its stable name, source "
            "(paper, theorem, tag), formula, parameters and hypotheses. With --latex, "
            "print LaTeX equations ready for a paper."
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="bound names (default: all)")
    p.add_argument("--latex", action="store_true", help="print LaTeX equations instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import bounds as registry

    try:
        selected = [registry.get(n) for n in args.names] if args.names else list(registry.all())
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None
    for b in selected:
        if args.latex:
            print(f"% {b.name}: {b.description}")
            print(f"% source: {b.source}")
            print(r"\begin{equation}")
            print(f"  {b.latex()}")
            print(rf"  \label{{bound:{b.name}}}")
            print(r"\end{equation}")
        else:
            print(f"{b.name}  [{b.source.tag}]")
            print(f"    {b.description}")
            print(f"    formula:    {b.formula()}")
            print(f"    source:     {b.source.paper}, {b.source.theorem}")
            for par in b.parameters:
                print(f"    parameter:  {par.name} = {par.symbol}: {par.meaning}; {par.domain}")
            for h in b.hypotheses:
                print(f"    hypothesis: {h}")
        print()
    return 0
