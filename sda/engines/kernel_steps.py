"""Hand-written Numba kernels: one compiled call trains a whole run of minibatches.

The maths is the tutorial's (a tied-weight dA with masking noise and the
cross-entropy cost; the sigmoid MLP with its softmax layer finetuned on the
mean negative log-likelihood), with two exact simplifications:

* the gradient of the cross-entropy w.r.t. the pre-sigmoid reconstruction is
  ``z - x``, and that of the NLL w.r.t. the logits is ``p - onehot(y)``;
* the reconstruction cost is ``softplus(s) - x s`` (the cross-entropy of
  ``z = sigmoid(s)``), finite where ``log(z)`` of a saturated ``z`` would be
  ``-inf``; the NLL is computed from the logits (log-sum-exp).

Weights are ``(n_in, n_out)``, C-contiguous, updated **in place**: the callers
pass the arrays inside the shared variables (``get_value(borrow=True)``), so
PyTensor's compiled functions see every update.  The masking noise is given as
an array of uniforms ``U`` drawn from the dA's own generator, so the noise is
the very same as the compiled PyTensor functions would draw.

Why these are fast at batch 1: the compiled PyTensor step copies ``W.T`` (a
non-contiguous view) before every product and forms each weight gradient as a
full temporary matrix; here each step makes three passes over each ``W``, with
no temporaries, and skips the rows whose input is zero (most MNIST pixels, and
every input the noise masked).  Other batch sizes use BLAS (:mod:`sda.engines.blas`)
for the products, and gemm with beta = 1 for the weight updates, in place.
"""

import hashlib
import math
import os

import numba
import numpy as np

from . import blas
from .blas import gemm

# error_model="numpy": a diverging run gives inf/nan costs (caught by the loops), not ZeroDivisionError
njit = numba.njit(cache=True, fastmath=True, nogil=True, error_model="numpy")


@njit
def gemm_accumulate(alpha, A, B, C):
    """``C += alpha * A.T @ B`` in place: A is (m, n_in), B is (m, n_out), C is
    (n_in, n_out).  In one pass over C, where ``np.dot`` would first write
    ``A.T @ B`` into a temporary as large as the weights."""
    gemm(alpha, A, True, B, False, 1.0, C)


@njit
def matmul(A, B):
    """``A @ B``."""
    C = np.empty((A.shape[0], B.shape[1]), A.dtype)
    gemm(1.0, A, False, B, False, 0.0, C)
    return C


@njit
def matmul_t(A, W):
    """``A @ W.T`` for a C-contiguous W, without copying W.T."""
    C = np.empty((A.shape[0], W.shape[0]), A.dtype)
    gemm(1.0, A, False, W, True, 0.0, C)
    return C


@njit
def _sigmoid(s):
    return 1.0 / (1.0 + math.exp(-s))


@njit
def _reconstruction_terms(s, x):
    """For the pre-sigmoid reconstruction s of an input x: the cross-entropy
    ``-x log(z) - (1-x) log(1-z)`` with ``z = sigmoid(s)``, which is
    ``softplus(s) - x s``, and its gradient ``z - x``; from one exp and one log1p
    (where the plain formulas take five: these dominate a step's non-BLAS time)."""
    e = math.exp(-abs(s))
    z = 1.0 / (1.0 + e) if s >= 0.0 else e / (1.0 + e)
    return max(s, 0.0) + math.log1p(e) - x * s, z - x


@njit
def _forward_rows(x, W, b, out):
    """out = sigmoid(x @ W + b) for a vector x, skipping rows where x is 0."""
    acc = b.copy()
    for i in range(W.shape[0]):
        xi = x[i]
        if xi != 0.0:
            for j in range(W.shape[1]):
                acc[j] += xi * W[i, j]
    for j in range(W.shape[1]):
        out[j] = _sigmoid(acc[j])


@njit
def da_train(X, U, first, stop, batch_size, W, b, b_prime, keep, lr):
    """SGD on minibatches first..stop-1 of X (rows i*bs..(i+1)*bs); U holds one
    uniform per input of those minibatches, in order: an input is kept where
    its uniform is < ``keep`` (= 1 - corruption).  Returns each step's cost."""
    if batch_size == 1:
        return _da_train_b1(X, U, first, stop, W, b, b_prime, keep, lr)
    return _da_train_batch(X, U, first, stop, batch_size, W, b, b_prime, keep, lr)


