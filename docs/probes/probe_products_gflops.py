"""Scratch probe (round 7, docs/performance.md section 12): GFLOP/s of the deterministic products against
NumPy's OpenBLAS on one thread, at the shapes of a batch-20 step on one of two threads."""
import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import time, numpy as np
from sda.engines import blas
rng = np.random.default_rng(0)
f = np.float32
A = rng.random((20, 1000)).astype(f)
W = rng.standard_normal((1000, 1000)).astype(f)
Wh = W[:, :500]
B = rng.random((20, 500)).astype(f)
def t(fn, n=300):
    fn()
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n): fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e3
fl = 2 * 20 * 1000 * 500 / 1e9
for name, fn in [("numpy A@Wh", lambda: A @ Wh), ("blas.product A@Wh", lambda: blas.product(A, Wh)),
                 ("blas.product_t A@W[:500].T", lambda: blas.product_t(A, W[:500])),
                 ("numpy A@W[:500].T", lambda: A @ W[:500].T),
                 ("add_product_tn A,B->Wh", lambda: blas.add_product_tn(-1e-9, A, B, Wh)),
                 ("numpy Wh += A.T@B", lambda: np.add(Wh, A.T @ B, out=Wh))]:
    ms = t(fn)
    print(f"{name:30s} {ms:.3f} ms  {fl/ms*1e3:.1f} GFLOP/s")
