# Probe (round 11, section 16): da_train_b1 with the first thread accumulating g LAG blocks behind its dot products (env LAG, SHARE); imported by an A/B script like ab_kernels.py; run from the repository root.
import sys, os; sys.path.insert(0, ".")
import numpy as np, numba
from sda.engines import kernel_steps as K, blas, threads
from sda.engines.kernel_steps import *
from sda.engines.kernel_steps import _split, _corrupt, _sigmoid, _reconstruction_row, _copy_columns, _forward_columns, _add_rows
from sda.engines.blas import dot
from sda.engines.threads import barrier, publish, wait_for
njit = numba.njit(fastmath=False, nogil=True, error_model="numpy")
LAG = int(os.environ.get("LAG", "2"))
FIRST_THREAD_COLUMNS = float(os.environ.get("SHARE", "0.6"))

@njit
def da_variant(X, U, first, stop, W, b, b_prime, keep, lr, dz, terms, states, role, n_threads, counters):
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
    if stop <= first:
        return costs
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
    _forward_columns(tx, W_own, b_own, h, 0, n_own, np.empty(n_vis, np.int64))
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
            # g over a block of rows LAG blocks after their dot products, while the rows are still in this
            # core's cache
            for block in range(blocks + LAG):
                if block < blocks:
                    for i in range(block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK)):
                        blas.dot_head(W_own[i], h, n_own, states[i])
                    publish(counters, 0, published + block + 1)
                done = block - LAG
                if done >= 0:
                    wait_for(counters, 1, published + done + 1)
                    for i in range(done * ROW_BLOCK, min(n_vis, (done + 1) * ROW_BLOCK)):
                        cost += terms[i]
                        d_i = dz[i]
                        for j in range(n_own):
                            g[j] += d_i * W_own[i, j]
            costs[t - first] = cost
        else:
            for block in range(blocks):
                wait_for(counters, 0, published + block + 1)
                lo, hi = block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK)
                s = s_block[:hi - lo]
                for i in range(lo, hi):
                    s[i - lo] = blas.dot_tail(W_own[i], h, 0, states[i])
                _reconstruction_row(s, b_prime, x, terms, dz, lo, 1, e)
                for i in range(lo, hi):
                    d_i = dz[i]
                    b_prime[i] -= lr * d_i
                    for j in range(n_own):
                        g[j] += d_i * W_own[i, j]
                publish(counters, 1, published + block + 1)
        published += blocks
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
    if n_threads == 2:
        _copy_columns(W_own, b_own, W, b, col_start)
    # the second thread's dz, terms and b' of a step are written only after the first has published its
    # partial sums of that step, so neither waits at the end of a step; both finish before the call returns
    barrier(counters, role, published + 1)
    return costs


