"""Scalar deep network f(w) = ½(w_1⋯w_N − y)²: the facts of theory/scalar against the model."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linflow import DeepLinearNetwork, Problem


def _scalar(depth, y):
    return Problem(DeepLinearNetwork((1,) * (depth + 1)), target=[[y]])


def _weights(w):
    return tuple(np.array([[x]]) for x in w)


@given(st.integers(1, 6), st.floats(-2, 2), st.lists(st.floats(0.2, 1.5), min_size=6, max_size=6), st.integers(0, 63))
def test_gradient_and_hessian_entries(depth, y, mags, signs):
    w = np.array([m * (-1 if signs >> i & 1 else 1) for i, m in enumerate(mags[:depth])])
    prob = _scalar(depth, y)
    pi = np.prod(w)
    pm = np.array([np.prod(np.delete(w, i)) for i in range(depth)])
    grad = np.array([g[0, 0] for g in prob.gradient(_weights(w))])
    assert np.allclose(grad, (pi - y) * pm, rtol=1e-13, atol=1e-14)
    hess = prob.hessian(_weights(w))
    expected = np.outer(pm, pm)
    for i in range(depth):
        for j in range(depth):
            if i != j:
                expected[i, j] += (pi - y) * np.prod(np.delete(w, [i, j]))
    assert np.allclose(hess, expected, rtol=1e-12, atol=1e-13)


@given(st.integers(2, 6), st.floats(0.3, 3.0), st.lists(st.floats(0.5, 2.0), min_size=6, max_size=6))
def test_sharpness_at_minima_and_its_minimum_at_balanced_point(depth, y, mags):
    # A global minimum: scale free magnitudes so their product is y.
    w = np.array(mags[:depth])
    w *= (y / np.prod(w)) ** (1.0 / depth)
    prob = _scalar(depth, y)
    s = prob.sharpness(_weights(w))
    assert s == pytest.approx(y**2 * np.sum(1 / w**2), rel=1e-10)
    balanced = np.full(depth, y ** (1.0 / depth))
    s_min = depth * abs(y) ** (2 * (depth - 1) / depth)
    assert prob.sharpness(_weights(balanced)) == pytest.approx(s_min, rel=1e-10)
    # AM–GM: every minimum is at least as sharp as the balanced one (rounding slack 1e-10).
    assert s >= s_min * (1 - 1e-10)
