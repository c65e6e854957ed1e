"""Figures: each plot's drawn numbers recomputed directly (small sizes), file formats, CLI."""

import numpy as np
import pytest

from linflow import figures, integrate_flow, simulate_descent, tables
from linflow.cli import main
from linflow.network import unflatten
from linflow.plotting import plot_bounds_vs_depth, plot_lambda_min, save_figure


def _line(ax, label):
    for line in ax.get_lines():
        if line.get_label() == label:
            return line.get_xdata(), line.get_ydata()
    raise AssertionError(f"no line {label!r}; have {[l.get_label() for l in ax.get_lines()]}")


def test_gd_gf_distance_figure_points_match_direct_runs():
    fig, data = figures.build("gd-gf-distance", horizon=0.5, learning_rates=(0.04, 0.02))
    problem, w0, flow = data["problem"], data["weights0"], data["flow"]
    etas, dist = fig.axes[1].get_lines()[0].get_data()
    for eta, d in zip(etas, dist):
        k = int(round(0.5 / eta))
        ref_flow = integrate_flow(problem, w0, t_span=(0.0, k * eta))
        reference = np.asarray(ref_flow.sol(eta * np.arange(k + 1))).T
        run = simulate_descent(problem, w0, learning_rate=eta, n_steps=k, reference=reference)
        # Independent GF solves (rtol 1e-10) differ by ~1e-9, far below the O(η) distance.
        assert np.isclose(d, run.reference_distance, rtol=1e-6)
    t, loss = _line(fig.axes[0], "GF")
    np.testing.assert_allclose(loss, flow.losses)


