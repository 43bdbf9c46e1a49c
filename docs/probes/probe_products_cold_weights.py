"""Scratch probe (round 7, docs/performance.md section 12): the products on 1..12 different 4 MB weight
matrices in turn (a working set beyond the caches) against one matrix; run from the repository root."""
import time, numpy as np
from sda.engines import blas
rng = np.random.default_rng(0)
f = np.float32
h = rng.random((20, 1000)).astype(f); d = (rng.standard_normal((20, 1000)) * 1e-3).astype(f)
for count in (1, 2, 3, 4, 6, 8, 12):
    Wl = [(rng.standard_normal((1000, 1000)) * 0.05).astype(f) for _ in range(count)]
    res = []
    for name, fn in [("fwd", lambda W: blas.product(h, W)), ("bwd_t", lambda W: blas.product_t(d, W)), ("upd", lambda W: blas.add_product_tn(-1e-9, h, d, W))]:
        for W in Wl: fn(W)
        best = 1e9
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(40):
                for W in Wl: fn(W)
            best = min(best, (time.perf_counter() - t0) / (40 * count))
        res.append(f"{name} {best*1e3:.3f}")
    print(f"{count:2d} x 4 MB:", "  ".join(res))
