"""Do glibc's libm variants (selected per CPU by ifunc: FMA/AVX2 or SSE2) give the same bits?

Run twice and compare the digests:
    python docs/probes/probe_libm_variants.py
    GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX512F python docs/probes/probe_libm_variants.py
float32: exhaustively, every float32 in the range the kernels feed to expf / log1pf / logf;
float64: 4 million random arguments.  Calls go through Numba (math.exp etc.), as in the kernels.
"""
import hashlib
import math
import sys

import numba
import numpy as np


@numba.njit(fastmath=False)
def apply(x, which, out):
    for i in range(x.size):
        v = x[i]
        if which == 0:
            out[i] = math.exp(v)
        elif which == 1:
            out[i] = math.log1p(v)
        else:
            out[i] = math.log(v)


@numba.njit
def float32_range(lo_bits, hi_bits, out):
    for i in range(out.size):
        out[i] = lo_bits + i if lo_bits + i < hi_bits else hi_bits


def exhaustive(which, lo, hi):
    """Digest of f(x) for every float32 x in [lo, hi] (both of the same sign)."""
    digest = hashlib.sha256()
    a, b = sorted(np.array([lo, hi], np.float32).view(np.int32).tolist())
    chunk = 1 << 24
    bits = np.empty(chunk, np.int32)
    out = np.empty(chunk, np.float32)
    for start in range(a, b + 1, chunk):
        float32_range(start, b, bits)
        x = bits.view(np.float32)
        apply(x, which, out)
        digest.update(out.tobytes())
    return digest.hexdigest()[:16]


if __name__ == "__main__":
    print("float32 exp  [-104, 0]", exhaustive(0, -104.0, -0.0))
    print("float32 exp  [0, 89]  ", exhaustive(0, 0.0, 89.0))
    print("float32 log1p [0, 1]  ", exhaustive(1, 0.0, 1.0))
    print("float32 log  [1e-30, 1e30]", exhaustive(2, 1e-30, 1e30))
    r = np.random.RandomState(0)
    for which, name, x in ((0, "exp", r.randn(4_000_000) * 8), (1, "log1p", np.abs(r.randn(4_000_000))),
                           (2, "log", np.abs(r.randn(4_000_000)) * 3 + 1e-3)):
        out = np.empty_like(x)
        apply(x, which, out)
        print("float64", name, "random", hashlib.sha256(out.tobytes()).hexdigest()[:16])
    sys.stdout.flush()
