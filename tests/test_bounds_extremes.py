"""Every registered bound at extreme but valid parameters: a number (finite, 0, ±∞), never NaN.

The parameter ranges come from the registry itself (each parameter's domain), so a new bound is
covered without editing this file; a new kind of domain fails :func:`_values` until it is added.
"""

import itertools
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import linflow.bounds as lb

BIG = float(np.finfo(np.float64).max)
TINY = 5e-324  # smallest positive (subnormal) float64

# Corner values of each domain: both ends of the float range, the smallest normal and
# subnormal numbers, and ordinary values.
CORNERS = {
    lb.POSITIVE.description: (TINY, 1e-300, 1.0, 1e300, BIG),
    lb.NONNEGATIVE.description: (0.0, TINY, 1.0, BIG),
    lb.NONPOSITIVE.description: (0.0, -TINY, -1.0, -BIG),
    lb.REAL.description: (-BIG, -1.0, 0.0, TINY, 1.0, BIG),
    lb.NONZERO.description: (-BIG, -TINY, 1.0, BIG),
    lb.UNIT_INTERVAL.description: (TINY, 0.5, 1.0 - 2**-53),
    lb.DEPTH.description: (1, 2, 3, 10**6),
    lb.DEPTH2.description: (2, 3, 10**6),
    lb.COUNT.description: (0, 1, 2**53),
}


def _values(domain):
    """A strategy over the whole domain, with its corners drawn often."""
    floats = dict(allow_nan=False, allow_infinity=False)
    whole = {
        lb.POSITIVE.description: st.floats(0.0, BIG, exclude_min=True, **floats),
        lb.NONNEGATIVE.description: st.floats(0.0, BIG, **floats),
        lb.NONPOSITIVE.description: st.floats(-BIG, 0.0, **floats),
        lb.REAL.description: st.floats(**floats),
        lb.NONZERO.description: st.floats(**floats).filter(lambda x: x != 0.0),
        lb.UNIT_INTERVAL.description: st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
        lb.DEPTH.description: st.integers(1, 10**6),
        lb.DEPTH2.description: st.integers(2, 10**6),
        lb.COUNT.description: st.integers(0, 2**53),
    }[domain.description]
    return st.sampled_from(CORNERS[domain.description]) | whole


def _in_domain(bound, params) -> bool:
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    with np.errstate(over="ignore"):
        return all(bool(np.all(c.check(*(arrays[n] for n in c.names)))) for c in bound.constraints)


