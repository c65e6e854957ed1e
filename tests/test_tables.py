"""Tables: rendering, registry, CLI, and each table's numbers recomputed directly (small sizes)."""

import csv
import io

import numpy as np
import pytest

from linflow import DeepLinearNetwork, Problem, compare_descent_to_flow, simulate_descent, tables
from linflow.cli import main
from linflow.init import balanced
from linflow.results import Status
from linflow.tables import Column, Table, render
from linflow.tables._format import Progress


# ---------------------------------------------------------------------- rendering
def _demo():
    return Table(
        "demo", "Demo & test", (Column("n", "N", "$N$"), Column("x", "x_1", "", ".3g"), Column("ok", "ok")),
        ({"n": 2, "x": 5.98e-7, "ok": True}, {"n": 3, "x": None, "ok": False}, {"n": 4, "x": 0.1 + 0.2}),
        notes=("criterion: loss ≤ 1e-10 (50% of runs)",),
    )


def test_csv_keeps_full_precision_and_blanks_missing_cells():
    rows = list(csv.reader(io.StringIO(render(_demo(), "csv"))))
    assert rows[0] == ["n", "x", "ok"]
    assert float(rows[3][1]) == 0.1 + 0.2  # repr round-trips exactly
    assert rows[1] == ["2", "5.98e-07", "true"]
    assert rows[2][1] == "" and rows[3][2] == ""


def test_markdown_has_title_header_rule_rows_and_notes():
    lines = render(_demo(), "markdown").splitlines()
    assert lines[0] == "**Demo & test**"
    assert lines[2] == "| N | x_1 | ok |"
    assert lines[4] == "| 2 | 5.98e-07 | yes |"
    assert lines[5] == "| 3 | — | no |"
    assert lines[-1] == "- criterion: loss ≤ 1e-10 (50% of runs)"


def test_latex_is_booktabs_with_escaped_text_and_math_numbers():
    text = render(_demo(), "latex")
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\label{tab:demo}", r"\begin{tabular}{rrr}"):
        assert token in text
    assert r"Demo \& test" in text and r"50\% of runs" in text
    assert r"$5.98\times10^{-7}$" in text
    assert r"x\_1" in text  # header without LaTeX form is escaped
    assert r"$2$ & $5.98\times10^{-7}$ & yes \\" in text


def test_render_rejects_unknown_format_and_column_access():
    with pytest.raises(ValueError, match="format must be one of"):
        render(_demo(), "html")
    np.testing.assert_array_equal(_demo().column("n"), [2, 3, 4])
    with pytest.raises(KeyError, match="no column 'y'"):
        _demo().column("y")


def test_progress_bar_draws_only_when_enabled():
    buf = io.StringIO()
    with Progress(4, "sweep", stream=buf, enabled=True) as bar:
        bar.update(2)
    assert "sweep [" in buf.getvalue() and "2/4" in buf.getvalue()
    quiet = io.StringIO()
    with Progress(4, "sweep", stream=quiet) as bar:  # StringIO is no terminal
        bar.update(4)
    assert quiet.getvalue() == ""


def test_registry_names_and_unknown_name():
    assert tables.names() == ("step-size", "iterations", "gd-gf-distance", "sharpness", "curvature")
    for name in tables.names():
        module = tables.get(name)
        assert module.NAME == name and module.OPTIONS and module.SUMMARY
    with pytest.raises(KeyError, match="did you mean step-size"):
        tables.get("step_size")


# ---------------------------------------------------------------------- step-size
@pytest.fixture(scope="module")
def step_table():
    return tables.build("step-size", depths=(2, 3), n_inits=3, n_steps=400, grid=4, rounds=2,
                        loss_tolerance=1e-8, seed=3, progress=False)


def test_step_size_bounds_match_direct_computation(step_table):
    for row in step_table.rows:
        n, c, norm, target = row["depth"], row["margin"], row["target_norm"], row["target"]
        assert np.isclose(np.linalg.norm(target), norm, rtol=1e-12)
        # Arora et al. 2019 Thm 1 step size, written out by hand (theory/deep-linear).
        expected = c ** ((4 * n - 2) / n) / (6144 * n**3 * norm ** ((6 * n - 4) / n))
        assert np.isclose(row["eta_arora"], expected, rtol=1e-12)
        # 2/S from the numerical Hessian at a balanced global minimum.
        widths = (target.shape[0],) * (n + 1)
        problem = Problem(DeepLinearNetwork(widths), target=target)
        s = problem.sharpness(balanced(widths, target, seed=0))
        assert np.isclose(row["eta_stability"], 2.0 / s, rtol=1e-10)
        assert np.isclose(row["ratio_stability"], row["eta_empirical"] / row["eta_stability"], rtol=1e-12)


