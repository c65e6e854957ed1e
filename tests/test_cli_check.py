"""``linflow check``: exit codes, table, JSON, Markdown, --save, --module; the false conjecture."""

import json
import textwrap
from pathlib import Path

import pytest

import linflow
import linflow.claims as lc
from linflow.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "scripts" / "false_conjecture.py"

# A user claim file with a false conjecture that Hypothesis falsifies at once (cheap to shrink).
FALSE_MODULE = textwrap.dedent('''
    import numpy as np
    from hypothesis import strategies as st
    import linflow
    import linflow.strategies as lst
    from linflow.strategies import Instance

    # False: the loss at a scalar weight w in [0, 2] with target 0 is ½w², not ≤ 1/2.
    small_loss = linflow.Claim(
        "small_loss", source="made up for the test",
        instances=st.floats(0.0, 2.0).map(lambda w: Instance((1, 1), np.array([[0.0]]), (np.array([[w]]),), 0.1)),
        measure=lambda inst: inst.problem.loss(inst.weights), bound=0.5,
    )
''')


def test_check_passes_on_quick_claims_and_prints_the_table(capsys):
    code = main(["check", "--claim", "descent_lemma", "--claim", "scalar_minimum_sharpness", "--examples", "3", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    header = out.splitlines()[0]
    for column in ("claim", "source", "tag", "instances", "hyp. met", "worst ratio", "verdict", "seconds"):
        assert column in header
    assert "descent_lemma" in out and "holds" in out and "2 claims, 0 violated" in out


def test_check_json_output(capsys):
    code = main(["check", "--claim", "imbalance_rate_n2", "--examples", "2", "--json", "--no-progress"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] and data["examples"] == 2
    (report,) = data["claims"]
    assert report["claim"] == "imbalance_rate_n2" and report["verdict"] == "holds" and report["tag"] == "checked"
    n_canonical = len(lc.get("imbalance_rate_n2").canonical)
    assert 0 < report["worst_ratio"] <= 1.0 and report["instances"] == n_canonical + 2


def test_check_markdown_output(capsys):
    assert main(["check", "--claim", "balanced_minimum_sharpness", "--examples", "2", "--markdown", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| claim | source |") and lines[1].startswith("|---")
    assert lines[2].startswith("| balanced_minimum_sharpness |")


def test_check_module_violation_exits_1_with_snippet_and_saves(tmp_path, capsys):
    module = tmp_path / "conjecture.py"
    module.write_text(FALSE_MODULE)
    code = main(["check", "--module", str(module), "--examples", "30", "--save", str(tmp_path / "ce"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1
    assert "small_loss" in out and "VIOLATED" in out
    assert "linflow.claims.load_module(" in out and "instance = Instance(" in out
    saved = tmp_path / "ce" / "small_loss.npz"
    assert saved.exists()
    name, instance, metadata = lc.load_counterexample(saved)
    assert name == "small_loss" and metadata["result"]["verdict"] == "violated"
    assert 0.5 * instance.weights[0][0, 0] ** 2 > 0.5


def test_check_json_reports_the_counterexample(tmp_path, capsys):
    module = tmp_path / "conjecture.py"
    module.write_text(FALSE_MODULE)
    code = main(["check", "--module", str(module), "--examples", "30", "--json", "--no-progress"])
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and not data["ok"]
    ce = data["claims"][0]["counterexample"]
    assert ce["shrunk"] and "Instance(" in ce["snippet"]


def test_check_bad_arguments_exit_2(capsys):
    assert main(["check", "--claim", "no_such_claim"]) == 2
    assert "no_such_claim" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["check", "--examples", "-1"])
    assert info.value.code == 2
    assert main(["check", "--module", "/nonexistent/file.py"]) == 2


def test_check_list(capsys):
    assert main(["check", "--list"]) == 0
    out = capsys.readouterr().out
    assert "arora2019_convergence" in out and "[recalled]" in out


def test_false_conjecture_example_is_falsified_with_a_shrunk_counterexample():
    loaded = lc.load_module(EXAMPLE)
    report = linflow.check_claim(loaded.claims["gd_below_initial_threshold_converges_positive"], examples=20)
    assert report.verdict == "violated"
    ce = report.counterexample
    inst = ce.instance
    assert ce.shrunk and inst.depth == 2
    # The step is below 2/S(θ_0) (the conjecture's hypothesis) yet at or above the stability
    # limit 2/(N|y|^{2(N−1)/N}) of every minimum: the mechanism the example explains.
    y = float(inst.target[0, 0])
    assert inst.learning_rate < 2.0 / inst.problem.sharpness(inst.weights)
    assert inst.learning_rate >= 2.0 / (2 * abs(y)) * (1 - 1e-12)
    assert all(float(w[0, 0]) > 0 for w in inst.weights)
    # The printed snippet reproduces the violation in a fresh namespace.
    namespace = {}
    exec(compile(ce.snippet().replace("print(claim.evaluate(instance))", "r = claim.evaluate(instance)"), "<snippet>", "exec"), namespace)
    assert namespace["r"].verdict == "violated"
