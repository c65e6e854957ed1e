"""What a claim check decides, and what it refuses to decide.

A measurement or bound that is no answer (None, NaN, a string, a non-bool property) is an error
of the claim (``ClaimError``), never a verdict; ``examples`` takes ints (NumPy ones too), never
bools; a bool measured without a bound is a property.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import linflow
import linflow.claims as lc
import linflow.claims._core as lc_core
from linflow.claims import ClaimError, Measurement

NO_ANSWERS = (None, math.nan, np.float64("nan"), [1.0, math.nan], np.array([math.nan, 2.0]), "0.5", 1 + 2j)
JUDGED = ("<=", ">=", "==", "converges", "non-increasing")


def _claim(measure, bound=1.0, relation="<=", **kwargs):
    return linflow.Claim("c", source="made up", instances=st.floats(0.0, 1.0), measure=measure,
                         bound=bound, relation=relation, **kwargs)


def _needs_scalar(relation):
    return relation in ("<=", ">=")


@given(relation=st.sampled_from(JUDGED), bad=st.sampled_from(NO_ANSWERS))
def test_a_measurement_that_is_no_answer_is_an_error_not_a_verdict(relation, bad):
    claim = _claim(lambda x: bad, relation=relation)
    with pytest.raises(ClaimError, match="cannot be judged"):
        claim.evaluate(0.5)


@given(relation=st.sampled_from(("<=", ">=", "==", "converges")), bad=st.sampled_from((math.nan, [0.0, math.nan])))
def test_a_nan_bound_is_an_error(relation, bad):
    value = [1.0, 0.5] if relation == "converges" else 0.5
    if _needs_scalar(relation) or relation == "converges":
        bad = math.nan
    with pytest.raises(ClaimError, match="the bound is NaN"):
        _claim(lambda x: value, bound=lambda x: bad, relation=relation).evaluate(0.5)
    with pytest.raises(ClaimError, match="the bound is NaN"):
        _claim(lambda x: Measurement(value=value, bound=bad), bound=None, relation=relation).evaluate(0.5)


def test_check_claim_raises_instead_of_reporting_a_violation_and_shows_the_instance():
    # NaN on part of the domain only: the search finds it and shrinks it to a small instance.
    claim = _claim(lambda x: math.nan if x > 0.5 else x, bound=1.0)
    with pytest.raises(ClaimError, match=r"measured value is NaN") as info:
        linflow.check_claim(claim, examples=50, seed=0)
    shown = float(str(info.value).split("(instance ")[1].split(")")[0])
    assert shown > 0.5
    with pytest.raises(ClaimError, match="measure returned None"):
        linflow.check_claim(_claim(lambda x: None), examples=5)


def test_canonical_instances_that_give_no_answer_raise_too():
    claim = _claim(lambda x: math.nan, canonical=(0.25,))
    with pytest.raises(ClaimError, match="instance 0.25"):
        linflow.check_claim(claim, examples=0)


def test_infinity_is_an_answer_and_can_violate():
    result = _claim(lambda x: math.inf, bound=1.0).evaluate(0.5)
    assert result.verdict == "violated" and result.ratio == math.inf
    assert _claim(lambda x: [3.0, math.inf], relation="non-increasing", bound=None).evaluate(0.5).verdict == "violated"
    assert (
        _claim(lambda x: [math.inf, math.inf], relation="non-increasing", bound=None).evaluate(0.5).verdict == "holds"
    )
    assert (
        _claim(lambda x: np.array([1.0, math.inf]), bound=np.array([1.0, math.inf]), relation="==")
        .evaluate(0.5)
        .verdict
        == "holds"
    )
    assert (
        _claim(lambda x: np.array([1.0, 2.0]), bound=lambda x: np.array([1.0, math.inf]), relation="==")
        .evaluate(0.5)
        .verdict
        == "violated"
    )


@given(margin=st.sampled_from((math.nan, None, "1", 1j)))
def test_a_hypothesis_without_a_margin_is_an_error(margin):
    claim = _claim(lambda x: 0.5, hypotheses=(("h", lambda x: margin),))
    with pytest.raises(ClaimError, match="hypothesis 'h'"):
        claim.evaluate(0.5)


def test_a_failed_measurement_hypothesis_excuses_a_missing_value():
    claim = _claim(lambda x: Measurement(value=math.nan, hypotheses={"run converged": False}))
    assert claim.evaluate(0.5).verdict == "hypotheses_not_met"


def test_a_constant_bound_must_be_a_real_number():
    with pytest.raises(ValueError, match="bound=nan"):
        _claim(float, bound=math.nan)
    for bad in (True, "0.5", 1j):
        with pytest.raises(TypeError, match="bound must be callable"):
            _claim(float, bound=bad)


# ---------------------------------------------------------------------------- properties
@given(
    truth=st.booleans(),
    kind=st.sampled_from((bool, np.bool_, lambda b: np.array(b))),
    relation=st.sampled_from(("<=", ">=", "==")),
)
def test_a_bool_without_a_bound_is_a_plain_property(truth, kind, relation):
    claim = linflow.Claim("p", source="s", instances=st.just(0), measure=lambda x: kind(truth), relation=relation)
    assert claim.evaluate(0).verdict == ("holds" if truth else "violated")


def test_a_false_property_is_found_and_shrunk():
    claim = linflow.Claim("below 0.7", source="s", instances=st.floats(0.0, 1.0), measure=lambda x: x < 0.7)
    report = linflow.check_claim(claim, examples=100, seed=1)
    assert report.verdict == "violated" and report.counterexample.instance >= 0.7


@given(value=st.sampled_from((0.0, 1.0, math.nan, None, "yes")))
def test_a_property_must_measure_a_bool(value):
    claim = _claim(lambda x: value, bound=None, relation="property")
    with pytest.raises(ClaimError):
        claim.evaluate(0.5)


def test_a_number_without_a_bound_is_an_error_naming_the_relation():
    with pytest.raises(ClaimError, match="relation '<=' needs a bound"):
        _claim(lambda x: 0.5, bound=None).evaluate(0.5)


# ---------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("examples", [np.int64(3), np.int32(3), np.uint8(3), 3])
def test_numpy_integers_are_accepted_for_examples_and_seed(examples):
    report = linflow.check_claim(_claim(lambda x: x), examples=examples, seed=np.int64(2))
    assert report.verdict == "holds" and report.instances >= 1


@pytest.mark.parametrize("examples", [True, False, np.bool_(True), 3.0, "3", None])
def test_examples_refuses_bools_and_non_integers(examples):
    with pytest.raises(TypeError, match="examples must be an int"):
        linflow.check_claim(_claim(lambda x: x), examples=examples)


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"seed": True}, TypeError, "seed must be an int"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
        ({"examples": -1}, ValueError, "examples=-1"),
        ({"canonical": 1}, TypeError, "canonical must be a bool"),
        ({"shrink_seconds": math.nan}, ValueError, "shrink_seconds"),
        ({"shrink_seconds": -1.0}, ValueError, "shrink_seconds"),
        ({"progress": 3}, TypeError, "progress must be callable"),
    ],
)
def test_check_claim_arguments_are_named(kwargs, error, text):
    with pytest.raises(error, match=text):
        linflow.check_claim(_claim(lambda x: x), **{"examples": 2, **kwargs})


def test_zero_examples_without_canonical_instances_is_refused():
    with pytest.raises(ValueError, match="examples=0 .* nothing would be checked"):
        linflow.check_claim(_claim(lambda x: x), examples=0)
    with pytest.raises(ValueError, match="canonical=False"):
        linflow.check_claim(_claim(lambda x: x, canonical=(0.5,)), examples=0, canonical=False)
    report = linflow.check_claim(_claim(lambda x: x, canonical=(0.5,)), examples=0)
    assert report.verdict == "holds" and report.instances == 1


@pytest.mark.parametrize("seed", [-3, -1])
def test_negative_seeds_are_refused_like_every_seed(seed):
    with pytest.raises(ValueError, match=f"seed=.*{seed}"):
        linflow.check_claim(_claim(lambda x: x), examples=5, seed=seed)


@pytest.mark.parametrize("examples", [lc_core.MAX_EXAMPLES + 1, 10**15])
def test_examples_above_the_documented_maximum_are_refused(examples):
    with pytest.raises(ValueError, match=f"examples=.*{examples}"):
        linflow.check_claim(_claim(lambda x: x), examples=examples)


def test_builtin_claims_keep_canonical_only_checks():
    report = linflow.check_claim(lc.get("descent_lemma"), examples=0)
    assert report.verdict == "holds" and report.instances == len(lc.get("descent_lemma").canonical)