def test_step_size_brackets_recomputed_with_simulate_descent(step_table):
    params = step_table.parameters
    for row in step_table.rows:
        crit, w0 = row["critical"], row["weights0"]
        problem = Problem(DeepLinearNetwork((2,) * (row["depth"] + 1)), target=row["target"])
        # Deficiency margin: ‖W_e(0) − Φ‖_F = σ_min − c, i.e. ℓ(0) = ½(σ_min − c)².
        sigma_min = np.linalg.svd(row["target"], compute_uv=False)[-1]
        np.testing.assert_allclose(problem.loss(w0), 0.5 * (sigma_min - row["margin"]) ** 2, rtol=1e-10)
        assert np.all(crit.resolved)
        assert np.all(crit.upper / crit.lower <= (1.25 / 0.25) ** (1 / (3 * 5)) * (1 + 1e-12))
        for eta, expect in ((crit.lower, True), (crit.upper, False)):
            res = simulate_descent(problem, w0, learning_rate=eta, n_steps=params["n_steps"],
                                   loss_tolerance=params["loss_tolerance"])
            converged = (res.status_codes != Status.DIVERGED.code) & (res.final_loss <= params["loss_tolerance"])
            assert np.all(converged == expect)
        assert np.isclose(row["eta_empirical"], np.median(crit.lower), rtol=1e-15)


def test_step_size_eta_equals_a_direct_sweep_of_the_same_setting(step_table):
    xr = pytest.importorskip("xarray")  # noqa: F841 (linflow.sweep returns an xarray.Dataset)
    import linflow
    from linflow.tables._margin import margin_spectrum

    # The fixture's setting, written out as a sweep spec: the table's target spectrum
    # (0.8, 0.6 up to rounding; ‖Φ‖_F = 1), c = 0.5·σ_min, 3 initialization seeds; one task holds
    # both depths here, the table runs one task per row, and a configuration's numbers must not
    # depend on its task.
    ds = linflow.sweep({
        "seed": 3, "n_steps": 400, "loss_tolerance": 1e-8,
        "network": {"width": 2}, "loss": {"kind": "whitened", "spectrum": margin_spectrum(2, 1.0).tolist()},
        "init": {"kind": "margin", "margin_fraction": 0.5}, "optimizer": {"kind": "gd"},
        "axes": {"depth": [2, 3], "seed": {"range": [0, 3]}},
        "refine": {"critical": {"parameter": "learning_rate_fraction", "low": 0.25, "high": 1.25,
                                "grid": 4, "rounds": 2}},
    }, progress=False)
    for row in step_table.rows:
        at = ds.sel(depth=row["depth"])
        eta_s = at.stability_step.values
        np.testing.assert_array_equal(row["critical"].lower, at.critical_lower.values * eta_s)
        np.testing.assert_array_equal(row["critical"].upper, at.critical_upper.values * eta_s)
        assert row["eta_empirical"] == np.median(at.critical_lower.values * eta_s)
        # The sweep's 2/S (dense Hessian at a balanced minimum) vs the column's closed form
        # N σ_1^{2−2/N}: a 2N×2N symmetric eigenproblem, accurate to ~1e-15 relative.
        np.testing.assert_allclose(eta_s, row["eta_stability"], rtol=1e-10)


