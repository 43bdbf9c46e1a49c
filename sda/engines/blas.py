"""Deterministic matrix products for the kernels: the same bits on every x86-64 CPU.

:func:`product`, :func:`product_t`, :func:`add_product_tn`, :func:`dot` and :func:`dot_wide` write the order of
every sum into the program, so the bits are the same on every x86-64 CPU (SSE2, AVX2, AVX-512), whatever the
vector width Numba compiles for; they run on one thread.  At batch 20 in float32 they are as fast as OpenBLAS on
one thread on this machine (they skip the zeros of sparse inputs; they need FMA for that speed, emulated exactly
where the CPU has none); float64 is 10-30 % slower.  They replaced OpenBLAS, whose results depend on the CPU (its
kernels and blocking are picked per CPU) and on its thread count (``docs/determinism.md``).
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload


# ---------------------------------------------------------------------------------------------------------------
# Deterministic products: the same bits on every x86-64 CPU, whatever Numba compiles for
#
# Each sum below has a fixed order written into the program.  dot() (batch 1) keeps 4 vectors of ``lanes``
# partial sums (16 for float32, 8 for float64: 64 bytes each): chunk c of ``lanes`` terms (the last one
# zero-padded) goes to vector c % 4, lane by lane; then (v0 + v1) + (v2 + v3) and a halving tree over the
# lanes.  product_t()'s dot products are the same with one vector and the leftover terms one by one.
# product() and add_product_tn() sum each element's terms one after the other, in the order of the inner index
# (zeros may be skipped: adding a 0 term to a sum that starts at +0 changes nothing).  The partial sums are
# LLVM vectors, which LLVM splits into whatever registers the CPU has (4 SSE, 2 AVX or 1 AVX-512 register for
# 16 floats): the same lane-wise arithmetic everywhere.  Nothing carries fast-math flags, so LLVM may neither
# reassociate a sum nor contract a multiply and an add into an FMA; where an FMA is wanted (float32 terms of
# the batch > 1 products) it is explicit and exact (FUSED_FLOAT32 below); no library is called.
# ---------------------------------------------------------------------------------------------------------------

_FLOATS = (types.float32, types.float64)
_LANES = {types.float32: 16, types.float64: 8}


def lanes(x):
    """The number of partial sums of the deterministic products for the dtype of array ``x``."""
    return 16 if x.dtype == np.float32 else 8


@overload(lanes)
def _lanes(x):
    count = _LANES.get(getattr(x, "dtype", None))
    if count is None:
        return None
    return lambda x: count


def _float_array(x, ndim):
    return isinstance(x, types.Array) and x.ndim == ndim and x.dtype in _FLOATS


def _vector(context, dtype):
    element = context.get_value_type(dtype)
    return element, ir.VectorType(element, _LANES[dtype])


def _splat(builder, value, vector_type):
    i32 = ir.IntType(32)
    one = builder.insert_element(ir.Constant(vector_type, ir.Undefined), value, ir.Constant(i32, 0))
    return builder.shuffle_vector(one, ir.Constant(vector_type, ir.Undefined),
                                  ir.Constant(ir.VectorType(i32, vector_type.count), [0] * vector_type.count))


def _row(builder, array, row):
    """Pointer to ``array[row, 0]`` (rows may be strided; elements within a row are contiguous)."""
    stride = cgutils.unpack_tuple(builder, array.strides)[0]
    byte = builder.gep(builder.bitcast(array.data, ir.IntType(8).as_pointer()), [builder.mul(row, stride)])
    return builder.bitcast(byte, array.data.type)


def _load_vector(builder, pointer, index, vector_type, align):
    return builder.load(builder.bitcast(builder.gep(pointer, [index]), vector_type.as_pointer()), align=align)


def _store_vector(builder, value, pointer, index, align):
    builder.store(value, builder.bitcast(builder.gep(pointer, [index]), value.type.as_pointer()), align=align)


#: float32 terms of the batch > 1 products are added with a fused multiply-add, ``fma(a, b, sum)``: one rounding,
#: which IEEE 754 defines exactly, so it is the same on every CPU.  Where the CPU has FMA (x86-64 since 2013) it is
#: the instruction; elsewhere an exact emulation in float64 (below): the same bits, several times slower.  Not libm's
#: ``fma``: glibc's software ``fma`` (its path for CPUs without FMA, forced with
#: GLIBC_TUNABLES=glibc.cpu.hwcaps=-FMA,-AVX2) differed from the instruction on 10 of 100 000 random float64
#: arguments, by up to 16 ulp (docs/determinism.md).  float64 terms are multiplied and added (two roundings): an
#: exact float64 fma without the instruction would need double-double arithmetic.
FUSED_FLOAT32 = True


def _target_has_fma(context):
    """Whether the code being compiled may use the FMA instruction (Numba's target features; NUMBA_CPU_NAME=generic
    has none).  A wrong False only makes the products slower, never different."""
    features = getattr(context.codegen(), "_tm_features", "") or ""
    return "+fma" in features.split(",")


def _emulated_fma_float32(builder, a, b, c):
    """fma(a, b, c) for float32 (vectors) without the instruction, exactly: a * b is exact in float64; the float64
    sum s = a * b + c is rounded to odd (when inexact, the float64 next to the exact sum towards zero, with its
    last bit set; the error e of the sum by TwoSum tells the side), and rounding that to float32 rounds the exact
    sum once (Boldo and Melquiond, 'Emulation of FMA and correctly rounded sums: proved algorithms using rounding
    to odd', 2008: float64 has more than 24 + 2 bits).  SSE2 operations only (no 64-bit integer compares)."""
    double = ir.DoubleType()
    vector = isinstance(a.type, ir.VectorType)
    wide = ir.VectorType(double, a.type.count) if vector else double
    bits_type = ir.VectorType(ir.IntType(64), a.type.count) if vector else ir.IntType(64)

    def constant(t, value):
        return ir.Constant(t, [value] * t.count) if isinstance(t, ir.VectorType) else ir.Constant(t, value)

    x, y, z = (builder.fpext(v, wide) for v in (a, b, c))
    p = builder.fmul(x, y)
    total = builder.fadd(p, z)
    shifted = builder.fsub(total, p)
    error = builder.fadd(builder.fsub(p, builder.fsub(total, shifted)), builder.fsub(z, shifted))
    bits = builder.bitcast(total, bits_type)
    # towards zero: one ulp less in magnitude when the error has the other sign than the sum (sum rounded away)
    other_sign = builder.lshr(builder.xor(bits, builder.bitcast(error, bits_type)), constant(bits_type, 63))
    odd = builder.or_(builder.sub(bits, other_sign), constant(bits_type, 1))
    inexact = builder.fcmp_ordered("!=", error, constant(wide, 0.0))  # false too when an infinity made it nan
    return builder.fptrunc(builder.bitcast(builder.select(inexact, odd, bits), wide), a.type)


def _multiply_add(context, builder, a, b, c):
    """``a * b + c`` for the batch > 1 products: fused for float32 (FUSED_FLOAT32), rounded twice for float64;
    never left to LLVM to choose."""
    scalar = a.type.element if isinstance(a.type, ir.VectorType) else a.type
    if FUSED_FLOAT32 and isinstance(scalar, ir.FloatType):
        if _target_has_fma(context):
            name = f"v{a.type.count}f32" if isinstance(a.type, ir.VectorType) else "f32"
            fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(a.type, [a.type] * 3),
                                                 "llvm.fma." + name)
            return builder.call(fma, [a, b, c])
        return _emulated_fma_float32(builder, a, b, c)
    return builder.fadd(c, builder.fmul(a, b))


