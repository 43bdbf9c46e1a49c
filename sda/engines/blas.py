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
from numba import types
from numba.extending import overload

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
