"""BLAS for the batch > 1 kernels: OpenBLAS from the ``scipy-openblas32`` wheel, called from Numba.

Why not ``np.dot`` inside Numba: Numba calls the BLAS that SciPy bundles, an
older OpenBLAS (0.3.30 with SciPy 1.17) whose single-precision gemm is 1.4-1.7x
slower on the small-by-large products of a batch-20 step than the OpenBLAS
0.3.34 of ``scipy-openblas32`` (``docs/performance.md`` §7).  Depending on that
wheel also pins which BLAS the kernels get, whatever NumPy or SciPy ship.

The library is loaded once, its ``cblas_?gemm`` registered with LLVM under our
own symbol names, and the kernels call those names: linked by name at load
time, so Numba's on-disk cache of the kernels keeps working (a ctypes pointer
baked into the code would stop Numba from caching every kernel).

Its threads are its own: :func:`threads` sets how many this copy of OpenBLAS
uses, leaving NumPy's, SciPy's and PyTensor's BLAS at the one thread
``sda/__init__.py`` asks for.
"""

import contextlib
import ctypes
import os

import llvmlite.binding
import numba
import numpy as np
import scipy_openblas32
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ..errors import UsageError

_LIBRARY = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(fullname=True)))
_PREFIX = "scipy_"  # the wheel's symbol prefix (scipy_cblas_sgemm, scipy_openblas_set_num_threads, ...)

for _name in ("cblas_sgemm", "cblas_dgemm"):
    llvmlite.binding.add_symbol("sda_" + _name, ctypes.cast(getattr(_LIBRARY, _PREFIX + _name),
                                                               ctypes.c_void_p).value)

# CBLAS constants
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


def _cblas_gemm(symbol, real):
    i32 = types.int32
    return types.ExternalFunction(symbol, types.void(i32, i32, i32, i32, i32, i32, real, types.voidptr, i32,
                                                     types.voidptr, i32, real, types.voidptr, i32))


_GEMM = {numba.float32: _cblas_gemm("sda_cblas_sgemm", types.float32),
         numba.float64: _cblas_gemm("sda_cblas_dgemm", types.float64)}


def gemm(alpha, A, trans_a, B, trans_b, beta, C):
    """``C = alpha * op(A) @ op(B) + beta * C`` in place; ``op(X)`` is ``X.T``
    where ``trans_x`` is true.  The arrays are row-major 2-D arrays of one
    float dtype whose rows may be strided (a slice of rows of a bigger
    C-contiguous array works), but whose elements within a row are contiguous;
    C must be writable and must not overlap A or B (BLAS reads them while it
    writes C)."""
    a = A.T if trans_a else A
    b = B.T if trans_b else B
    C[...] = alpha * (a @ b) + (beta * C if beta else 0)  # the plain-Python meaning; Numba gets the call below


@numba.njit(inline="always")
def _leading_dimension(X, size):
    """The row stride of ``X`` in elements, as BLAS wants it; -1 if BLAS cannot read
    ``X`` as rows of contiguous elements that follow one another without overlap
    (a reversed, broadcast or sliding-window view, say)."""
    rows, cols = X.shape
    if X.size == 0:
        return max(cols, 1)  # BLAS reads nothing; NumPy gives empty arrays strides of 0
    if cols > 1 and X.strides[1] != size:
        return -1
    if rows == 1:
        return max(cols, 1)  # the row stride of a single row is never used
    if X.strides[0] % size != 0 or X.strides[0] < cols * size:
        return -1
    return X.strides[0] // size


@overload(gemm)
def _gemm(alpha, A, trans_a, B, trans_b, beta, C):
    if C.dtype not in _GEMM or A.dtype != C.dtype or B.dtype != C.dtype:
        return None  # Numba then reports that no implementation matches these types
    if not C.mutable:
        raise numba.core.errors.TypingError("gemm: C is read-only; it must be a writable array")
    call = _GEMM[C.dtype]

    def impl(alpha, A, trans_a, B, trans_b, beta, C):
        m, n = C.shape
        k = A.shape[0] if trans_a else A.shape[1]
        if (B.shape[1] if trans_b else B.shape[0]) != k or (A.shape[1] if trans_a else A.shape[0]) != m \
                or (B.shape[0] if trans_b else B.shape[1]) != n:
            raise ValueError("gemm: shapes do not match")
        if m == 0 or n == 0:
            return
        size = C.itemsize
        lda, ldb, ldc = _leading_dimension(A, size), _leading_dimension(B, size), _leading_dimension(C, size)
        if lda < 0 or ldb < 0 or ldc < 0:
            raise ValueError("gemm: each array must be rows of contiguous elements, the rows in increasing "
                             "order without overlap (make a copy with np.ascontiguousarray)")
        call(ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, alpha,
             A.ctypes, lda, B.ctypes, ldb, beta, C.ctypes, ldc)
        # keep the arrays alive until BLAS is done with them (as numba.np.linalg does)
        A.size, B.size, C.size  # noqa: B018
    return impl