def test_loss_sharpness_figure_matches_hessian_and_threshold_lines():
    fig, data = figures.build("loss-sharpness", depth=2, n_steps=40, n_candidates=3, eta_fractions=(0.8, 1.3))
    problem, w0 = data["problem"], data["weights0"]
    ax_s = fig.axes[1]
    for run in data["runs"]:
        eta = run["learning_rate"]
        steps, sharp = _line(ax_s, run["label"])
        res = simulate_descent(problem, w0, learning_rate=eta, n_steps=40, record_weights=True)
        finite = np.flatnonzero(np.isfinite(res.losses))
        assert finite.size >= 3  # a diverged run still draws its steps before divergence
        np.testing.assert_array_equal(np.isfinite(sharp), np.isfinite(res.losses))
        for k in finite[[0, finite.size // 2, -1]]:
            w = tuple(layer[k] for layer in res.weights)
            assert np.isclose(sharp[k], problem.sharpness(w), rtol=1e-9)
        levels = [l.get_ydata()[0] for l in ax_s.get_lines() if l.get_linestyle() == "--"]
        assert any(np.isclose(level, 2.0 / eta, rtol=1e-14) for level in levels)


def test_bounds_vs_depth_plots_the_table_columns():
    table = tables.build("step-size", depths=(2, 4), n_inits=2, n_steps=200, grid=3, rounds=1,
                         loss_tolerance=1e-6, progress=False)
    fig = plot_bounds_vs_depth(table)
    n, arora = _line(fig.axes[0], "η_ACGH (Arora et al. 2019, Thm 1)")
    c = table.rows[0]["margin"]
    np.testing.assert_array_equal(n, [2, 4])
    np.testing.assert_allclose(arora, [c ** ((4 * d - 2) / d) / (6144 * d**3) for d in (2, 4)], rtol=1e-12)
    _, emp = _line(fig.axes[0], "empirical η* (median)")
    np.testing.assert_allclose(emp, table.column("eta_empirical"))


def test_lambda_min_figure_matches_min_eigenvalue_on_the_flow():
    from linflow.tables.curvature import curvature_problem, flow_to_convergence

    table = tables.build("curvature", depths=(2,), scales=(0.1,), n_samples=101, progress=False)
    fig = plot_lambda_min(table)
    t, lam = _line(fig.axes[0], "N=2, s=0.1")
    problem, w0 = curvature_problem(2, (1.0, 0.5, -0.3, 0.2, 0.0), 4, 0.1, table.parameters["seed"])
    flow = flow_to_convergence(problem, w0)
    for i in (0, 30, 100):
        w = unflatten(flow.sol(t[i]), problem.network.shapes)
        assert np.isclose(lam[i], problem.min_eigenvalue(w), rtol=1e-9, atol=1e-12)
    # The running integral ends at the table's ∫λ_−.
    _, running = _line(fig.axes[1], "N=2, s=0.1")
    assert np.isclose(running[-1], table.rows[0]["integral"], rtol=1e-12)


def test_save_figure_format_follows_extension(tmp_path):
    fig, _ = figures.build("gd-gf-distance", horizon=0.2, learning_rates=(0.04, 0.02))
    save_figure(fig, tmp_path / "a.svg")
    save_figure(fig, tmp_path / "a.pdf")
    save_figure(fig, tmp_path / "a.png")
    assert (tmp_path / "a.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="path must end in"):
        save_figure(fig, tmp_path / "a.txt")


def test_cli_plot_writes_png_and_rejects_unknown_extension(tmp_path, capsys):
    out = tmp_path / "d.png"
    argv = ["plot", "gd-gf-distance", "--horizon", "0.2", "--learning-rates", "0.04", "0.02"]
    assert main(argv + ["--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(argv + ["--out", str(tmp_path / "d.doc")]) == 2
    assert "path must end in" in capsys.readouterr().err


def test_figure_registry():
    assert "central-flow" in figures.names() and "loss-sharpness" in figures.names()
    with pytest.raises(KeyError, match="did you mean lambda-min"):
        figures.get("lambda_min")


def test_central_flow_figure_draws_the_runs_it_returns():
    pytest.importorskip("linflow.central_flow", reason="central flows not in this installation")
    from linflow import integrate_central_flow

    fig, data = figures.build("central-flow", n_steps=30, rmsprop_steps=10)
    assert len(fig.axes) == 4
    problem, w0 = data["problem"], data["weights0"]
    steps, loss = _line(fig.axes[0], "GD")
    direct = simulate_descent(problem, w0, learning_rate=0.14, n_steps=30)
    np.testing.assert_allclose(loss, direct.losses, rtol=1e-12)
    t, pred = _line(fig.axes[0], "central flow")
    cf = integrate_central_flow(problem, w0, learning_rate=0.14, n_steps=30, record_every=5)
    np.testing.assert_allclose(t, cf.t)
    np.testing.assert_allclose(pred, cf.predicted_loss, rtol=1e-10)
    _, sharp = _line(fig.axes[1], "GD")
    assert np.isclose(sharp[30], problem.sharpness(direct.trajectory(0)), rtol=1e-9)
    _, edge = _line(fig.axes[1], "2/η")
    assert np.isclose(edge[0], 2 / 0.14)


def test_loss_sharpness_for_a_user_problem_and_rmsprop_with_central_flow(tmp_path):
    from linflow import DeepLinearNetwork, Problem, init
    from linflow._hessian import dense_hessian
    from linflow.optimizers import RMSProp

    problem = Problem(DeepLinearNetwork((3, 3, 3)), target=np.diag([2.0, 1.0, 0.5]))
    w0 = init.gaussian((3, 3, 3), std=0.4, seed=1)
    fig, data = figures.build("loss-sharpness", problem=problem, weights0=w0, optimizer="rmsprop",
                              learning_rates=(0.02,), n_steps=20, central_flow=True)
    run = data["runs"][0]
    ref = simulate_descent(problem, w0, learning_rate=0.02, n_steps=20, optimizer=RMSProp(0.99),
                           backend="numpy")  # effective sharpness of RMSProp runs on the reference
    np.testing.assert_array_equal(run["losses"], ref.losses)
    # At step 0 the preconditioner is √ν_0 with ν_0 = g_0⊙g_0 (ε = 0).
    g0 = np.concatenate([g.ravel() for g in problem.gradient(w0)])
    d = 1.0 / np.sqrt(np.abs(g0))
    h = dense_hessian(problem, w0)
    expected = np.linalg.eigvalsh(d[:, None] * h * d[None, :])[-1]
    assert abs(run["sharpness"][0] - expected) <= 1e-9 * expected  # dense eigh of the same matrix: rounding
    # The central flow starts at the same point, so its effective sharpness agrees at t = 0.
    assert abs(run["central_sharpness"][0] - expected) <= 1e-9 * expected
    assert run["central_steps"][-1] == 20


def test_cli_loss_sharpness_with_problem_file(tmp_path):
    src = tmp_path / "prob.py"
    src.write_text("import numpy as np\nfrom linflow import DeepLinearNetwork, Problem, init\n"
                   "PROB = (Problem(DeepLinearNetwork((2, 2, 2)), target=np.diag([1.5, 0.5])), "
                   "init.gaussian((2, 2, 2), std=0.4, seed=2))\n")
    out = tmp_path / "ls.png"
    argv = ["plot", "loss-sharpness", "--problem", f"{src}:PROB", "--eta-fractions", "0.5", "--n-steps", "10",
            "--central-flow", "--out", str(out)]
    assert main(argv) == 0 and out.stat().st_size > 0


@pytest.mark.parametrize("beta2", ["-1", "0", "1"])
def test_cli_loss_sharpness_refuses_a_bad_beta2_with_gd_too(tmp_path, capsys, beta2):
    # GD does not use β₂, but an out-of-range value is a mistake: refused before any run.
    out = tmp_path / "ls.png"
    assert main(["plot", "loss-sharpness", f"--beta2={beta2}", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "beta2 must lie in (0, 1)" in err[0] and "--beta2" in err[0]
    assert not out.exists()
