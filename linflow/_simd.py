"""Eight-lane float64 vectors for the Numba CPU engine.

The engine (``linflow/_descent_numba.py``) stores a chunk of 8 trajectories with the trajectory
index innermost, so every matrix entry of the chunk is one 64-byte vector of 8 lanes. This
module gives numba a value type for such a vector, :data:`vec8` (LLVM ``<8 x double>``, one
AVX-512 register), and the handful of lane-wise operations the kernels need, as intrinsics that
emit the LLVM vector instructions directly. The kernels then say what they mean (``s =
vfma(a, b, s)``: eight fused multiply-adds) instead of spelling out 8 scalar lanes and hoping
that LLVM's SLP vectorizer packs them. numba then types and lowers 8× fewer variables: with
this module (and :func:`borrow`) the engine's first compilation went from 14 s to 7 s and the
canonical benchmark from 37% to 57–61% of the dgemm ceiling (``scripts/bench_descent.py``).
Without AVX-512, LLVM splits each ``vec8`` over narrower registers: same results, fewer lanes
per instruction.

Every operation is IEEE float64 lane by lane, without fast-math flags: NaN and Inf propagate
exactly as in scalar code (divergence detection depends on it, theory.md §7). :func:`vfma` and
:func:`vfnma` round once (``llvm.fma``), as BLAS does.
Loads and stores are unaligned-safe (alignment 8) and unchecked: the kernels own their
indexing, as numba's own array access does without ``boundscheck``.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

__all__ = [
    "vec8", "vload", "vstore", "vput", "vbroadcast", "ventry", "vzero", "vsplat", "vfma", "vfnma",
    "vadd", "vsub", "vmul", "vdiv", "vsqrt", "vmax", "vmax_nan", "prefer_wide_vectors", "borrow",
]

_F64 = ir.DoubleType()
_V8 = ir.VectorType(_F64, 8)


class Vec8Type(types.Type):
    """numba type of 8 float64 lanes held in one SIMD value."""

    def __init__(self):
        super().__init__(name="vec8")


vec8 = Vec8Type()


@register_model(Vec8Type)
class _Vec8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _V8)


def _float64_c(array) -> bool:
    """Typing guard of the memory intrinsics: they address C-contiguous float64 data."""
    return isinstance(array, types.Array) and array.dtype == types.float64 and array.layout == "C"


def _element_pointer(context, builder, array_type, array, index):
    """Address of flat element ``index`` of a C-contiguous array (any dimension)."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index])


def _lanes_pointer(context, builder, array_type, array, index):
    """``<8 x double>*`` at flat element ``index``."""
    return builder.bitcast(_element_pointer(context, builder, array_type, array, index), _V8.as_pointer())


def _load_lanes(context, builder, array_type, array, index):
    return builder.load(_lanes_pointer(context, builder, array_type, array, index), align=8)


def _load_broadcast(context, builder, array_type, array, index):
    return _splat(builder, builder.load(_element_pointer(context, builder, array_type, array, index)))


def _fnma(builder, a, b, c):
    """``c − a·b`` rounded once: ``llvm.fma(−a, b, c)``."""
    return builder.call(_declare(builder, "llvm.fma.v8f64", 3), [builder.fneg(a), b, c])


def _declare(builder, name, n_args):
    fnty = ir.FunctionType(_V8, [_V8] * n_args)
    return cgutils.get_or_insert_function(builder.module, fnty, name)


def _splat(builder, scalar):
    lane0 = builder.insert_element(ir.Constant(_V8, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), 8), [0] * 8)
    return builder.shuffle_vector(lane0, ir.Constant(_V8, ir.Undefined), zeros)


@intrinsic
def vload(typingctx, array, index):
    """The 8 lanes ``array.flat[index : index + 8]`` (float64, C-contiguous)."""
    if not _float64_c(array):
        return None

    def codegen(context, builder, sig, args):
        return _load_lanes(context, builder, sig.args[0], args[0], args[1])

    return vec8(array, index), codegen


@intrinsic
def vstore(typingctx, array, index, value):
    """``array.flat[index : index + 8] = value``."""
    if not _float64_c(array):
        return None

    def codegen(context, builder, sig, args):
        builder.store(args[2], _lanes_pointer(context, builder, sig.args[0], args[0], args[1]), align=8)
        return context.get_dummy_value()

    return types.none(array, index, value), codegen


@intrinsic
def vput(typingctx, array, index, value, step, current, rate):
    """Store an output entry: ``array.flat[index : index + 8] = value`` or, when ``step`` is
    true, the gradient-descent update ``current[index : index + 8] − rate·value`` (one
    rounding). An intrinsic rather than a jitted helper: a call that takes arrays costs numba
    reference-count calls, which spill every vector register.
    """
    if not (_float64_c(array) and _float64_c(current)):
        return None

    def codegen(context, builder, sig, args):
        out, index, value, step, current, rate = args
        ptr = _lanes_pointer(context, builder, sig.args[0], out, index)
        with builder.if_then(step):
            cur = _load_lanes(context, builder, sig.args[4], current, index)
            builder.store(_fnma(builder, rate, value, cur), ptr, align=8)
        with builder.if_then(builder.not_(step)):
            builder.store(value, ptr, align=8)
        return context.get_dummy_value()

    return types.none(array, index, vec8, types.boolean, current, vec8), codegen


