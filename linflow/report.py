"""``linflow report``: checks, tables and figures on defaults, written to one directory.

Layout of ``DIR``::

    report.md                  the report: check output, tables (Markdown) and embedded figures
    tables/NAME.csv|.md|.tex   every table in the three formats
    figures/NAME.png           every figure

Figures that plot a table's data (``bounds-vs-depth`` ← ``step-size``, ``lambda-min`` ←
``curvature``) reuse the table already built instead of recomputing it. A section that fails
is reported in ``report.md`` with its error and the run continues; a section whose feature is
not available in this installation is marked skipped.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Optional, Sequence

__all__ = ["ReportInterrupted", "ReportResult", "write_report", "QUICK_TABLES", "QUICK_FIGURES"]

#: Tiny sizes for smoke tests (``quick=True``): seconds instead of minutes.
QUICK_TABLES = {
    "step-size": dict(depths=(2, 3), n_inits=4, n_steps=300, grid=4, rounds=2, loss_tolerance=1e-8),
    "iterations": dict(depths=(2, 3), learning_rates=(0.1,), n_inits=4, max_steps=2000),
    "gd-gf-distance": dict(depths=(2,), learning_rates=(0.02, 0.01), horizon=0.5),
    "sharpness": dict(depths=(2,), eta_fractions=(0.5, 1.25), n_inits=4, n_steps=500),
    "curvature": dict(depths=(2,), scales=(0.1,), n_samples=201),
}
QUICK_FIGURES = {
    "gd-gf-distance": dict(horizon=0.5, learning_rates=(0.04, 0.02)),
    "loss-sharpness": dict(depth=2, n_steps=60, n_candidates=4),
    "central-flow": dict(n_steps=20, rmsprop_steps=20),
}
#: Arguments of ``linflow check`` in the report: its default (small) number of Hypothesis
#: instances, the table as Markdown; ``quick`` checks the canonical instances only.
CHECK_ARGS: tuple = ("--markdown", "--no-progress")
QUICK_CHECK_ARGS: tuple = ("--examples", "0", "--markdown", "--no-progress")
#: Exit status of ``linflow check`` interrupted by Ctrl-C.
INTERRUPTED = 130
#: Figures drawn from a table built earlier in the same report.
FIGURE_FROM_TABLE = {"bounds-vs-depth": "step-size", "lambda-min": "curvature"}


@dataclass
class ReportResult:
    """What :func:`write_report` produced: paths, per-section timings and problems."""

    directory: str
    report: str
    tables: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    failed: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    interrupted: str = ""  # the section running when Ctrl-C came ("" when complete)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted


class ReportInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`write_report`; ``result`` describes the partial report written."""

    def __init__(self, result: ReportResult):
        super().__init__(f"interrupted during {result.interrupted}; partial report in {result.report}")
        self.result = result


def _run_checks(args: tuple) -> tuple:
    """``(exit status or None if unavailable, captured output)`` of ``linflow check ARGS``."""
    from .cli import SUBCOMMANDS, main

    if "check" not in SUBCOMMANDS:
        return None, "linflow check is not available in this installation."
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            status = main(["check", *args])
        except SystemExit as exc:  # argparse errors
            status = exc.code if isinstance(exc.code, int) else 2
    return status, out.getvalue()


def _figure_from_table(name: str, table):
    from . import plotting

    if name == "bounds-vs-depth":
        return plotting.plot_bounds_vs_depth(table)
    return plotting.plot_lambda_min(table)


def write_report(
    directory,
    *,
    quick: bool = False,
    tables: Optional[Sequence[str]] = None,
    figures: Optional[Sequence[str]] = None,
    checks: bool = True,
    progress: Optional[bool] = None,
    log=None,
) -> ReportResult:
    """Build the tables and figures (and run the checks) and write ``directory/report.md``.

    Parameters
    ----------
    directory : path
        Created if needed; existing files of the same names are overwritten.
    quick : bool
        Tiny sizes (:data:`QUICK_TABLES`, :data:`QUICK_FIGURES`) for smoke tests.
    tables, figures : sequence of str, optional
        Subsets by name (default: all registered).
    checks : bool
        Run ``linflow check`` first and include its output.
    progress : bool, optional
        Progress bars of the tables on stderr (default: when stderr is a terminal).
    log : callable, optional
        Called with one line per finished section (e.g. ``print``).

    Returns
    -------
    ReportResult

    Raises
    ------
    ReportInterrupted
        On Ctrl-C (a ``KeyboardInterrupt``), after writing ``report.md`` with the sections
        completed so far; its ``result`` says which section was interrupted.
    """
    from . import figures as figure_registry
    from . import tables as table_registry

    log = log or (lambda line: None)
    table_names = tuple(table_registry.names() if tables is None else tables)
    figure_names = tuple(figure_registry.names() if figures is None else figures)
    for n in table_names:
        table_registry.get(n)  # KeyError early for unknown names
    for n in figure_names:
        figure_registry.get(n)
    os.makedirs(os.path.join(directory, "tables"), exist_ok=True)
    os.makedirs(os.path.join(directory, "figures"), exist_ok=True)
    result = ReportResult(directory=str(directory), report=os.path.join(directory, "report.md"))
    start = time.perf_counter()
    sections: list = []  # strings, or lists of parts still being filled
    try:
        _build_sections(
            result, sections, directory, quick, checks, table_names, figure_names, progress, log,
        )
    except KeyboardInterrupt:
        result.interrupted = result.interrupted or "the report"
        _write(result, sections, quick, start)
        raise ReportInterrupted(result) from None
    _write(result, sections, quick, start)
    return result


