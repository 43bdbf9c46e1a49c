# Probe (round 11, section 16): mlp_train_b1 (as of 3dd959f) with rdtsc counters per part of a two-thread finetuning step; run from the repository root.
import sys, os, time; sys.path.insert(0, ".")
import numpy as np, numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from llvmlite import ir
from numba.typed import List
from sda.engines import kernel_steps as K, blas, threads
from sda.engines.kernel_steps import *
from sda.engines.kernel_steps import _split, _sigmoid, _forward_columns, _forward_rows_pipelined, _backprop_rows, exp, log
from sda.engines.threads import barrier, publish, wait_for
njit = numba.njit(fastmath=False, nogil=True, error_model="numpy")
@intrinsic
def rdtsc(typingctx):
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.int64(), codegen

@njit
def mlp_timed(X, Y, first, stop, Ws, bs, W_out, b_out, lr, acts, deltas, p, partial, role, n_threads,
                 counters):
    """Batch-1 finetuning steps on one thread or two (``role`` 0 or 1 of ``n_threads``), with the same bits.
    On two threads each keeps to its half of the rows of every hidden layer's W: the backward passes (one per
    layer: the delta below with the old weights, then the update) split by rows, and so do the forward products
    (:func:`_forward_rows_pipelined`: the second thread continues the first's sums); the softmax layer runs on
    the first thread.  The forward products meet at no barrier: the first thread starts a layer as soon as the
    second has published the outputs below that its rows take, while the second finishes the layer below."""
    n_layers = len(Ws)
    costs = np.empty(stop - first, np.float64)
    n_out = W_out.shape[1]
    meetings = 0
    tallest = 0
    for W in Ws:
        tallest = max(tallest, W.shape[0])
    rows = np.empty(tallest, np.int64)  # this thread's rows with a non-zero input (_nonzero_rows)
    T = np.zeros(16, np.int64)
    for t in range(first, stop):
        x = X[t]
        inputs = x
        for k in range(n_layers):
            t0 = rdtsc()
            if n_threads == 1:
                _forward_columns(inputs, Ws[k], bs[k], acts[k], 0, Ws[k].shape[1], rows)
            else:
                before = meetings
                meetings = _forward_rows_pipelined(inputs, Ws[k], bs[k], acts[k], partial[k % 2], role, meetings,
                                                   counters, rows)
                if role == 0 and k < n_layers - 1:
                    # the second thread's blocks of this layer's output that the first's rows of the next take
                    last_row = _split(Ws[k + 1].shape[0], 0.5, 0, 2, 1)[1] - 1
                    wait_for(counters, 1, before + last_row // blas.rows_block(Ws[k]) + 1)
                elif role == 0:
                    wait_for(counters, 1, meetings)  # all of the top layer, for the softmax layer
            inputs = acts[k]
            T[k] += rdtsc() - t0
        top = acts[n_layers - 1]
        t0 = rdtsc()
        if role == 0:
            logits = b_out.copy()
            for i in range(W_out.shape[0]):
                a = top[i]
                for j in range(n_out):
                    logits[j] += a * W_out[i, j]
            mx = logits.max()
            tot = 0.0
            for j in range(n_out):
                p[j] = exp(logits[j] - mx)
                tot += p[j]
            y = Y[t]
            costs[t - first] = -(logits[y] - mx - log(tot))
            for j in range(n_out):
                p[j] /= tot
            p[y] -= 1.0
        t1 = rdtsc(); T[3] += t1 - t0
        meetings += 1
        barrier(counters, role, meetings)
        T[4] += rdtsc() - t1
        # output layer: the top hidden layer's delta with the old W_out, then the update; then each hidden layer
        delta = p
        for k in range(n_layers, 0, -1):
            W = W_out if k == n_layers else Ws[k]
            b = b_out if k == n_layers else bs[k]
            start, end = _split(W.shape[0], 0.5, role, n_threads, 1)
            t0 = rdtsc()
            _backprop_rows(acts[k - 1], delta, W, lr, deltas[k - 1], start, end)
            if role == 0:
                for j in range(W.shape[1]):
                    b[j] -= lr * delta[j]
            t1 = rdtsc(); T[5 + 2 * (n_layers - k)] += t1 - t0
            meetings += 1
            barrier(counters, role, meetings)
            T[6 + 2 * (n_layers - k)] += rdtsc() - t1
            delta = deltas[k - 1]
        # first layer: update only the rows whose input is non-zero
        W0 = Ws[0]
        d0 = deltas[0]
        start, end = _split(W0.shape[0], 0.5, role, n_threads, 1)
        t0 = rdtsc()
        for i in range(start, end):
            c = lr * x[i]
            if c != 0.0:
                for j in range(W0.shape[1]):
                    W0[i, j] -= c * d0[j]
        if role == 0:
            b0 = bs[0]
            for j in range(b0.shape[0]):
                b0[j] -= lr * d0[j]
        T[13] += rdtsc() - t0
        # no barrier before the next step: what a thread reads first there it wrote itself (its rows of W0; the
        # first thread b0) or waits for (the second thread, the first's published sums)
    return T



dt = np.float32; rng = np.random.RandomState(0); steps = 500
X = (rng.rand(steps, 784) * (rng.rand(steps, 784) < 0.19)).astype(dt)
Y = rng.randint(0, 10, steps).astype(np.int64)
shapes = [(784, 1000), (1000, 1000), (1000, 1000)]
W0s = [(rng.randn(*s) * 0.05).astype(dt) for s in shapes]
Wo0 = (rng.randn(1000, 10) * 0.05).astype(dt)
names = ["fwd0", "fwd1", "fwd2", "softmax", "wait-sm", "bwd-out", "wait", "bwd2", "wait", "bwd1", "wait", "", "", "W0 upd"]
for rep in range(5):
    Ws, bs = List([w.copy() for w in W0s]), List([np.zeros(s[1], dt) for s in shapes])
    Wo, bo = Wo0.copy(), np.zeros(10, dt)
    ws = K.mlp_workspace(Ws, Wo)
    cnt = threads.new_counters(2)
    t0 = time.perf_counter()
    r = threads._side_by_side(lambda: mlp_timed(X, Y, 0, steps, Ws, bs, Wo, bo, dt(0.1), *ws, 0, 2, cnt),
                              lambda: mlp_timed(X, Y, 0, steps, Ws, bs, Wo, bo, dt(0.1), *ws, 1, 2, cnt))
    el = (time.perf_counter() - t0) / steps * 1e3
for role in (0, 1):
    T = r[role] / steps / 1000
    print(f"role {role} ({el:.3f} ms/step): " + ", ".join(f"{n} {T[i]:.1f}" for i, n in enumerate(names) if n) + f"; total {T.sum():.1f} kcycles")
