import numpy as np, numba, time, warnings
warnings.simplefilter('ignore')
W = np.random.rand(784, 1000).astype(np.float32)
y = np.random.rand(1, 1000).astype(np.float32)
@numba.njit
def viaA(y, W):
    Wt = W.T  # layout F statically for C input
    return np.dot(y, Wt)
@numba.njit
def viaA2(y, W):
    Wt = W.T[:, :]  # force 'A'
    return np.dot(y, Wt)
@numba.njit
def copyT(W):
    return np.ascontiguousarray(W.T)
def t(f, *a, n=200):
    f(*a)
    ts=[]
    for r in range(5):
        s=time.perf_counter()
        for i in range(n): f(*a)
        ts.append((time.perf_counter()-s)/n*1e3)
    return np.median(ts)
Wa = W.T[:, :]  # numpy view
print('np y@W.T', t(lambda: y @ W.T))
print('numba F', t(viaA, y, W), viaA.nopython_signatures)
print('numba A', t(viaA2, y, W))
print('numba A from python (A layout arg)', t(viaA, y, W[:, ::1]))
print('copyT', t(copyT, W))
x = np.random.rand(1,784).astype(np.float32)
print('np x@W', t(lambda: x @ W))
print('np outer', t(lambda: x.T @ y))
print('np elem W - lr*(a+b)', t(lambda: np.subtract(W, 0.1*(W+W), out=W)))
