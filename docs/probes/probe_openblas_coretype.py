"""Does a pinned OPENBLAS_CORETYPE make gemm bit-identical, whatever the thread count and L2 size?

Run once per setting in a fresh process (OpenBLAS reads the variables when it loads):
    OPENBLAS_CORETYPE=NEHALEM python docs/probes/probe_openblas_coretype.py THREADS
Prints the core OpenBLAS took, a digest of the results of the products of a batch-20 step
(float32 and float64; the scipy-openblas32 wheel's library and SciPy's own), and their times.
"""
import ctypes, glob, hashlib, os, sys, time
threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
import numpy as np
import scipy_openblas32
import scipy.linalg.blas as sblas

lib = ctypes.CDLL(os.path.join(scipy_openblas32.get_lib_dir(), scipy_openblas32.get_library(fullname=True)))
lib.scipy_openblas_get_corename.restype = ctypes.c_char_p
lib.scipy_openblas_set_num_threads(threads)
scipy_lib = ctypes.CDLL(glob.glob(os.path.dirname(sblas.__file__) + "/../../scipy.libs/libscipy_openblas-*.so")[0])
scipy_lib.scipy_openblas_get_corename.restype = ctypes.c_char_p
scipy_lib.scipy_openblas_set_num_threads(threads)
P, I = ctypes.c_void_p, ctypes.c_int


def cblas(dtype):
    f = getattr(lib, "scipy_cblas_sgemm" if dtype == np.float32 else "scipy_cblas_dgemm")
    real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    f.argtypes = [I] * 6 + [real, P, I, P, I, real, P, I]
    return f


def products(dtype, call):
    """The products of a batch-20 dA step on 784x1000 and a finetuning step on 1000x1000, as the kernels make them."""
    r = np.random.RandomState(0)
    out = []
    for n_in, n_out in ((784, 1000), (1000, 1000), (1000, 10)):
        W = (r.randn(n_in, n_out) * 0.05).astype(dtype)
        x = (r.rand(20, n_in) * (r.rand(20, n_in) < 0.3)).astype(dtype)
        d = (r.randn(20, n_out) * 0.01).astype(dtype)
        out.append(call(1.0, x, False, W, False, 0.0, np.empty((20, n_out), dtype)))      # x @ W
        out.append(call(1.0, d, False, W, True, 0.0, np.empty((20, n_in), dtype)))        # d @ W.T
        out.append(call(-0.1, x, True, d, False, 1.0, W.copy()))                          # W -= 0.1 x.T d
    big_x = r.rand(2000, 784).astype(dtype)                                               # encode / validation
    out.append(call(1.0, big_x, False, out and (r.randn(784, 1000) * 0.05).astype(dtype), False, 0.0,
                    np.empty((2000, 1000), dtype)))
    return out


def wheel_call(alpha, A, ta, B, tb, beta, C):
    m, n = C.shape
    k = A.shape[0] if ta else A.shape[1]
    cblas(C.dtype.type)(101, 112 if ta else 111, 112 if tb else 111, m, n, k, alpha, A.ctypes.data, A.shape[1],
                        B.ctypes.data, B.shape[1], beta, C.ctypes.data, n)
    return C


def scipy_call(alpha, A, ta, B, tb, beta, C):
    f = sblas.sgemm if C.dtype == np.float32 else sblas.dgemm
    return f(alpha, A, B, beta, C, trans_a=ta, trans_b=tb)


def timed(dtype, call, repeats=5):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        products(dtype, call)
        ts.append(time.perf_counter() - t0)
    return min(ts)


print("core", lib.scipy_openblas_get_corename().decode(), scipy_lib.scipy_openblas_get_corename().decode(),
      "threads", threads, "L2", os.environ.get("OPENBLAS_L2_SIZE", "-"))
for dtype in (np.float32, np.float64):
    for name, call in (("wheel", wheel_call), ("scipy", scipy_call)):
        digests = [hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:6] for a in products(dtype, call)]
        print(f"{np.dtype(dtype).name} {name} {' '.join(digests)} {timed(dtype, call) * 1e3:.1f} ms")
