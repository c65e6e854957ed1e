"""The 8-lane vector intrinsics of the numba engine (linflow._simd), lane by lane."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from linflow._simd import (
    borrow,
    vadd,
    vbroadcast,
    vdiv,
    vfma,
    vfnma,
    vload,
    vmax,
    vmul,
    vput,
    vsplat,
    vsqrt,
    vstore,
    vsub,
    vzero,
)


@njit(cache=False)
def _arith(a, b, c, out):
    x, y, z = vload(a, 0), vload(b, 0), vload(c, 0)
    vstore(out, 0, vfma(x, y, z))
    vstore(out, 8, vfnma(x, y, z))
    vstore(out, 16, vadd(x, y))
    vstore(out, 24, vsub(x, y))
    vstore(out, 32, vmul(x, y))
    vstore(out, 40, vdiv(x, y))
    vstore(out, 48, vsqrt(x))
    vstore(out, 56, vmax(x, y))
    vstore(out, 64, vadd(vzero(), vsplat(2.5)))
    vstore(out, 72, vbroadcast(c, 3))


def test_lanewise_arithmetic_matches_numpy_bit_for_bit():
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(8) for _ in range(3))
    a[1], b[2], a[3], b[4] = np.nan, np.nan, np.inf, 0.0  # IEEE specials propagate per lane
    out = np.empty(80)
    with np.errstate(all="ignore"):
        _arith(a, b, c, out)
        # fma rounds once, NumPy's a·b + c twice: the two differ by at most one rounding of a·b
        # and two of the sum, ≤ 2ε(|a·b| + |c|) with ε = 2⁻⁵³ (2.2e-16 each side); specials
        # (NaN, Inf) must come out the same.
        bound = 4.5e-16 * (np.abs(a * b) + np.abs(c))
        for got, want in [(out[0:8], a * b + c), (out[8:16], c - a * b)]:
            finite = np.isfinite(want)
            np.testing.assert_array_equal(got[~finite], want[~finite])
            assert np.all(np.abs(got - want)[finite] <= bound[finite])
        for got, want in [(out[16:24], a + b), (out[24:32], a - b), (out[32:40], a * b),
                          (out[40:48], a / b), (out[48:56], np.sqrt(a))]:
            np.testing.assert_array_equal(got, want)
    # vmax is Python's max(x, y): y only where y > x, so a NaN y keeps x and a NaN x stays
    want = np.array([y if y > x else x for x, y in zip(a, b)])
    np.testing.assert_array_equal(out[56:64], want)
    assert np.isnan(out[57]) and out[58] == a[2]
    np.testing.assert_array_equal(out[64:72], 2.5)
    np.testing.assert_array_equal(out[72:80], c[3])


def test_fused_multiply_add_rounds_once():
    # (1 + 2⁻³⁰)² − (1 + 2⁻²⁹) = 2⁻⁶⁰ exactly; a separate multiply rounds the square and loses it.
    e = 2.0**-30
    a = np.full(8, 1.0 + e)
    c = np.full(8, -(1.0 + 2 * e))
    out = np.empty(80)
    _arith(a, a, c, out)
    np.testing.assert_array_equal(out[0:8], 2.0**-60)


@njit(cache=False)
def _put_both(out, cur, rate, step):
    vput(out, 8, vload(cur, 0), step, cur, vload(rate, 0))


def test_put_stores_value_or_gradient_step():
    cur = np.arange(16.0)
    rate = np.full(8, 0.5)
    out = np.zeros(16)
    _put_both(out, cur, rate, False)
    np.testing.assert_array_equal(out[8:], cur[:8])
    np.testing.assert_array_equal(out[:8], 0.0)
    _put_both(out, cur, rate, True)  # cur[8:16] − 0.5·cur[0:8]
    np.testing.assert_array_equal(out[8:], cur[8:] - 0.5 * cur[:8])


@njit(cache=False)
def _write_through_borrowed(a):
    view = borrow(a)
    view[3] = 7.0
    return view.shape[0], view.ctypes.data == a.ctypes.data


def test_borrowed_view_is_the_same_memory():
    a = np.zeros(5)
    n, same = _write_through_borrowed(a)
    assert n == 5 and same and a[3] == 7.0


@njit(cache=False)
def _load_first(a, out):
    vstore(out, 0, vload(a, 0))


def test_memory_intrinsics_accept_only_contiguous_float64():
    # They reinterpret the data pointer as 8 doubles: anything else must fail at typing.
    out = np.zeros(8)
    _load_first(np.arange(8.0), out)
    np.testing.assert_array_equal(out, np.arange(8.0))
    for bad in (np.arange(8), np.arange(16.0)[::2], np.arange(8, dtype=np.float32)):
        with pytest.raises(TypingError):
            _load_first(bad, out)
