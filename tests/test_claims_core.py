"""The claim framework: relations, verdicts, shrinking, counterexamples, registry, user modules."""

import math
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import linflow
import linflow.claims as lc
from linflow.claims._relations import judge
from linflow.strategies import Instance


# ---------------------------------------------------------------------------- relations
@pytest.mark.parametrize(
    "relation, value, bound, holds, ratio",
    [
        ("<=", 1.0, 2.0, True, 0.5),
        ("<=", 3.0, 2.0, False, 1.5),
        ("<=", -2.0, -1.0, True, 0.5),  # both negative: b/v
        (">=", 2.0, 1.0, True, 0.5),
        (">=", -0.5, -1.0, True, 0.5),  # λ_min = −0.5 ≥ −1: v/b
        (">=", -2.0, -1.0, False, 2.0),
        (">=", 0.5, -1.0, True, 0.0),
        ("==", 1.0, 1.0 + 1e-13, True, None),
        ("converges", [1.0, 0.1, 1e-12], 1e-10, True, 1e-2),
        ("converges", [1.0, np.inf], 1e-10, False, math.inf),  # a diverged run measures inf
    ],
)
def test_relations_decide_and_rate(relation, value, bound, holds, ratio):
    ok, _, _, r = judge(relation, value, bound, rtol=1e-12, atol=0.0)
    assert ok is holds
    if ratio is not None:
        assert r == pytest.approx(ratio, rel=1e-12)


def test_ratio_is_dropped_below_the_noise_floor():
    assert judge("<=", 1e-41, 1.1e-41, rtol=0.0, atol=1e-9)[3] is None
    assert judge("<=", 1e-3, 2e-3, rtol=0.0, atol=1e-9)[3] == pytest.approx(0.5)


def test_relation_equal_entrywise_and_monotone():
    ok, worst, bound, ratio = judge("==", np.array([1.0, 2.0]), np.array([1.0, 2.1]), rtol=0.0, atol=0.05)
    assert not ok and worst == pytest.approx(0.1) and bound is None and ratio == pytest.approx(2.0)
    ok, worst, _, _ = judge("non-increasing", [3.0, 2.0, 2.0, 1.0], None, rtol=0.0, atol=0.0)
    assert ok and worst == 0.0
    ok, worst, _, _ = judge("non-increasing", [3.0, 2.0, 2.5], None, rtol=0.0, atol=0.0)
    assert not ok and worst == pytest.approx(0.5)
    assert judge("property", False, None, rtol=0, atol=0)[0] is False


def test_relation_names_and_aliases():
    claim = linflow.Claim("x", source="s", instances=st.just(1.0), measure=float, bound=2.0, relation="≤")
    assert claim.relation == "<=" and claim.tag == "user"
    with pytest.raises(ValueError, match="relation='<>'"):
        linflow.Claim("x", source="s", instances=st.just(1.0), measure=float, relation="<>")


def test_claim_argument_errors_name_the_argument():
    with pytest.raises(TypeError, match="instances must be a Hypothesis strategy"):
        linflow.Claim("x", source="s", instances=[1.0], measure=float)
    with pytest.raises(TypeError, match="measure must be callable"):
        linflow.Claim("x", source="s", instances=st.just(1.0), measure=3)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        linflow.Claim("", source="s", instances=st.just(1.0), measure=float)
    with pytest.raises(ValueError, match="rtol=-1"):
        linflow.Claim("x", source="s", instances=st.just(1.0), measure=float, rtol=-1)
    with pytest.raises(ValueError, match="examples=-1"):
        linflow.check_claim(lc.get("descent_lemma"), examples=-1)


def test_tag_is_read_from_the_source():
    claim = linflow.Claim("x", source="Someone 2020, Thm 2 [recalled]", instances=st.just(1.0), measure=float, bound=1.0)
    assert claim.tag == "recalled"


# ---------------------------------------------------------------------------- verdicts
def _product_claim(bound=0.5, **kwargs):
    return linflow.Claim(
        "product bound", source="made up", instances=st.tuples(st.floats(-1, 1), st.floats(-1, 1)),
        measure=lambda ab: ab[0] * ab[1], bound=bound, relation="<=", **kwargs,
    )


def test_true_claim_holds_with_its_worst_ratio():
    report = linflow.check_claim(_product_claim(bound=1.0), examples=40)
    assert report.verdict == "holds" and report.counterexample is None
    assert report.instances == report.hypotheses_met > 0
    assert 0.0 <= report.worst_ratio <= 1.0


def test_false_claim_is_violated_with_a_shrunk_counterexample():
    report = linflow.check_claim(_product_claim(), examples=100)
    assert report.verdict == "violated" and report.finding
    ce = report.counterexample
    a, b = ce.instance
    assert a * b > 0.5 and ce.shrunk and ce.result.ratio > 1.0
    # Shrinking moves towards simple floats: the product should be a small excess over 1/2.
    assert a * b <= 1.0


def test_search_is_deterministic_per_seed():
    first = linflow.check_claim(_product_claim(), examples=50, seed=3)
    again = linflow.check_claim(_product_claim(), examples=50, seed=3)
    assert first.counterexample.instance == again.counterexample.instance
    assert first.instances == again.instances


def test_hypotheses_not_met_never_count_as_violations():
    claim = _product_claim(hypotheses=(("a ≥ 2 (never)", lambda ab: ab[0] - 2.0),))
    report = linflow.check_claim(claim, examples=20)
    assert report.verdict == "hypotheses_not_met" and report.hypotheses_met == 0
    result = claim.evaluate((0.9, 0.9))
    assert result.verdict == "hypotheses_not_met"
    assert result.hypotheses[0].margin == pytest.approx(-1.1) and not result.hypotheses[0].met


