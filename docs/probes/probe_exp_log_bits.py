"""Probe (round 10, docs/performance.md section 15): the kernels' exp, log and log1p against another commit's
(copied as the package sda_ab: `git archive REV sda | tar -x -C /tmp/abpkg && mv /tmp/abpkg/sda /tmp/abpkg/sda_ab`),
bit for bit: every float32 argument (2**32 of each), and 84 million float64 ones (random bit patterns, normal,
uniform over the range, log-uniform from subnormal to huge, [0, 1)) with the special values and range edges.
Prints how many differ (nan counts as equal to nan).  Run from the repository root; about 10 minutes."""
import sys
import time

sys.path.insert(0, "/tmp/abpkg")
sys.path.insert(0, ".")
import numba  # noqa: E402
import numpy as np  # noqa: E402

from sda.engines import kernel_steps as new  # noqa: E402
from sda_ab.engines import kernel_steps as old  # noqa: E402


def applier(kernels):
    @numba.njit(nogil=True)
    def apply(function, x, out):
        for i in range(x.size):
            if function == 0:
                out[i] = kernels.exp(x[i])
            elif function == 1:
                out[i] = kernels.log(x[i])
            else:
                out[i] = kernels.log1p(x[i])
    return apply


apply_new, apply_old = applier(new), applier(old)


def differing(x):
    a, b = np.empty_like(x), np.empty_like(x)
    with np.errstate(all="ignore"):
        apply_new(function, x, a)
        apply_old(function, x, b)
    bits = np.uint32 if x.dtype == np.float32 else np.uint64
    return int((~((a.view(bits) == b.view(bits)) | (np.isnan(a) & np.isnan(b)))).sum())


start = time.time()
chunk = 1 << 26
for function in (0, 1, 2):
    bad = sum(differing(np.arange(c, c + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32))
              for c in range(0, 1 << 32, chunk))
    print(f"float32 {('exp', 'log', 'log1p')[function]}: every argument, {bad} differ ({time.time() - start:.0f} s)",
          flush=True)
rng = np.random.RandomState(1)
n = 1 << 24
cases = [rng.randint(0, 2**63, n, dtype=np.int64).view(np.float64) * rng.choice([-1, 1], n),
         rng.randn(n) * 10, rng.uniform(-750, 720, n), 10.0 ** rng.uniform(-320, 308, n), rng.rand(n),
         np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 709.782712893384, 709.7827128933841, -745.1332191019412,
                   -745.1332191019413, 2.2250738585072014e-308, 2.225073858507201e-308, 5e-324, 1.4142135623730951,
                   1.4142135623730954, 2.0, 1.0, -1.0, -0.9999999999999999, 1e-300, -1e-17, 1e-17])]
for function in (0, 1, 2):
    bad = sum(differing(x) for x in cases)
    print(f"float64 {('exp', 'log', 'log1p')[function]}: {sum(x.size for x in cases)} arguments, {bad} differ", flush=True)