def _evaluate_quietly(bound, params):
    """Evaluate with every floating-point warning turned into an error (no hidden 0·∞)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return bound.evaluate(**params)


def _check(bound, params):
    if not _in_domain(bound, params):
        with pytest.raises(ValueError, match="requires"):
            bound.evaluate(**params)
        return
    value = _evaluate_quietly(bound, params)
    assert not math.isnan(value), (bound.name, params)


@pytest.mark.parametrize("name", lb.names())
@given(data=st.data())
def test_bounds_are_numbers_over_their_whole_domain(name, data):
    bound = lb.get(name)
    params = {p.name: data.draw(_values(p.domain), label=p.name) for p in bound.parameters}
    _check(bound, params)


@pytest.mark.parametrize("name", lb.names())
def test_bounds_are_numbers_at_every_corner_of_their_domain(name):
    bound = lb.get(name)
    grids = [CORNERS[p.domain.description] for p in bound.parameters]
    for combo in itertools.product(*grids):
        _check(bound, dict(zip(bound.parameter_names, combo)))


def test_the_cases_reported_in_the_audit():
    # arora2019_step_size at a margin of 1e-300: c^{10/3} underflows; the bound is 0, not 0/0.
    assert lb.get("arora2019_step_size").evaluate(depth=3, margin=1e-300, target_norm=1e-300) > 0.0
    assert lb.get("arora2019_step_size").evaluate(depth=3, margin=1e-300, target_norm=1.0) == 0.0
    # Elkabetz–Cohen closed form at k = 0 with exp(−ηΛ) = e^{1000}: E_0 = 0.
    ec = lb.get("ec21_error_bound")
    assert ec.evaluate(learning_rate=1.0, smoothness=1.0, gradient_bound=1.0, steps=0, negative_curvature_sum=-1000.0) == 0.0
    assert ec.evaluate(learning_rate=1.0, smoothness=1.0, gradient_bound=1.0, steps=1, negative_curvature_sum=-1000.0) == math.inf
    # λ_min / smoothness bounds at huge layer norms: (ρ + ε)^N − ρ^N is ∞ − ∞ if taken literally.
    lam = lb.get("deep_linear_lambda_min").evaluate(depth=3, gradient_norm=1.0, layer_norm=1e300, epsilon=0.0)
    assert lam == pytest.approx(-2e300, rel=1e-13)  # exp(log x): ≲ 700·2.2e-16 relative
    assert lb.get("smoothness_ball").evaluate(depth=2, gradient_norm=0.0, layer_norm=1e300, epsilon=0.0) == math.inf
    # The margin rate at t = 0 is ℓ(0) even when the rate overflows.
    assert lb.get("gf_margin_rate").evaluate(depth=3, margin=1e300, initial_loss=1e-300, time=0.0) == 1e-300


@pytest.mark.parametrize(
    "name, params, expected",
    [
        # c² and ‖Φ‖^{2(N−1)/N} both underflow in the literal formula (0/0).
        ("arora2019_balancedness", dict(depth=2, margin=1e-200, target_norm=1e-200), 1e-200 / (256 * 8)),
        # (ρ + ε)² − ρ² = 2ρε + ε² cancels ~10 digits when taken literally at ρ = 1e150, ε = 1e140.
        ("deep_linear_lambda_min", dict(depth=2, gradient_norm=1.0, layer_norm=1e150, epsilon=1e140), -(2e290 + 1e280)),
        # ε/ρ overflows at a subnormal ρ, while (ρ + ε)^N − ρ^N ≈ ε^N is ordinary.
        ("deep_linear_lambda_min", dict(depth=3, gradient_norm=1.0, layer_norm=2.2e-311, epsilon=0.5), -2 * 1.125 * 0.5),
        # ... and overflows at ρ = 1e200: the bound is −∞ (vacuous), not ∞ − ∞.
        ("deep_linear_lambda_min", dict(depth=2, gradient_norm=1.0, layer_norm=1e200, epsilon=1e190), -math.inf),
        # ln(ℓ_0/ε)/(ηc^{2(N−1)/N}) with η c^{4/3} = 1e-300·1e-200 underflowing: a huge, finite T.
        ("arora2019_iterations", dict(depth=3, margin=1e-150, learning_rate=1e-300, initial_loss=1.0, epsilon=1e-3),
         math.log(1e3) / 1e-300 / 1e-200),
    ],
)
def test_stable_forms_keep_the_value_where_the_literal_form_fails(name, params, expected):
    value = _evaluate_quietly(lb.get(name), params)
    # exp(log x) loses ≲ |log x|·2.2e-16 ≈ 2e-13 relative at |log x| ≤ 1000.
    assert value == pytest.approx(expected, rel=1e-12)


@given(
    widths=st.lists(st.integers(1, 3), min_size=2, max_size=5).map(tuple),
    exponent=st.floats(-300.0, 300.0),
    epsilon=st.sampled_from((0.0, 1e-3, 1.0, 1e300)),
    seed=st.integers(0, 2**32 - 1),
)
def test_curvature_bounds_at_extreme_weights_are_numbers(widths, exponent, epsilon, seed):
    import linflow
    from linflow import curvature

    rng = np.random.default_rng(seed)
    problem = linflow.Problem(linflow.DeepLinearNetwork(widths), target=rng.standard_normal((widths[-1], widths[0])))
    weights = tuple(10.0**exponent * rng.standard_normal(s) for s in problem.network.shapes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low = curvature.lambda_min_lower_bound(problem, weights, epsilon=epsilon)
        high = curvature.smoothness_bound(problem, weights, epsilon=epsilon)
    # Never NaN: a bound beyond float64 is ∓∞ (true, vacuous), and the signs are right.
    assert not math.isnan(low) and low <= 0.0
    assert not math.isnan(high) and high >= 0.0


@pytest.mark.parametrize("scale", [0.0, 1.0, 1e100, 1e200])
@pytest.mark.parametrize("learning_rate", [1e-300, 1e-3, 1e3, 1e300])
def test_error_certificate_is_never_nan(scale, learning_rate):
    import linflow
    from linflow import curvature

    problem = linflow.Problem(linflow.DeepLinearNetwork((2, 2, 1)), target=np.array([[1.0, 0.5]]))
    path = (scale * np.ones((4, 2, 2)), scale * np.ones((4, 1, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cert = curvature.error_certificate(problem, path, learning_rate=learning_rate, epsilon=1.0)
    for values in (cert.bound, cert.closed_form, cert.curvature_lower, cert.smoothness, cert.gradient_bound):
        assert not np.any(np.isnan(values))
    assert cert.bound[0] == cert.closed_form[0] == 0.0


def test_curvature_bounds_at_a_subnormal_layer_norm_keep_their_value():
    import linflow
    from linflow import curvature

    # Found by the descent-lemma claim: ε/‖W_2‖₂ overflowed at ‖W_2‖₂ = 2.2e-311, making β = ∞.
    problem = linflow.Problem(linflow.DeepLinearNetwork((3, 1, 1)), target=np.ones((1, 3)))
    weights = (np.array([[1.0, 0.0, 0.0]]), np.array([[2.225073858507e-311]]))
    tiny = (np.array([[1.0, 0.0, 0.0]]), np.array([[0.0]]))
    for eps in (0.5, 1.0):
        # The bounds are continuous in the weights: a subnormal layer is (to 1e-12) a zero one.
        assert curvature.smoothness_bound(problem, weights, epsilon=eps) == pytest.approx(
            curvature.smoothness_bound(problem, tiny, epsilon=eps), rel=1e-12)
        assert curvature.lambda_min_lower_bound(problem, weights, epsilon=eps) == pytest.approx(
            curvature.lambda_min_lower_bound(problem, tiny, epsilon=eps), rel=1e-12)