def num_threads():
    """How many threads this OpenBLAS uses now."""
    return _LIBRARY[_PREFIX + "openblas_get_num_threads"]()


def set_num_threads(n):
    _LIBRARY[_PREFIX + "openblas_set_num_threads"](ctypes.c_int(int(n)))


@contextlib.contextmanager
def threads(n):
    """Let the kernels' BLAS use ``n`` threads inside the block, then go back.

    Only around batch > 1 work: OpenBLAS's idle workers busy-wait for a while
    after each call, which cost nothing when the next call follows at once but
    slowed batch-1 steps and any other process sharing the cores 3-10x in our
    measurements (``docs/performance.md`` §3b)."""
    before = num_threads()
    if n == before:
        yield
        return
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(before)


#: OpenBLAS's own limit in the wheel (it silently caps larger requests)
MAX_THREADS = 64


def default_threads():
    """Threads for batch > 1 kernels: ``SDA_BLAS_THREADS`` if set, else the CPUs
    this process may run on, at most 2 (the products of a batch-20 step are too
    small to gain from more in our measurements)."""
    value = os.environ.get("SDA_BLAS_THREADS", "").strip()
    if value:
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_THREADS:
            raise UsageError(f"SDA_BLAS_THREADS must be a whole number of threads from 1 to {MAX_THREADS}, "
                             f"not {value!r}: set it to e.g. 1 or 2, or unset it")
        return int(value)
    return max(1, min(2, available_cpus()))


def available_cpus():
    """CPUs this process may use: its CPU affinity, and a container's CPU quota
    (cgroup v2 ``cpu.max``) where one is set, since the affinity ignores it."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))  # a quota of 1.5 CPUs allows 2 threads
    except (OSError, ValueError):
        pass
    return cpus


# ---------------------------------------------------------------------------------------------------------------
# Deterministic products: the same bits on every x86-64 CPU, whatever Numba compiles for
#
# Each sum below has a fixed order written into the program: a dot product keeps ``lanes`` partial sums (16
# for float32, 8 for float64: 64 bytes), partial sum l taking the terms l, l + lanes, l + 2 lanes, ... in
# order, combined at the end by a fixed tree (lane l + lane l + lanes/2, halving), then the leftover terms
# in order; every other product sums its terms one after the other.  The partial sums are LLVM vectors of
# ``lanes`` elements, which LLVM splits into whatever registers the CPU has (4 SSE, 2 AVX or 1 AVX-512
# register for 16 floats): the same lane-wise arithmetic everywhere.  Nothing carries fast-math flags, so
# LLVM may neither reassociate the sums nor fuse a multiply and an add into an FMA (it does neither on its
# own), and no library is called.  BLAS (OpenBLAS, above) picks its kernels and blocking by CPU and thread
# count, which changes the order of its sums: its results differ between CPUs and between 1 and 2 threads
# (docs/determinism.md).
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


def _make_dot(wide):
    @intrinsic
    def dot_intrinsic(typingctx, x, y):
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
            step = ir.Constant(n.type, vector_type.count)
            full = builder.mul(builder.udiv(n, step), step)
            partial = cgutils.alloca_once_value(builder, ir.Constant(total_vector, None))
            with cgutils.for_range_slice(builder, ir.Constant(n.type, 0), full, step) as (j, _):
                product = builder.fmul(_load_vector(builder, xs.data, j, vector_type, align),
                                       _load_vector(builder, ys.data, j, vector_type, align))
                if wide and element != total_element:
                    product = builder.fpext(product, total_vector)
                builder.store(builder.fadd(builder.load(partial), product), partial)
            total = cgutils.alloca_once_value(builder, _reduce_lanes(builder, builder.load(partial)))
            with cgutils.for_range_slice(builder, full, n, ir.Constant(n.type, 1)) as (j, _):
                product = builder.fmul(builder.load(builder.gep(xs.data, [j])), builder.load(builder.gep(ys.data, [j])))
                if wide and element != total_element:
                    product = builder.fpext(product, total_element)
                builder.store(builder.fadd(builder.load(total), product), total)
            return builder.load(total)
        return total_type(x, y), codegen
    return dot_intrinsic


_dot = _make_dot(False)
_dot_wide = _make_dot(True)


@numba.njit(inline="always")
def _contiguous_1d(x):
    return x.shape[0] <= 1 or x.strides[0] == x.itemsize


@numba.njit(inline="always")
def dot(x, y):
    """``x @ y`` for 1-D float arrays of one dtype, summed in the arrays' dtype in the fixed order above."""
    if x.shape[0] != y.shape[0]:
        raise ValueError("dot: the vectors differ in length")
    if not (_contiguous_1d(x) and _contiguous_1d(y)):
        raise ValueError("dot: the vectors must be contiguous")
    return _dot(x, y)


