"""Machine-readable output (``--json``) and Jupyter's rich display of bounds, results and reports."""

import json

import numpy as np

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
