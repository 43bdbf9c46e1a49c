"""Probe (round 8, section 13): two threads sweeping their rows of a 1000 x 1000 W in segments of 125-1001 columns
("nowait": no hand-off between them; "pipe": the forward pipeline), against reading whole rows.  NB: the one-thread
figures of the fwd_pipe4 variants cover half the rows.  Needs bench/floor.py importable as bench_floor."""
import sys, time, statistics
sys.path.insert(0, ".")
import numpy as np, numba
import sda
from sda.engines import kernel_steps as K, blas, threads
from sda.engines.threads import barrier
from bench_floor import _read, _read_write
dt = np.float32
rng = np.random.RandomState(0)
W = (rng.randn(1000, 1000) * 0.05).astype(dt)
a = rng.rand(1000).astype(dt); delta = (rng.randn(1000) * 1e-3).astype(dt)
@numba.njit(nogil=True)
def fwd_pipe(n, a, W, b, out, partial, role, n_threads, counters):
    meet = 0
    for _ in range(n):
        meet = K._forward_rows_pipelined(a, W, b, out, partial, role, meet, counters)
        meet += 1
        barrier(counters, role, meet)
    return np.zeros(1)
@numba.njit(nogil=True)
def fwd_cols(n, a, W, b, out, role, n_threads, counters):
    meet = 0
    s, e = K._split(1000, 0.5, role, n_threads, 16)
    for _ in range(n):
        K._forward_columns(a, W, b, out, s, e)
        meet += 1
        barrier(counters, role, meet)
    return np.zeros(1)
@numba.njit(nogil=True)
def bwd_rows(n, a, delta, W, d_in, role, n_threads, counters):
    meet = 0
    s, e = K._split(1000, 0.5, role, n_threads, 1)
    for _ in range(n):
        K._backprop_rows(a, delta, W, dt(1e-9), d_in, s, e)
        meet += 1
        barrier(counters, role, meet)
    return np.zeros(1)
@numba.njit(nogil=True)
def floor_read(n, W, x, out, role, n_threads, counters):
    s, e = K._split(1000, 0.5, role, n_threads, 1)
    rows = np.arange(s, e); meet = 0
    for _ in range(n):
        _read(W, x, rows, out); meet += 1; barrier(counters, role, meet)
    return np.zeros(1)
@numba.njit(nogil=True)
def floor_rw(n, W, x, role, n_threads, counters):
    s, e = K._split(1000, 0.5, role, n_threads, 1)
    rows = np.arange(s, e); meet = 0
    for _ in range(n):
        _read_write(W, x, rows, dt(1e-9)); meet += 1; barrier(counters, role, meet)
    return np.zeros(1)
from sda.engines.threads import publish, wait_for
@numba.njit(nogil=True)
def fwdp(x, W, b, out, partial, role, count, counters, FB):
    start, stop = K._split(W.shape[0], 0.5, role, 2, 1)
    n_cols = W.shape[1]
    blocks = (n_cols + FB - 1) // FB
    acc = np.empty(FB, W.dtype)
    for block in range(blocks):
        first, last = np.uint64(block * FB), np.uint64(min(n_cols, (block + 1) * FB))
        if role == 0:
            for j in range(first, last):
                acc[j - first] = b[j]
        else:
            wait_for(counters, 0, count + block + 1)
            for j in range(first, last):
                acc[j - first] = partial[j]
        for i in range(start, stop):
            xi = x[i]
            if xi != 0.0:
                for j in range(first, last):
                    acc[j - first] += xi * W[i, j]
        if role == 0:
            for j in range(first, last):
                partial[j] = acc[j - first]
            publish(counters, 0, count + block + 1)
        else:
            for j in range(first, last):
                out[j] = K._sigmoid(acc[j - first])
    return count + blocks
@numba.njit(nogil=True)
def fwdp4(x, W, b, out, partial, role, count, counters, FB, nz):
    start, stop = K._split(W.shape[0], 0.5, role, 2, 1)
    n_cols = W.shape[1]
    blocks = (n_cols + FB - 1) // FB
    acc = np.empty(FB, W.dtype)
    n_nz = 0
    for i in range(start, stop):
        if x[i] != 0.0:
            nz[n_nz] = i
            n_nz += 1
    quads = n_nz // 4 * 4
    for block in range(blocks):
        first, last = np.uint64(block * FB), np.uint64(min(n_cols, (block + 1) * FB))
        if role == 0:
            for j in range(first, last):
                acc[j - first] = b[j]
        else:
            if FB % 2 == 0:
                wait_for(counters, 0, count + block + 1)
            for j in range(first, last):
                acc[j - first] = partial[j]
        for k in range(0, quads, 4):
            i0, i1, i2, i3 = nz[k], nz[k + 1], nz[k + 2], nz[k + 3]
            x0, x1, x2, x3 = x[i0], x[i1], x[i2], x[i3]
            for j in range(first, last):
                acc[j - first] = (((acc[j - first] + x0 * W[i0, j]) + x1 * W[i1, j]) + x2 * W[i2, j]) + x3 * W[i3, j]
        for k in range(quads, n_nz):
            i = nz[k]
            xi = x[i]
            for j in range(first, last):
                acc[j - first] += xi * W[i, j]
        if role == 0:
            for j in range(first, last):
                partial[j] = acc[j - first]
            publish(counters, 0, count + block + 1)
        else:
            for j in range(first, last):
                out[j] = K._sigmoid(acc[j - first])
    return count + blocks
@numba.njit(nogil=True)
def fwd_pipe4(n, a, W, b, out, partial, FB, role, n_threads, counters):
    meet = 0
    nz = np.empty(W.shape[0], np.int64)
    for _ in range(n):
        meet = fwdp4(a, W, b, out, partial, role, meet, counters, FB, nz)
        meet += 1
        barrier(counters, role, meet)
    return np.zeros(1)
@numba.njit(nogil=True)
def fwd_pipe_b(n, a, W, b, out, partial, FB, role, n_threads, counters):
    meet = 0
    for _ in range(n):
        meet = fwdp(a, W, b, out, partial, role, meet, counters, FB)
        meet += 1
        barrier(counters, role, meet)
    return np.zeros(1)
b = np.zeros(1000, dt); out = np.empty(1000, dt); partial = np.empty(1000, dt); d_in = np.empty(1000, dt)
tests = {
 "nowait 125": lambda n, th: threads.run_roles(fwd_pipe4, th, n, a, W, b, out, partial, 125),
 "nowait 251": lambda n, th: threads.run_roles(fwd_pipe4, th, n, a, W, b, out, partial, 251),
 "nowait 501": lambda n, th: threads.run_roles(fwd_pipe4, th, n, a, W, b, out, partial, 501),
 "nowait 1001": lambda n, th: threads.run_roles(fwd_pipe4, th, n, a, W, b, out, partial, 1001),
 "pipe 128": lambda n, th: threads.run_roles(fwd_pipe4, th, n, a, W, b, out, partial, 128),
 "pipe 500": lambda n, th: threads.run_roles(fwd_pipe4, th, n, a, W, b, out, partial, 500),
 "floor read": lambda n, th: threads.run_roles(floor_read, th, n, W, a, out),
}
for f in tests.values(): f(2, 2); f(2, 1)
res = {(k, th): [] for k in tests for th in (1, 2)}
for rep in range(7):
    for (k, th) in res:
        t0 = time.perf_counter(); tests[k](300, th); res[(k, th)].append((time.perf_counter() - t0) / 300 * 1e3)

for (k, th), v in res.items(): print(f"{k:20s} threads {th}: {statistics.median(v):.4f} ms per 1000x1000 pass")