@numba.njit(inline="always")
def dot_wide(x, y):
    """``x @ y`` with each product rounded in the arrays' dtype and summed in float64, in the same order."""
    if x.shape[0] != y.shape[0]:
        raise ValueError("dot: the vectors differ in length")
    if not (_contiguous_1d(x) and _contiguous_1d(y)):
        raise ValueError("dot: the vectors must be contiguous")
    return _dot_wide(x, y)


def _make_panel(rows, chunks):
    """out[r0:r0+rows, j0:j0+chunks*lanes] = A[r0:r0+rows] @ W[:, j0:j0+chunks*lanes]: each element summed over the
    rows i of W in order, skipping the i where all ``rows`` inputs A[r, i] are zero (exactly the same sums)."""
    @intrinsic
    def panel(typingctx, A, W, out, r0, j0):
        if not (_float_array(A, 2) and _float_array(W, 2) and _float_array(out, 2)
                and A.dtype == W.dtype == out.dtype and isinstance(r0, types.Integer) and isinstance(j0, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            As, Ws, outs = (context.make_array(t)(context, builder, v) for t, v in zip(signature.args[:3], args[:3]))
            intp = context.get_value_type(types.intp)
            r0, j0 = (context.cast(builder, v, t, types.intp) for v, t in zip(args[3:], signature.args[3:]))
            k = cgutils.unpack_tuple(builder, As.shape)[1]
            element, vector_type = _vector(context, signature.args[0].dtype)
            align = context.get_abi_sizeof(element)
            columns = [builder.add(j0, ir.Constant(intp, c * vector_type.count)) for c in range(chunks)]
            a_rows = [_row(builder, As, builder.add(r0, ir.Constant(intp, r))) for r in range(rows)]
            sums = [[cgutils.alloca_once_value(builder, ir.Constant(vector_type, None)) for _ in range(chunks)]
                    for _ in range(rows)]
            zero = ir.Constant(element, 0.0)
            with cgutils.for_range(builder, k) as loop:
                i = loop.index
                inputs = [builder.load(builder.gep(a_row, [i])) for a_row in a_rows]
                any_input = builder.fcmp_unordered("!=", inputs[0], zero)
                for value in inputs[1:]:
                    any_input = builder.or_(any_input, builder.fcmp_unordered("!=", value, zero))
                with builder.if_then(any_input):
                    w_row = _row(builder, Ws, i)
                    ws = [_load_vector(builder, w_row, column, vector_type, align) for column in columns]
                    for value, row_sums in zip(inputs, sums):
                        a = _splat(builder, value, vector_type)
                        for w, total in zip(ws, row_sums):
                            builder.store(builder.fadd(builder.load(total), builder.fmul(a, w)), total)
            for r, row_sums in enumerate(sums):
                out_row = _row(builder, outs, builder.add(r0, ir.Constant(intp, r)))
                for column, total in zip(columns, row_sums):
                    _store_vector(builder, builder.load(total), out_row, column, align)
            return context.get_dummy_value()
        return types.void(A, W, out, r0, j0), codegen
    return panel


_panel_4x2 = _make_panel(4, 2)
_panel_4x1 = _make_panel(4, 1)
_panel_1x2 = _make_panel(1, 2)
_panel_1x1 = _make_panel(1, 1)


def _make_dots(rows):
    """out[r0 + r, col] = dot(A[r0 + r], w) for r < rows: the sums of :func:`dot`, several at once."""
    @intrinsic
    def dots(typingctx, A, r0, w, out, col):
        if not (_float_array(A, 2) and _float_array(w, 1) and _float_array(out, 2) and A.dtype == w.dtype == out.dtype
                and isinstance(r0, types.Integer) and isinstance(col, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            As = context.make_array(signature.args[0])(context, builder, args[0])
            ws = context.make_array(signature.args[2])(context, builder, args[2])
            outs = context.make_array(signature.args[3])(context, builder, args[3])
            intp = context.get_value_type(types.intp)
            r0 = context.cast(builder, args[1], signature.args[1], types.intp)
            col = context.cast(builder, args[4], signature.args[4], types.intp)
            n = cgutils.unpack_tuple(builder, ws.shape)[0]
            element, vector_type = _vector(context, signature.args[0].dtype)
            align = context.get_abi_sizeof(element)
            step = ir.Constant(n.type, vector_type.count)
            full = builder.mul(builder.udiv(n, step), step)
            a_rows = [_row(builder, As, builder.add(r0, ir.Constant(intp, r))) for r in range(rows)]
            partials = [cgutils.alloca_once_value(builder, ir.Constant(vector_type, None)) for _ in range(rows)]
            with cgutils.for_range_slice(builder, ir.Constant(n.type, 0), full, step) as (j, _):
                w = _load_vector(builder, ws.data, j, vector_type, align)
                for a_row, partial in zip(a_rows, partials):
                    product = builder.fmul(_load_vector(builder, a_row, j, vector_type, align), w)
                    builder.store(builder.fadd(builder.load(partial), product), partial)
            totals = [cgutils.alloca_once_value(builder, _reduce_lanes(builder, builder.load(p))) for p in partials]
            with cgutils.for_range_slice(builder, full, n, ir.Constant(n.type, 1)) as (j, _):
                w = builder.load(builder.gep(ws.data, [j]))
                for a_row, total in zip(a_rows, totals):
                    product = builder.fmul(builder.load(builder.gep(a_row, [j])), w)
                    builder.store(builder.fadd(builder.load(total), product), total)
            for r, total in enumerate(totals):
                out_row = _row(builder, outs, builder.add(r0, ir.Constant(intp, r)))
                builder.store(builder.load(total), builder.gep(out_row, [col]))
            return context.get_dummy_value()
        return types.void(A, r0, w, out, col), codegen
    return dots


_dots_4 = _make_dots(4)
_dots_1 = _make_dots(1)


def _make_add_rows_times_columns(chunks):
    """W[i, j0:j0+chunks*lanes] += alpha * (sum over q < count of A[rows[q], i] * B[rows[q], j0:...]): each
    element's sum in the order of ``rows``, then multiplied by alpha and added to W (as gemm does)."""
    @intrinsic
    def add(typingctx, A, B, W, i, j0, alpha, rows, count):
        if not (_float_array(A, 2) and _float_array(B, 2) and _float_array(W, 2) and A.dtype == B.dtype == W.dtype
                and isinstance(rows, types.Array) and isinstance(rows.dtype, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            As, Bs, Ws = (context.make_array(t)(context, builder, v) for t, v in zip(signature.args[:3], args[:3]))
            rows_array = context.make_array(signature.args[6])(context, builder, args[6])
            dtype = signature.args[0].dtype
            intp = context.get_value_type(types.intp)
            i = context.cast(builder, args[3], signature.args[3], types.intp)
            j0 = context.cast(builder, args[4], signature.args[4], types.intp)
            alpha = context.cast(builder, args[5], signature.args[5], dtype)
            count = context.cast(builder, args[7], signature.args[7], types.intp)
            element, vector_type = _vector(context, dtype)
            align = context.get_abi_sizeof(element)
            columns = [builder.add(j0, ir.Constant(intp, c * vector_type.count)) for c in range(chunks)]
            totals = [cgutils.alloca_once_value(builder, ir.Constant(vector_type, None)) for _ in range(chunks)]
            with cgutils.for_range(builder, count) as loop:
                r = context.cast(builder, builder.load(builder.gep(rows_array.data, [loop.index])),
                                 signature.args[6].dtype, types.intp)
                a = _splat(builder, builder.load(builder.gep(_row(builder, As, r), [i])), vector_type)
                b_row = _row(builder, Bs, r)
                for column, total in zip(columns, totals):
                    b = _load_vector(builder, b_row, column, vector_type, align)
                    builder.store(builder.fadd(builder.load(total), builder.fmul(a, b)), total)
            w_row = _row(builder, Ws, i)
            scale = _splat(builder, alpha, vector_type)
            for column, total in zip(columns, totals):
                update = builder.fmul(scale, builder.load(total))
                _store_vector(builder, builder.fadd(update, _load_vector(builder, w_row, column, vector_type, align)),
                              w_row, column, align)
            return context.get_dummy_value()
        return types.void(A, B, W, i, j0, alpha, rows, count), codegen
    return add


_add_rows_times_columns_4 = _make_add_rows_times_columns(4)
_add_rows_times_columns_1 = _make_add_rows_times_columns(1)


@numba.njit(inline="always")
def _rows_contiguous(X):
    return X.shape[1] <= 1 or X.strides[1] == X.itemsize


@numba.njit
def product(A, W):
    """``A @ W`` for 2-D float arrays of one dtype (rows of contiguous elements): each element summed over the
    rows of W in order (zero inputs skipped: the same sums)."""
    m, k = A.shape
    n = W.shape[1]
    if W.shape[0] != k:
        raise ValueError("product: shapes do not match")
    if not (_rows_contiguous(A) and _rows_contiguous(W)):
        raise ValueError("product: each row must be contiguous")
    out = np.empty((m, n), W.dtype)
    step = lanes(W)
    full = n - n % step
    j0 = 0
    while j0 < full:
        wide = j0 + 2 * step <= full
        r0 = 0
        while r0 + 4 <= m:
            if wide:
                _panel_4x2(A, W, out, r0, j0)
            else:
                _panel_4x1(A, W, out, r0, j0)
            r0 += 4
        while r0 < m:
            if wide:
                _panel_1x2(A, W, out, r0, j0)
            else:
                _panel_1x1(A, W, out, r0, j0)
            r0 += 1
        j0 += 2 * step if wide else step
    if full < n:
        for r in range(m):
            for j in range(full, n):
                out[r, j] = 0.0
            for i in range(k):
                a = A[r, i]
                if a != 0.0:
                    for j in range(full, n):
                        out[r, j] += a * W[i, j]
    return out


@numba.njit
def product_t(A, W):
    """``A @ W.T``: element (r, i) is ``dot(A[r], W[i])``."""
    m, n = A.shape
    if W.shape[1] != n:
        raise ValueError("product_t: shapes do not match")
    if not (_rows_contiguous(A) and _rows_contiguous(W)):
        raise ValueError("product_t: each row must be contiguous")
    out = np.empty((m, W.shape[0]), W.dtype)
    for i in range(W.shape[0]):
        w = W[i]
        r = 0
        while r + 4 <= m:
            _dots_4(A, r, w, out, i)
            r += 4
        while r < m:
            _dots_1(A, r, w, out, i)
            r += 1
    return out


@numba.njit
def add_product_tn(alpha, A, B, W):
    """``W += alpha * A.T @ B`` in place, one pass over W: element (i, j) adds alpha times the sum over the rows
    r of A (in order, those with A[r, i] == 0 skipped: the same sum) of A[r, i] * B[r, j]."""
    m, n_in = A.shape
    n = W.shape[1]
    if B.shape[0] != m or W.shape[0] != n_in or B.shape[1] != n:
        raise ValueError("add_product_tn: shapes do not match")
    if not (_rows_contiguous(A) and _rows_contiguous(B) and _rows_contiguous(W)):
        raise ValueError("add_product_tn: each row must be contiguous")
    rows = np.empty(m, np.intp)
    step = lanes(W)
    full = n - n % step
    alpha = W.dtype.type(alpha)
    for i in range(n_in):
        count = 0
        for r in range(m):
            if A[r, i] != 0.0:
                rows[count] = r
                count += 1
        if count == 0:
            continue
        j0 = 0
        while j0 + 4 * step <= full:
            _add_rows_times_columns_4(A, B, W, i, j0, alpha, rows, count)
            j0 += 4 * step
        while j0 < full:
            _add_rows_times_columns_1(A, B, W, i, j0, alpha, rows, count)
            j0 += step
        for j in range(full, n):
            total = W.dtype.type(0.0)
            for q in range(count):
                total += A[rows[q], i] * B[rows[q], j]
            W[i, j] += alpha * total
