"""``linflow report``: a complete quick report, its files, and the command line."""

import csv
import re

import numpy as np
import pytest

from linflow import figures, tables
from linflow.cli import main
from linflow.report import write_report


def test_quick_report_writes_every_table_and_figure(tmp_path):
    result = write_report(tmp_path, quick=True, progress=False)
    text = (tmp_path / "report.md").read_text()
    assert text.startswith("# linflow report")
    assert set(result.tables) == set(tables.names())
    skipped = {k.split()[-1] for k in result.skipped if k.startswith("figure")}
    assert set(result.figures) | skipped == set(figures.names())
    # Tables and figures must all succeed; the checks' verdict belongs to linflow check's tests.
    assert not {k: v for k, v in result.failed.items() if k != "checks"}, result.failed
    assert "## Checks" in text and ("linflow check --examples 0" in text or "Skipped" in text)
    for name in tables.names():
        for ext in ("csv", "md", "tex"):
            assert (tmp_path / "tables" / f"{name}.{ext}").stat().st_size > 0
        assert f"### {name}" in text
    # Every embedded image exists and is a PNG.
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == len(result.figures) >= 4
    for rel in images:
        assert (tmp_path / rel).read_bytes()[:4] == b"\x89PNG"
    # The CSV holds the same numbers as the Markdown table in the report (rounded there).
    rows = list(csv.DictReader((tmp_path / "tables" / "iterations.csv").open()))
    for row in rows:
        assert f"| {row['depth']} | {float(row['learning_rate']):.3g} |" in text
    assert "## Timings" in text


def test_report_reuses_tables_for_their_figures(tmp_path):
    result = write_report(tmp_path, quick=True, tables=["curvature"], figures=["lambda-min"], checks=False)
    assert result.ok and set(result.figures) == {"lambda-min"}
    # Only one curvature computation: the figure drew the table's rows.
    assert "table curvature" in result.timings and result.timings["figure lambda-min"] < result.timings["total"]


def test_cli_report_subset_and_unknown_name(tmp_path, capsys):
    argv = ["report", "--out", str(tmp_path), "--quick", "--tables", "iterations", "--figures", "gd-gf-distance",
            "--no-checks", "--no-progress"]
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    text = (tmp_path / "report.md").read_text()
    assert "### iterations" in text and "![gd-gf-distance](figures/gd-gf-distance.png)" in text
    assert "### step-size" not in text
    assert main(["report", "--out", str(tmp_path), "--tables", "nope", "--no-checks"]) == 2
    assert "no table named 'nope'" in capsys.readouterr().err


def test_failed_section_is_reported_and_others_survive(tmp_path, monkeypatch):
    from linflow.tables import iterations

    def boom(**_):
        raise np.linalg.LinAlgError("synthetic failure")

    monkeypatch.setattr(iterations, "build", boom)
    result = write_report(tmp_path, quick=True, tables=["iterations", "curvature"], figures=[], checks=False)
    assert "table iterations" in result.failed and "curvature" in result.tables
    assert "synthetic failure" in (tmp_path / "report.md").read_text()
    assert not result.ok


def _script(name):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reproduce_elkabetz_cohen_smoke(tmp_path, capsys):
    script = _script("reproduce_elkabetz_cohen")
    assert script.main(["--out", str(tmp_path), "--steps", "4", "--fine", "40", "--no-digits"]) == 0
    rows = list(csv.DictReader((tmp_path / "elkabetz_cohen.csv").open()))
    assert {r["divisor"] for r in rows} == {"1", "2", "5", "10", "20"}
    # GD is Euler's method for GF: the distance shrinks with η in every experiment.
    for name in {r["experiment"] for r in rows}:
        dist = [float(r["max_distance"]) for r in rows if r["experiment"] == name]
        assert all(a > b for a, b in zip(dist, dist[1:])), (name, dist)
    assert (tmp_path / "elkabetz_cohen.png").read_bytes()[:4] == b"\x89PNG"
    assert "fitted order in η" in capsys.readouterr().out


def test_reproduce_central_flows_smoke(tmp_path, capsys):
    pytest.importorskip("linflow.central_flow", reason="central flows not in this installation")
    script = _script("reproduce_central_flows")
    assert script.main(["--out", str(tmp_path), "--steps", "20", "--rmsprop-steps", "10"]) == 0
    rows = list(csv.DictReader((tmp_path / "central_flows.csv").open()))
    assert {r["series"] for r in rows} >= {"gd", "gradient_flow", "central_flow_predicted", "rmsprop", "stable_flow"}
    assert (tmp_path / "central_flows.png").read_bytes()[:4] == b"\x89PNG"
    assert "final η·S" in capsys.readouterr().out
