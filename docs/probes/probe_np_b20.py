"""b20 finetune step: the Numba kernel vs the same maths in NumPy (numpy's BLAS) + the kernel's gemm update."""
import os; os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import sys, time, numpy as np
sys.path.insert(0, ".")  # run from the repository root
from sda import kernels
from numba import typed, njit
from scipy.linalg.blas import sgemm
r = np.random.RandomState(0)
bs = 20; n = 50
X = (r.rand(bs*n, 784) * (r.rand(bs*n, 784) < 0.2)).astype(np.float32)
Y = r.randint(0, 10, bs*n).astype(np.int32)
def params():
    rr = np.random.RandomState(1)
    Ws, b = typed.List(), typed.List()
    for a, c in ((784, 1000), (1000, 1000), (1000, 1000)):
        Ws.append((rr.randn(a, c) * 0.05).astype(np.float32)); b.append(np.zeros(c, np.float32))
    return Ws, b, (rr.randn(1000, 10) * 0.05).astype(np.float32), np.zeros(10, np.float32)
@njit
def upd(a, d, W, lr):
    kernels.gemm_accumulate(-lr, a, d, W)
def np_train(X, Y, first, stop, bs, Ws, b, Wo, bo, lr):
    costs = []
    for t in range(first, stop):
        x = X[t*bs:(t+1)*bs]; y = Y[t*bs:(t+1)*bs]
        acts = [x]
        for W, bb in zip(Ws, b):
            s = acts[-1] @ W; s += bb; np.negative(s, out=s); np.exp(s, out=s); s += 1; np.reciprocal(s, out=s)
            acts.append(s)
        z = acts[-1] @ Wo + bo; z -= z.max(1, keepdims=True); np.exp(z, out=z); z /= z.sum(1, keepdims=True)
        costs.append(-np.log(z[np.arange(bs), y]).mean())
        z[np.arange(bs), y] -= 1; z /= bs
        delta = z
        Ls = list(zip(Ws, b)) + [(Wo, bo)]
        for L in range(len(Ls) - 1, -1, -1):
            W, bb = Ls[L]
            if L > 0:
                a = acts[L]; d_in = delta @ W.T; d_in *= a * (1 - a)
            upd(np.ascontiguousarray(acts[L]), delta, W, lr); bb -= lr * delta.sum(0)
            if L > 0: delta = d_in
    return costs
kernels.mlp_train(X, Y, 0, 2, bs, *params(), np.float32(0.1)); np_train(X, Y, 0, 2, bs, *params(), np.float32(0.1))
res = {}
for rep in range(5):
    for name, f in (("kernel", kernels.mlp_train), ("numpy", np_train)):
        P = params()
        t0 = time.perf_counter(); f(X, Y, 0, n, bs, *P, np.float32(0.1)); res.setdefault(name, []).append((time.perf_counter() - t0) / n * 1e3)
for k, v in res.items(): print(k, "median %.2f ms" % np.median(v), ["%.2f" % x for x in v])
P1, P2 = params(), params()
c1 = kernels.mlp_train(X, Y, 0, n, bs, *P1, np.float32(0.1)); c2 = np_train(X, Y, 0, n, bs, *P2, np.float32(0.1))
print("max dW", max(np.abs(a - b).max() for a, b in zip(P1[0], P2[0])), np.abs(np.array(c1) - c2).max())
