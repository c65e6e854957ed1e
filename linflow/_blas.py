"""BLAS ``dgemm`` and ``dsyrk`` callable from numba-compiled code, on row-major (C) arrays.

numba's own ``np.dot`` reaches the same BLAS but only as ``C = A·B`` on whole arrays, with one
compiled instance per combination of layouts; a GD step wants ``C ← C − η·A·Bᵀ`` on
sub-matrices of one flat parameter vector, and the Gram matrices of the balancedness monitor
want ``dsyrk`` (half the flops of ``dgemm``). The routines are SciPy's
(:mod:`scipy.linalg.cython_blas`, 32-bit integers); their addresses are passed to the kernels
as plain integers (:func:`blas_addresses`), so nothing process-specific is compiled in and the
kernels stay cacheable.

Row-major ``X`` (``rows × cols``, row stride ``ld``) is column-major ``Xᵀ`` with leading
dimension ``ld``; each wrapper below calls the column-major routine on the transposed problem.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["blas_addresses", "gemm", "syrk"]

_I32 = ir.IntType(32)
_I8 = ir.IntType(8)
_F64 = ir.DoubleType()
_P = ir.IntType(8).as_pointer()


@cache
def _address(name: str) -> int:
    from numba.extending import get_cython_function_address

    return get_cython_function_address("scipy.linalg.cython_blas", name)


def blas_addresses() -> np.ndarray:
    """``[dgemm, dsyrk]`` entry points of SciPy's BLAS, as int64 for the kernels."""
    return np.array([_address("dgemm"), _address("dsyrk")], dtype=np.int64)


def _slot(builder, value):
    """A stack slot holding ``value`` (Fortran BLAS takes every argument by reference)."""
    return builder.bitcast(cgutils.alloca_once_value(builder, value), _P)


def _int_slot(builder, value):
    return _slot(builder, builder.trunc(value, _I32))


def _char_slot(builder, value):
    return _slot(builder, builder.trunc(value, _I8))


def _data(context, builder, array_type, array, offset):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [offset]), _P)


def _c_float64(array) -> bool:
    return isinstance(array, types.Array) and array.dtype == types.float64 and array.layout == "C"


@intrinsic
def gemm(typingctx, fn, trans_a, trans_b, m, n, k, alpha, a, oa, lda, b, ob, ldb, beta, c, oc, ldc):
    """Row-major ``C[m×n] = alpha·op(A)·op(B) + beta·C`` (``op(A)`` m×k, ``op(B)`` k×n).

    ``A`` starts at flat element ``oa`` of ``a`` with row stride ``lda`` (its stored shape is
    ``m × k``, or ``k × m`` when ``trans_a``); likewise ``B``, ``C``. ``fn``: the address of
    ``dgemm`` (:func:`blas_addresses`). Calls the column-major ``Cᵀ = op(B)ᵀ·op(A)ᵀ``.
    """
    if not (_c_float64(a) and _c_float64(b) and _c_float64(c)):
        return None
    sig = types.void(fn, trans_a, trans_b, m, n, k, alpha, a, oa, lda, b, ob, ldb, beta, c, oc, ldc)

    def codegen(context, builder, signature, args):
        fn_, ta, tb, m_, n_, k_, al, a_, oa_, lda_, b_, ob_, ldb_, be, c_, oc_, ldc_ = args
        at, bt, ct = signature.args[7], signature.args[10], signature.args[14]
        char = lambda flag: _char_slot(builder, builder.select(flag, ir.Constant(_I32, ord("T")), ir.Constant(_I32, ord("N"))))
        fnty = ir.FunctionType(ir.VoidType(), [_P] * 13)
        func = builder.inttoptr(fn_, fnty.as_pointer())
        builder.call(func, [
            char(tb), char(ta), _int_slot(builder, n_), _int_slot(builder, m_), _int_slot(builder, k_),
            _slot(builder, al), _data(context, builder, bt, b_, ob_), _int_slot(builder, ldb_),
            _data(context, builder, at, a_, oa_), _int_slot(builder, lda_), _slot(builder, be),
            _data(context, builder, ct, c_, oc_), _int_slot(builder, ldc_),
        ])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def syrk(typingctx, fn, trans, n, k, alpha, a, oa, lda, beta, c, oc, ldc):
    """Row-major ``C[n×n] = alpha·op(A)·op(A)ᵀ + beta·C`` on the lower triangle of ``C`` (row ≥ column).

    ``op(A) = A`` (stored ``n × k``) or, with ``trans``, ``Aᵀ`` (stored ``k × n``): ``W Wᵀ`` of a
    row-major ``W`` is ``trans=False``, ``WᵀW`` is ``trans=True``. ``fn``: the address of
    ``dsyrk``. Calls the column-major routine on the upper triangle of ``Cᵀ``.
    """
    if not (_c_float64(a) and _c_float64(c)):
        return None
    sig = types.void(fn, trans, n, k, alpha, a, oa, lda, beta, c, oc, ldc)

    def codegen(context, builder, signature, args):
        fn_, tr, n_, k_, al, a_, oa_, lda_, be, c_, oc_, ldc_ = args
        at, ct = signature.args[5], signature.args[9]
        # Row-major A (n×k) is column-major Aᵀ: A·Aᵀ = (Aᵀ)ᵀ(Aᵀ) is column-major trans "T".
        flag = builder.select(tr, ir.Constant(_I32, ord("N")), ir.Constant(_I32, ord("T")))
        fnty = ir.FunctionType(ir.VoidType(), [_P] * 10)
        func = builder.inttoptr(fn_, fnty.as_pointer())
        builder.call(func, [
            _char_slot(builder, ir.Constant(_I32, ord("U"))), _char_slot(builder, flag), _int_slot(builder, n_),
            _int_slot(builder, k_), _slot(builder, al), _data(context, builder, at, a_, oa_),
            _int_slot(builder, lda_), _slot(builder, be), _data(context, builder, ct, c_, oc_),
            _int_slot(builder, ldc_),
        ])
        return context.get_dummy_value()

    return sig, codegen