def test_canonical_instances_are_checked_first():
    claim = _product_claim(bound=1.0, canonical=((2.0, 2.0),))
    report = linflow.check_claim(claim, examples=0)
    assert report.verdict == "violated" and not report.counterexample.shrunk
    assert report.counterexample.instance == (2.0, 2.0) and report.instances == 1


def test_measurement_hypotheses_and_info_are_reported():
    claim = linflow.Claim(
        "m", source="s", instances=st.just(1.0), relation="converges",
        measure=lambda x: lc.Measurement([1.0, 1e-12], bound=1e-10, hypotheses={"ran": True}, info={"steps": 2}),
    )
    result = claim.evaluate(1.0)
    assert result.verdict == "holds" and result.info == {"steps": 2} and result.hypotheses[0].name == "ran"
    assert result.ratio == pytest.approx(1e-2)


def test_decorator_form_and_assert_holds_in_a_users_property_test():
    @lc.claim(source="AM–GM", instances=st.tuples(st.floats(0, 10), st.floats(0, 10)),
              bound=lambda ab: (ab[0] + ab[1]) / 2)
    def am_gm(ab):
        return math.sqrt(ab[0] * ab[1])

    assert isinstance(am_gm, linflow.Claim) and am_gm.name == "am_gm"

    @given(am_gm.instances)
    def property_test(ab):
        am_gm.assert_holds(ab)

    property_test()
    with pytest.raises(AssertionError, match="violated"):
        _product_claim().assert_holds((1.0, 1.0))


# ---------------------------------------------------------------------------- counterexamples
def _run_snippet(snippet: str):
    namespace = {}
    code = snippet.replace("print(claim.evaluate(instance))", "result = claim.evaluate(instance)")
    exec(compile(code, "<snippet>", "exec"), namespace)  # the snippet is linflow's own output
    return namespace["result"]


def test_snippet_of_a_user_claim_reproduces_the_violation_and_npz_round_trips(tmp_path):
    path = tmp_path / "loss_claim.py"
    path.write_text(textwrap.dedent('''
        import numpy as np
        from hypothesis import strategies as st
        import linflow
        from linflow.strategies import Instance

        loss_below_one = linflow.Claim(
            "loss below one", source="made up",
            instances=st.floats(0.0, 3.0).map(
                lambda w: Instance((1, 1), np.array([[0.0]]), (np.array([[w]]),), 0.1)),
            measure=lambda inst: inst.problem.loss(inst.weights), bound=1.0,
        )
    '''))
    claim = lc.load_module(path).claims["loss below one"]
    report = linflow.check_claim(claim, examples=50)
    ce = report.counterexample
    assert report.verdict == "violated" and ce.module_path == str(path.resolve())
    assert _run_snippet(ce.snippet()).verdict == "violated"
    saved = ce.save(tmp_path / "out")
    assert saved.exists() and saved.suffix == ".npz"
    with np.load(saved, allow_pickle=False) as data:
        assert "__header__" in data.files
    name, instance, metadata = lc.load_counterexample(saved)
    assert name == "loss below one" and isinstance(instance, Instance)
    assert np.array_equal(instance.weights[0], ce.instance.weights[0]) and instance.learning_rate == 0.1
    assert metadata["result"]["verdict"] == "violated"


def test_snippet_of_a_builtin_claim_rebuilds_the_instance_exactly():
    claim = lc.get("kreisler_gfs_sharpness_decreases")
    instance = claim.canonical[0]._replace(learning_rate=0.1 + 1e-17 * 3)
    result = claim.evaluate(instance)
    ce = lc.Counterexample(claim.name, instance, result, seed=0, shrunk=False)
    assert "linflow.claims.get('kreisler_gfs_sharpness_decreases')" in ce.snippet()
    again = _run_snippet(ce.snippet())
    assert again.verdict == result.verdict and again.value == result.value


def test_reports_serialize_to_json():
    import json

    report = linflow.check_claim(_product_claim(), examples=20)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["verdict"] == "violated" and "snippet" in data["counterexample"]


# ---------------------------------------------------------------------------- registry and modules
def test_registry_lists_builtin_claims_and_refuses_duplicates():
    names = lc.names()
    assert len(names) >= 12 and "kreisler_gfs_sharpness_decreases" in names
    assert lc.get("descent_lemma") is lc.get("descent_lemma")
    with pytest.raises(KeyError, match="no claim named 'nope'"):
        lc.get("nope")
    duplicate = linflow.Claim("descent_lemma", source="s", instances=st.just(1.0), measure=float, bound=1.0)
    with pytest.raises(ValueError, match="already registered"):
        lc.register(duplicate)


def test_load_module_collects_the_claims_of_a_user_file(tmp_path):
    path = tmp_path / "my_claims.py"
    path.write_text(textwrap.dedent('''
        from hypothesis import strategies as st
        import linflow

        squares = linflow.Claim("squares are nonnegative", source="folklore",
                                instances=st.floats(-10, 10), measure=lambda x: x * x,
                                bound=0.0, relation=">=")
    '''))
    loaded = lc.load_module(path)
    claim = loaded.claims["squares are nonnegative"]
    assert claim.module_path == str(path.resolve())
    assert linflow.check_claim(claim, examples=10).verdict == "holds"
    with pytest.raises(FileNotFoundError, match="module must be an existing Python file"):
        lc.load_module(tmp_path / "missing.py")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ValueError, match="defines no linflow.Claim"):
        lc.load_module(empty)


def test_import_linflow_stays_cheap():
    import subprocess
    import sys

    code = "import sys, linflow; print('hypothesis' in sys.modules, 'sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
