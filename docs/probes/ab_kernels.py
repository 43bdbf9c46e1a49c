"""Probe (round 8, docs/performance.md section 13): an in-process A/B of the batch-1 kernels of another commit
(copied as the package sda_ab: `git archive REV sda | tar -x -C /tmp/abpkg && mv /tmp/abpkg/sda /tmp/abpkg/sda_ab`)
against this checkout's, alternating 500-step calls on two threads; prints the median ms per step of each, the median
per-pair ratio A/B, and whether both left the same bits.  Run: python docs/probes/ab_kernels.py da|mlp [pairs]."""
import sys, time, statistics
sys.path.insert(0, "/tmp/abpkg"); sys.path.insert(0, ".")
import numpy as np
import sda  # noqa
from sda.engines import kernel_steps as KB, threads as TB
from sda_ab.engines import kernel_steps as KA, threads as TA
from numba.typed import List
what = sys.argv[1] if len(sys.argv) > 1 else "da"
pairs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
dt = np.float32
rng = np.random.RandomState(0)
steps = 500
def da_case(n_vis):
    X = (rng.rand(steps, n_vis) * (rng.rand(steps, n_vis) < 0.5)).astype(dt)
    U = rng.rand(steps, n_vis).astype(dt)
    W0 = (rng.randn(n_vis, 1000) * 0.05).astype(dt)
    def call(K, T):
        W, b, bp = W0.copy(), np.zeros(1000, dt), np.zeros(n_vis, dt)
        t0 = time.perf_counter()
        T.run_roles(K.da_train_b1, 2, X, U, 0, steps, W, b, bp, dt(0.8), dt(0.001), *K.da_workspace(n_vis, dt))
        return time.perf_counter() - t0, W
    return call
def mlp_case():
    X = (rng.rand(steps, 784) * (rng.rand(steps, 784) < 0.2)).astype(dt)
    Y = rng.randint(0, 10, steps).astype(np.int64)
    shapes = [(784, 1000), (1000, 1000), (1000, 1000)]
    W0s = [(rng.randn(*s) * 0.05).astype(dt) for s in shapes]
    Wo0 = (rng.randn(1000, 10) * 0.05).astype(dt)
    def call(K, T):
        Ws, bs = List([w.copy() for w in W0s]), List([np.zeros(s[1], dt) for s in shapes])
        Wo, bo = Wo0.copy(), np.zeros(10, dt)
        t0 = time.perf_counter()
        T.run_roles(K.mlp_train_b1, 2, X, Y, 0, steps, Ws, bs, Wo, bo, dt(0.1), *K.mlp_workspace(Ws, Wo))
        return time.perf_counter() - t0, Ws[1]
    return call
cases = {"da0": da_case(784), "da1": da_case(1000)} if what == "da" else {"mlp": mlp_case()}
for name, call in cases.items():
    call(KA, TA); call(KB, TB)
    ta, tb, ratio = [], [], []
    for p in range(pairs):
        a, Wa = call(KA, TA); b, Wb = call(KB, TB)
        ta.append(a); tb.append(b); ratio.append(a / b)
    same = np.array_equal(Wa.view(np.uint32), Wb.view(np.uint32))
    print(f"{name}: A {statistics.median(ta)/steps*1e3:.3f} ms/step, B {statistics.median(tb)/steps*1e3:.3f}, "
          f"min A/min B {min(ta)/min(tb):.3f}, median A/B {statistics.median(ratio):.3f} (range {min(ratio):.2f}-{max(ratio):.2f}), same bits {same}")
