"""Loss objects against independent computations: complex-step and central differences,
MatrixCompletion ≡ MatrixSensing with indicator measurements, batching, stability, validation."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from loss_data import LOSS_KINDS, draw_loss

from linflow import losses as ll

# Complex-step derivatives f'(x)·v = Im f(x + ihv)/h have no subtractive cancellation: with
# h = 1e-30 they are exact to rounding, so 1e-12 relative only allows a few ulps of summation.
_COMPLEX_STEP = 1e-30
_COMPLEX_STEP_RTOL = 1e-12
# Central differences with h = 1e-5 on draws with entries O(1): truncation h²|f'''|/6 ≈ 1e-10
# and rounding ε|f|/h ≈ 1e-11; 1e-6 relative keeps a wide margin, while a wrong factor or sign
# in a gradient or HVP gives an O(1) relative error.
_FD_STEP = 1e-5
_FD_RTOL = 1e-6

shapes = st.tuples(
    st.integers(1, 4), st.integers(1, 4), st.integers(1, 6), st.sampled_from([(), (3,), (2, 2)]),
    st.integers(0, 2**32 - 1),
)


def _draw(kind, d0, dn, m, rng):
    """A loss of ``kind`` with data for widths (d0, dn) and m samples / measurements."""
    return draw_loss(kind, rng, d0, dn, m)


def _drawn(kind, d0, dn, m, seed):
    """``(loss, dn, rng)``: :func:`_draw` from a fresh generator (d_N = 1 for the logistic loss)
    and that generator, to draw the test points next."""
    dn = 1 if kind == "logistic" else dn
    rng = np.random.default_rng(seed)
    return _draw(kind, d0, dn, m, rng), dn, rng


ALL = list(LOSS_KINDS)
# Implemented with operations that are complex-analytic (no max/logaddexp/float()).
COMPLEX_SAFE = ["whitened", "regression", "sensing", "completion"]


def _inner(a, b):
    return np.sum(a * b, axis=(-2, -1))


@pytest.mark.parametrize("kind", COMPLEX_SAFE)
@given(shape=shapes)
def test_gradient_matches_complex_step(kind, shape):
    d0, dn, m, batch, seed = shape
    rng = np.random.default_rng(seed)
    loss = _draw(kind, d0, dn, m, rng)
    E, V = rng.standard_normal(batch + (dn, d0)), rng.standard_normal(batch + (dn, d0))
    derivative = np.imag(loss.value(E + 1j * _COMPLEX_STEP * V)) / _COMPLEX_STEP
    analytic = _inner(loss.gradient(E), V)
    scale = np.sum(np.abs(loss.gradient(E) * V), axis=(-2, -1)) + 1e-300
    assert np.all(np.abs(derivative - analytic) <= _COMPLEX_STEP_RTOL * scale)
    # HVP: complex step on the gradient.
    hvp_cs = np.imag(loss.gradient(E + 1j * _COMPLEX_STEP * V)) / _COMPLEX_STEP
    np.testing.assert_allclose(loss.hvp(E, V), hvp_cs, rtol=_COMPLEX_STEP_RTOL, atol=1e-15)


@pytest.mark.parametrize("kind", ALL)
@given(shape=shapes)
def test_gradient_and_hvp_match_central_differences(kind, shape):
    d0, dn, m, batch, seed = shape
    loss, dn, rng = _drawn(kind, d0, dn, m, seed)
    E, V = rng.standard_normal(batch + (dn, d0)), rng.standard_normal(batch + (dn, d0))
    value = loss.value(E)
    assert np.shape(value) == batch
    fd = (loss.value(E + _FD_STEP * V) - loss.value(E - _FD_STEP * V)) / (2 * _FD_STEP)
    grad = loss.gradient(E)
    assert grad.shape == E.shape
    scale = 1.0 + np.abs(value) + np.sum(np.abs(grad * V), axis=(-2, -1))
    assert np.all(np.abs(fd - _inner(grad, V)) <= _FD_RTOL * scale)
    fd_hvp = (loss.gradient(E + _FD_STEP * V) - loss.gradient(E - _FD_STEP * V)) / (2 * _FD_STEP)
    hvp = loss.hvp(E, V)
    assert hvp.shape == E.shape
    assert np.max(np.abs(fd_hvp - hvp)) <= _FD_RTOL * (1.0 + np.max(np.abs(hvp)))


@pytest.mark.parametrize("kind", ALL)
@given(shape=shapes)
def test_batched_equals_one_by_one(kind, shape):
    d0, dn, m, _, seed = shape
    loss, dn, rng = _drawn(kind, d0, dn, m, seed)
    E, V = rng.standard_normal((3, dn, d0)), rng.standard_normal((3, dn, d0))
    batched = (loss.value(E), loss.gradient(E), loss.hvp(E, V))
    for i in range(3):
        single = (loss.value(E[i]), loss.gradient(E[i]), loss.hvp(E[i], V[i]))
        # Same arithmetic per entry up to BLAS blocking: a few ulps.
        for b, s in zip(batched, single):
            np.testing.assert_allclose(b[i], s, rtol=1e-13, atol=1e-15)


@given(shape=shapes)
def test_completion_is_sensing_with_indicator_measurements(shape):
    d0, dn, _, batch, seed = shape
    rng = np.random.default_rng(seed)
    completion = _draw("completion", d0, dn, 1, rng)
    sensing = completion.as_sensing()
    assert sensing.n_measurements == completion.n_observed
    E, V = rng.standard_normal(batch + (dn, d0)), rng.standard_normal(batch + (dn, d0))
    # Both sum the same |Ω| squares in a different order: a few ulps.
    np.testing.assert_allclose(completion.value(E), sensing.value(E), rtol=1e-13)
    np.testing.assert_allclose(completion.gradient(E), sensing.gradient(E), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(completion.hvp(E, V), sensing.hvp(E, V), rtol=1e-13, atol=1e-15)


def test_completion_ignores_values_outside_the_mask():
    mask = np.array([[True, False], [False, True]])
    a = ll.MatrixCompletion(mask, [[1.0, np.nan], [np.nan, 2.0]])
    b = ll.MatrixCompletion(mask, [[1.0, 7.0], [-3.0, 2.0]])
    E = np.arange(4.0).reshape(2, 2)
    assert a.value(E) == b.value(E)
    np.testing.assert_array_equal(a.gradient(E), b.gradient(E))
    assert float(a.value(np.zeros((2, 2)))) == pytest.approx((1.0 + 4.0) / 4.0, rel=1e-15)


def test_logistic_and_cross_entropy_are_stable_for_huge_outputs():
    X = np.array([[1.0, -1.0, 2.0]])
    logistic = ll.Logistic(X, [1, -1, -1])
    for scale in (1e3, 1e300):
        E = np.array([[scale]])
        margins = scale * np.array([1.0, 1.0, -2.0])
        # log(1 + e^{−q}) is e^{−q} for q ≫ 1 and −q for q ≪ −1.
        expected = np.mean(np.where(margins > 0, np.exp(-np.abs(margins)), -margins))
        assert np.isfinite(logistic.value(E))
        assert logistic.value(E) == pytest.approx(expected, rel=1e-14)
        assert np.all(np.isfinite(logistic.gradient(E)))
        assert np.all(np.isfinite(logistic.hvp(E, E)))
    ce = ll.CrossEntropy(np.array([[1.0, -1.0]]), [0, 1])
    E = np.array([[1e300], [-1e300]])
    assert ce.value(E) == 0.0
    assert np.all(np.isfinite(ce.gradient(E)))
    # Equal logits: every sample costs log(C).
    assert ll.CrossEntropy(np.ones((1, 2)), [0, 2]).value(np.zeros((3, 1))) == pytest.approx(np.log(3), rel=1e-15)


def test_end_to_end_finite_difference_hvp_matches_exact():
    rng = np.random.default_rng(1)
    c = rng.standard_normal((2, 3))
    args = (lambda e: float(np.sum(np.cosh(e - c))), lambda e: np.sinh(e - c))
    approx = ll.EndToEnd(*args, name="cosh")
    exact = ll.EndToEnd(*args, lambda e, v: np.cosh(e - c) * v, name="cosh")
    assert not approx.hvp_is_exact and exact.hvp_is_exact
    E, V = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 3))
    # The documented step ε^{1/3} gives about 1e-10 relative accuracy (module docstring); 1e-8
    # leaves a factor 100 while catching any wrong step scaling.
    np.testing.assert_allclose(approx.hvp(E, V), exact.hvp(E, V), rtol=1e-8, atol=1e-8)
    assert np.array_equal(approx.hvp(E[0], np.zeros((2, 3))), np.zeros((2, 3)))


def test_data_are_public_and_read_only():
    loss = ll.Regression(np.ones((2, 3)), np.zeros((1, 3)))
    with pytest.raises(ValueError):
        loss.X[0, 0] = 5.0
    completion = ll.MatrixCompletion(np.eye(2, dtype=bool), np.eye(2))
    with pytest.raises(ValueError):
        completion.mask[0, 1] = True
    sensing = ll.MatrixSensing(np.ones((2, 1, 1)), [1.0, 2.0])
    assert sensing.A.shape == (2, 1, 1) and sensing.b.shape == (2,)
    assert ll.Whitened(np.eye(2)).target.flags.writeable is False


def test_pickled_losses_keep_read_only_data():
    import pickle

    loss = pickle.loads(pickle.dumps(ll.MatrixCompletion(np.eye(2, dtype=bool), np.eye(2))))
    assert not loss.mask.flags.writeable and not loss.values.flags.writeable
    assert loss.value(np.zeros((2, 2))) == pytest.approx(0.5, rel=1e-15)


def test_attributes_describe_each_loss():
    rng = np.random.default_rng(0)
    table = {k: _draw(k, 2, 2, 3, rng) for k in ALL}
    assert {k: loss.kind for k, loss in table.items()} == {k: k for k in ALL}
    assert [k for k in ALL if table[k].acts_on_outputs] == ["regression", "logistic", "cross_entropy"]
    assert [k for k in ALL if table[k].has_constant_hessian] == ["whitened", "regression", "sensing", "completion"]
    assert [k for k in ALL if not table[k].is_convex] == ["end_to_end"]


@pytest.mark.parametrize(
    "build, error, words",
    [
        (lambda: ll.Whitened(np.ones((2, 2), dtype=complex)), TypeError, "target"),
        (lambda: ll.Whitened(np.ones((2, 2), dtype=bool)), TypeError, "target"),
        (lambda: ll.Whitened([[np.inf]]), ValueError, "target must be finite"),
        (lambda: ll.Regression(np.ones((2, 3)), np.ones((1, 4))), ValueError, "Y must have shape"),
        (lambda: ll.Regression(np.ones((2, 0)), np.ones((1, 0))), ValueError, "m ≥ 1"),
        (lambda: ll.MatrixSensing(np.ones((3, 2, 2)), np.ones(2)), ValueError, "b must have"),
        (lambda: ll.MatrixCompletion(np.zeros((2, 2), dtype=bool), np.ones((2, 2))), ValueError, "at least one"),
        (lambda: ll.MatrixCompletion(np.ones((2, 2)), np.ones((2, 2))), TypeError, "mask must be a boolean"),
        (
            lambda: ll.MatrixCompletion(np.eye(2, dtype=bool), [[np.nan, 0.0], [0.0, 1.0]]),
            ValueError,
            "finite on the mask",
        ),
        (
            lambda: ll.MatrixCompletion(np.eye(2, dtype=bool), [[1.0, np.inf], [0.0, 1.0]]),
            ValueError,
            "values must be finite",
        ),
        (lambda: ll.Logistic(np.ones((2, 2)), [1, 0]), ValueError, r"labels must be −1 or \+1"),
        (lambda: ll.Logistic(np.ones((2, 2)), [1, -1, 1]), ValueError, "labels must have shape"),
        (lambda: ll.CrossEntropy(np.ones((2, 2)), [0.0, 1.0]), TypeError, "integer"),
        (lambda: ll.CrossEntropy(np.ones((2, 2)), [0, -1]), ValueError, "≥ 0"),
        (lambda: ll.CrossEntropy(np.ones((2, 2)), [0, 3], n_classes=3), ValueError, r"\[0, 3\)"),
        (lambda: ll.EndToEnd(1.0, lambda e: e), TypeError, "value must be callable"),
        (lambda: ll.EndToEnd(lambda e: 0.0, lambda e: e, shape=(0, 2)), ValueError, "shape"),
    ],
)
def test_bad_data_are_refused_with_the_argument_named(build, error, words):
    with pytest.raises(error, match=words):
        build()


def test_check_widths_names_the_mismatch():
    with pytest.raises(ValueError, match="X fixes the input width to 3"):
        ll.Regression(np.ones((3, 2)), np.ones((1, 2))).check_widths(2, 1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, d_N\) = \[0, 2\)"):
        ll.CrossEntropy(np.ones((1, 2)), [0, 2]).check_widths(1, 2)
    with pytest.raises(ValueError, match="labels .a scalar output. fixes the output width to 1"):
        ll.Logistic(np.ones((1, 2)), [1, -1]).check_widths(1, 2)
    ll.MatrixSensing(np.ones((1, 2, 3)), [0.0]).check_widths(3, 2)
