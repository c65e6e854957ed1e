"""``linflow check``: check every registered claim and print a table (the main job).

Each claim is checked on its canonical instances and on ``--examples`` Hypothesis instances
(deterministic for a given ``--seed``). Exit status 0 when nothing is violated, 1 otherwise (the
shrunk counterexample is then printed as a reproducible Python snippet, and saved as ``.npz``
with ``--save DIR``), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback

from ._options import CLIError, check_output_directory, load_user_code, nonnegative_float, nonnegative_int


def _examples(text: str) -> int:
    """``--examples``: an integer from 0 to ``check_claim``'s documented maximum."""
    from linflow.claims._core import MAX_EXAMPLES

    value = nonnegative_int(text)
    if value > MAX_EXAMPLES:
        raise argparse.ArgumentTypeError(f"must be ≤ {MAX_EXAMPLES:,}; got {text!r}")
    return value

#: Default number of Hypothesis instances per claim: keeps the full run ≲ 1 min on 2 cores.
DEFAULT_EXAMPLES = 20


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "check",
        help="check the theorems (built-in claims) on canonical and generated instances",
        description=(
            "Check every registered claim about GD/GF on deep linear networks on its canonical "
            "instances plus N Hypothesis-generated ones, and print: claim, source and status "
            "tag, instances, hypotheses met, worst tightness ratio (measured/bound; ≤ 1 holds), "
            "verdict and seconds. Exit status 1 if a claim is violated, with the shrunk "
            "counterexample printed as a reproducible snippet; 130 on Ctrl-C, after printing "
            "the claims checked so far (and saving their counterexamples with --save)."
        ),
    )
    p.add_argument("--examples", type=_examples, default=DEFAULT_EXAMPLES, metavar="N",
                   help="Hypothesis instances per claim (0: canonical only)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the (deterministic) search (default 0)")
    p.add_argument("--claim", action="append", default=[], metavar="NAME",
                   help="check only this claim (repeatable); see --list")
    p.add_argument("--module", action="append", default=[], metavar="FILE.py",
                   help="also load claims from this Python file and check them (repeatable); "
                        "without --claim only the file's claims are checked")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the reports as JSON")
    out.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--save", metavar="DIR", help="save each counterexample to DIR/<claim>.npz")
    p.add_argument("--shrink-seconds", type=nonnegative_float, default=30.0, metavar="S",
                   help="time allowed to shrink each counterexample (default 30)")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------- selection
def _select(args) -> list:
    import linflow.claims as lc

    loaded = []
    for path in args.module:
        loaded.extend(load_user_code(lc.load_module, path, "--module").claims.values())
    if args.claim:
        pool = {c.name: c for c in (*lc.all(), *loaded)}
        unknown = [n for n in args.claim if n not in pool]
        if unknown:
            raise CLIError(f"--claim {' '.join(unknown)}: unknown claim; known: {', '.join(pool)}")
        return [pool[n] for n in dict.fromkeys(args.claim)]
    return loaded if loaded else list(lc.all())


# ---------------------------------------------------------------------------- formatting
def _short_source(source: str, width: int = 46) -> str:
    text = source.split(";")[0].strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def _ratio(x) -> str:
    if x is None:
        return "—"
    if math.isinf(x):
        return "inf"
    return f"{x:.4g}"


_COLUMNS = ("claim", "source", "tag", "instances", "hyp. met", "worst ratio", "verdict", "seconds")


def _rows(reports) -> list:
    rows = []
    for r in reports:
        if isinstance(r, _Failure):
            rows.append((r.name, _short_source(r.source), r.tag, "—", "—", "—", "error", f"{r.seconds:.1f}"))
            continue
        verdict = r.verdict.replace("_", " ")
        if r.verdict == "violated" and r.tag == "recalled":
            verdict = "VIOLATED (recalled)"
        elif r.verdict == "violated":
            verdict = "VIOLATED"
        rows.append((
            r.claim, _short_source(r.source), r.tag, str(r.instances), str(r.hypotheses_met),
            _ratio(r.worst_ratio), verdict, f"{r.seconds:.1f}",
        ))
    return rows


def _plain_table(reports) -> str:
    rows = _rows(reports)
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(_COLUMNS)]
    right = {3, 4, 5, 7}

    def fmt(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [fmt(_COLUMNS), "  ".join("-" * w for w in widths)]
    lines += [fmt(row) for row in rows]
    return "\n".join(lines)


def _markdown_table(reports) -> str:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "|".join("---" for _ in _COLUMNS) + "|"]
    for row in _rows(reports):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


class _Failure:
    """A claim whose check raised: shown as an "error" row (exit status 1)."""

    def __init__(self, claim, error: BaseException, seconds: float):
        self.name, self.source, self.tag = claim.name, claim.source, claim.tag
        self.error = error
        self.seconds = seconds
        self.text = "".join(traceback.format_exception_only(type(error), error)).strip()

    def to_dict(self) -> dict:
        return {"claim": self.name, "source": self.source, "tag": self.tag, "verdict": "error",
                "error": self.text, "seconds": self.seconds}


