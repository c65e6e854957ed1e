"""Machine-readable output (``--json``) and Jupyter's rich display of bounds, results and reports."""

import json

import numpy as np
import pytest

import linflow
from linflow.cli import main


def _json_output(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_bounds_json_lists_every_bound_with_its_source(capsys):
    code, records = _json_output(capsys, ["bounds", "--json"])
    assert code == 0
    assert [r["name"] for r in records] == list(linflow.bounds.names())
    for r in records:
        assert r["formula"] and r["latex"] and r["source"]["tag"] in {"checked", "paper", "recalled"}
        assert all({"name", "symbol", "meaning", "domain"} <= set(p) for p in r["parameters"])


def test_prove_json_reports_each_outcome(capsys):
    code, report = _json_output(capsys, ["prove", "--json", "balancedness_scalar"])
    assert code == 0
    assert report["passed"] == 1 and report["failed"] == 0
    (proof,) = report["proofs"]
    assert proof["name"] == "balancedness_scalar" and proof["passed"] and proof["claim"]


def test_compare_json_matches_the_api(capsys):
    code, record = _json_output(capsys, ["compare", "--json", "--learning-rates", "0.04", "0.02"])
    assert code == 0
    from linflow.compare import compare_descent_to_flow, default_problem

    problem, w0 = default_problem(0)
    direct = compare_descent_to_flow(problem, w0, [0.04, 0.02], 4.0)
    assert record["learning_rates"] == [0.04, 0.02]
    assert record["steps"] == [100, 200]
    # The same deterministic computation twice: equal to float64 rounding of the printout.
    np.testing.assert_allclose(record["max_distance"], direct.max_distance, rtol=1e-12)
    assert abs(record["order"] - direct.order) <= 1e-9


def test_bound_renders_as_latex():
    b = linflow.bounds.get("stability_threshold")
    text = b._repr_latex_()
    assert text.startswith("$") and text.endswith("$") and b.latex() in text


def test_results_and_reports_render_as_html_tables():
    net = linflow.DeepLinearNetwork((2, 2, 2))
    problem = linflow.Problem(net, target=np.eye(2))
    w0 = linflow.init.gaussian(net.widths, std=0.5, seed=1)
    run = linflow.simulate_descent(problem, w0, learning_rate=[0.1, 3.0], n_steps=50, backend="numpy")
    html = run._repr_html_()
    assert html.startswith("<table>") and "DescentResult" in html and "diverged: 1" in html
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, 1.0))
    assert "FlowResult" in flow._repr_html_() and "success" in flow._repr_html_()

    claim = linflow.Claim(
        "loss_is_small<script>",
        source="a test",
        instances=linflow.strategies.instances(),
        measure=lambda inst: 0.0,
        bound=lambda inst: 1.0,
        relation="<=",
    )
    report = linflow.check_claim(claim, examples=2, seed=0, canonical=False)
    html = report._repr_html_()
    assert "ClaimReport" in html and report.verdict in html
    assert "<script>" not in html  # every cell is escaped


def _problem():
    net = linflow.DeepLinearNetwork((2, 3, 2))
    problem = linflow.Problem(net, target=np.array([[1.0, 0.5], [0.0, 2.0]]))
    return problem, linflow.init.gaussian(net.widths, std=0.5, seed=2)


def _assert_same(a, b):
    import dataclasses

    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if callable(x) and not isinstance(x, (np.ndarray, tuple)):
            continue  # dense output is not saved
        if isinstance(x, tuple):
            assert len(x) == len(y)
            for u, v in zip(x, y):
                np.testing.assert_array_equal(u, v)
        elif isinstance(x, dict):
            assert set(y) == set(x)
            for key in x:
                xs = x[key] if isinstance(x[key], tuple) else (x[key],)
                ys = y[key] if isinstance(y[key], tuple) else (y[key],)
                assert len(xs) == len(ys)
                for u, v in zip(xs, ys):
                    np.testing.assert_array_equal(u, v)
        elif dataclasses.is_dataclass(x):
            assert x == y  # optimizer objects: same class and hyper-parameters
        else:
            np.testing.assert_array_equal(x, y)  # bit-exact: float64 round trip through .npz


def test_results_round_trip_through_npz_without_pickle(tmp_path):
    problem, w0 = _problem()
    gd = linflow.simulate_descent(
        problem, w0, learning_rate=[0.05, 0.1], n_steps=30, record_weights=True, backend="numpy"
    )
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, 1.0), t_eval=np.linspace(0.0, 1.0, 5))
    central = linflow.integrate_central_flow(problem, w0, learning_rate=0.05, n_steps=10)
    rmsprop = linflow.integrate_central_flow(
        problem, w0, learning_rate=0.01, n_steps=5, optimizer=linflow.optimizers.RMSProp(beta2=0.9)
    )
    adam = linflow.simulate_descent(
        problem, w0, learning_rate=[0.01], n_steps=5, optimizer=linflow.optimizers.Adam(), backend="numpy"
    )
    for result in (gd, flow, central, rmsprop, adam):
        path = result.save(tmp_path / type(result).__name__)
        assert path.suffix == ".npz"
        with np.load(path, allow_pickle=False) as archive:  # readable without pickle
            assert str(archive["__class__"]) == type(result).__name__
        _assert_same(result, type(result).load(path))
    with pytest.raises(ValueError, match="not a FlowResult"):
        linflow.FlowResult.load(tmp_path / "DescentResult.npz")


def test_load_refuses_unknown_classes_and_fields(tmp_path):
    np.savez(tmp_path / "bad.npz", __class__=np.array("os.system"), __format__=np.array("linflow-result-1"))
    with pytest.raises(ValueError, match="unknown result class"):
        linflow.DescentResult.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a linflow result archive"):
        linflow.DescentResult.load(tmp_path / "other.npz")


def test_results_convert_to_xarray():
    problem, w0 = _problem()
    gd = linflow.simulate_descent(
        problem, w0, learning_rate=[0.05, 0.1, 0.2], n_steps=20, record_weights=True, backend="numpy"
    )
    ds = gd.to_xarray()
    assert ds["loss"].dims == ("trajectory", "step") and ds.sizes["trajectory"] == 3
    np.testing.assert_array_equal(ds["loss"].values, gd.losses)
    assert ds["weight_1"].dims == ("trajectory", "step", "d2", "d1")
    np.testing.assert_array_equal(ds["learning_rate"].values, [0.05, 0.1, 0.2])
    flow = linflow.integrate_flow(problem, w0, t_span=(0.0, 1.0), t_eval=np.linspace(0.0, 1.0, 4))
    fds = flow.to_xarray()
    np.testing.assert_array_equal(fds["t"].values, flow.t)
    assert fds.attrs["status"] == "success"
    central = linflow.integrate_central_flow(problem, w0, learning_rate=0.05, n_steps=5)
    cds = central.to_xarray()
    assert cds["sharpness"].dims == ("t", "eigenvalue")