def _reduce_lanes(builder, vector):
    """Lane 0 of the fixed tree: v[l] + v[l + w/2] for l < w/2, w halving from the vector's width to 1."""
    i32 = ir.IntType(32)
    width = vector.type.count
    while width > 1:
        width //= 2
        low = builder.shuffle_vector(vector, vector, ir.Constant(ir.VectorType(i32, width), list(range(width))))
        high = builder.shuffle_vector(vector, vector,
                                      ir.Constant(ir.VectorType(i32, width), list(range(width, 2 * width))))
        vector = builder.fadd(low, high)
    return builder.extract_element(vector, ir.Constant(i32, 0))


def _make_dot(wide, vectors):
    """dot(x, y) with ``vectors`` vectors of ``lanes`` partial sums: x and y are cut into chunks of ``lanes``
    terms, the last one padded with zero terms; chunk c goes to vector c % vectors, lane by lane, in order;
    then the vectors are added pairwise ((v0 + v1) + (v2 + v3)) and the lanes by the tree of _reduce_lanes."""
    def typer(x, y):
        if not (_float_array(x, 1) and _float_array(y, 1) and x.dtype == y.dtype):
            return None
        total_type = types.float64 if wide else x.dtype

        def codegen(context, builder, signature, args):
            xs = context.make_array(signature.args[0])(context, builder, args[0])
            ys = context.make_array(signature.args[1])(context, builder, args[1])
            n = cgutils.unpack_tuple(builder, xs.shape)[0]
            element, vector_type = _vector(context, signature.args[0].dtype)
            total_element = context.get_value_type(total_type)
            total_vector = ir.VectorType(total_element, vector_type.count)
            align = context.get_abi_sizeof(element)
            lanes_ = vector_type.count
            partials = [cgutils.alloca_once_value(builder, ir.Constant(total_vector, None)) for _ in range(vectors)]
            begin = ir.Constant(n.type, 0)

            def add_chunk(partial, vx, vy):
                product = builder.fmul(vx, vy)
                if element != total_element:
                    product = builder.fpext(product, total_vector)
                builder.store(builder.fadd(builder.load(partial), product), partial)

            group = ir.Constant(n.type, lanes_ * vectors)
            grouped = builder.mul(builder.udiv(n, group), group)
            with cgutils.for_range_slice(builder, begin, grouped, group) as (j, _):
                for v, partial in enumerate(partials):
                    jv = builder.add(j, ir.Constant(n.type, v * lanes_))
                    add_chunk(partial, _load_vector(builder, xs.data, jv, vector_type, align),
                              _load_vector(builder, ys.data, jv, vector_type, align))
            # the chunks left (fewer than ``vectors``), the last one zero-padded, into vectors 0, 1, ...
            for v, partial in enumerate(partials):
                start = builder.add(grouped, ir.Constant(n.type, v * lanes_))
                left = builder.sub(n, start)
                with builder.if_then(builder.icmp_signed(">=", left, ir.Constant(n.type, lanes_))):
                    add_chunk(partial, _load_vector(builder, xs.data, start, vector_type, align),
                              _load_vector(builder, ys.data, start, vector_type, align))
                with builder.if_then(builder.and_(builder.icmp_signed(">", left, ir.Constant(n.type, 0)),
                                                  builder.icmp_signed("<", left, ir.Constant(n.type, lanes_)))):
                    # lanes past the end read as zero: a masked load (one instruction with AVX), the same
                    # vector as copying the terms left into a zeroed one
                    i32 = ir.IntType(32)
                    lane = ir.Constant(ir.VectorType(n.type, lanes_), list(range(lanes_)))
                    mask = builder.icmp_signed("<", lane, _splat(builder, left, lane.type))
                    zero = ir.Constant(vector_type, None)
                    masked_load = cgutils.get_or_insert_function(
                        builder.module, ir.FunctionType(vector_type, [vector_type.as_pointer(), i32, mask.type,
                                                                      vector_type]),
                        f"llvm.masked.load.v{lanes_}{'f32' if element == ir.FloatType() else 'f64'}.p0")

                    def load_left(data):
                        pointer = builder.bitcast(builder.gep(data, [start]), vector_type.as_pointer())
                        return builder.call(masked_load, [pointer, ir.Constant(i32, align), mask, zero])

                    add_chunk(partial, load_left(xs.data), load_left(ys.data))
            sums = [builder.load(p) for p in partials]
            while len(sums) > 1:
                sums = [builder.fadd(sums[v], sums[v + 1]) for v in range(0, len(sums), 2)]
            return _reduce_lanes(builder, sums[0])
        return total_type(x, y), codegen

    @intrinsic
    def dot_intrinsic(typingctx, x, y):
        return typer(x, y)
    return dot_intrinsic


#: vectors of sums that :func:`add_rows_block` keeps in registers: 128 float32 or 64 float64 columns
ROWS_BLOCK_VECTORS = 8


