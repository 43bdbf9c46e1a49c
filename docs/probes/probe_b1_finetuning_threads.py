"""Scratch probe (round 7, docs/performance.md section 12): a batch-1 finetuning step on one thread and on two,
for hidden layers of 100 to 1000 units (the two-thread cost of the barriers, beside that of sharing memory)."""
import time, numpy as np
from numba.typed import List
from sda.engines import kernel_steps as ks, threads
rng = np.random.default_rng(0)
f = np.float32
N = 2000
X = rng.random((N, 784)).astype(f); X[rng.random((N, 784)) < 0.8] = 0
Y = rng.integers(0, 10, N).astype(np.int32)
for hidden in (100, 250, 500, 1000):
    sizes = [784, hidden, hidden, hidden]
    Ws = List([(rng.standard_normal((a, b)) * 0.05).astype(f) for a, b in zip(sizes[:-1], sizes[1:])])
    bs = List([np.zeros(b, f) for b in sizes[1:]])
    W_out = np.zeros((hidden, 10), f); b_out = np.zeros(10, f)
    res = []
    for n in (1, 2):
        def call():
            return threads.run_roles(ks.mlp_train_b1, n, X, Y, 0, N, Ws, bs, W_out, b_out, f(0.01), *ks.mlp_workspace(Ws, W_out))
        call(); best = 1e9
        for _ in range(3):
            t0 = time.perf_counter(); call(); best = min(best, (time.perf_counter() - t0) / N)
        res.append(best * 1e3)
    print(f"hidden {hidden:5d}: 1 thread {res[0]:.3f} ms, 2 threads {res[1]:.3f} ms, x{res[0]/res[1]:.2f}")