@intrinsic
def vbroadcast(typingctx, array, index):
    """``array.flat[index]`` in all 8 lanes (one operand shared by every trajectory)."""
    if not _float64_c(array):
        return None

    def codegen(context, builder, sig, args):
        return _load_broadcast(context, builder, sig.args[0], args[0], args[1])

    return vec8(array, index), codegen


@intrinsic
def ventry(typingctx, array, entry):
    """Matrix entry number ``entry`` of an operand, as 8 lanes, chosen by the operand's type:
    a chunk buffer (1-D, lanes innermost) gives its own 8 lanes at ``8·entry``; an array shared
    by every trajectory (2-D, e.g. the data X) gives its flat element ``entry`` broadcast.

    One product kernel thus serves both operands; numba compiles a version for each type.
    """
    if not _float64_c(array):
        return None
    shared = array.ndim == 2

    def codegen(context, builder, sig, args):
        if shared:
            return _load_broadcast(context, builder, sig.args[0], args[0], args[1])
        index = builder.mul(args[1], ir.Constant(args[1].type, 8))
        return _load_lanes(context, builder, sig.args[0], args[0], index)

    return vec8(array, entry), codegen


@intrinsic
def vsplat(typingctx, scalar):
    """A float64 scalar in all 8 lanes."""

    def codegen(context, builder, sig, args):
        return _splat(builder, args[0])

    return vec8(types.float64), codegen


@intrinsic
def vzero(typingctx):
    """``+0.0`` in all 8 lanes."""

    def codegen(context, builder, sig, args):
        return ir.Constant(_V8, [0.0] * 8)

    return vec8(), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a·b + c``, rounded once."""

    def codegen(context, builder, sig, args):
        return builder.call(_declare(builder, "llvm.fma.v8f64", 3), args)

    return vec8(vec8, vec8, vec8), codegen


@intrinsic
def vfnma(typingctx, a, b, c):
    """``c − a·b``, rounded once."""

    def codegen(context, builder, sig, args):
        return _fnma(builder, *args)

    return vec8(vec8, vec8, vec8), codegen


def _binary(op_name: str, doc: str):
    @intrinsic
    def op(typingctx, a, b):
        def codegen(context, builder, sig, args):
            return getattr(builder, op_name)(args[0], args[1])

        return vec8(vec8, vec8), codegen

    op.__doc__ = doc
    return op


vadd = _binary("fadd", "``a + b``.")
vsub = _binary("fsub", "``a − b``.")
vmul = _binary("fmul", "``a · b``.")
vdiv = _binary("fdiv", "``a / b``.")


@intrinsic
def vsqrt(typingctx, a):
    """``√a`` (correctly rounded, NaN for negative lanes)."""

    def codegen(context, builder, sig, args):
        return builder.call(_declare(builder, "llvm.sqrt.v8f64", 1), args)

    return vec8(vec8), codegen


@intrinsic
def vmax(typingctx, a, b):
    """``b if b > a else a`` lane by lane: Python's ``max(a, b)`` (a NaN ``b`` keeps ``a``)."""

    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">", args[1], args[0]), args[1], args[0])

    return vec8(vec8, vec8), codegen


@intrinsic
def vmax_nan(typingctx, a, b):
    """``max(a, b)`` lane by lane, NaN where either lane is NaN (NumPy's ``maximum``)."""

    def codegen(context, builder, sig, args):
        a, b = args
        larger = builder.select(builder.fcmp_ordered(">", b, a), b, a)
        # a + b is NaN exactly where a or b is: select it on unordered lanes.
        return builder.select(builder.fcmp_unordered("uno", a, b), builder.fadd(a, b), larger)

    return vec8(vec8, vec8), codegen


@intrinsic
def prefer_wide_vectors(typingctx):
    """Mark the enclosing compiled function ``"prefer-vector-width"="512"``.

    LLVM's tuning for recent Intel server cores prefers 256-bit vectors even where AVX-512
    exists, and would split every ``vec8`` into two halves; with 512-bit registers (8 lanes in
    one register) the canonical benchmark ran ~5% faster here (1.67 s against 1.74 s, full
    metrics, two threads). The attribute is LLVM's own (clang's ``-mprefer-vector-width``);
    it changes the choice of instructions, not the arithmetic, and is ignored on CPUs without
    AVX-512. llvmlite validates attribute names against a fixed list, hence the plain
    ``set.add``.
    """

    def codegen(context, builder, signature, args):
        set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def borrow(typingctx, array):
    """The same array without its owner: a view whose meminfo is null.

    numba increments and decrements an array's reference count (an atomic operation on the
    owner's count) around every call that passes it; for the engine's small kernels, called
    ~20 times per GD step, that was a measurable share of the time, and with several threads
    the shared inputs' counts bounced between cores. With a null meminfo the runtime skips the
    count. The caller must keep the owning array alive while the view is in use.
    """

    def codegen(context, builder, sig, args):
        view = context.make_array(sig.args[0])(context, builder, args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return array(array), codegen
