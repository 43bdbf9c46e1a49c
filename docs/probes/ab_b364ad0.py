"""Probe (round 11, docs/performance.md section 16): b364ad0's one-thread kernels (the baseline of the faithful-run target) against this checkout's, on one thread and
on two, in one process, alternating; real-like data.  Set up: git archive b364ad0 sda | tar -x -C /tmp/beforepkg,
then mv /tmp/beforepkg/sda /tmp/beforepkg/sda_before; run from this checkout with b364ad0's venv (its OpenBLAS)."""
import sys, time, statistics
sys.path.insert(0, "/tmp/beforepkg"); sys.path.insert(0, ".")
import numpy as np
from numba.typed import List
from sda.engines import kernel_steps as KB, threads as TB
from sda_before.engines import kernel_steps as KA
dt = np.float32; rng = np.random.RandomState(0); steps = 500; pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
def da(n_vis, dens, keep):
    X = (rng.rand(steps, n_vis) * (rng.rand(steps, n_vis) < dens)).astype(dt)
    U = rng.rand(steps, n_vis).astype(dt)
    W0 = (rng.randn(n_vis, 1000) * 0.05).astype(dt)
    def call(which):
        W, b, bp = W0.copy(), np.zeros(1000, dt), np.zeros(n_vis, dt)
        t0 = time.perf_counter()
        if which == "before":
            KA.da_train(X, U, 0, steps, 1, W, b, bp, dt(keep), dt(0.001))
        else:
            TB.run_roles(KB.da_train_b1, which, X, U, 0, steps, W, b, bp, dt(keep), dt(0.001), *KB.da_workspace(n_vis, dt))
        return time.perf_counter() - t0, W
    return call
Xm = (rng.rand(steps, 784) * (rng.rand(steps, 784) < 0.19)).astype(dt)
Ym = rng.randint(0, 10, steps).astype(np.int64)
shapes = [(784, 1000), (1000, 1000), (1000, 1000)]
W0s = [(rng.randn(*s) * 0.05).astype(dt) for s in shapes]
Wo0 = (rng.randn(1000, 10) * 0.05).astype(dt)
def mlp(which):
    Ws, bs = List([w.copy() for w in W0s]), List([np.zeros(s[1], dt) for s in shapes])
    Wo, bo = Wo0.copy(), np.zeros(10, dt)
    t0 = time.perf_counter()
    if which == "before":
        KA.mlp_train(Xm, Ym, 0, steps, 1, Ws, bs, Wo, bo, dt(0.1))
    else:
        TB.run_roles(KB.mlp_train_b1, which, Xm, Ym, 0, steps, Ws, bs, Wo, bo, dt(0.1), *KB.mlp_workspace(Ws, Wo))
    return time.perf_counter() - t0, Ws[1]
for name, call in (("dA 784 (layer 0)", da(784, 0.19, 0.9)), ("dA 1000 (layer 1)", da(1000, 1.0, 0.8)), ("finetuning", mlp)):
    for w in ("before", 1, 2):
        call(w)
    t = {w: [] for w in ("before", 1, 2)}
    for p in range(pairs):
        for w in ("before", 1, 2):
            t[w].append(call(w)[0])
    same = np.array_equal(call("before")[1], call(2)[1])
    med = {w: statistics.median(v) / steps * 1e3 for w, v in t.items()}
    print(f"{name}: ms/step b364ad0 {med['before']:.4f}, ours 1 thread {med[1]:.4f}, 2 threads {med[2]:.4f}; "
          f"b364ad0 / ours: {med['before'] / med[1]:.2f} (1 thread), {med['before'] / med[2]:.2f} (2); same bits {same}")
