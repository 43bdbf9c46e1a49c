"""Probe (round 8, section 13; round 10, section 15): da_train_b1 (as of e449b1a, copied; it calls the package's
_reconstruction_row, exp and log) with rdtsc counters around each part of a two-thread step: the first thread's
dot products, its g pass (and its waits), its update pass; the second thread's waits, its block work (dot tails,
cost terms, dz, g) and update pass, and, within the block work, the dot tails and the reconstruction
(_reconstruction_row) apart.  Prints thousands of TSC cycles per step.  Run from the repository root."""
import sys, time, statistics
sys.path.insert(0, ".")
import numpy as np, numba
import sda
from sda.engines import kernel_steps as K, blas, threads
from sda.engines.kernel_steps import *
from sda.engines.kernel_steps import _split, _corrupt, _sigmoid, _reconstruction_row, _copy_columns
from sda.engines.blas import dot
from sda.engines.threads import barrier, publish, wait_for
from numba.extending import intrinsic
from numba import types
from llvmlite import ir
from numba.core import cgutils
@intrinsic
def rdtsc(typingctx):
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.int64(), codegen
njit = numba.njit(fastmath=False, nogil=True, error_model="numpy")
@njit
def da_timed(X, U, first, stop, W, b, b_prime, keep, lr, dz, terms, states, role, n_threads, counters):
    """Batch-1 dA steps on one thread or two (``role`` 0 or 1 of ``n_threads``), with the same bits.

    Two passes over W per step, where the tutorial's graph takes three (forward, reconstruction, update): the
    next step's corrupted input is known in advance, so each row of W, once updated, is used at once for the
    next step's forward product.  The sums are the same, in the same order, as with a separate forward pass
    (``tests/test_kernels.py`` compares the two bit for bit).

    With two threads each owns half of the hidden units: a private copy of its columns of W (and of b, h, g)
    for the whole call, so that no cache line is written by both cores (columns split within each row of W
    would share lines at the cut, and the cores' prefetchers would pull in each other's lines besides), and
    so that its half stays in its core's cache from step to step (a 784 x 1000 float32 W is 3 MB; this
    machine's cores have 2 MB of L2 each).  Only the reconstruction's dot products W[i].h need both halves: the first
    thread sums its half of each (:func:`sda.engines.blas.dot_head`), block by block of rows, and the second
    finishes them (``dot_tail``: the same sums) one block behind and computes dz; each accumulates
    ``g = W.T dz`` over its own columns."""
    n_vis, n_hid = W.shape
    costs = np.empty(stop - first, np.float64)
    T = np.zeros(8, np.int64)
    if stop <= first:
        return T
    col_start, col_stop = _split(n_hid, FIRST_THREAD_COLUMNS, role, n_threads, blas.dot_group(W))
    if n_threads == 1:
        W_own, b_own = W, b
    else:
        W_own, b_own = np.ascontiguousarray(W[:, col_start:col_stop]), b[col_start:col_stop].copy()
    n_own = col_stop - col_start
    h, g = np.empty(n_own, W.dtype), np.empty(n_own, W.dtype)
    dh, acc = np.empty(n_own, W.dtype), np.empty(n_own, W.dtype)
    blocks = (n_vis + ROW_BLOCK - 1) // ROW_BLOCK
    published = 0
    tx = np.empty(n_vis, W.dtype)
    tx_next = np.empty(n_vis, W.dtype)
    s_block, e = np.empty(ROW_BLOCK, W.dtype), np.empty(ROW_BLOCK, W.dtype)
    _corrupt(X[first], U[0], keep, tx)
    acc[:] = b_own
    for i in range(n_vis):
        xi = tx[i]
        if xi != 0.0:
            for j in range(n_own):
                acc[j] += xi * W_own[i, j]
    for j in range(n_own):
        h[j] = _sigmoid(acc[j])
    for t in range(first, stop):
        x = X[t]
        # the reconstruction z_i = sigmoid(W[i].h + b'_i), dz = z - x, and g = W.T dz
        cost = 0.0
        g[:] = 0.0
        if n_threads == 1:
            for block in range(blocks):
                lo, hi = block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK)
                s = s_block[:hi - lo]
                for i in range(lo, hi):
                    s[i - lo] = dot(W[i], h)
                _reconstruction_row(s, b_prime, x, terms, dz, lo, 1, e)
                for i in range(lo, hi):
                    cost += terms[i]
                    d_i = dz[i]  # a local, so that LLVM need not reload it at every j
                    b_prime[i] -= lr * d_i
                    for j in range(n_hid):
                        g[j] += d_i * W[i, j]
            costs[t - first] = cost
        elif role == 0:
            t0 = rdtsc()
            for block in range(blocks):
                for i in range(block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK)):
                    blas.dot_head(W_own[i], h, n_own, states[i])
                publish(counters, 0, published + block + 1)
            t1 = rdtsc(); T[0] += t1 - t0
            for block in range(blocks):
                tw = rdtsc()
                wait_for(counters, 1, published + block + 1)
                T[2] += rdtsc() - tw
                for i in range(block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK)):
                    cost += terms[i]
                    d_i = dz[i]
                    for j in range(n_own):
                        g[j] += d_i * W_own[i, j]
            costs[t - first] = cost
            T[1] += rdtsc() - t1
        else:
            for block in range(blocks):
                tw = rdtsc()
                wait_for(counters, 0, published + block + 1)
                tb = rdtsc(); T[3] += tb - tw
                lo, hi = block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK)
                s = s_block[:hi - lo]
                for i in range(lo, hi):
                    s[i - lo] = blas.dot_tail(W_own[i], h, 0, states[i])
                t1 = rdtsc(); T[6] += t1 - tb
                _reconstruction_row(s, b_prime, x, terms, dz, lo, 1, e)
                t2 = rdtsc(); T[7] += t2 - t1
                for i in range(lo, hi):
                    d_i = dz[i]
                    b_prime[i] -= lr * d_i
                    for j in range(n_own):
                        g[j] += d_i * W_own[i, j]
                publish(counters, 1, published + block + 1)
                T[4] += rdtsc() - tb
        published += blocks
        tu = rdtsc()
        for j in range(n_own):
            dh[j] = g[j] * h[j] * (1.0 - h[j])
            b_own[j] -= lr * dh[j]
        # W -= lr * (outer(tx, dh) + outer(dz, h)), and with each updated row the next step's pre-activation
        # acc = b + tx_next @ W (rows where tx_next is 0 add nothing, as in _forward_columns)
        last = t + 1 == stop
        if last:
            tx_next[:] = 0.0
        else:
            _corrupt(X[t + 1], U[t + 1 - first], keep, tx_next)
        acc[:] = b_own
        for i in range(n_vis):
            a = lr * tx[i]
            c = lr * dz[i]
            xn = tx_next[i]
            if xn != 0.0:
                for j in range(n_own):
                    W_own[i, j] -= a * dh[j] + c * h[j]
                    acc[j] += xn * W_own[i, j]
            else:
                for j in range(n_own):
                    W_own[i, j] -= a * dh[j] + c * h[j]
        if not last:
            for j in range(n_own):
                h[j] = _sigmoid(acc[j])
            tx, tx_next = tx_next, tx
        T[5] += rdtsc() - tu
    if n_threads == 2:
        _copy_columns(W_own, b_own, W, b, col_start)
    # the second thread's dz, terms and b' of a step are written only after the first has published its
    # partial sums of that step, so neither waits at the end of a step; both finish before the call returns
    barrier(counters, role, published + 1)
    return T



