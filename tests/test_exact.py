"""Closed-form GF solutions: refused times, and numbers (never NaN) at extreme valid parameters."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linflow import exact

BAD_TIMES = [(math.nan, ValueError), (math.inf, ValueError), (-1.0, ValueError), ([0.0, math.nan], ValueError),
             (1j, TypeError), ("1", TypeError), (True, TypeError), (None, TypeError)]


@pytest.mark.parametrize("t, error", BAD_TIMES)
def test_times_that_are_not_finite_forward_times_are_refused(t, error):
    with pytest.raises(error, match="t must be"):
        exact.scalar_balanced_n2(1.0, 0.5, t)
    with pytest.raises(error, match="t must be"):
        exact.saxe_mode(1.0, 0.5, t)
    with pytest.raises(error, match="t must be"):
        exact.saxe_end_to_end(np.eye(2), 0.5, t)
    with pytest.raises(error, match="t must be"):
        exact.two_layer_lambda_balanced((0.5 * np.eye(2), 0.5 * np.eye(2)), np.eye(2), t)


positive = st.floats(1e-300, 1e300)
times = st.floats(0.0, 1e300)


@given(y=positive, p0=positive, t=times)
def test_scalar_balanced_n2_is_a_number_between_start_and_target(y, p0, t):
    value = float(exact.scalar_balanced_n2(y, p0, t))
    # π(t) moves monotonically from π_0 to y; 1e-12 relative: rounding of the log-space form.
    assert not math.isnan(value)
    assert min(y, p0) * (1 - 1e-12) <= value <= max(y, p0) * (1 + 1e-12)


@given(s=positive, u0=positive, t=times)
def test_saxe_mode_is_a_number_between_start_and_target(s, u0, t):
    value = float(exact.saxe_mode(s, u0, t))
    assert not math.isnan(value)
    assert min(s, u0) * (1 - 1e-12) <= value <= max(s, u0) * (1 + 1e-12)


@given(y=st.floats(0.1, 10.0), p0=st.floats(0.01, 10.0), t=st.floats(0.0, 10.0))
def test_stable_forms_agree_with_the_textbook_formulas(y, p0, t):
    # 1e-13 relative: a few roundings in exp/log of arguments ≲ 200.
    assert exact.scalar_balanced_n2(y, p0, t) == pytest.approx(y / (1 + (y / p0 - 1) * math.exp(-2 * y * t)), rel=1e-13)
    e = math.exp(2 * y * t)
    assert exact.saxe_mode(y, p0, t) == pytest.approx(y * e / (e - 1 + y / p0), rel=1e-13)


def test_two_layer_closed_form_refuses_times_beyond_float64():
    w0 = (0.5 * np.eye(2), 0.5 * np.eye(2))
    assert np.all(np.isfinite(exact.two_layer_lambda_balanced(w0, np.eye(2), 100.0)))
    with pytest.raises(ValueError, match="too large for the closed form"):
        exact.two_layer_lambda_balanced(w0, np.eye(2), 1e6)