@njit
def _da_train_b1(X, U, first, stop, W, b, b_prime, keep, lr):
    n_vis, n_hid = W.shape
    costs = np.empty(stop - first, np.float64)
    tx = np.empty(n_vis, W.dtype)
    h = np.empty(n_hid, W.dtype)
    g = np.empty(n_hid, W.dtype)
    dh = np.empty(n_hid, W.dtype)
    dz = np.empty(n_vis, W.dtype)
    for t in range(first, stop):
        x = X[t]
        u = U[t - first]
        for i in range(n_vis):
            tx[i] = x[i] if u[i] < keep else 0.0
        _forward_rows(tx, W, b, h)
        # one pass over W: reconstruction z_i = sigmoid(W[i].h + b'_i), dz = z - x, g = W.T dz
        g[:] = 0.0
        cost = 0.0
        for i in range(n_vis):
            s = b_prime[i]
            for j in range(n_hid):
                s += W[i, j] * h[j]
            term, d = _reconstruction_terms(s, x[i])
            cost += term
            dz[i] = d
            for j in range(n_hid):
                g[j] += dz[i] * W[i, j]
        costs[t - first] = cost
        for j in range(n_hid):
            dh[j] = g[j] * h[j] * (1.0 - h[j])
        # one pass over W: W -= lr * (outer(tx, dh) + outer(dz, h))
        for i in range(n_vis):
            a = lr * tx[i]
            c = lr * dz[i]
            for j in range(n_hid):
                W[i, j] -= a * dh[j] + c * h[j]
            b_prime[i] -= c
        for j in range(n_hid):
            b[j] -= lr * dh[j]
    return costs


@njit
def _da_train_batch(X, U, first, stop, batch_size, W, b, b_prime, keep, lr):
    n_vis, n_hid = W.shape
    costs = np.empty(stop - first, np.float64)
    for t in range(first, stop):
        x = X[t * batch_size:(t + 1) * batch_size]
        u = U[(t - first) * batch_size:(t - first + 1) * batch_size]
        m = x.shape[0]
        tx = np.empty_like(x)
        for r in range(m):
            for i in range(n_vis):
                tx[r, i] = x[r, i] if u[r, i] < keep else 0.0
        a = matmul(tx, W)
        h = np.empty_like(a)
        for r in range(m):
            for j in range(n_hid):
                h[r, j] = _sigmoid(a[r, j] + b[j])
        s = matmul_t(h, W)
        dz = np.empty_like(s)
        cost = 0.0
        for r in range(m):
            for i in range(n_vis):
                term, d = _reconstruction_terms(s[r, i] + b_prime[i], x[r, i])
                cost += term
                dz[r, i] = d / m
        costs[t - first] = cost / m
        dh = matmul(dz, W)
        for r in range(m):
            for j in range(n_hid):
                dh[r, j] *= h[r, j] * (1.0 - h[r, j])
        b -= lr * dh.sum(axis=0)
        # W -= lr * (tx.T @ dh + dz.T @ h), both terms accumulated in place (dh, dz use the old W)
        gemm_accumulate(-lr, tx, dh, W)
        gemm_accumulate(-lr, dz, h, W)
        b_prime -= lr * dz.sum(axis=0)
    return costs


@njit
def _backprop_rows(a_in, delta, W, b, lr, d_in):
    """One pass over W: d_in = (W @ delta) * a_in(1-a_in) (old W), then W -= lr*outer(a_in, delta)."""
    for i in range(W.shape[0]):
        s = 0.0
        for j in range(W.shape[1]):
            s += W[i, j] * delta[j]
        d_in[i] = s * a_in[i] * (1.0 - a_in[i])
        c = lr * a_in[i]
        if c != 0.0:
            for j in range(W.shape[1]):
                W[i, j] -= c * delta[j]
    for j in range(W.shape[1]):
        b[j] -= lr * delta[j]


@njit
def mlp_train(X, Y, first, stop, batch_size, Ws, bs, W_out, b_out, lr):
    """Finetuning SGD on minibatches first..stop-1; ``Ws``, ``bs`` are typed
    lists of the sigmoid layers' parameters.  Returns each step's cost."""
    if batch_size == 1:
        return _mlp_train_b1(X, Y, first, stop, Ws, bs, W_out, b_out, lr)
    return _mlp_train_batch(X, Y, first, stop, batch_size, Ws, bs, W_out, b_out, lr)


