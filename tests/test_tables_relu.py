"""Tables with ``--activation relu|leaky_relu``: one row recomputed directly, linear default unchanged, CLI."""

import csv
import io

import numpy as np
import pytest

from linflow import HomogeneousNetwork, Problem, integrate_flow, simulate_descent, tables
from linflow.cli import main
from linflow.curvature import error_certificate
from linflow.network import flatten, unflatten
from linflow.results import Status
from linflow.tables.gd_gf_distance import COLUMNS, EPSILONS


def _direct_problem(depth, seed=0, m=8, dims=(3, 4, 2)):
    """The documented data: rng([seed, N]) draws X, Y (scaled to ‖Y‖_F = √m), He weights, in that order."""
    rng = np.random.default_rng([seed, depth])
    widths = (dims[0],) + (dims[1],) * (depth - 1) + (dims[2],)
    X = rng.standard_normal((widths[0], m))
    Y = rng.standard_normal((widths[-1], m))
    Y *= np.sqrt(m) / np.linalg.norm(Y)
    w0 = tuple(rng.standard_normal((widths[j + 1], widths[j])) * np.sqrt(2.0 / widths[j]) for j in range(depth))
    return Problem(HomogeneousNetwork(widths, "relu"), X=X, Y=Y), w0


def test_relu_gd_gf_distance_row_recomputed_directly():
    eta = 0.0025
    table = tables.build("gd-gf-distance", depths=(2,), learning_rates=(eta,), horizon=2.0, activation="relu",
                         backend="numpy", progress=False)
    (row,) = table.rows
    problem, w0 = _direct_problem(2)
    flow = integrate_flow(problem, w0, t_span=(0.0, eta * 800))
    slid = flow.status is Status.LEFT_REGIME
    assert row["sliding"] == slid
    t_stop = float(flow.t[-1])
    assert np.isclose(row["horizon"], t_stop if slid else eta * 800, rtol=1e-12)
    completed = flow.pattern_change_times[flow.pattern_change_times < t_stop] if slid else flow.pattern_change_times
    assert row["pattern_changes"] == completed.size
    # GD from the same start vs GF sampled at kη, k ≤ K.
    k_total = row["steps"]
    assert k_total == int(np.floor(t_stop / eta * (1 + 1e-9))) if slid else k_total == 800
    t = eta * np.arange(k_total + 1)
    ref = flow.sol(t).T
    run = simulate_descent(problem, w0, learning_rate=eta, n_steps=k_total, record_weights=True)
    d = np.linalg.norm(flatten(run.weights) - ref, axis=1)
    # Same flow and same GD semantics: distances agree far below their O(η) size.
    assert np.isclose(row["measured"], d.max(), rtol=1e-9)
    # The certified stretch ends before GF's first pattern change (80% of t₁).
    t1 = min(flow.pattern_change_times[0], t_stop)
    k1 = row["certified_steps"]
    assert k1 == int(np.floor(0.8 * t1 / eta)) and k1 * eta < t1
    assert k1 > 0 and row["epsilon"] is not None, "the default η = 0.0025, N = 2 row is certified"
    path = unflatten(ref[: k1 + 1], problem.network.shapes)
    cert = error_certificate(problem, path, learning_rate=eta, epsilon=row["epsilon"])
    assert cert.valid and row["certificate_message"].startswith("valid")
    np.testing.assert_allclose(row["bound"], cert.bound, rtol=1e-12)
    assert np.all(d[: k1 + 1] <= cert.bound + 1e-12) and row["holds"]
    assert np.isclose(row["measured_certified"], d[: k1 + 1].max(), rtol=1e-9)
    # ε is the smallest valid radius of the grid: the next smaller one is not valid.
    smaller = EPSILONS[EPSILONS < row["epsilon"]]
    if smaller.size:
        assert not error_certificate(problem, path, learning_rate=eta, epsilon=float(smaller[-1])).valid


def test_leaky_relu_runs_and_linear_default_is_unchanged():
    small = dict(depths=(2,), learning_rates=(0.01,), horizon=0.3, progress=False)
    leaky = tables.build("gd-gf-distance", activation="leaky_relu", negative_slope=0.2, backend="numpy", **small)
    assert "α = 0.2" in leaky.title and leaky.parameters["negative_slope"] == 0.2
    (row,) = leaky.rows
    assert row["steps"] >= 1 and row["measured"] > 0 and isinstance(row["sliding"], bool)
    default = tables.build("gd-gf-distance", **small)
    linear = tables.build("gd-gf-distance", activation="linear", **small)
    assert default.columns == COLUMNS and default.render("csv") == linear.render("csv")
    assert default.render("markdown") == linear.render("markdown")
    assert "activation" not in default.parameters  # the linear table's parameters stay as they were


def test_bad_activation_arguments_name_the_argument():
    with pytest.raises(ValueError, match="activation must be one of"):
        tables.build("gd-gf-distance", activation="tanh")
    with pytest.raises(ValueError, match="negative_slope"):
        tables.build("gd-gf-distance", activation="relu", negative_slope=0.1)


def test_cli_gd_gf_distance_relu(capsys):
    argv = ["table", "gd-gf-distance", "--activation", "relu", "--depths", "3", "--learning-rates", "0.01",
            "--horizon", "0.5", "--format", "csv", "--no-progress"]
    assert main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["depth"] == "3"
    assert rows[0]["sliding"] in ("true", "false") and int(rows[0]["pattern_changes"]) >= 0
    with pytest.raises(SystemExit):
        main(["table", "gd-gf-distance", "--activation", "tanh"])
    assert main(["table", "gd-gf-distance", "--negative-slope", "0.3", "--no-progress"]) == 2
    assert "negative_slope" in capsys.readouterr().err