@intrinsic
def _add_rows_block(typingctx, acc, x, W, rows, n_rows, first):
    if not (_float_array(acc, 1) and _float_array(x, 1) and _float_array(W, 2)
            and acc.dtype == x.dtype == W.dtype and isinstance(rows, types.Array) and rows.ndim == 1
            and rows.dtype == types.int64 and isinstance(n_rows, types.Integer) and isinstance(first, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        accs, xs, Ws, rs = (context.make_array(t)(context, builder, a) for t, a in zip(signature.args[:4], args[:4]))
        element, vector_type = _vector(context, signature.args[0].dtype)
        lanes_, align = vector_type.count, context.get_abi_sizeof(element)
        intp = context.get_value_type(types.intp)
        count = context.cast(builder, args[4], signature.args[4], types.intp)
        start = context.cast(builder, args[5], signature.args[5], types.intp)
        sums = [cgutils.alloca_once_value(builder, _load_vector(builder, accs.data, ir.Constant(intp, v * lanes_),
                                                                 vector_type, align))
                for v in range(ROWS_BLOCK_VECTORS)]
        with cgutils.for_range(builder, count) as loop:
            i = builder.load(builder.gep(rs.data, [loop.index]))
            xi = _splat(builder, builder.load(builder.gep(xs.data, [i])), vector_type)
            row = _row(builder, Ws, i)
            for v, total in enumerate(sums):
                w = _load_vector(builder, row, builder.add(start, ir.Constant(intp, v * lanes_)), vector_type, align)
                builder.store(builder.fadd(builder.load(total), builder.fmul(xi, w)), total)
        for v, total in enumerate(sums):
            _store_vector(builder, builder.load(total), accs.data, ir.Constant(intp, v * lanes_), align)
        return context.get_dummy_value()
    return types.void(acc, x, W, rows, n_rows, first), codegen


@numba.njit(inline="always")
def add_rows_block(acc, x, W, rows, n_rows, first):
    """``acc[j] += x[i] * W[i, first + j]`` for the first ``rows_block(acc)`` columns, for each of the ``n_rows``
    rows i in ``rows``, in that order: each term rounded, then added, as the plain loop does, with the sums kept
    in registers from row to row (a loop over a block of columns per row loads and stores them every time)."""
    return _add_rows_block(acc, x, W, rows, n_rows, first)


@numba.njit(inline="always")
def rows_block(x):
    """The columns :func:`add_rows_block` sums, for arrays of the dtype of ``x``."""
    return ROWS_BLOCK_VECTORS * lanes(x)


DOT_VECTORS = 4  # independent chains of additions: the latency of one would bound a dot product at batch 1


def arithmetic():
    """The choices that fix the bits of these products (the same on every CPU, different if edited): what
    results.json records as ``kernel_arithmetic``, and what ``--resume`` requires to be unchanged."""
    return {"products": "sda.engines.blas (fixed order)", "dot_partial_sum_vectors": DOT_VECTORS,
            "float32_fma": FUSED_FLOAT32}
_dot = _make_dot(False, DOT_VECTORS)
_dot_wide = _make_dot(True, DOT_VECTORS)


@numba.njit(inline="always")
def _contiguous_1d(x):
    return x.shape[0] <= 1 or x.strides[0] == x.itemsize


@numba.njit(inline="always")
def _check_vectors(x, y):
    if x.shape[0] != y.shape[0]:
        raise ValueError("dot: the vectors differ in length")
    if not (_contiguous_1d(x) and _contiguous_1d(y)):
        raise ValueError("dot: the vectors must be contiguous")


@numba.njit(inline="always")
def dot(x, y):
    """``x @ y`` for 1-D float arrays of one dtype, summed in the arrays' dtype in the fixed order above."""
    _check_vectors(x, y)
    return _dot(x, y)


@numba.njit(inline="always")
def dot_wide(x, y):
    """``x @ y`` with each product rounded in the arrays' dtype and summed in float64, in the same order."""
    _check_vectors(x, y)
    return _dot_wide(x, y)


@numba.njit(inline="always")
def dot_states(rows, x):
    """Room for the partial sums of ``rows`` dot products of vectors of the dtype of ``x``, as :func:`dot`."""
    return np.zeros((rows, DOT_VECTORS * lanes(x)), x.dtype)


# A batch-1 thread keeps its part of W (the dA: its columns; finetuning: its rows) in panels of rows_block()
# columns, each stored row after row (a 3-D array P: P[p, i] is the part of row i in panel p), so that each pass
# over a block of columns is one contiguous stream, with the block's vectors in registers.  The functions below
# keep every sum and rounding of the row-major loops.

@intrinsic
def _update_rows_block(typingctx, W, lr, tx, dz, x_next, dh, h, acc):
    if not (_float_array(W, 2) and all(_float_array(v, 1) and v.dtype == W.dtype for v in (tx, dz, x_next, dh, h, acc))
            and lr == W.dtype):
        return None

    def codegen(context, builder, signature, args):
        Ws, txs, dzs, xns, dhs, hs, accs = (context.make_array(t)(context, builder, a) for t, a in
                                            zip(signature.args[:1] + signature.args[2:], args[:1] + args[2:]))
        element, vector_type = _vector(context, signature.args[0].dtype)
        lanes_, align = vector_type.count, context.get_abi_sizeof(element)
        intp = context.get_value_type(types.intp)
        rows = cgutils.unpack_tuple(builder, Ws.shape)[0]
        offsets = [ir.Constant(intp, v * lanes_) for v in range(ROWS_BLOCK_VECTORS)]
        dh_v = [_load_vector(builder, dhs.data, o, vector_type, align) for o in offsets]
        h_v = [_load_vector(builder, hs.data, o, vector_type, align) for o in offsets]
        sums = [cgutils.alloca_once_value(builder, _load_vector(builder, accs.data, o, vector_type, align))
                for o in offsets]
        zero = ir.Constant(element, 0.0)
        with cgutils.for_range(builder, rows) as loop:
            i = loop.index
            a = _splat(builder, builder.fmul(args[1], builder.load(builder.gep(txs.data, [i]))), vector_type)
            c = _splat(builder, builder.fmul(args[1], builder.load(builder.gep(dzs.data, [i]))), vector_type)
            row = _row(builder, Ws, i)
            updated = []
            for o, d, hv in zip(offsets, dh_v, h_v):
                w = builder.fsub(_load_vector(builder, row, o, vector_type, align),
                                 builder.fadd(builder.fmul(a, d), builder.fmul(c, hv)))
                _store_vector(builder, w, row, o, align)
                updated.append(w)
            xn = builder.load(builder.gep(xns.data, [i]))
            with builder.if_then(builder.fcmp_unordered("!=", xn, zero)):  # as ``if xn != 0.0`` (nan included)
                xv = _splat(builder, xn, vector_type)
                for total, w in zip(sums, updated):
                    builder.store(builder.fadd(builder.load(total), builder.fmul(xv, w)), total)
        for o, total in zip(offsets, sums):
            _store_vector(builder, builder.load(total), accs.data, o, align)
        return context.get_dummy_value()
    return types.void(W, lr, tx, dz, x_next, dh, h, acc), codegen


@numba.njit(inline="always")
def update_rows_block(W, lr, tx, dz, x_next, dh, h, acc):
    """A panel of :func:`rows_block` columns (``W``: rows x that many, rows contiguous) through a batch-1 dA update
    and the next step's forward sums, row after row: ``W[i] -= (lr tx[i]) dh + (lr dz[i]) h``, then, where
    ``x_next[i]`` is not 0, ``acc += x_next[i] W[i]`` (the updated row).  Each element rounded as the plain loops
    round it, in the same order; dh, h and the sums stay in registers from row to row (loaded and stored per row,
    they were four of the six memory accesses of each element)."""
    _update_rows_block(W, lr, tx, dz, x_next, dh, h, acc)


def _make_dot_panels(part, rows, wide=False):
    """Dot products of ``rows`` consecutive rows stored in panels, cut in two: ``"head"`` stores their partial sums
    over the panels given into ``states``, ``"tail"`` continues them over the panels given and writes the dot
    products into ``out``.  The terms of row i are ``P[0, i]``,
    ``P[1, i]``, ... ``P[count - 1, i]`` (panels of :func:`rows_block` columns, whole rounds of the DOT_VECTORS
    partial-sum vectors), against ``y[0 : count * rows_block]``: the same partial sums, in the same order, as over
    the row stored whole.
    The rows share each vector of y they load.  ``"whole"``: :func:`dot` of one row (``wide``: :func:`dot_wide`),
    returned."""
    def typer(P, i, count, y, *states_out):
        if not (_float_array(P, 3) and _float_array(y, 1) and P.dtype == y.dtype and isinstance(i, types.Integer)
                and isinstance(count, types.Integer)
                and all(_float_array(a, 2 if k == 0 else 1) and a.dtype == P.dtype for k, a in enumerate(states_out))):
            return None

        def codegen(context, builder, signature, args):
            Ps, ys = (context.make_array(signature.args[k])(context, builder, args[k]) for k in (0, 3))
            ss = context.make_array(signature.args[4])(context, builder, args[4]) if part != "whole" else None
            element, vector_type = _vector(context, signature.args[0].dtype)
            lanes_, align = vector_type.count, context.get_abi_sizeof(element)
            sum_type = ir.VectorType(ir.DoubleType(), lanes_) if wide else vector_type
            intp = context.get_value_type(types.intp)
            first_row = context.cast(builder, args[1], signature.args[1], types.intp)
            panels = context.cast(builder, args[2], signature.args[2], types.intp)
            panel_stride, row_stride = cgutils.unpack_tuple(builder, Ps.strides)[:2]
            byte = ir.IntType(8).as_pointer()
            row_numbers = [builder.add(first_row, ir.Constant(intp, r)) for r in range(rows)]
            starts = [builder.gep(builder.bitcast(Ps.data, byte), [builder.mul(row, row_stride)]) for row in row_numbers]
            state_rows = [_row(builder, ss, row) for row in row_numbers] if part != "whole" else []
            partials = [[cgutils.alloca_once_value(builder, ir.Constant(sum_type, None)) for _ in range(DOT_VECTORS)]
                        for _ in range(rows)]
            if part == "tail":
                for state, row_partials in zip(state_rows, partials):
                    for v, partial in enumerate(row_partials):
                        builder.store(_load_vector(builder, state, ir.Constant(intp, v * lanes_), vector_type, align),
                                      partial)
            with cgutils.for_range(builder, panels) as loop:
                p = loop.index
                terms = [builder.bitcast(builder.gep(start, [builder.mul(p, panel_stride)]), Ps.data.type)
                         for start in starts]
                first = builder.mul(p, ir.Constant(intp, ROWS_BLOCK_VECTORS * lanes_))
                for chunk in range(ROWS_BLOCK_VECTORS):
                    offset = ir.Constant(intp, chunk * lanes_)
                    yv = _load_vector(builder, ys.data, builder.add(first, offset), vector_type, align)
                    for row_terms, row_partials in zip(terms, partials):
                        partial = row_partials[chunk % DOT_VECTORS]
                        product = builder.fmul(_load_vector(builder, row_terms, offset, vector_type, align), yv)
                        if wide:
                            product = builder.fpext(product, sum_type)
                        builder.store(builder.fadd(builder.load(partial), product), partial)
            if part == "whole":
                sums = [builder.load(partial) for partial in partials[0]]
                while len(sums) > 1:
                    sums = [builder.fadd(sums[v], sums[v + 1]) for v in range(0, len(sums), 2)]
                return _reduce_lanes(builder, sums[0])
            for r, (state, row_partials) in enumerate(zip(state_rows, partials)):
                if part == "head":
                    for v, partial in enumerate(row_partials):
                        _store_vector(builder, builder.load(partial), state, ir.Constant(intp, v * lanes_), align)
                    continue
                sums = [builder.load(partial) for partial in row_partials]
                while len(sums) > 1:
                    sums = [builder.fadd(sums[v], sums[v + 1]) for v in range(0, len(sums), 2)]
                outs = context.make_array(signature.args[5])(context, builder, args[5])
                builder.store(_reduce_lanes(builder, sums[0]), builder.gep(outs.data, [ir.Constant(intp, r)]))
            return context.get_dummy_value()
        if part == "whole":
            return (types.float64 if wide else P.dtype)(P, i, count, y), codegen
        return types.void(P, i, count, y, *states_out), codegen

    if part == "whole":
        @intrinsic
        def dot_panels(typingctx, P, i, count, y):
            return typer(P, i, count, y)
    elif part == "head":
        @intrinsic
        def dot_panels(typingctx, P, i, count, y, states):
            return typer(P, i, count, y, states)
    else:
        @intrinsic
        def dot_panels(typingctx, P, i, count, y, states, out):
            return typer(P, i, count, y, states, out)
    return dot_panels


#: rows whose dot products over panels share their loads of y (4: 16 vectors of partial sums in registers)
PANEL_DOT_ROWS = 4
_dot_panels_head_1, _dot_panels_head_n = _make_dot_panels("head", 1), _make_dot_panels("head", PANEL_DOT_ROWS)
_dot_panels_tail_1, _dot_panels_tail_n = _make_dot_panels("tail", 1), _make_dot_panels("tail", PANEL_DOT_ROWS)
_dot_wide_panels = _make_dot_panels("whole", 1, wide=True)


@numba.njit(inline="always")
def dot_panels_head(P, lo, hi, count, y, states):
    """The partial sums of :func:`dot` (:func:`dot_states`) of rows lo..hi-1 of a matrix stored in ``count``
    panels and ``y``, over all the panels' columns, into ``states[lo:hi]``: the first thread's part of dot
    products cut in two."""
    i = lo
    while i + PANEL_DOT_ROWS <= hi:
        _dot_panels_head_n(P, i, count, y, states)
        i += PANEL_DOT_ROWS
    for k in range(i, hi):
        _dot_panels_head_1(P, k, count, y, states)


@numba.njit(inline="always")
def dot_panels_tail(P, lo, hi, count, y, states, out):
    """:func:`dot` of rows lo..hi-1 of a matrix stored in ``count`` panels and ``y``, continuing the partial sums
    ``states[lo:hi]`` of the columns before (:func:`dot_panels_head`), into ``out[0 : hi - lo]``: the same bits as
    the whole dot products."""
    i = lo
    while i + PANEL_DOT_ROWS <= hi:
        _dot_panels_tail_n(P, i, count, y, states, out[i - lo:])
        i += PANEL_DOT_ROWS
    for k in range(i, hi):
        _dot_panels_tail_1(P, k, count, y, states, out[k - lo:])


@numba.njit(inline="always")
def dot_wide_panels(P, i, count, y):
    """:func:`dot_wide` of row i of a matrix stored in ``count`` panels and ``y`` (``count * rows_block`` terms)."""
    return _dot_wide_panels(P, i, count, y)


@intrinsic
def _update_add_rows_block(typingctx, acc, x, W, rows, n_rows, c, delta):
    if not (_float_array(W, 2) and all(_float_array(v, 1) and v.dtype == W.dtype for v in (acc, x, c, delta))
            and isinstance(rows, types.Array) and rows.ndim == 1 and rows.dtype == types.int64
            and isinstance(n_rows, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        accs, xs, Ws, rs, _, cs, ds = (context.make_array(t)(context, builder, a) if isinstance(t, types.Array)
                                       else None for t, a in zip(signature.args, args))
        element, vector_type = _vector(context, signature.args[0].dtype)
        lanes_, align = vector_type.count, context.get_abi_sizeof(element)
        intp = context.get_value_type(types.intp)
        count = context.cast(builder, args[4], signature.args[4], types.intp)
        offsets = [ir.Constant(intp, v * lanes_) for v in range(ROWS_BLOCK_VECTORS)]
        sums = [cgutils.alloca_once_value(builder, _load_vector(builder, accs.data, o, vector_type, align))
                for o in offsets]
        delta_v = [_load_vector(builder, ds.data, o, vector_type, align) for o in offsets]
        zero = ir.Constant(element, 0.0)
        with cgutils.for_range(builder, count) as loop:
            i = builder.load(builder.gep(rs.data, [loop.index]))
            row = _row(builder, Ws, i)
            # "!= 0" as Python has it (true for nan): a row is updated where c[i] is not 0, added where x[i] is not
            ci = builder.load(builder.gep(cs.data, [i]))
            with builder.if_then(builder.fcmp_unordered("!=", ci, zero)):
                c_v = _splat(builder, ci, vector_type)
                for o, d in zip(offsets, delta_v):
                    w = _load_vector(builder, row, o, vector_type, align)
                    _store_vector(builder, builder.fsub(w, builder.fmul(c_v, d)), row, o, align)
            xi = builder.load(builder.gep(xs.data, [i]))
            with builder.if_then(builder.fcmp_unordered("!=", xi, zero)):
                x_v = _splat(builder, xi, vector_type)
                for o, total in zip(offsets, sums):
                    w = _load_vector(builder, row, o, vector_type, align)
                    builder.store(builder.fadd(builder.load(total), builder.fmul(x_v, w)), total)
        for o, total in zip(offsets, sums):
            _store_vector(builder, builder.load(total), accs.data, o, align)
        return context.get_dummy_value()
    return types.void(acc, x, W, rows, n_rows, c, delta), codegen


@numba.njit(inline="always")
def update_add_rows_block(acc, x, W, rows, n_rows, c, delta):
    """A panel of :func:`rows_block` columns (``W``: rows x that many) through a batch-1 finetuning step's
    forward product, with the update the step before left pending: for each of the ``n_rows`` rows i in
    ``rows``, in that order, ``W[i] -= c[i] * delta`` where ``c[i]`` is not 0, then ``acc += x[i] * W[i]`` where
    ``x[i]`` is not 0.  Each product rounded, then subtracted or added, as the plain loops do, with delta and the
    sums in registers from row to row."""
    _update_add_rows_block(acc, x, W, rows, n_rows, c, delta)


def _make_panel(rows, chunks, skip, add):
    """Panels of ``rows`` rows by ``chunks`` vectors of columns of ``A @ W``, over the rows r_start .. r_stop and the
    columns j_start .. j_stop (multiples of the panel): element (r, j) of ``A @ W`` summed over the rows i of W in
    order, then stored into out[r, j], or, with ``add``, ``alpha`` times it added to out[r, j] (``out += alpha *
    A @ W``, as gemm with beta = 1).  With ``skip``, the i where all ``rows`` inputs A[r, i] are zero are left
    out: the same sums (adding a product 0 * w to a sum that starts at +0 changes nothing), faster on sparse A.

    Order of the panels (speed only): ``A @ W`` (W large) goes column by column, so that each column of panels
    of W is read from memory once, and within a column by blocks of K_BLOCK rows of W, every panel of rows
    through one block before the next (the block, 32 kB, stays in the L1 cache for all of them; the sums are
    kept in ``out`` between blocks, which changes no bit: the same multiply-adds on the same values, in the same
    order); ``out += ...`` (out large: the weights, A.T a few rows deep) row by row, so that out is read and
    written in order."""
    @intrinsic
    def panel(typingctx, A, W, out, r_start, r_stop, j_start, j_stop, alpha):
        if not (_float_array(A, 2) and _float_array(W, 2) and _float_array(out, 2) and A.dtype == W.dtype == out.dtype
                and all(isinstance(v, types.Integer) for v in (r_start, r_stop, j_start, j_stop))):
            return None

        def codegen(context, builder, signature, args):
            As, Ws, outs = (context.make_array(t)(context, builder, v) for t, v in zip(signature.args[:3], args[:3]))
            intp = context.get_value_type(types.intp)
            r_start, r_stop, j_start, j_stop = (context.cast(builder, v, t, types.intp)
                                                for v, t in zip(args[3:7], signature.args[3:7]))
            dtype = signature.args[0].dtype
            alpha = context.cast(builder, args[7], signature.args[7], dtype)
            k = cgutils.unpack_tuple(builder, As.shape)[1]
            element, vector_type = _vector(context, dtype)
            align = context.get_abi_sizeof(element)
            sums = [[cgutils.alloca_once(builder, vector_type) for _ in range(chunks)] for _ in range(rows)]
            zero = ir.Constant(element, 0.0)
            scale = _splat(builder, alpha, vector_type)
            row_step = ir.Constant(intp, rows)
            column_step = ir.Constant(intp, chunks * vector_type.count)
            first_row = ir.Constant(intp, 0)

            def one_panel(r0, j0, i_start, i_stop):
                columns = [builder.add(j0, ir.Constant(intp, c * vector_type.count)) for c in range(chunks)]
                out_rows = [_row(builder, outs, builder.add(r0, ir.Constant(intp, r))) for r in range(rows)]

                def start_from_zero():
                    for row_sums in sums:
                        for total in row_sums:
                            builder.store(ir.Constant(vector_type, None), total)

                if add:
                    start_from_zero()
                else:
                    with builder.if_else(builder.icmp_signed("==", i_start, first_row)) as (first, later):
                        with first:
                            start_from_zero()
                        with later:  # the sums over the rows of W before i_start, kept in out
                            for out_row, row_sums in zip(out_rows, sums):
                                for column, total in zip(columns, row_sums):
                                    builder.store(_load_vector(builder, out_row, column, vector_type, align), total)
                a_rows = [_row(builder, As, builder.add(r0, ir.Constant(intp, r))) for r in range(rows)]

                def accumulate(i, inputs):
                    w_row = _row(builder, Ws, i)
                    ws = [_load_vector(builder, w_row, column, vector_type, align) for column in columns]
                    for value, row_sums in zip(inputs, sums):
                        a = _splat(builder, value, vector_type)
                        for w, total in zip(ws, row_sums):
                            builder.store(_multiply_add(context, builder, a, w, builder.load(total)), total)

                with cgutils.for_range_slice(builder, i_start, i_stop, ir.Constant(intp, 1)) as (i, _):
                    inputs = [builder.load(builder.gep(a_row, [i])) for a_row in a_rows]
                    if skip:
                        any_input = builder.fcmp_unordered("!=", inputs[0], zero)
                        for value in inputs[1:]:
                            any_input = builder.or_(any_input, builder.fcmp_unordered("!=", value, zero))
                        with builder.if_then(any_input):
                            accumulate(i, inputs)
                    else:
                        accumulate(i, inputs)
                for out_row, row_sums in zip(out_rows, sums):
                    for column, total in zip(columns, row_sums):
                        value = builder.load(total)
                        if add:
                            value = _multiply_add(context, builder, scale, value,
                                                  _load_vector(builder, out_row, column, vector_type, align))
                        _store_vector(builder, value, out_row, column, align)

            if add:
                block = ir.Constant(intp, J_BLOCK)
                with cgutils.for_range_slice(builder, j_start, j_stop, block) as (jb, _):
                    j_next = builder.add(jb, block)
                    je = builder.select(builder.icmp_signed("<", j_next, j_stop), j_next, j_stop)
                    with cgutils.for_range_slice(builder, r_start, r_stop, row_step) as (r0, _):
                        with cgutils.for_range_slice(builder, jb, je, column_step) as (j0, _):
                            one_panel(r0, j0, first_row, k)
            else:
                block = ir.Constant(intp, K_BLOCK)
                with cgutils.for_range_slice(builder, j_start, j_stop, column_step) as (j0, _):
                    # at least one block, so that an empty sum (k = 0) still stores its zeros
                    blocks_end = builder.select(builder.icmp_signed(">", k, first_row), k, ir.Constant(intp, 1))
                    with cgutils.for_range_slice(builder, first_row, blocks_end, block) as (i0, _):
                        i_next = builder.add(i0, block)
                        i1 = builder.select(builder.icmp_signed("<", i_next, k), i_next, k)
                        with cgutils.for_range_slice(builder, r_start, r_stop, row_step) as (r0, _):
                            one_panel(r0, j0, i0, i1)
            return context.get_dummy_value()
        return types.void(A, W, out, r_start, r_stop, j_start, j_stop, alpha), codegen
    return panel


ROWS, CHUNKS = 4, 4  # a panel: 4 rows by 4 vectors (64 float32 or 32 float64 columns); 16 sums in registers
K_BLOCK = 128  # rows of W per block of A @ W: 128 x 4 vectors is 32 kB, in the L1 cache
J_BLOCK = 256  # columns per block of out += alpha * A @ W (a multiple of the panels'): W's part stays in L1
_panel_store = _make_panel(ROWS, CHUNKS, False, False)
_panel_store_skip = _make_panel(ROWS, CHUNKS, True, False)
_panel_add = _make_panel(ROWS, CHUNKS, False, True)
_panel_add_skip = _make_panel(ROWS, CHUNKS, True, True)
# one vector wide: the whole vectors past the last whole panel, in place (a copy padded to a whole panel cost
# 10-20 % of a product on the two threads' halves of 1000 columns)
_vector_store = _make_panel(ROWS, 1, False, False)
_vector_store_skip = _make_panel(ROWS, 1, True, False)
_vector_add = _make_panel(ROWS, 1, False, True)
_vector_add_skip = _make_panel(ROWS, 1, True, True)


@numba.njit(cache=True)
def _panel(A, W, out, r_stop, n_wide, n_vectors, alpha, skip, add):
    """Rows 0 .. r_stop (a multiple of ROWS): the whole panels of columns 0 .. n_wide, then panels one vector
    wide up to n_vectors."""
    if add:
        if skip:
            _panel_add_skip(A, W, out, 0, r_stop, 0, n_wide, alpha)
            _vector_add_skip(A, W, out, 0, r_stop, n_wide, n_vectors, alpha)
        else:
            _panel_add(A, W, out, 0, r_stop, 0, n_wide, alpha)
            _vector_add(A, W, out, 0, r_stop, n_wide, n_vectors, alpha)
    elif skip:
        _panel_store_skip(A, W, out, 0, r_stop, 0, n_wide, alpha)
        _vector_store_skip(A, W, out, 0, r_stop, n_wide, n_vectors, alpha)
    else:
        _panel_store(A, W, out, 0, r_stop, 0, n_wide, alpha)
        _vector_store(A, W, out, 0, r_stop, n_wide, n_vectors, alpha)


def _make_dots(rows, w_rows):
    """out[r0 + r, i0 + q] = A[r0 + r] @ W[i0 + q] for r < rows, q < w_rows, each summed on its own: one vector
    of ``lanes`` partial sums over the whole vectors of terms (multiply-adds), its lanes added by the tree of
    _reduce_lanes, then the terms left over one after the other.  ``rows`` and ``w_rows`` change the speed only."""
    @intrinsic
    def dots(typingctx, A, r0, W, i0, out):
        if not (_float_array(A, 2) and _float_array(W, 2) and _float_array(out, 2) and A.dtype == W.dtype == out.dtype
                and isinstance(r0, types.Integer) and isinstance(i0, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            As = context.make_array(signature.args[0])(context, builder, args[0])
            Ws = context.make_array(signature.args[2])(context, builder, args[2])
            outs = context.make_array(signature.args[4])(context, builder, args[4])
            intp = context.get_value_type(types.intp)
            r0 = context.cast(builder, args[1], signature.args[1], types.intp)
            i0 = context.cast(builder, args[3], signature.args[3], types.intp)
            n = cgutils.unpack_tuple(builder, As.shape)[1]
            element, vector_type = _vector(context, signature.args[0].dtype)
            align = context.get_abi_sizeof(element)
            step = ir.Constant(n.type, vector_type.count)
            full = builder.mul(builder.udiv(n, step), step)
            a_rows = [_row(builder, As, builder.add(r0, ir.Constant(intp, r))) for r in range(rows)]
            w_rows_ = [_row(builder, Ws, builder.add(i0, ir.Constant(intp, q))) for q in range(w_rows)]
            partials = [[cgutils.alloca_once_value(builder, ir.Constant(vector_type, None)) for _ in range(w_rows)]
                        for _ in range(rows)]
            with cgutils.for_range_slice(builder, ir.Constant(n.type, 0), full, step) as (j, _):
                ws = [_load_vector(builder, w_row, j, vector_type, align) for w_row in w_rows_]
                for a_row, row_partials in zip(a_rows, partials):
                    a = _load_vector(builder, a_row, j, vector_type, align)
                    for w, partial in zip(ws, row_partials):
                        builder.store(_multiply_add(context, builder, a, w, builder.load(partial)), partial)
            totals = [[cgutils.alloca_once_value(builder, _reduce_lanes(builder, builder.load(p))) for p in row_partials]
                      for row_partials in partials]
            with cgutils.for_range_slice(builder, full, n, ir.Constant(n.type, 1)) as (j, _):
                ws = [builder.load(builder.gep(w_row, [j])) for w_row in w_rows_]
                for a_row, row_totals in zip(a_rows, totals):
                    a = builder.load(builder.gep(a_row, [j]))
                    for w, total in zip(ws, row_totals):
                        builder.store(_multiply_add(context, builder, a, w, builder.load(total)), total)
            for r, row_totals in enumerate(totals):
                out_row = _row(builder, outs, builder.add(r0, ir.Constant(intp, r)))
                for q, total in enumerate(row_totals):
                    builder.store(builder.load(total), builder.gep(out_row, [builder.add(i0, ir.Constant(intp, q))]))
            return context.get_dummy_value()
        return types.void(A, r0, W, i0, out), codegen
    return dots


# 4 rows of A by 4 rows of W: 16 partial sums in registers, 8 loads per 16 multiply-adds (4 by 2 ran ~1.4x
# slower, loading 6 per 8)
_dots_4x4 = _make_dots(4, 4)
_dots_1x4 = _make_dots(1, 4)
_dots_4x1 = _make_dots(4, 1)
_dots_1x1 = _make_dots(1, 1)


@numba.njit(inline="always")
def _rows_contiguous(X):
    return X.size == 0 or X.shape[1] <= 1 or X.strides[1] == X.itemsize


@numba.njit(cache=True)
def _mostly_zero(A):
    """At least a quarter of A is zero (then the products skip zeros: the same sums, faster)."""
    zeros = 0
    for r in range(A.shape[0]):
        for i in range(A.shape[1]):
            if A[r, i] == 0.0:
                zeros += 1
    return 4 * zeros >= A.size


@numba.njit(cache=True)
def _copy(source, source_row, source_column, target, target_row, target_column, rows, columns):
    """target[target_row:+rows, target_column:+columns] = source[source_row:+rows, source_column:+columns]
    (plain loops: Numba compiles them much faster than slice assignments)."""
    for r in range(rows):
        for j in range(columns):
            target[target_row + r, target_column + j] = source[source_row + r, source_column + j]


@numba.njit(cache=True)
def _panels(A, W, out, alpha, add, skip, n):
    """out[:, :n] = A @ W[:, :n], or out[:, :n] += alpha * A @ W[:, :n] with ``add``, in panels; the rows left
    over, and the columns past the last whole vector, through copies padded with zero rows and columns (the
    same sums, in whole panels)."""
    m, k = A.shape
    step = lanes(W)
    m_full = m - m % ROWS
    n_wide = n - n % (CHUNKS * step)
    n_vectors = n - n % step
    tail_rows = m - m_full
    if m_full and n_vectors:
        _panel(A, W, out, m_full, n_wide, n_vectors, alpha, skip, add)
    padded_A = np.zeros((ROWS, k), W.dtype)
    _copy(A, m_full, 0, padded_A, 0, 0, tail_rows, k)
    if tail_rows and n_vectors:
        padded_out = np.zeros((ROWS, n_vectors), W.dtype)
        if add:
            _copy(out, m_full, 0, padded_out, 0, 0, tail_rows, n_vectors)
        _panel(padded_A, W, padded_out, ROWS, n_wide, n_vectors, alpha, skip, add)
        _copy(padded_out, 0, 0, out, m_full, 0, tail_rows, n_vectors)
    tail_columns = n - n_vectors
    if tail_columns:
        padded_W = np.zeros((k, step), W.dtype)
        _copy(W, 0, n_vectors, padded_W, 0, 0, k, tail_columns)
        padded_out = np.zeros((max(m_full, ROWS), step), W.dtype)
        if m_full:
            if add:
                _copy(out, 0, n_vectors, padded_out, 0, 0, m_full, tail_columns)
            _panel(A, padded_W, padded_out, m_full, 0, step, alpha, skip, add)
            _copy(padded_out, 0, 0, out, 0, n_vectors, m_full, tail_columns)
        if tail_rows:
            padded_out[:] = 0.0
            if add:
                _copy(out, m_full, n_vectors, padded_out, 0, 0, tail_rows, tail_columns)
            _panel(padded_A, padded_W, padded_out, ROWS, 0, step, alpha, skip, add)
            _copy(padded_out, 0, 0, out, m_full, n_vectors, tail_rows, tail_columns)


@numba.njit(cache=True)
def product(A, W):
    """``A @ W`` for 2-D float arrays of one dtype (rows of contiguous elements): each element summed over the
    rows of W in order."""
    m, k = A.shape
    if W.shape[0] != k:
        raise ValueError("product: shapes do not match")
    if not (_rows_contiguous(A) and _rows_contiguous(W)):
        raise ValueError("product: each row must be contiguous")
    out = np.empty((m, W.shape[1]), W.dtype)
    _panels(A, W, out, W.dtype.type(1.0), False, _mostly_zero(A), W.shape[1])
    return out


@numba.njit(cache=True)
def product_t(A, W):
    """``A @ W.T``: element (r, i) is A[r] @ W[i] summed as :func:`_make_dots` says."""
    m, n = A.shape
    n_out = W.shape[0]
    if W.shape[1] != n:
        raise ValueError("product_t: shapes do not match")
    if not (_rows_contiguous(A) and _rows_contiguous(W)):
        raise ValueError("product_t: each row must be contiguous")
    if n < lanes(W):
        # rows shorter than a vector: _make_dots sums them one term after the other from +0, which is what
        # product() does for each element: the same bits, vectorised over the rows of W
        return product(A, np.ascontiguousarray(W.T))
    out = np.empty((m, n_out), W.dtype)
    _dots_rows(A, W, 0, n_out, out)
    return out


@numba.njit(cache=True)
def _dots_rows(A, W, i_start, i_stop, out):
    """out[r, i] = A[r] @ W[i] for every row r of A and i_start <= i < i_stop: 4 rows of A by 4 rows of W at a
    time, the rest one by one (each element the same sum whatever the blocking)."""
    m = A.shape[0]
    i = i_start
    while i + 4 <= i_stop:
        r = 0
        while r + 4 <= m:
            _dots_4x4(A, r, W, i, out)
            r += 4
        while r < m:
            _dots_1x4(A, r, W, i, out)
            r += 1
        i += 4
    while i < i_stop:
        r = 0
        while r + 4 <= m:
            _dots_4x1(A, r, W, i, out)
            r += 4
        while r < m:
            _dots_1x1(A, r, W, i, out)
            r += 1
        i += 1


def _make_gathered_rows(chunks):
    """W[i, j0:j_stop] += alpha * sum over q < count of A[rows[q], i] * B[rows[q], j0:j_stop], in the order of
    ``rows``, ``chunks`` vectors of columns at a time (j_stop - j0 a multiple of chunks * lanes): one row of
    ``W += alpha * A.T @ B`` from the rows of A that are not zero in column i."""
    @intrinsic
    def gathered(typingctx, A, B, W, i, rows, count, j0, j_stop, alpha):
        if not (_float_array(A, 2) and _float_array(B, 2) and _float_array(W, 2) and A.dtype == B.dtype == W.dtype
                and isinstance(rows, types.Array) and rows.dtype == types.intp):
            return None

        def codegen(context, builder, signature, args):
            As, Bs, Ws = (context.make_array(t)(context, builder, v) for t, v in zip(signature.args[:3], args[:3]))
            rows_array = context.make_array(signature.args[4])(context, builder, args[4])
            intp = context.get_value_type(types.intp)
            dtype = signature.args[0].dtype
            i, count, j0, j_stop = (context.cast(builder, args[n], signature.args[n], types.intp) for n in (3, 5, 6, 7))
            alpha = context.cast(builder, args[8], signature.args[8], dtype)
            element, vector_type = _vector(context, dtype)
            align = context.get_abi_sizeof(element)
            totals = [cgutils.alloca_once(builder, vector_type) for _ in range(chunks)]
            w_row = _row(builder, Ws, i)
            scale = _splat(builder, alpha, vector_type)
            with cgutils.for_range_slice(builder, j0, j_stop, ir.Constant(intp, chunks * vector_type.count)) as (j, _):
                columns = [builder.add(j, ir.Constant(intp, c * vector_type.count)) for c in range(chunks)]
                for total in totals:
                    builder.store(ir.Constant(vector_type, None), total)
                with cgutils.for_range(builder, count) as loop:
                    r = builder.load(builder.gep(rows_array.data, [loop.index]))
                    a = _splat(builder, builder.load(builder.gep(_row(builder, As, r), [i])), vector_type)
                    b_row = _row(builder, Bs, r)
                    for column, total in zip(columns, totals):
                        b = _load_vector(builder, b_row, column, vector_type, align)
                        builder.store(_multiply_add(context, builder, a, b, builder.load(total)), total)
                for column, total in zip(columns, totals):
                    value = _multiply_add(context, builder, scale, builder.load(total),
                                          _load_vector(builder, w_row, column, vector_type, align))
                    _store_vector(builder, value, w_row, column, align)
            return context.get_dummy_value()
        return types.void(A, B, W, i, rows, count, j0, j_stop, alpha), codegen
    return gathered


_gathered_4 = _make_gathered_rows(4)
_gathered_1 = _make_gathered_rows(1)


@numba.njit(cache=True)
def _nonzero_rows(A):
    """For each column i of A: how many rows are not zero there, and which (in order)."""
    m, n_in = A.shape
    rows = np.empty((n_in, m), np.intp)
    counts = np.zeros(n_in, np.intp)
    for i in range(n_in):
        count = 0
        for r in range(m):
            rows[i, count] = r
            count += A[r, i] != 0.0  # no branch: the pattern of zeros is not predictable
        counts[i] = count
    return rows, counts


@numba.njit(cache=True)
def _add_product_tn_sparse(alpha, A, B, W, rows, counts, j_start, j_stop):
    """W[:, j_start:j_stop] += alpha * A.T @ B[:, j_start:j_stop], a multiple of lanes wide, from the rows of A
    that are not zero in each column, in blocks of columns whose part of B stays in the L1 cache."""
    n_in = A.shape[1]
    step = lanes(W)
    block = 16 * step
    for jb in range(j_start, j_stop, block):
        je = min(jb + block, j_stop)
        wide = je - (je - jb) % (4 * step)
        for i in range(n_in):
            count = counts[i]
            if count == 0:
                continue
            if wide > jb:
                _gathered_4(A, B, W, i, rows[i], count, jb, wide, alpha)
            if je > wide:
                _gathered_1(A, B, W, i, rows[i], count, wide, je, alpha)


@numba.njit(cache=True)
def add_product_tn(alpha, A, B, W):
    """``W += alpha * A.T @ B`` in place, in one pass over W: element (i, j) adds alpha times the sum over the rows r
    of A, in order, of A[r, i] * B[r, j] (as gemm with beta = 1 does): by the panels of :func:`product` on a copy
    of A.T, or, on a mostly zero A (the corrupted inputs of layer 0) and for the columns left over, from the
    rows of A that are not zero in each column (the same sums)."""
    m, n_in = A.shape
    n = W.shape[1]
    if B.shape[0] != m or W.shape[0] != n_in or B.shape[1] != n:
        raise ValueError("add_product_tn: shapes do not match")
    if not (_rows_contiguous(A) and _rows_contiguous(B) and _rows_contiguous(W)):
        raise ValueError("add_product_tn: each row must be contiguous")
    alpha = W.dtype.type(alpha)
    step = lanes(W)
    full = n - n % step
    j_start = 0
    if not _mostly_zero(A):
        j_start = n - n % (CHUNKS * step)
        if j_start:
            _panels(np.ascontiguousarray(A.T), B, W, alpha, True, False, j_start)
    rows, counts = _nonzero_rows(A)
    _add_product_tn_sparse(alpha, A, B, W, rows, counts, j_start, full)
    if full < n:  # the last columns, through copies padded with zero columns to a whole vector
        padded_B = np.zeros((m, step), W.dtype)
        _copy(B, 0, full, padded_B, 0, 0, m, n - full)
        padded_W = np.zeros((n_in, step), W.dtype)
        _copy(W, 0, full, padded_W, 0, 0, n_in, n - full)
        _add_product_tn_sparse(alpha, A, padded_B, padded_W, rows, counts, 0, step)
        _copy(padded_W, 0, 0, W, 0, full, n_in, n - full)


@numba.njit(cache=True)
def backward_rows(delta, W, A, alpha, d_in, start, stop):
    """A layer's backward pass over the rows ``start .. stop`` of W in one pass: ``d_in[:, i] = delta @ W[i]``
    with the row as it was (:func:`product_t`'s sums), then ``W[i] += alpha * A[:, i] @ delta``
    (:func:`add_product_tn`'s sums), four rows at a time, so that each row is read from memory once where the
    two products read all of W twice (at batch 20 W is bound by memory: 4 MB, beyond this machine's caches
    beside the other layers).  ``d_in`` is (m, len(W)); its other columns are left as they are."""
    m, n = delta.shape
    if W.shape[1] != n or A.shape[0] != m or A.shape[1] != W.shape[0] or d_in.shape[0] != m \
            or d_in.shape[1] != W.shape[0]:
        raise ValueError("backward_rows: shapes do not match")
    if not (_rows_contiguous(delta) and _rows_contiguous(W) and _rows_contiguous(A) and _rows_contiguous(d_in)):
        raise ValueError("backward_rows: each row must be contiguous")
    if stop <= start:
        return
    alpha = W.dtype.type(alpha)
    step = lanes(W)
    if n < step:  # rows shorter than a vector: the two products as they are
        d_in[:, start:stop] = product_t(delta, W[start:stop])
        add_product_tn(alpha, A[:, start:stop], delta, W[start:stop])
        return
    n_wide = n - n % (CHUNKS * step)
    n_vectors = n - n % step
    tail = n - n_vectors
    skip = _mostly_zero(A)  # as add_product_tn decides, for the whole A
    AT = np.zeros((ROWS, m), W.dtype)
    rows_W = np.zeros((ROWS, n), W.dtype)
    tail_B = np.zeros((m, step), W.dtype)
    tail_W = np.zeros((ROWS, step), W.dtype)
    _copy(delta, 0, n_vectors, tail_B, 0, 0, m, tail)
    for i in range(start, stop, ROWS):
        rows = min(ROWS, stop - i)
        _dots_rows(delta, W, i, i + rows, d_in)
        # the update of these rows: each element's sum over the rows of A in order, as add_product_tn
        AT[:] = 0.0
        for q in range(rows):
            for r in range(m):
                AT[q, r] = A[r, i + q]
        if rows == ROWS:
            W_rows = W[i:i + ROWS]
        else:
            rows_W[:] = 0.0
            _copy(W, i, 0, rows_W, 0, 0, rows, n)
            W_rows = rows_W
        if n_vectors:
            _panel(AT, delta, W_rows, ROWS, n_wide, n_vectors, alpha, skip, True)
        if tail:
            _copy(W_rows, 0, n_vectors, tail_W, 0, 0, ROWS, tail)
            _panel(AT, tail_B, tail_W, ROWS, 0, step, alpha, skip, True)
            _copy(tail_W, 0, 0, W_rows, 0, n_vectors, ROWS, tail)
        if rows < ROWS:
            _copy(rows_W, 0, 0, W, i, 0, rows, n)
