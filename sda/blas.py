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

from .errors import UsageError

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
    C-contiguous array works), but whose elements within a row are contiguous."""
    a = A.T if trans_a else A
    b = B.T if trans_b else B
    C[...] = alpha * (a @ b) + (beta * C if beta else 0)  # the plain-Python meaning; Numba gets the call below


@overload(gemm)
def _gemm(alpha, A, trans_a, B, trans_b, beta, C):
    if C.dtype not in _GEMM or A.dtype != C.dtype or B.dtype != C.dtype:
        return None  # Numba then reports that no implementation matches these types
    call = _GEMM[C.dtype]

    def impl(alpha, A, trans_a, B, trans_b, beta, C):
        m, n = C.shape
        k = A.shape[0] if trans_a else A.shape[1]
        if (B.shape[1] if trans_b else B.shape[0]) != k or (A.shape[1] if trans_a else A.shape[0]) != m \
                or (B.shape[0] if trans_b else B.shape[1]) != n:
            raise ValueError("gemm: shapes do not match")
        size = C.itemsize
        if (A.shape[1] > 1 and A.strides[1] != size) or (B.shape[1] > 1 and B.strides[1] != size) \
                or (C.shape[1] > 1 and C.strides[1] != size):
            raise ValueError("gemm: the elements of each row must be contiguous")
        call(ROW_MAJOR, TRANS if trans_a else NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, alpha,
             A.ctypes, max(A.strides[0] // size, A.shape[1], 1), B.ctypes, max(B.strides[0] // size, B.shape[1], 1),
             beta, C.ctypes, max(C.strides[0] // size, C.shape[1], 1))
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


def default_threads():
    """Threads for batch > 1 kernels: ``SDA_BLAS_THREADS`` if set, else the CPUs
    this process may run on, at most 2 (the products of a batch-20 step are too
    small to gain from more in our measurements)."""
    value = os.environ.get("SDA_BLAS_THREADS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise UsageError(f"SDA_BLAS_THREADS must be a whole number of threads >= 1, not {value!r}: "
                             "set it to e.g. 1 or 2, or unset it")
        return int(value)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(2, cpus))