dt = np.float32; rng = np.random.RandomState(0); steps = 500
for n_vis, keep in ((784, 0.9), (1000, 0.8)):
    X = (rng.rand(steps, n_vis) * (rng.rand(steps, n_vis) < (0.19 if n_vis == 784 else 1))).astype(dt)
    U = rng.rand(steps, n_vis).astype(dt)
    W = (rng.randn(n_vis, 1000) * 0.05).astype(dt); b = np.zeros(1000, dt); bp = np.zeros(n_vis, dt)
    for rep in range(4):
        cnt = threads.new_counters(2)
        t0 = time.perf_counter()
        r = threads._side_by_side(lambda: da_timed(X, U, 0, steps, W, b, bp, dt(keep), dt(0.001), *K.da_workspace(n_vis, dt), 0, 2, cnt),
                                  lambda: da_timed(X, U, 0, steps, W, b, bp, dt(keep), dt(0.001), *K.da_workspace(n_vis, dt), 1, 2, cnt))
        el = (time.perf_counter() - t0) / steps * 1e3
    T0, T1 = r[0] / steps / 1000, r[1] / steps / 1000
    print(f"n_vis {n_vis}: {el:.3f} ms/step; kcycles per step: role0 head {T0[0]:.0f}, g-pass {T0[1]:.0f} (of which waits {T0[2]:.0f}), update {T0[5]:.0f} | role1 waits {T1[3]:.0f}, block work {T1[4]:.0f}, update {T1[5]:.0f}; tails {T1[6]:.0f} recon {T1[7]:.0f}")
