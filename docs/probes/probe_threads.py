"""b20 kernel steps with scipy's OpenBLAS at 1 and 2 threads, set at run time, alternated."""
import os; os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import sys, time, glob, ctypes, numpy as np
sys.path.insert(0, ".")  # run from the repository root
from sda import kernels
from numba import typed
import scipy
lib = ctypes.CDLL(glob.glob(os.path.join(os.path.dirname(scipy.__file__), "..", "scipy.libs", "libscipy_openblas-*.so"))[0])
r = np.random.RandomState(0)
bs = 20; n = 50
X = (r.rand(bs*n, 784) * (r.rand(bs*n, 784) < 0.2)).astype(np.float32)
Y = r.randint(0, 10, bs*n).astype(np.int32)
U = r.rand(bs*n, 784).astype(np.float32)
def params():
    rr = np.random.RandomState(1)
    Ws, b = typed.List(), typed.List()
    for a, c in ((784, 1000), (1000, 1000), (1000, 1000)):
        Ws.append((rr.randn(a, c) * 0.05).astype(np.float32)); b.append(np.zeros(c, np.float32))
    return Ws, b, (rr.randn(1000, 10) * 0.05).astype(np.float32), np.zeros(10, np.float32)
H = (r.rand(bs*n, 1000)).astype(np.float32); UH = r.rand(bs*n, 1000).astype(np.float32)
res = {}
kernels.mlp_train(X, Y, 0, 2, bs, *params(), np.float32(0.1))
for rep in range(5):
    for t in (1, 2):
        lib.scipy_openblas_set_num_threads(t)
        Ws, b, Wo, bo = params()
        t0 = time.perf_counter(); kernels.mlp_train(X, Y, 0, n, bs, Ws, b, Wo, bo, np.float32(0.1)); res.setdefault(f"ft t{t}", []).append((time.perf_counter() - t0) / n * 1e3)
        W = Ws[1]; bb = np.zeros(1000, np.float32); bp = np.zeros(1000, np.float32)
        t0 = time.perf_counter(); kernels.da_train(H, UH, 0, n, bs, W, bb, bp, np.float32(0.8), np.float32(0.01)); res.setdefault(f"da1 t{t}", []).append((time.perf_counter() - t0) / n * 1e3)
for k, v in res.items(): print(k, "median %.2f ms" % np.median(v), ["%.2f" % x for x in v])
