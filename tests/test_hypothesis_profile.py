"""The documented test command is deterministic: Hypothesis draws the same examples each run."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

TESTS = Path(__file__).resolve().parent

# Imports the suite's conftest (which loads the profile from the environment) and prints the
# examples a @given test draws.
DRAWS = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import conftest  # noqa: F401  (loads the profile)
from hypothesis import given, strategies as st

draws = []

@given(st.integers(-10**6, 10**6), st.floats(-1e3, 1e3))
def record(i, x):
    draws.append((i, x))

record()
print(repr(draws))
"""


def _draws(profile):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    if profile is not None:
        env["HYPOTHESIS_PROFILE"] = profile
    out = subprocess.run([sys.executable, "-c", DRAWS], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_default_profile_is_derandomized():
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci":
        pytest.skip(f"HYPOTHESIS_PROFILE={os.environ['HYPOTHESIS_PROFILE']} chosen explicitly")
    assert settings().derandomize and settings().database is None


def test_two_runs_without_configuration_draw_the_same_examples_and_dev_is_random():
    first, second = _draws(None), _draws(None)
    assert len(set(ast.literal_eval(first))) >= 10
    assert first == second, "Hypothesis seed pinning stopped working: two runs drew different examples"
    assert _draws("dev") != _draws("dev"), "HYPOTHESIS_PROFILE=dev should explore randomly"
