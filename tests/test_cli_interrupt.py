"""Ctrl-C: the engine's threads stop at once; check, table, report and prove print what they
completed and exit 130 without a traceback. Real SIGINTs go to subprocesses (bounded waits)."""

import textwrap
import time

import numpy as np
from interrupts import interrupt, start_child, wait_for_line

from linflow.cli import main

ENGINE_CHILD = textwrap.dedent('''
    import time
    import numpy as np
    import linflow
    net = linflow.DeepLinearNetwork((8, 8, 8, 8, 8))
    problem = linflow.Problem(net, target=np.eye(8) * 0.5)
    w0 = linflow.init.gaussian(net.widths, std=0.3, seed=0, batch=64)
    linflow.simulate_descent(problem, w0, learning_rate=1e-3, n_steps=10)  # compile or load
    print("started", flush=True)
    try:  # about a minute of work per thread
        linflow.simulate_descent(problem, w0, learning_rate=1e-6, n_steps=5_000_000, record_every=5_000_000)
        print("finished", flush=True)
    except KeyboardInterrupt:
        t = time.perf_counter()
        linflow.simulate_descent(problem, w0, learning_rate=1e-3, n_steps=10)
        print(f"next call {time.perf_counter() - t:.3f}", flush=True)
''')




def test_sigint_stops_the_engine_threads_and_the_next_call_does_not_wait(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(ENGINE_CHILD)
    child = start_child([str(script)], tmp_path)
    wait_for_line(child.stdout, "started", child)
    time.sleep(1.0)  # inside the long run
    seconds, out, err = interrupt(child)
    assert child.returncode == 0, err
    assert "finished" not in out
    next_call = float(out.split("next call")[1])
    # A short call on a free pool takes milliseconds; a pool still busy with the cancelled run
    # made it wait ~20 s.
    assert next_call < 2.0, (next_call, seconds)


SLOW_CLAIMS = textwrap.dedent('''
    import time
    import numpy as np
    from hypothesis import strategies as st
    import linflow
    from linflow.strategies import Instance

    # False at once: ½w² ≤ 1/2 fails for w > 1 (Hypothesis shrinks it quickly).
    small_loss = linflow.Claim(
        "small_loss", source="test",
        instances=st.floats(0.0, 2.0).map(lambda w: Instance((1, 1), np.array([[0.0]]), (np.array([[w]]),), 0.1)),
        measure=lambda inst: inst.problem.loss(inst.weights), bound=0.5,
    )

    def _slow(w):
        time.sleep(0.2)
        return w

    slow_truth = linflow.Claim("slow_truth", source="test", instances=st.floats(0.0, 1.0),
                               measure=_slow, bound=1.0)
''')


def test_sigint_during_check_prints_completed_claims_saves_and_exits_130(tmp_path):
    module = tmp_path / "claims.py"
    module.write_text(SLOW_CLAIMS)
    child = start_child(["-m", "linflow", "check", "--module", str(module), "--examples", "500",
                    "--save", str(tmp_path / "ce")], tmp_path)
    wait_for_line(child.stderr, "small_loss: violated", child)
    time.sleep(0.5)  # inside slow_truth
    _, out, err = interrupt(child)
    assert child.returncode == 130, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert "linflow check: interrupted" in err
    assert "small_loss" in out and "VIOLATED" in out and "INTERRUPTED while checking slow_truth" in out
    assert (tmp_path / "ce" / "small_loss.npz").exists() and "saved the counterexample of small_loss" in out


# ----------------------------------------------------------------------- in-process interrupts
def _raise_interrupt(*_, **__):
    raise KeyboardInterrupt


def test_interrupted_table_exits_130_without_traceback(monkeypatch, capsys):
    from linflow.tables import iterations

    monkeypatch.setattr(iterations, "build", _raise_interrupt)
    assert main(["table", "iterations", "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def test_interrupted_report_writes_the_completed_sections(tmp_path, monkeypatch, capsys):
    from linflow.tables import curvature

    monkeypatch.setattr(curvature, "build", _raise_interrupt)
    argv = ["report", "--out", str(tmp_path), "--quick", "--tables", "iterations", "curvature",
            "--figures", "--no-checks", "--no-progress"]
    assert main(argv) == 130
    captured = capsys.readouterr()
    assert "partial report" in captured.out and "Traceback" not in captured.err
    text = (tmp_path / "report.md").read_text()
    assert "### iterations" in text and "**Interrupted** (Ctrl-C) during table curvature" in text
    assert (tmp_path / "tables" / "iterations.csv").exists()


def test_interrupted_proofs_print_the_finished_ones(tmp_path, capsys):
    (tmp_path / "a_ok.py").write_text("CLAIM = 'fine'\nSOURCE = 't'\ndef main():\n    pass\n")
    (tmp_path / "b_stop.py").write_text("def main():\n    raise KeyboardInterrupt\n")
    assert main(["prove", "--directory", str(tmp_path)]) == 130
    out = capsys.readouterr().out
    assert "a_ok" in out and "PASS" in out and "INTERRUPTED at b_stop" in out


def test_interrupted_check_in_process(monkeypatch, capsys):
    import linflow.claims as lc

    real = lc.check_claim
    calls = []

    def check_then_interrupt(claim, **kwargs):
        calls.append(claim.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(claim, **kwargs)

    monkeypatch.setattr(lc, "check_claim", check_then_interrupt)
    code = main(["check", "--claim", "descent_lemma", "--claim", "scalar_minimum_sharpness", "--examples", "0",
                 "--no-progress", "--json"])
    assert code == 130
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["interrupted"] == "scalar_minimum_sharpness" and not data["ok"]
    assert [c["claim"] for c in data["claims"]] == ["descent_lemma"]
    assert np.isfinite(data["claims"][0]["worst_ratio"])
