"""The central-flow claims (linflow.claims.central_flows; theory/central-flows [paper]) as property tests.

Each drawn instance is checked against all three claims (they share one cached flow), with
fewer examples than the `ci` profile's 25: one instance integrates two flows (12 GD steps × 32
substeps and 60 × 4) and GD/GF for the tracking claim. The generic tests of
tests/test_claims_builtin.py leave these claims to this file.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import linflow
import linflow.claims as lc
from linflow.claims import central_flows as cf
from linflow.strategies import Instance

# The strategy rejects draws whose η interval is empty (~60%, see edge_instances).
_DRAWS = dict(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


def test_registered_with_the_builtin_claims():
    names = lc.names()
    for claim in cf.CLAIMS:
        assert names.count(claim.name) == 1
        assert lc.get(claim.name) is claim and claim.tag == "paper"
    assert names.index(cf.EDGE_SHARPNESS.name) > names.index("balanced_minimum_sharpness")  # after §2–§4


@pytest.mark.parametrize("claim", cf.CLAIMS, ids=lambda c: c.name)
def test_canonical_designs_hold_with_every_hypothesis_met(claim):
    # The designs of scripts/central_flow_vs_gd.py (the reference runs).
    for instance in claim.canonical:
        result = claim.evaluate(instance)
        assert result.verdict == "holds", (claim.name, result)
        assert all(h.met for h in result.hypotheses)
        if claim.relation == "<=":
            assert result.ratio is not None and math.isfinite(result.ratio)


def test_canonical_figures():
    edge = [cf.EDGE_SHARPNESS.evaluate(i) for i in cf.EDGE_SHARPNESS.canonical]
    for result in edge:
        # The edge is reached within two steps: ≥ 10 of the 13 records are active.
        assert result.info["active_fraction"] >= 10 / (cf.EDGE_STEPS + 1)
        assert abs(result.info["final"] - 2.0) < 1e-6  # ηS pinned at 2 once at the edge
    track = [cf.TRACKS_GD.evaluate(i) for i in cf.TRACKS_GD.canonical]
    # theory/central-flows reference runs: distance ratio 0.11 (depth 3) and 0.03 (depth 4) after 1000
    # steps; after 60 steps the ratios are already well below the 1/5 target.
    assert all(r.value < 0.1 for r in track), [r.value for r in track]


@settings(max_examples=10, **_DRAWS)
@given(cf.edge_instances())
def test_the_three_claims_hold_on_drawn_instances(instance):
    for claim in cf.CLAIMS:
        result = claim.assert_holds(instance)
        # Every hypothesis, including the measured ones (flow in its regime, GD at the edge),
        # is met by construction: a "hypotheses_not_met" here is a bug in the strategy.
        assert result.verdict == "holds", (claim.name, result)


@settings(max_examples=25, **_DRAWS)
@given(cf.edge_instances())
def test_drawn_instances_meet_the_static_hypotheses(instance):
    for name, hypothesis in cf.EDGE_SHARPNESS.hypotheses:
        value = hypothesis(instance)
        assert (value if isinstance(value, bool) else value >= 0.0), (name, value, instance)
    assert instance.horizon is None and instance.learning_rate > 0


def test_instances_outside_the_construction_are_not_checked():
    inst = cf.EDGE_SHARPNESS.canonical[0]
    too_fast = inst._replace(learning_rate=2.0 * inst.learning_rate)  # ηS(θ_0) ≈ 1.6 > 1.1
    matrix = Instance((2, 2, 2), np.eye(2), (np.eye(2), np.eye(2)), 0.5)
    for claim in cf.CLAIMS:
        for bad in (too_fast, matrix):
            result = claim.evaluate(bad)  # the hypotheses fail before any flow is integrated
            assert result.verdict == "hypotheses_not_met" and result.value is None


def test_flows_are_cached_per_instance_and_resolution():
    inst = cf.EDGE_SHARPNESS.canonical[1]
    flow = cf.central_flow_of(inst)
    assert cf.central_flow_of(inst) is flow
    assert flow.substeps == cf.EDGE_SUBSTEPS and flow.t[-1] == cf.EDGE_STEPS
    tracking = cf.central_flow_of(inst, cf.TRACKING_STEPS, cf.TRACKING_SUBSTEPS)
    assert tracking is not flow and tracking.t[-1] == cf.TRACKING_STEPS


def test_check_claim_report_on_canonical_instances():
    report = linflow.check_claim(cf.TRACKS_GD, examples=0)
    assert report.verdict == "holds" and report.instances == 2
    assert 0.0 < report.worst_ratio < 1.0 and "GF–GD distance" in report.note