@njit
def _mlp_train_b1(X, Y, first, stop, Ws, bs, W_out, b_out, lr):
    n_layers = len(Ws)
    costs = np.empty(stop - first, np.float64)
    acts = [np.empty(W.shape[1], W.dtype) for W in Ws]
    deltas = [np.empty(W.shape[1], W.dtype) for W in Ws]
    n_out = W_out.shape[1]
    p = np.empty(n_out, W_out.dtype)
    for t in range(first, stop):
        x = X[t]
        _forward_rows(x, Ws[0], bs[0], acts[0])
        for k in range(1, n_layers):
            _forward_rows(acts[k - 1], Ws[k], bs[k], acts[k])
        top = acts[n_layers - 1]
        logits = b_out.copy()
        for i in range(W_out.shape[0]):
            for j in range(n_out):
                logits[j] += top[i] * W_out[i, j]
        mx = logits.max()
        tot = 0.0
        for j in range(n_out):
            p[j] = math.exp(logits[j] - mx)
            tot += p[j]
        y = Y[t]
        costs[t - first] = -(logits[y] - mx - math.log(tot))
        for j in range(n_out):
            p[j] /= tot
        p[y] -= 1.0
        # output layer: the top hidden layer's delta with the old W_out, then the update
        _backprop_rows(top, p, W_out, b_out, lr, deltas[n_layers - 1])
        for k in range(n_layers - 1, 0, -1):
            _backprop_rows(acts[k - 1], deltas[k], Ws[k], bs[k], lr, deltas[k - 1])
        # first layer: update only the rows whose input is non-zero
        W0 = Ws[0]
        d0 = deltas[0]
        for i in range(W0.shape[0]):
            c = lr * x[i]
            if c != 0.0:
                for j in range(W0.shape[1]):
                    W0[i, j] -= c * d0[j]
        b0 = bs[0]
        for j in range(b0.shape[0]):
            b0[j] -= lr * d0[j]
    return costs


@njit
def _mlp_train_batch(X, Y, first, stop, batch_size, Ws, bs, W_out, b_out, lr):
    n_layers = len(Ws)
    costs = np.empty(stop - first, np.float64)
    for t in range(first, stop):
        x = np.ascontiguousarray(X[t * batch_size:(t + 1) * batch_size])
        y = Y[t * batch_size:(t + 1) * batch_size]
        m = x.shape[0]
        acts = [x]
        for k in range(n_layers):
            s = matmul(acts[k], Ws[k])
            for r in range(m):
                for j in range(s.shape[1]):
                    s[r, j] = _sigmoid(s[r, j] + bs[k][j])
            acts.append(s)
        delta = matmul(acts[n_layers], W_out)
        cost = 0.0
        for r in range(m):
            for j in range(delta.shape[1]):
                delta[r, j] += b_out[j]
            mx = delta[r].max()
            tot = 0.0
            for j in range(delta.shape[1]):
                delta[r, j] = math.exp(delta[r, j] - mx)
                tot += delta[r, j]
            cost -= math.log(delta[r, y[r]] / tot)
            # d(mean NLL)/d(logits) = (p - onehot(y)) / m
            for j in range(delta.shape[1]):
                delta[r, j] = delta[r, j] / tot / m
            delta[r, y[r]] -= 1.0 / m
        costs[t - first] = cost / m
        for L in range(n_layers, -1, -1):
            # layer L's weights take acts[L] in; L == n_layers is the logistic layer
            W = W_out if L == n_layers else Ws[L]
            b = b_out if L == n_layers else bs[L]
            d_in = delta
            if L > 0:
                # backpropagate with the weights before their update
                d_in = matmul_t(delta, W)
                a = acts[L]
                for r in range(m):
                    for j in range(d_in.shape[1]):
                        d_in[r, j] *= a[r, j] * (1.0 - a[r, j])
            _update_layer(acts[L], delta, W, b, lr)
            delta = d_in
    return costs


@njit
def _update_layer(a_in, delta, W, b, lr):
    """W -= lr * a_in.T @ delta; b -= lr * sum of delta's rows."""
    gemm_accumulate(-lr, a_in, delta, W)
    for r in range(delta.shape[0]):
        for j in range(W.shape[1]):
            b[j] -= lr * delta[r, j]


def forget_kernels_built_with_another_blas_binding(digest=None):
    """Flush the kernels' on-disk cache when ``sda/engines/blas.py`` changed since they were cached.

    Numba keys a cached kernel on the file that defines it (this one) only, but
    the kernels inline code from ``sda/engines/blas.py`` (its ``gemm``): after an edit or
    an update of that file alone (an editable install pulling a fix, say) Numba
    would load kernels that still carry the old code.  A digest of ``blas.py``
    kept beside the cache tells.  Returns True if the cache was flushed."""
    if digest is None:
        with open(blas.__file__, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    kernels = [value for value in globals().values()
               if isinstance(value, numba.core.registry.CPUDispatcher) and value._cache is not None
               and hasattr(value._cache, "_cache_path")]
    if not kernels:
        return False
    stamp = os.path.join(kernels[0]._cache._cache_path, "kernels.blas-digest")
    try:
        with open(stamp) as f:
            if f.read().strip() == digest:
                return False
    except OSError:
        pass
    try:
        for kernel in kernels:
            kernel._cache.flush()
        with open(stamp, "w") as f:
            f.write(digest + "\n")
    except OSError:  # a read-only cache: Numba then compiles in memory anyway
        return False
    return True


forget_kernels_built_with_another_blas_binding()