class _Progress:
    """A one-line progress bar on stderr (a line per claim when stderr is not a terminal)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.index, self.name = 0, ""

    def start(self, index: int, name: str) -> None:
        self.index, self.name = index, name
        self.update(0, 1)

    def update(self, done: int, planned: int) -> None:
        if not self.tty:
            return
        width = 20
        filled = int(width * min(done, planned) / max(planned, 1))
        bar = "#" * filled + "." * (width - filled)
        sys.stderr.write(f"\r[{self.index}/{self.total}] {self.name[:40]:40s} {bar} {done}/{planned}")
        sys.stderr.flush()

    def finish(self, verdict: str, seconds: float) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
        sys.stderr.write(f"[{self.index}/{self.total}] {self.name}: {verdict} ({seconds:.1f} s)\n")
        sys.stderr.flush()


# ---------------------------------------------------------------------------- main
def run(args: argparse.Namespace) -> int:
    import linflow.claims as lc

    save_dir = check_output_directory(args.save, "--save") if args.save else None
    claims = _select(args)
    if args.list:
        for c in claims:
            print(f"{c.name:40s} [{c.tag}] {c.source}")
            if c.description:
                print(f"{'':40s} {c.description}")
        return 0

    start = time.perf_counter()
    progress = _Progress(len(claims), enabled=not args.no_progress)
    reports: list = []
    interrupted = None
    for i, claim in enumerate(claims, 1):
        progress.start(i, claim.name)
        t0 = time.perf_counter()
        try:
            report = lc.check_claim(
                claim, examples=args.examples, seed=args.seed,
                shrink_seconds=args.shrink_seconds, progress=progress.update,
            )
            progress.finish(report.verdict, report.seconds)
        except KeyboardInterrupt:
            progress.finish("interrupted", time.perf_counter() - t0)
            interrupted = claim.name
            break
        except Exception as exc:  # a broken claim must not hide the others' results
            report = _Failure(claim, exc, time.perf_counter() - t0)
            progress.finish("error", report.seconds)
        reports.append(report)
    total = time.perf_counter() - start
    bad = [r for r in reports if isinstance(r, _Failure) or r.verdict == "violated"]
    unchecked = [c.name for c in claims[len(reports):]]

    if args.json:
        # Saved first so that the paths appear in the JSON; a failed save is reported in it.
        saved, save_errors = _save_all(reports, save_dir)
        print(json.dumps({
            "examples": args.examples,
            "seed": args.seed,
            "seconds": total,
            "ok": not bad and interrupted is None,
            "interrupted": interrupted,
            "unchecked": unchecked,
            "claims": [r.to_dict() for r in reports],
            "saved": saved,
            "save_errors": save_errors,
        }, indent=2))
    else:
        _print_report(args, reports, bad, total, interrupted, unchecked)
        saved, save_errors = _save_all(reports, save_dir)
        for name, path in saved.items():
            print(f"saved the counterexample of {name} to {path}")
    if interrupted is not None:
        print("linflow check: interrupted", file=sys.stderr)
        return 130
    if save_errors:
        raise CLIError("--save " + "; ".join(save_errors.values()))
    return 1 if bad else 0


def _save_all(reports, save_dir) -> tuple:
    """``({claim: path}, {claim: error})`` after saving every counterexample to ``save_dir``."""
    saved, errors = {}, {}
    if save_dir is None:
        return saved, errors
    for r in reports:
        if not isinstance(r, _Failure) and r.counterexample is not None:
            try:
                saved[r.claim] = str(r.counterexample.save(save_dir))
            except OSError as exc:
                errors[r.claim] = f"{str(save_dir)!r}: cannot save the counterexample of {r.claim} ({exc})"
    return saved, errors


def _print_report(args, reports, bad, total, interrupted, unchecked) -> None:
    markdown = args.markdown
    print(_markdown_table(reports) if markdown else _plain_table(reports))
    notes = [(r.claim, r.note) for r in reports if not isinstance(r, _Failure) and r.note]
    if notes:
        print()
        for name, note in notes:
            print(f"{'- ' if markdown else ''}{name}: {note}")
    for r in bad:
        print()
        if isinstance(r, _Failure):
            print(f"{'### ' if markdown else ''}{r.name}: error while checking")
            print(r.text)
            continue
        print(f"{'### ' if markdown else ''}{r.finding}")
        ce = r.counterexample
        res = ce.result
        if r.relation == "property":
            what = "the property is false"
        elif r.relation == "non-increasing":
            what = f"the sequence increases by {res.value!r}"
        else:
            what = f"measured {res.value!r} vs bound {res.bound!r} (ratio {_ratio(res.ratio)})"
        print(f"{what}; {'shrunk' if ce.shrunk else 'canonical'} counterexample, seed {ce.seed}:")
        if res.info:
            print("details: " + ", ".join(f"{k}={v!r}" for k, v in res.info.items()))
        print("```python" if markdown else "")
        print(ce.snippet())
        if markdown:
            print("```")
    print()
    if interrupted is not None:
        print(f"INTERRUPTED while checking {interrupted}; not checked: {', '.join(unchecked)}")
    print(
        f"{len(reports)} claims, {len(bad)} violated or failed; {args.examples} examples per claim, "
        f"seed {args.seed}; {total:.1f} s"
    )
