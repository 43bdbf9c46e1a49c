"""Probe (round 8, section 13): the batch-1 finetuning step (mlp_train_b1 as of 70ec5ab, copied) with its forward
or its backward passes switched off, on one and two threads.  Run from the repository root."""
import sys, time, statistics
sys.path.insert(0, ".")
import numpy as np, numba
import sda
from sda.engines import kernel_steps as K, threads
from sda.engines.kernel_steps import _split, _forward_columns, _forward_rows_pipelined, _backprop_rows, exp, log
from sda.engines.threads import barrier
from numba.typed import List
njit = numba.njit(nogil=True)
@njit
def mlp_v(X, Y, first, stop, Ws, bs, W_out, b_out, lr, acts, deltas, p, partial, FWD, BWD, role, n_threads, counters):
    """Batch-1 finetuning steps on one thread or two (``role`` 0 or 1 of ``n_threads``), with the same bits.
    On two threads each keeps to its half of the rows of every hidden layer's W: the backward passes (one per
    layer: the delta below with the old weights, then the update) split by rows, and so do the forward products
    (:func:`_forward_rows_pipelined`: the second thread continues the first's sums); the softmax layer runs on
    the first thread."""
    n_layers = len(Ws)
    costs = np.empty(stop - first, np.float64)
    n_out = W_out.shape[1]
    meetings = 0
    tallest = 0
    for W in Ws:
        tallest = max(tallest, W.shape[0])
    rows = np.empty(tallest, np.int64)  # this thread's rows with a non-zero input (_nonzero_rows)
    for t in range(first, stop):
        x = X[t]
        inputs = x
        for k in range(n_layers if FWD else 0):
            if n_threads == 1:
                _forward_columns(inputs, Ws[k], bs[k], acts[k], 0, Ws[k].shape[1], rows)
            else:
                meetings = _forward_rows_pipelined(inputs, Ws[k], bs[k], acts[k], partial, role, meetings, counters,
                                                   rows)
            meetings += 1
            barrier(counters, role, meetings)
            inputs = acts[k]
        top = acts[n_layers - 1]
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
        meetings += 1
        barrier(counters, role, meetings)
        # output layer: the top hidden layer's delta with the old W_out, then the update; then each hidden layer
        delta = p
        for k in range(n_layers if BWD else 0, 0, -1):
            W = W_out if k == n_layers else Ws[k]
            b = b_out if k == n_layers else bs[k]
            start, end = _split(W.shape[0], 0.5, role, n_threads, 1)
            _backprop_rows(acts[k - 1], delta, W, lr, deltas[k - 1], start, end)
            if role == 0:
                for j in range(W.shape[1]):
                    b[j] -= lr * delta[j]
            meetings += 1
            barrier(counters, role, meetings)
            delta = deltas[k - 1]
        # first layer: update only the rows whose input is non-zero
        W0 = Ws[0]
        d0 = deltas[0]
        start, end = _split(W0.shape[0], 0.5, role, n_threads, 1)
        for i in range(start, end if BWD else start):
            c = lr * x[i]
            if c != 0.0:
                for j in range(W0.shape[1]):
                    W0[i, j] -= c * d0[j]
        if role == 0:
            b0 = bs[0]
            for j in range(b0.shape[0]):
                b0[j] -= lr * d0[j]
        meetings += 1
        barrier(counters, role, meetings)
    return costs



dt = np.float32
rng = np.random.RandomState(0)
steps = 500
X = (rng.rand(steps, 784) * (rng.rand(steps, 784) < 0.19)).astype(dt)
Y = rng.randint(0, 10, steps).astype(np.int64)
shapes = [(784, 1000), (1000, 1000), (1000, 1000)]
Ws = List([(rng.randn(*s) * 0.05).astype(dt) for s in shapes]); bs = List([np.zeros(s[1], dt) for s in shapes])
Wo, bo = (rng.randn(1000, 10) * 0.05).astype(dt), np.zeros(10, dt)
ws = K.mlp_workspace(Ws, Wo)
variants = {"full": (True, True), "forward only": (True, False), "backward only": (False, True), "neither": (False, False)}
for th in (1, 2):
    for name, (f, b) in variants.items():
        threads.run_roles(mlp_v, th, X, Y, 0, 10, Ws, bs, Wo, bo, dt(1e-6), *ws, f, b)
    res = {k: [] for k in variants}
    for rep in range(7):
        for name, (f, b) in variants.items():
            t0 = time.perf_counter(); threads.run_roles(mlp_v, th, X, Y, 0, steps, Ws, bs, Wo, bo, dt(1e-6), *ws, f, b)
            res[name].append((time.perf_counter() - t0) / steps * 1e3)
    for k, v in res.items(): print(f"threads {th} {k:15s} {statistics.median(v):.4f} ms/step")
