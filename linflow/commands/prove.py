"""``linflow prove``: run the executable proofs in ``proofs/`` and print a table of results.

Each proof is a script ``proofs/NAME.py`` with module attributes ``CLAIM`` and ``SOURCE`` and a
function ``main()`` that raises (usually ``AssertionError``) when the claim fails. Proofs run in
this process, one after the other (SymPy is imported once; the machine has few cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ._options import CLIError


@dataclass(frozen=True)
class ProofOutcome:
    """Result of one proof script."""

    name: str
    claim: str
    source: str
    passed: bool
    seconds: float
    error: str = ""


def default_directory() -> Path:
    """``proofs/`` next to the ``linflow`` package (a source checkout or editable install)."""
    return Path(__file__).resolve().parents[2] / "proofs"


def discover(directory: Optional[Path] = None) -> list:
    """Proof scripts in ``directory`` (default :func:`default_directory`), sorted by name.

    Raises
    ------
    FileNotFoundError
        If the directory does not exist (e.g. linflow installed without its source tree).
    """
    directory = default_directory() if directory is None else Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"proofs directory not found: {directory}; run from a source checkout or pass --directory"
        )
    return sorted(p for p in directory.glob("*.py") if not p.name.startswith("_"))


def run_proof(path: Path) -> ProofOutcome:
    """Import ``path`` as a fresh module and call its ``main()``; never raises (but passes on
    ``KeyboardInterrupt``). A proof that calls ``sys.exit`` fails: it proved nothing."""
    path = Path(path)
    start = time.perf_counter()
    claim, source = path.stem, ""
    try:
        spec = importlib.util.spec_from_file_location(f"linflow_proof_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        claim = getattr(module, "CLAIM", (module.__doc__ or path.stem).strip().splitlines()[0])
        source = getattr(module, "SOURCE", "")
        module.main()
    except SystemExit as exc:
        message = f"the proof called sys.exit({exc.code!r}) instead of returning"
        return ProofOutcome(path.stem, claim, source, False, time.perf_counter() - start, message)
    except Exception as exc:  # a failing proof is a result, not a crash of the runner
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(tb.filename).name}:{tb.lineno}"
        message = f"{type(exc).__name__} at {where}: {exc}".strip()
        return ProofOutcome(path.stem, claim, source, False, time.perf_counter() - start, message)
    return ProofOutcome(path.stem, claim, source, True, time.perf_counter() - start)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "prove",
        help="run the executable proofs in proofs/ and print a table",
        description=(
            "Run every proof script in proofs/ (or the named ones): each states a claim with its "
            "source and asserts it with SymPy (expand(lhs − rhs) == 0, antiderivatives "
            "differentiated back, exact rational points). Prints claim, source, result and "
            "seconds per proof; exit status 1 if any proof fails."
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="proof names (file stems); default all")
    p.add_argument("--directory", type=Path, default=None, help="directory of proof scripts (default: proofs/)")
    p.add_argument("--list", action="store_true", help="list the proofs and their claims without running them")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        paths = discover(args.directory)
    except FileNotFoundError as exc:
        raise CLIError(f"--directory {str(args.directory)!r}: {exc}" if args.directory else str(exc)) from None
    if args.names:
        by_name = {p.stem: p for p in paths}
        unknown = [n for n in args.names if n not in by_name]
        if unknown:
            raise CLIError(f"unknown proof(s) {' '.join(unknown)}; known: {', '.join(by_name)}")
        paths = [by_name[n] for n in args.names]
    if args.list:
        for path in paths:
            print(path.stem)
        return 0
    outcomes = []
    try:
        for path in paths:
            outcomes.append(run_proof(path))
    except KeyboardInterrupt:
        _print_table(outcomes)
        print(f"INTERRUPTED at {paths[len(outcomes)].stem}; not run: "
              f"{', '.join(p.stem for p in paths[len(outcomes):])}")
        print("linflow prove: interrupted", file=sys.stderr)
        return 130
    return _print_table(outcomes)


def _print_table(outcomes: Sequence[ProofOutcome]) -> int:
    width = max((len(o.name) for o in outcomes), default=4)
    print(f"{'proof':<{width}}  {'result':<6} {'seconds':>7}  claim / source")
    for o in outcomes:
        print(f"{o.name:<{width}}  {'PASS' if o.passed else 'FAIL':<6} {o.seconds:>7.2f}  {o.claim}")
        print(f"{'':<{width}}  {'':<6} {'':>7}  source: {o.source}")
    failed = [o for o in outcomes if not o.passed]
    total = sum(o.seconds for o in outcomes)
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} proofs passed in {total:.1f} s")
    for o in failed:
        print(f"FAILED {o.name}: {o.error}")
    return 1 if failed else 0
