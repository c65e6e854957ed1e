"""scripts/fuzz_inputs.py: its verdicts, and its quick mode on the whole public surface.

The quick run must have no BAD case at all (API and command line): no crash, no hang, no
silent NaN, no accepted hostile value, no traceback. The full run (``python
scripts/fuzz_inputs.py --show bad``, a few minutes) tries more values of the same kinds.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from script_modules import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fuzz_inputs.py"


def _script():
    return load_script("fuzz_inputs")


def test_verdicts():
    fuzz = _script()

    def verdict(call, argument="x", expect=fuzz.REJECT, finite=True, group="api"):
        return fuzz.run_case(fuzz.Case(group, "case", call, argument, expect, finite), time_limit=2.0).verdict

    def refuse_named():
        raise ValueError("x must be positive; got x=-1")

    def refuse_unnamed():
        raise ValueError("operands could not be broadcast")

    def crash():
        raise IndexError("tuple index out of range")

    def spin():
        while True:
            pass

    assert verdict(refuse_named) == "GOOD"
    assert verdict(refuse_unnamed) == "POOR"
    assert verdict(crash) == "BAD"
    assert verdict(spin) == "BAD"  # the time limit stops it
    assert verdict(lambda: 1.0) == "BAD"  # accepted what had to be refused
    assert verdict(lambda: 1.0, expect=fuzz.EITHER) == "GOOD"
    assert verdict(lambda: math.nan, expect=fuzz.EITHER) == "BAD"  # NaN from finite inputs
    assert verdict(lambda: np.array([math.nan]), expect=fuzz.EITHER, finite=False) == "GOOD"


def test_cli_verdicts(capsys):
    fuzz = _script()
    case = fuzz.Case("cli", "c", None, "--seed")
    assert fuzz.judge_cli(case, 2, "", "linflow x: error: argument --seed: must be ≥ 0; got '-1'\n")[0] == "GOOD"
    assert fuzz.judge_cli(case, 2, "", "usage: linflow\nlinflow x: error: bad\n")[0] == "POOR"
    assert fuzz.judge_cli(case, 1, "Traceback (most recent call last):\n", "")[0] == "BAD"
    assert fuzz.judge_cli(case, 70, "", "linflow x: internal error: IndexError\n")[0] == "BAD"
    assert fuzz.judge_cli(case, 0, "ok", "")[0] == "BAD"


def test_quick_fuzz_has_no_bad_case(tmp_path):
    out = tmp_path / "fuzz.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--show", "bad", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    bad = [r for r in results if r["verdict"] == "BAD"]
    assert not bad, bad
    assert proc.returncode == 0, proc.stdout[-3000:]
    groups = {r["group"] for r in results}
    assert groups == {"api", "cli"} and len(results) > 500
    for group, least in (("api", 1000), ("cli", 100)):
        assert sum(r["verdict"] == "GOOD" for r in results if r["group"] == group) >= least, group