def _build_sections(result, sections, directory, quick, checks, table_names, figure_names, progress, log):
    from . import figures as figure_registry
    from . import tables as table_registry
    from .plotting import save_figure

    if checks:
        result.interrupted = "checks"
        t0 = time.perf_counter()
        check_args = QUICK_CHECK_ARGS if quick else CHECK_ARGS
        status, output = _run_checks(check_args)
        result.timings["checks"] = time.perf_counter() - t0
        if status == INTERRUPTED:
            sections.append(f"## Checks\n\nInterrupted:\n\n```text\n{output.rstrip()}\n```\n")
            raise KeyboardInterrupt
        if status is None:
            result.skipped["checks"] = output.strip()
            sections.append(f"## Checks\n\nSkipped: {output.strip()}\n")
        else:
            if status != 0:
                result.failed["checks"] = f"linflow check exited with status {status}"
            verdict = "no claim violated" if status == 0 else f"exit status {status}"
            # The check table is Markdown already (--markdown); anything else goes in a code block.
            body = output.rstrip() if "--markdown" in check_args else f"```text\n{output.rstrip()}\n```"
            sections.append(f"## Checks\n\n`linflow check {' '.join(check_args)}`: {verdict}\n\n{body}\n")
        log(f"checks: {result.timings['checks']:.1f} s")

    built = {}
    table_parts = ["## Tables\n"]
    sections.append(table_parts)
    for name in table_names:
        result.interrupted = f"table {name}"
        t0 = time.perf_counter()
        params = dict(QUICK_TABLES.get(name, {})) if quick else {}
        try:
            table = table_registry.build(name, progress=progress, **params)
        except Exception as exc:  # noqa: BLE001 - a failed section must not lose the others
            result.failed[f"table {name}"] = f"{type(exc).__name__}: {exc}"
            table_parts.append(f"### {name}\n\nFailed: `{type(exc).__name__}: {exc}`\n\n```text\n{traceback.format_exc()}```\n")
            continue
        built[name] = table
        paths = {}
        for fmt, ext in (("csv", "csv"), ("markdown", "md"), ("latex", "tex")):
            path = os.path.join(directory, "tables", f"{name}.{ext}")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(table.render(fmt))
            paths[fmt] = path
        result.tables[name] = paths
        result.timings[f"table {name}"] = time.perf_counter() - t0
        table_parts.append(
            f"### {name}\n\n{table.render('markdown')}\n"
            f"Files: [CSV](tables/{name}.csv), [LaTeX](tables/{name}.tex). "
            f"Built in {result.timings[f'table {name}']:.1f} s.\n"
        )
        log(f"table {name}: {result.timings[f'table {name}']:.1f} s")

    figure_parts = ["## Figures\n"]
    sections.append(figure_parts)
    for name in figure_names:
        result.interrupted = f"figure {name}"
        t0 = time.perf_counter()
        spec = figure_registry.get(name)
        try:
            source = FIGURE_FROM_TABLE.get(name)
            if source in built:
                fig = _figure_from_table(name, built[source])
            else:
                params = dict(QUICK_FIGURES.get(name, {})) if quick else {}
                if quick and source in QUICK_TABLES:
                    params = {k: v for k, v in QUICK_TABLES[source].items() if k in {o.name for o in spec.options}}
                fig, _ = spec.build(**params)
            path = os.path.join(directory, "figures", f"{name}.png")
            save_figure(fig, path)
            import matplotlib.pyplot as plt

            plt.close(fig)
        except figure_registry.FeatureUnavailable as exc:
            result.skipped[f"figure {name}"] = str(exc)
            figure_parts.append(f"### {name}\n\nSkipped: {exc}\n")
            continue
        except Exception as exc:  # noqa: BLE001
            result.failed[f"figure {name}"] = f"{type(exc).__name__}: {exc}"
            figure_parts.append(f"### {name}\n\nFailed: `{type(exc).__name__}: {exc}`\n")
            continue
        result.figures[name] = path
        result.timings[f"figure {name}"] = time.perf_counter() - t0
        figure_parts.append(f"### {name}\n\n{spec.summary}.\n\n![{name}](figures/{name}.png)\n")
        log(f"figure {name}: {result.timings[f'figure {name}']:.1f} s")
    result.interrupted = ""


def _write(result: ReportResult, sections: list, quick: bool, start: float) -> None:
    """Write ``report.md`` from the sections built so far."""
    total = time.perf_counter() - start
    result.timings["total"] = total
    from . import __version__

    header = (
        f"# linflow report\n\nGenerated by linflow {__version__} on "
        f"{datetime.datetime.now().isoformat(timespec='seconds')}"
        f"{' with quick (tiny) sizes' if quick else ' with default parameters'} in {total:.1f} s.\n"
    )
    problems = ""
    if result.interrupted:
        problems += f"\n**Interrupted** (Ctrl-C) during {result.interrupted}: the report is incomplete.\n"
    if result.failed:
        problems += "\n**Failed sections:** " + "; ".join(f"{k} ({v})" for k, v in result.failed.items()) + "\n"
    if result.skipped:
        problems += "\n**Skipped sections:** " + "; ".join(f"{k} ({v})" for k, v in result.skipped.items()) + "\n"
    timing_lines = "\n".join(f"| {k} | {v:.1f} |" for k, v in result.timings.items())
    footer = f"## Timings\n\n| section | seconds |\n|---|---:|\n{timing_lines}\n"
    with open(result.report, "w", encoding="utf-8") as fh:
        body = [part if isinstance(part, str) else "\n".join(part) for part in sections]
        fh.write("\n".join([header + problems] + body + [footer]))
