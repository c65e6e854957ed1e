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
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--latex", action="store_true", help="print LaTeX equations instead of text")
    fmt.add_argument("--json", action="store_true", help="print the bounds as a JSON list")
    p.set_defaults(func=run)


def bound_record(b) -> dict:
    """A JSON-serializable description of bound ``b`` (strings and lists only)."""
    return {
        "name": b.name,
        "description": b.description,
        "quantity": b.quantity_text,
        "formula": b.formula(),
        "latex": b.latex(),
        "parameters": [
            {"name": par.name, "symbol": str(par.symbol), "meaning": par.meaning, "domain": str(par.domain)}
            for par in b.parameters
        ],
        "hypotheses": list(b.hypotheses),
        "source": {
            "paper": b.source.paper,
            "theorem": b.source.theorem,
            "section": b.source.section,
            "tag": b.source.tag,
        },
    }


def run(args: argparse.Namespace) -> int:
    from .. import bounds as registry

    try:
        selected = [registry.get(n) for n in args.names] if args.names else list(registry.all())
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None
    if args.json:
        import json

        print(json.dumps([bound_record(b) for b in selected], indent=2, ensure_ascii=False))
        return 0
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
            print(f"    source:     {b.source.paper}, {b.source.theorem} ({b.source.section})")
            for par in b.parameters:
                print(f"    parameter:  {par.name} = {par.symbol}: {par.meaning}; {par.domain}")
            for h in b.hypotheses:
                print(f"    hypothesis: {h}")
        print()
    return 0
