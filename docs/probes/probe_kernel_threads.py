"""b20 finetune and dA layer-0 kernel steps with sda.blas at 1 and 2 threads, alternated (run from the repo root)."""
import os, sys, time; sys.path.insert(0, os.getcwd())
import numpy as np
from sda import kernels, blas
from numba import typed
r = np.random.RandomState(0); bs = 20; n = 50
X = (r.rand(bs*n, 784) * (r.rand(bs*n, 784) < 0.2)).astype(np.float32); Y = r.randint(0, 10, bs*n).astype(np.int32)
U = r.rand(bs*n, 784).astype(np.float32)
def params():
    rr = np.random.RandomState(1); Ws, b = typed.List(), typed.List()
    for a, c in ((784, 1000), (1000, 1000), (1000, 1000)):
        Ws.append((rr.randn(a, c) * 0.05).astype(np.float32)); b.append(np.zeros(c, np.float32))
    return Ws, b, (rr.randn(1000, 10) * 0.05).astype(np.float32), np.zeros(10, np.float32)
kernels.mlp_train(X, Y, 0, 2, bs, *params(), np.float32(0.1))
P = params(); W0, b0 = P[0][0], P[1][0]; bp = np.zeros(784, np.float32)
kernels.da_train(X, U, 0, 2, bs, W0, b0, bp, np.float32(0.7), np.float32(0.01))
res = {}
for rep in range(7):
    for th in (1, 2):
        with blas.threads(th):
            P = params()
            t0 = time.perf_counter(); kernels.mlp_train(X, Y, 0, n, bs, *P, np.float32(0.1)); res.setdefault(("ft", th), []).append((time.perf_counter() - t0) / n * 1e3)
            t0 = time.perf_counter(); kernels.da_train(X, U, 0, n, bs, W0, b0, bp, np.float32(0.7), np.float32(0.01)); res.setdefault(("da0", th), []).append((time.perf_counter() - t0) / n * 1e3)
for k, v in sorted(res.items()): print(k, "median %.2f ms" % np.median(v), ["%.2f" % x for x in v])
print(blas.num_threads())
