"""Scratch probe (round 7, docs/performance.md section 12): which reconstruction loops LLVM vectorises
(time per 20 000 inputs); written before the two-loop split."""
import time, numpy as np, numba
from sda.engines import kernel_steps as ks
from sda.engines.kernel_steps import exp, log1p
rng = np.random.default_rng(0)
f = np.float32
s = (rng.standard_normal(20000) * 3).astype(f)
x = rng.random(20000).astype(f)
o32 = np.empty(20000, f); o64 = np.empty(20000)
@numba.njit(fastmath=False)
def both(n, s, x, o32, o64):
    for _ in range(n):
        for i in range(s.shape[0]):
            e = exp(-abs(s[i]))
            o64[i] = max(s[i], 0.0) + log1p(e) - x[i] * s[i]
            z = (1.0 if s[i] >= 0.0 else e) / (1.0 + e)
            o32[i] = z - x[i]
@numba.njit(fastmath=False)
def both_noz(n, s, x, o32, o64):
    for _ in range(n):
        for i in range(s.shape[0]):
            e = exp(-abs(s[i]))
            o64[i] = max(s[i], 0.0) + log1p(e) - x[i] * s[i]
            o32[i] = e - x[i]
@numba.njit(fastmath=False)
def both_nolog(n, s, x, o32, o64):
    for _ in range(n):
        for i in range(s.shape[0]):
            e = exp(-abs(s[i]))
            o64[i] = max(s[i], 0.0) + e - x[i] * s[i]
            z = (1.0 if s[i] >= 0.0 else e) / (1.0 + e)
            o32[i] = z - x[i]
@numba.njit(fastmath=False)
def both_zdiv(n, s, x, o32, o64):
    for _ in range(n):
        for i in range(s.shape[0]):
            e = exp(-abs(s[i]))
            o64[i] = max(s[i], 0.0) + log1p(e) - x[i] * s[i]
            z = 1.0 / (1.0 + e)
            o32[i] = z - x[i]
def t(fn):
    fn(2, s, x, o32, o64); best=1e9
    for _ in range(5):
        t0=time.perf_counter(); fn(100, s, x, o32, o64); best=min(best,(time.perf_counter()-t0)/100)
    return best*1e3
for fn in (both, both_noz, both_nolog, both_zdiv):
    print(f"{fn.__name__:12s} {t(fn):.3f} ms / 20000")
