import numpy as np, time, statistics
from scipy.linalg import blas
rng = np.random.RandomState(0)
sizes = [784, 1000, 1000, 1000]
Ws = [rng.rand(sizes[k], sizes[k+1]).astype(np.float32)*0.1-0.05 for k in range(3)]
bs = [np.zeros(sizes[k+1], np.float32) for k in range(3)]
Wl = np.zeros((1000, 10), np.float32); bl = np.zeros(10, np.float32)
X = (rng.rand(2000, 784) * (rng.rand(2000, 784) < .19)).astype(np.float32); Y = rng.randint(0, 10, 2000)
lr = np.float32(0.1)
def sig(a): return 1/(1+np.exp(-a))
def step(x, y, fused):
    acts = [x]
    for W, b in zip(Ws, bs):
        acts.append(sig(acts[-1] @ W + b))
    lg = acts[-1] @ Wl + bl
    lg -= lg.max(1, keepdims=True); p = np.exp(lg); p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1; d = p / len(y)
    layers = list(zip(Ws, bs)) + [(Wl, bl)]
    for k in range(3, -1, -1):
        W, b = layers[k]; a = acts[k]
        dn = (d @ W.T) * a * (1 - a) if k > 0 else None
        if fused:
            blas.sgemm(-lr, d, a, beta=1.0, c=W.T, trans_a=1, overwrite_c=1)
        else:
            W -= lr * (a.T @ d)
        b -= lr * d.sum(0)
        d = dn
for fused in [False, True, False, True]:
    for i in range(5): step(X[:20], Y[:20], fused)
    ts = []
    for r in range(5):
        t = time.perf_counter()
        for i in range(50): step(X[i*20:(i+1)*20], Y[i*20:(i+1)*20], fused)
        ts.append((time.perf_counter()-t)/50*1e3)
    print('fused' if fused else 'plain', statistics.median(ts))
# correctness of the sgemm trick
W = rng.rand(5, 4).astype(np.float32); a = rng.rand(3, 5).astype(np.float32); d = rng.rand(3, 4).astype(np.float32)
ref = W - lr * a.T @ d; blas.sgemm(-lr, d, a, beta=1.0, c=W.T, trans_a=1, overwrite_c=1); print(np.abs(W-ref).max())