def test_step_size_table_imports_no_dask_xarray_or_zarr():
    import subprocess
    import sys

    code = ("import sys; from linflow import tables; tables.build('step-size', depths=(2,), n_inits=2, "
            "n_steps=20, grid=2, rounds=1, loss_tolerance=1e-8, backend='numpy', progress=False); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'xarray', 'zarr'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------- iterations
def test_iterations_counts_match_a_direct_run():
    table = tables.build("iterations", depths=(3,), learning_rates=(0.05, 0.1), epsilon=1e-5, n_inits=3,
                         max_steps=5000, seed=2, progress=False)
    for row in table.rows:
        n, c, eta = row["depth"], row["margin"], row["learning_rate"]
        problem = Problem(DeepLinearNetwork((2,) * (n + 1)), target=row["target"])
        ell0 = problem.loss(row["weights0"])
        res = simulate_descent(problem, row["weights0"], learning_rate=eta, n_steps=5000, loss_tolerance=1e-5)
        np.testing.assert_array_equal(row["steps"], res.converged_step.astype(float))
        t_arora = np.log(ell0 / 1e-5) / (eta * c ** (2 * (n - 1) / n))
        np.testing.assert_allclose(row["bound_arora"], t_arora, rtol=1e-10)
        np.testing.assert_allclose(row["bound_flow"] * 2 * n, t_arora, rtol=1e-10)  # T_ACGH/T_GF = 2N
        assert row["steps_max"] == res.converged_step.max()


# ---------------------------------------------------------------------- gd-gf-distance
def test_gd_gf_distance_matches_compare_and_certificate_holds():
    from linflow.tables.gd_gf_distance import distance_problem

    table = tables.build("gd-gf-distance", depths=(2,), learning_rates=(0.01,), horizon=1.0, progress=False)
    (row,) = table.rows
    problem, w0 = distance_problem(2)
    ref = compare_descent_to_flow(problem, w0, [0.01, 0.02], 1.0)
    # Two independent GF integrations (rtol 1e-10) and GD paths: agree far below the O(η) distance.
    assert np.isclose(row["measured"], ref.max_distance[0], rtol=1e-6)
    assert row["holds"] and row["certificate"] >= row["measured"]
    assert row["closed_form"] >= row["certificate"] * (1 - 1e-12)


# ---------------------------------------------------------------------- sharpness
def test_sharpness_table_matches_direct_runs():
    table = tables.build("sharpness", depths=(2,), eta_fractions=(0.5, 1.25), n_inits=4, n_steps=1500,
                         seed=1, progress=False)
    for row in table.rows:
        target, w0, eta = row["target"], row["weights0"], row["learning_rate"]
        problem = Problem(DeepLinearNetwork((2, 2, 2)), target=target)
        # S_min: 2σ_1(Φ) for depth 2 (theory/deep-linear), and the Hessian at a balanced minimum.
        assert np.isclose(row["min_sharpness"], problem.sharpness(balanced((2, 2, 2), target, seed=0)), rtol=1e-10)
        assert row["converged"] + row["diverged"] + row["oscillating"] == 4
        res = simulate_descent(problem, w0, learning_rate=eta, n_steps=1500, loss_tolerance=1e-10)
        for b, outcome in enumerate(row["outcome"]):
            if outcome == "diverged":
                assert res.status[b] is Status.DIVERGED
                continue
            assert np.isclose(row["final_sharpness"][b], problem.sharpness(res.trajectory(b)), rtol=1e-9)
        if row["converged"]:
            # A converged run sits at a linearly stable minimum: ηS/2 ≤ 1 (theory/scalar).
            assert row["edge_max"] <= 1.0 + 1e-6
            assert row["final_min"] >= row["min_sharpness"] * (1 - 1e-9)


# ---------------------------------------------------------------------- curvature
def test_curvature_integral_matches_adaptive_quadrature_and_theory_reference():
    from scipy.integrate import quad

    from linflow.network import unflatten
    from linflow.tables.curvature import curvature_problem, flow_to_convergence

    table = tables.build("curvature", depths=(3,), scales=(0.1,), seed=1, progress=False)
    (row,) = table.rows
    # theory/gd-vs-gf [checked] reference: N = 3, d0 = 5, hidden 4, s = 0.1, seed 1 → ∫λ_− = −1.93.
    assert abs(row["integral"] - (-1.93)) < 0.01
    problem, w0 = curvature_problem(3, (1.0, 0.5, -0.3, 0.2, 0.0), 4, 0.1, 1)
    flow = flow_to_convergence(problem, w0)

    def neg_lambda(t):
        return min(problem.min_eigenvalue(unflatten(flow.sol(t), problem.network.shapes)), 0.0)

    direct, _ = quad(neg_lambda, 0.0, float(flow.t[-1]), limit=200, epsabs=1e-5)
    # Trapezoid on 2001 points vs adaptive quadrature: h² error ~ 1e-4 here.
    assert abs(row["integral"] - direct) < 2e-3
    assert np.isclose(row["prediction"], -(2 / 3) * np.log(np.linalg.norm([1, 0.5, -0.3, 0.2, 0]) / 0.1))


# ---------------------------------------------------------------------- CLI
def test_cli_table_writes_csv_and_latex(tmp_path, capsys):
    out = tmp_path / "iter.csv"
    argv = ["table", "iterations", "--depths", "2", "--learning-rates", "0.1", "--n-inits", "2",
            "--max-steps", "2000", "--format", "csv", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1 and rows[0]["depth"] == "2" and float(rows[0]["learning_rate"]) == 0.1
    assert main(argv[:-5] + ["--format", "latex", "--no-progress"]) == 0
    assert r"\toprule" in capsys.readouterr().out


def test_cli_table_reports_bad_parameters(capsys):
    assert main(["table", "step-size", "--margin-fraction", "1.5", "--no-progress"]) == 2
    assert "margin_fractions must lie in (0, 1)" in capsys.readouterr().err


def test_a_row_does_not_depend_on_the_other_rows(step_table):
    alone = tables.build("step-size", depths=(3,), n_inits=3, n_steps=400, grid=4, rounds=2,
                         loss_tolerance=1e-8, seed=3, progress=False)
    (row,) = alone.rows
    np.testing.assert_array_equal(row["critical"].lower, step_table.rows[1]["critical"].lower)
    np.testing.assert_array_equal(row["weights0"][0], step_table.rows[1]["weights0"][0])


def test_curvature_refuses_a_zero_target_and_names_a_configuration_the_flow_cannot_finish(capsys):
    # ‖φ‖ = 0 has no prediction (ln‖φ‖); φ = −1 against an initialization with W_e > 0 stalls at
    # the saddle W_e = 0 (loss stays ½φ²), which the error attributes to its configuration.
    with pytest.raises(ValueError, match=r"target must be nonzero.*target=\(0\.0,\)"):
        tables.build("curvature", target=(0.0,), depths=(2,), scales=(0.1,), n_samples=5)
    assert main(["table", "curvature", "--target=-1", "--depths", "2", "--scales", "0.1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "N=2, s=0.1, target=(-1.0,)" in err[0] and "did not converge" in err[0]
