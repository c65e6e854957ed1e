"""The ReLU / leaky-ReLU claims as property tests, and their reports."""

import numpy as np
import pytest
from hypothesis import given

import linflow
import linflow.claims as lc
from linflow.claims.homogeneous import CLAIMS, HomogeneousInstance, sliding_confirmed

NAMES = [c.name for c in CLAIMS]


def test_homogeneous_claims_are_registered():
    registered = {c.name for c in lc.all()}
    assert set(NAMES) <= registered
    assert {lc.get(n).tag for n in NAMES} <= {"checked", "user"}


# The [checked] claims run as property tests in tests/test_claims_builtin.py (every built-in
# claim family), canonical instances included; the report-type claim (tag "user") runs here.
def test_pattern_change_report_holds_as_a_property():
    claim = lc.get("homogeneous_gf_pattern_changes")
    assert claim.tag == "user"

    @given(claim.instances)
    def holds_on(instance):
        assert claim.assert_holds(instance).verdict == "holds"

    holds_on()


def test_ec21_canonical_instance_is_the_constructed_one():
    from linflow.claims.homogeneous import _canonical, _ec21_setup

    built = _ec21_setup(_canonical(None, 1.0), 0.3)
    canonical = lc.get("homogeneous_ec21_certificate").canonical[0]
    # Same computation on the same machine: equal up to the ODE solver's rounding.
    assert built.learning_rate == pytest.approx(canonical.learning_rate, rel=1e-9)
    assert built.epsilon == pytest.approx(canonical.epsilon, rel=1e-9)
    assert built.horizon == canonical.horizon


def test_a_wrong_drift_formula_is_caught():
    """Non-vacuous: the GD drift claim rejects the η (first-order) formula it rules out."""
    inst = lc.get("homogeneous_balance_gd_drift").canonical[0]
    measured = lc.get("homogeneous_balance_gd_drift").measure(inst)
    assert np.max(np.abs(measured.value - measured.bound)) < 1e-12
    assert np.max(np.abs(measured.value - measured.bound / inst.learning_rate)) > 1e-3


def test_pattern_report_counts_changes_and_confirms_a_sliding_stop():
    rng = np.random.default_rng(0)
    widths = (3, 6, 6, 2)
    inst = HomogeneousInstance(
        widths, "relu", 0.0, rng.standard_normal((3, 10)), rng.standard_normal((2, 10)),
        tuple(0.7 * rng.standard_normal((widths[j + 1], widths[j])) for j in range(3)), None, 1.0,
    )
    result = lc.get("homogeneous_gf_pattern_changes").evaluate(inst)
    assert result.verdict == "holds"
    assert result.info["sliding"] and result.info["pattern_changes"] >= 2
    flow = linflow.integrate_flow(inst.problem, inst.weights, t_span=(0.0, 1.0))
    assert sliding_confirmed(inst.problem, flow.final_weights, flow.pattern_change_sites[-1])
    report = linflow.check_claim(lc.get("homogeneous_gf_pattern_changes"), examples=5)
    assert report.verdict == "holds"
    assert "pattern changes per run" in report.note
