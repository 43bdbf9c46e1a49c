# Probe (round 12, docs/performance.md section 17): the dA update (with the next forward sums) and g passes on two threads at once, each on its own matrix, row-major, row-major in bands of 128 columns, and in panels; run from the repository root: python docs/probes/panels.py 784 0.19
import sys, time, threading
sys.path.insert(0, "."); sys.path.insert(0, "docs/probes")
import numpy as np, numba
from dA_update_blocks import upd8, plain, njit, make_blocked
blk64 = make_blocked(upd8, 128, 64)
blk1024 = make_blocked(upd8, 128, 1024)
from sda.engines import blas

@njit
def plain_g(W, dz, g, reps):
    n_vis, n = W.shape
    for r in range(reps):
        for i in range(n_vis):
            d = dz[i]
            for j in range(n):
                g[j] += d * W[i, j]

@njit
def panel_update(P, arow, crow, txn, dh, h, acc, reps):
    npan, n_vis, w = P.shape
    for r in range(reps):
        for p in range(npan):
            upd8(P[p], arow, crow, txn, dh[p*128:(p+1)*128], h[p*128:(p+1)*128], acc[p*128:(p+1)*128], 0, n_vis, 0)

from dA_update_blocks import upd4
from numba.extending import intrinsic
@njit
def panel_update64(P, arow, crow, txn, dh, h, acc, reps):
    npan, n_vis, w = P.shape
    for r in range(reps):
        for p in range(npan):
            upd4(P[p], arow, crow, txn, dh[p*64:(p+1)*64], h[p*64:(p+1)*64], acc[p*64:(p+1)*64], 0, n_vis, 0)

@njit
def panel_g(P, dz, g, rows, reps):
    npan, n_vis, w = P.shape
    for r in range(reps):
        for b0 in range(0, n_vis, 16):
            nb = min(16, n_vis - b0)
            for p in range(npan):
                blas.add_rows_block(g[p*128:(p+1)*128], dz, P[p], rows[b0:b0+nb], nb, 0)

@njit
def rowmajor_g_blocked(W, dz, g, rows, reps):
    n_vis, n = W.shape
    for r in range(reps):
        for b0 in range(0, n_vis, 16):
            nb = min(16, n_vis - b0)
            for c0 in range(0, n, 128):
                blas.add_rows_block(g[c0:c0+128], dz, W, rows[b0:b0+nb], nb, c0)

def to_panels64(W):
    n_vis, n = W.shape
    P = np.zeros((n // 64, n_vis, 64), W.dtype)
    for p in range(n // 64):
        P[p] = W[:, p*64:(p+1)*64]
    return P

def to_panels(W):
    n_vis, n = W.shape
    P = np.zeros((n // 128, n_vis, 128), W.dtype)
    for p in range(n // 128):
        P[p] = W[:, p*128:(p+1)*128]
    return P

def run2(fn_args):
    ts = []
    def go(f, a):
        t0 = time.perf_counter(); f(*a); ts.append(time.perf_counter() - t0)
    th = [threading.Thread(target=go, args=fa) for fa in fn_args]
    t0 = time.perf_counter()
    for t in th: t.start()
    for t in th: t.join()
    return time.perf_counter() - t0

dt = np.float32; rng = np.random.RandomState(0); lr = dt(1e-3)
n_vis, n, density = int(sys.argv[1]), 512, float(sys.argv[2])
reps = 200
def mk():
    W = (rng.randn(n_vis, n) * 0.05).astype(dt)
    tx = (rng.rand(n_vis) * (rng.rand(n_vis) < density)).astype(dt); txn = (rng.rand(n_vis) * (rng.rand(n_vis) < density)).astype(dt)
    return dict(W=W, P=to_panels(W), P64=to_panels64(W), dh=rng.rand(n).astype(dt), h=rng.rand(n).astype(dt), tx=tx, txn=txn,
                dz=(rng.rand(n_vis)*1e-3).astype(dt), acc=np.zeros(n, dt), g=np.zeros(n, dt),
                arow=(lr*tx).astype(dt), crow=(lr*(rng.rand(n_vis)*1e-3)).astype(dt), rows=np.arange(n_vis, dtype=np.int64))
S = [mk(), mk()]
for s in S:  # check bits: plain vs panel update
    W = s["W"].copy(); acc = np.zeros(n, dt); P = to_panels(W); acc2 = np.zeros(n, dt)
    dz = s["crow"] / lr  # crow = lr*dz exactly? use arow/crow consistent: plain computes a=lr*tx, c=lr*dz
    plain(W, s["dh"], s["h"], s["tx"], dz, s["txn"], lr, acc, 1)
    arow = (lr * s["tx"]).astype(dt); crow = (lr * dz).astype(dt)
    panel_update(P, arow, crow, s["txn"], s["dh"], s["h"], acc2, 1)
    print("update same bits:", np.array_equal(np.concatenate(list(P), axis=1), W), np.array_equal(acc, acc2))
    g1 = np.zeros(n, dt); g2 = np.zeros(n, dt); g3 = np.zeros(n, dt)
    plain_g(s["W"], s["dz"], g1, 1); panel_g(s["P"], s["dz"], g2, s["rows"], 1); rowmajor_g_blocked(s["W"], s["dz"], g3, s["rows"], 1)
    print("g same bits:", np.array_equal(g1, g2), np.array_equal(g1, g3))
    break
V = {
 "update plain": lambda s: (plain, (s["W"], s["dh"], s["h"], s["tx"], s["dz"], s["txn"], lr, s["acc"], reps)),
 "update rm band64": lambda s: (blk64, (s["W"], s["dh"], s["h"], s["tx"], s["dz"], s["txn"], lr, s["acc"], reps)),
 "update rm band1024": lambda s: (blk1024, (s["W"], s["dh"], s["h"], s["tx"], s["dz"], s["txn"], lr, s["acc"], reps)),
 "update panels": lambda s: (panel_update, (s["P"], s["arow"], s["crow"], s["txn"], s["dh"], s["h"], s["acc"], reps)),
 "update panels64": lambda s: (panel_update64, (s["P64"], s["arow"], s["crow"], s["txn"], s["dh"], s["h"], s["acc"], reps)),
 "g plain": lambda s: (plain_g, (s["W"], s["dz"], s["g"], reps)),
 "g rowmajor blk": lambda s: (rowmajor_g_blocked, (s["W"], s["dz"], s["g"], s["rows"], reps)),
 "g panels": lambda s: (panel_g, (s["P"], s["dz"], s["g"], s["rows"], reps)),
}
for name, mkf in V.items():  # warm
    f, a = mkf(S[0]); f(*a[:-1], 1)
res = {k: [] for k in V}
for rnd in range(5):
    for name, mkf in V.items():
        res[name].append(run2([mkf(S[0]), mkf(S[1])]) / reps * 1e6)
        res[name + " 1thr"] = res.get(name + " 1thr", []) + [run2([mkf(S[0])]) / reps * 1e6]
for k, v in res.items():
    print(f"{n_vis}x{n} d={density} {k:24s} min {min(v):7.1f} us  med {sorted(v)[len(v)//2]:7.1f}")
