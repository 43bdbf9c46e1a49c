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
full temporary matrix; here a dA step makes two passes over ``W`` (the update
pass also computes the next step's forward product), with no temporaries, and
skips the rows whose input is zero (most MNIST pixels, and every input the noise
masked).  Other batch sizes use the products of :mod:`sda.engines.blas` (the
weight updates in place, in one pass over ``W``).  The kernels that take
``role, n_threads, counters`` run on one thread or two (:mod:`sda.engines.threads`)
with the same bits: each pass is split so that every sum keeps its order.  On two
threads each keeps its part of W in panels of 128 columns stored row after row, so
that a pass over a block of columns is one contiguous stream with the block's
vectors in registers; finetuning applies each update in the next forward pass.

The same bits on every CPU: the results depend on the program, not on the CPU
it runs on (its vector width, FMA, AVX-512), nor on a BLAS or a libm that picks
its code by CPU.  No kernel is compiled with fast-math (which lets LLVM
reassociate sums to the host's vector width and fuse multiply-adds where the
target has FMA); every sum has an order fixed in the program (dot products:
:func:`sda.engines.blas.dot`, a fixed number of partial sums combined by a
fixed tree, which LLVM still vectorises); ``exp``, ``log`` and ``log1p`` are
computed here (:func:`exp`) rather than by glibc, whose FMA and SSE2 variants
differ in the last bit.  ``tests/test_determinism.py`` trains the same model
compiled for this CPU and for a generic x86-64 without FMA or AVX and checks
the parameters bit for bit; ``docs/determinism.md`` has the measurements.
"""

import hashlib
import math
import os

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload
from numba.typed import List

from . import blas, threads
from .blas import dot, dot_wide
from .threads import barrier, publish, wait_for

# error_model="numpy": a diverging run gives inf/nan costs (caught by the loops), not ZeroDivisionError.
# fastmath=False: see the module's docstring (the same bits on every CPU).
njit = numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy")

# inlined (into Numba's IR, before LLVM sees the loops that call them): a call LLVM does not inline keeps a loop
# from being vectorised, and the reconstruction of a batch > 1 step was a fifth of its time that way
inline_njit = numba.njit(cache=True, fastmath=False, nogil=True, error_model="numpy", inline="always")

# the barrier counters of a call on one thread (barrier() returns at once)
NO_PARTNER = np.zeros(0, np.int64)


# ---------------------------------------------------------------------------------------------------------------
# exp, log and log1p with the same bits on every CPU
#
# Numba's math.exp calls glibc's exp (expf for float32), which glibc picks when the program loads: an FMA
# variant on CPUs with FMA and AVX2, an SSE2 one otherwise.  They differ in the last bit (float64 exp, log,
# log1p on about 0.1 % of arguments; float32 expf on a few arguments: the probe in history,
# `git show 46b5b89:docs/probes/probe_libm_variants.py`).
# These follow fdlibm's e_exp.c / e_log.c (Cody-Waite reduction, the same minimax coefficients) in plain
# float64 arithmetic, without FMA: below 1 ulp in float64 (1.3 ulp for log1p), and float32 is computed in
# float64 and rounded once (correctly rounded on every argument we sampled).  No table, no libm call, so LLVM
# can vectorise the loops that use them (they are faster than glibc's here).
# ---------------------------------------------------------------------------------------------------------------


@intrinsic
def _float64_from_bits(typingctx, bits):
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _bits_of_float64(typingctx, x):
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


_LN2_HI = 6.93147180369123816490e-01  # ln 2 with its 21 low bits zero: k * _LN2_HI is exact for |k| < 2**21
_LN2_LO = 1.90821492927058770002e-10
_LOG2_E = 1.44269504088896338700e+00
_ROUND = 6755399441055744.0            # 1.5 * 2**52: (y + _ROUND) - _ROUND rounds y to an integer
_E1 = 1.66666666666666019037e-01       # exp: fdlibm's e_exp.c minimax coefficients
_E2 = -2.77777777770155933842e-03
_E3 = 6.61375632143793436117e-05
_E4 = -1.65339022054652515390e-06
_E5 = 4.13813679705723846039e-08
_L1 = 6.666666666666735130e-01         # log: fdlibm's e_log.c minimax coefficients
_L2 = 3.999999999940941908e-01
_L3 = 2.857142874366239149e-01
_L4 = 2.222219843214978396e-01
_L5 = 1.818357216161805012e-01
_L6 = 1.531383769920937332e-01
_L7 = 1.479819860511658591e-01


@intrinsic
def _where(typingctx, condition, a, b):
    """``a if condition else b`` as LLVM's ``select``: no branch, so a loop that uses it can be vectorised, and
    no phi in Numba's IR (whose inliner warns about ternaries in inlined functions)."""
    if condition != types.boolean or a != b:
        return None

    def codegen(context, builder, signature, args):
        return builder.select(*args)
    return a(condition, a, b), codegen


# No branches: the special arguments (nan, infinities, out of range) are selected at the end, and the main path
# runs on a harmless stand-in for them.  They are inlined into the kernels' loops (Numba's IR), so that LLVM
# vectorises those loops: left as calls, which LLVM did not inline into the large batch-1 dA kernel, they kept
# its reconstruction scalar (65-88 TSC cycles an input against 13-32).  For an argument in range the arithmetic is
# that of fdlibm's branching code, operation for operation (every float32 argument checked against the earlier
# versions, bit for bit).


@inline_njit
def _exp64(x):
    finite = (x >= -745.1332191019412) & (x <= 709.782712893384)
    y = _where(finite, x, 0.0)
    k = (y * _LOG2_E + _ROUND) - _ROUND
    hi = y - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (_E1 + t * (_E2 + t * (_E3 + t * (_E4 + t * _E5))))
    p = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    n = np.int64(k)
    half = n >> 1
    e = (p * _float64_from_bits((half + 1023) << 52)) * _float64_from_bits((n - half + 1023) << 52)
    return _where(finite, e, _where(x != x, x, _where(x > 0.0, math.inf, 0.0)))


@inline_njit
def _exp32(x):
    """e**x for a float32 x, computed in float64 and rounded once: the reduction of _exp64 and a Taylor polynomial
    of degree 9 (relative error below 1e-11 before the rounding), without the division: cheaper at batch 1, where
    the exp of each reconstruction is on the critical path."""
    finite = (x >= -110.0) & (x <= 100.0)
    y = _where(finite, np.float64(x), 0.0)
    k = (y * _LOG2_E + _ROUND) - _ROUND
    r = (y - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    low = (1.0 + r) + r2 * (0.5 + r * 0.16666666666666666)
    high = (0.041666666666666664 + r * 0.008333333333333333) + r2 * (0.001388888888888889 + r * 0.0001984126984126984)
    top = 2.48015873015873e-05 + r * 2.7557319223985893e-06
    p = low + r4 * (high + r4 * top)
    e = np.float32(p * _float64_from_bits((np.int64(k) + 1023) << 52))
    return _where(finite, e, _where(x != x, x, _where(x > 0.0, np.float32(math.inf), np.float32(0.0))))


@inline_njit
def _log64(x):
    finite = (x > 0.0) & (x < math.inf)
    subnormal = finite & (x < 2.2250738585072014e-308)  # below the smallest normal float64: scaled by 2**54 first
    y = _where(finite, _where(subnormal, x * 18014398509481984.0, x), 1.0)
    bits = _bits_of_float64(y)
    k = (bits >> 52) - 1023 - _where(subnormal, np.int64(54), np.int64(0))
    m = _float64_from_bits((bits & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000)  # x = m 2**k, 1 <= m < 2
    big = m > 1.4142135623730951
    m = _where(big, m * 0.5, m)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    R = z * (_L1 + w * (_L3 + w * (_L5 + w * _L7))) + w * (_L2 + w * (_L4 + w * _L6))
    hfsq = 0.5 * f * f
    dk = np.float64(_where(big, k + 1, k))
    result = dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f)
    return _where(finite, result, _where(x == math.inf, x, _where(x == 0.0, -math.inf, math.nan)))


@inline_njit
def _log1p64(x):
    u = 1.0 + x
    log_u = _log64(u)
    finite = (u > 0.0) & (u < math.inf)
    result = log_u + (x - (u - 1.0)) / _where(finite, u, 1.0)  # no division by 0 under Python's error model
    return _where(u == 1.0, x, _where(finite, result, log_u))


def exp(x):
    """``e**x`` for a float32 or float64 scalar, in its type, the same bits on every CPU (in Numba; this plain
    Python version is math.exp)."""
    return math.exp(x)


def log(x):
    """``ln x``, as :func:`exp`."""
    return math.log(x)


def log1p(x):
    """``ln(1 + x)``, as :func:`exp`."""
    return math.log1p(x)


def _float_function(implementation):
    """float64 as is; float32 computed in float64 and rounded once."""
    def typer(x):
        if x == types.float64:
            return lambda x: implementation(x)
        if x == types.float32:
            return lambda x: np.float32(implementation(np.float64(x)))
        return None
    return typer


@overload(exp, inline="always")
def _exp_overload(x):
    if x == types.float64:
        return lambda x: _exp64(x)
    if x == types.float32:
        return lambda x: _exp32(x)
    return None



overload(log, inline="always")(_float_function(_log64))
overload(log1p, inline="always")(_float_function(_log1p64))


@njit
def gemm_accumulate(alpha, A, B, C):
    """``C += alpha * A.T @ B`` in place: A is (m, n_in), B is (m, n_out), C is
    (n_in, n_out).  In one pass over C, where ``np.dot`` would first write
    ``A.T @ B`` into a temporary as large as the weights."""
    blas.add_product_tn(alpha, A, B, C)


@njit
def matmul(A, B):
    """``A @ B``."""
    return blas.product(A, B)


@njit
def matmul_t(A, W):
    """``A @ W.T`` for a C-contiguous W, without copying W.T."""
    return blas.product_t(A, W)


@inline_njit
def _sigmoid(s):
    return 1.0 / (1.0 + exp(-s))


@inline_njit
def _softplus_terms(s, x):
    """``exp(-|s|)`` and the cross-entropy ``-x log(z) - (1-x) log(1-z)`` of ``z = sigmoid(s)``, which is
    ``softplus(s) - x s``: finite where ``log(z)`` of a saturated ``z`` would be ``-inf``."""
    e = exp(-abs(s))
    return e, max(s, 0.0) + log1p(e) - x * s


@inline_njit
def _sigmoid_from_exp(s, e):
    """``sigmoid(s)`` from ``e = exp(-|s|)`` (no overflow on either side)."""
    return 1.0 / (1.0 + e) if s >= 0.0 else e / (1.0 + e)


@inline_njit
def _reconstruction_row(s, b_prime, x, terms, dz, start, m, e):
    """For the pre-sigmoid reconstructions s of the inputs x[start:]: s += b'[start:], terms[start:] their
    cross-entropy and dz[start:] its gradient ``z - x`` w.r.t. s divided by the batch size m, from one exp and
    one log1p each (where the plain formulas take five), in two loops that LLVM vectorises (it does not
    vectorise the one loop that computes both: 0.5 ms for 20 x 1000 inputs against 0.1; batch 1 calls it on
    blocks of ``ROW_BLOCK`` inputs).  ``e``: room for ``len(s)`` values of s's dtype."""
    n = s.shape[0]
    # slices indexed from 0: with `start + i` in every index LLVM left the loops half scalar (34 against 19 TSC
    # cycles an input, in blocks of 16)
    stop = start + n
    b_block, x_block, terms_block, dz_block = b_prime[start:stop], x[start:stop], terms[start:stop], dz[start:stop]
    for i in range(n):
        s[i] += b_block[i]
        e[i], terms_block[i] = _softplus_terms(s[i], x_block[i])
    for i in range(n):
        dz_block[i] = (_sigmoid_from_exp(s[i], e[i]) - x_block[i]) / m


@njit
def _reconstruction_rows(s, b_prime, x, terms, dz, start):
    """:func:`_reconstruction_row` for each row r of a batch: s[r] the products W[start:] @ h[r]."""
    m, n = s.shape
    e = np.empty(n, s.dtype)
    for r in range(m):
        _reconstruction_row(s[r], b_prime, x[r], terms[r], dz[r], start, m, e)


@njit
def da_train(X, U, first, stop, batch_size, W, b, b_prime, keep, lr):
    """SGD on minibatches first..stop-1 of X (rows i*bs..(i+1)*bs); U holds one
    uniform per input of those minibatches, in order: an input is kept where
    its uniform is < ``keep`` (= 1 - corruption).  Returns each step's cost."""
    if batch_size == 1:
        return da_train_b1(X, U, first, stop, W, b, b_prime, keep, lr,
                            *da_workspace(W.shape[0], W.dtype), 0, 1, NO_PARTNER)
    return da_train_batch(X, U, first, stop, batch_size, W, b, b_prime, keep, lr,
                          *da_workspace_batch(batch_size, W.shape[0], W.shape[1], W.dtype), 0, 1, NO_PARTNER)


@njit
def _corrupt(x, u, keep, tx):
    """tx = x with the inputs whose uniform is not below ``keep`` set to 0 (the masking noise)."""
    for i in range(x.shape[0]):
        tx[i] = x[i] if u[i] < keep else 0.0


@njit
def da_workspace(n_vis, dtype):
    """The arrays the two threads of a batch-1 dA call share: dz, the second thread's cost terms, and the first
    thread's partial sums of each reconstruction."""
    return np.empty(n_vis, dtype), np.empty(n_vis, np.float64), blas.dot_states(n_vis, np.empty(0, dtype))


#: the first thread's share of the hidden units of a batch-1 dA step, rounded to whole panels (512 of 1000 in
#: float32; the second thread, which also computes the reconstruction's exps and logs, pads its 488 to 512)
FIRST_THREAD_COLUMNS = 0.5

#: rows per block of a pipelined pass: the second thread starts on a block when the first has finished it
ROW_BLOCK = 16


@njit
def _split(n, share, role, n_threads, align):
    """The part ``[start, stop)`` of ``range(n)`` of thread ``role``: all of it for one thread; else the
    first ``share`` (rounded to a multiple of ``align``, at most n) for role 0 and the rest for role 1."""
    if n_threads == 1:
        return 0, n
    cut = min(n // align * align, int(n * share + align / 2) // align * align)
    return (0, cut) if role == 0 else (cut, n)


@njit
def da_train_b1(X, U, first, stop, W, b, b_prime, keep, lr, dz, terms, states, role, n_threads, counters):
    """Batch-1 dA steps on one thread or two (``role`` 0 or 1 of ``n_threads``), with the same bits.

    Two passes over W per step, where the tutorial's graph takes three (forward, reconstruction, update): the
    next step's corrupted input is known in advance, so each row of W, once updated, is used at once for the
    next step's forward product.  The sums are the same, in the same order, as with a separate forward pass
    (``tests/test_kernels.py`` compares the two bit for bit).

    With two threads each owns part of the hidden units (:func:`_da_train_b1_columns`); one thread keeps W as
    it is and sums g = W.T dz block by block of rows, right after their reconstructions."""
    n_vis, n_hid = W.shape
    costs = np.empty(stop - first, np.float64)
    if stop <= first:
        return costs
    if n_threads == 2:
        return _da_train_b1_columns(X, U, first, stop, W, b, b_prime, keep, lr, dz, terms, states, role, counters,
                                    costs)
    h, g = np.empty(n_hid, W.dtype), np.empty(n_hid, W.dtype)
    dh, acc = np.empty(n_hid, W.dtype), np.empty(n_hid, W.dtype)
    blocks = (n_vis + ROW_BLOCK - 1) // ROW_BLOCK
    tx, tx_next = np.empty(n_vis, W.dtype), np.empty(n_vis, W.dtype)
    s_block, e = np.empty(ROW_BLOCK, W.dtype), np.empty(ROW_BLOCK, W.dtype)
    _corrupt(X[first], U[0], keep, tx)
    _forward_columns(tx, W, b, h, 0, n_hid, np.empty(n_vis, np.int64))
    for t in range(first, stop):
        x = X[t]
        # the reconstruction z_i = sigmoid(W[i].h + b'_i), dz = z - x, and g = W.T dz
        cost = 0.0
        g[:] = 0.0
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
        for j in range(n_hid):
            dh[j] = g[j] * h[j] * (1.0 - h[j])
            b[j] -= lr * dh[j]
        # W -= lr * (outer(tx, dh) + outer(dz, h)), and with each updated row the next step's pre-activation
        # acc = b + tx_next @ W (rows where tx_next is 0 add nothing, as in _forward_columns)
        last = t + 1 == stop
        if last:
            tx_next[:] = 0.0
        else:
            _corrupt(X[t + 1], U[t + 1 - first], keep, tx_next)
        acc[:] = b
        for i in range(n_vis):
            a = lr * tx[i]
            c = lr * dz[i]
            xn = tx_next[i]
            if xn != 0.0:
                for j in range(n_hid):
                    W[i, j] -= a * dh[j] + c * h[j]
                    acc[j] += xn * W[i, j]
            else:
                for j in range(n_hid):
                    W[i, j] -= a * dh[j] + c * h[j]
        if not last:
            for j in range(n_hid):
                h[j] = _sigmoid(acc[j])
            tx, tx_next = tx_next, tx
    return costs


@njit
def _panels_of(W, row_start, row_stop, col_start, col_stop):
    """Rows row_start..row_stop-1 by columns col_start..col_stop-1 of W as panels of
    :func:`sda.engines.blas.rows_block` columns, each stored row after row (``P[p, i]`` is
    ``W[row_start + i, col_start + p * width : ...]``), the last one padded with zero columns."""
    width = blas.rows_block(W)
    P = np.zeros(((col_stop - col_start + width - 1) // width, row_stop - row_start, width), W.dtype)
    for p in range(P.shape[0]):
        for i in range(P.shape[1]):
            for j in range(min(width, col_stop - col_start - p * width)):
                P[p, i, j] = W[row_start + i, col_start + p * width + j]
    return P


@njit
def _panels_into(P, W, row_start, col_start, col_stop):
    """The inverse of :func:`_panels_of`: its panels back into W."""
    width = P.shape[2]
    for p in range(P.shape[0]):
        for i in range(P.shape[1]):
            for j in range(min(width, col_stop - col_start - p * width)):
                W[row_start + i, col_start + p * width + j] = P[p, i, j]


@njit
def _da_train_b1_columns(X, U, first, stop, W, b, b_prime, keep, lr, dz, terms, states, role, counters, costs):
    """:func:`da_train_b1` on two threads: thread ``role`` owns its share of the hidden units (columns of W).

    Each keeps a private copy of its columns for the whole call, so that no cache line is written by both cores
    and its part of W streams from its own cache from step to step, stored in panels of 128 columns (float32;
    :func:`_panels_of`): every pass runs over one panel at a time, a contiguous stream, with that panel's
    vectors (dh, h, the sums of g and of the next forward product) held in registers from row to row
    (``blas.update_rows_block``, ``blas.add_rows_block``).  Only the reconstruction's dot products W[i].h need
    both threads' columns: the first sums its part of each (``blas.dot_panels_head``), block by block of rows,
    and the second finishes them (``dot_panels_tail``: the same sums) one block behind and computes dz.  The
    padding columns stay 0 (their h and dh are 0), so they add +0 to sums that are never -0: the same bits."""
    n_vis, n_hid = W.shape
    width = blas.rows_block(W)
    col_start, col_stop = _split(n_hid, FIRST_THREAD_COLUMNS, role, 2, width)
    n_own = col_stop - col_start
    P = _panels_of(W, 0, n_vis, col_start, col_stop)
    n_panels = P.shape[0]
    padded = n_panels * width
    b_own, h, g = np.zeros(padded, W.dtype), np.zeros(padded, W.dtype), np.zeros(padded, W.dtype)
    dh, acc = np.zeros(padded, W.dtype), np.zeros(padded, W.dtype)
    b_own[:n_own] = b[col_start:col_stop]
    blocks = (n_vis + ROW_BLOCK - 1) // ROW_BLOCK
    published = 0
    rows = np.arange(n_vis)
    tx, tx_next = np.empty(n_vis, W.dtype), np.empty(n_vis, W.dtype)
    s_block, e = np.empty(ROW_BLOCK, W.dtype), np.empty(ROW_BLOCK, W.dtype)
    _corrupt(X[first], U[0], keep, tx)
    # the first forward product, summed as _forward_columns sums it: b, then the rows where tx is not 0, in order
    acc[:] = b_own
    inputs = np.empty(n_vis, np.int64)
    n_inputs = _nonzero_rows(tx, 0, n_vis, inputs)
    for p in range(n_panels):
        blas.add_rows_block(acc[p * width:(p + 1) * width], tx, P[p], inputs, n_inputs, 0)
    for j in range(n_own):
        h[j] = _sigmoid(acc[j])
    for t in range(first, stop):
        x = X[t]
        # the reconstruction z_i = sigmoid(W[i].h + b'_i), dz = z - x, and g = W.T dz
        cost = 0.0
        g[:] = 0.0
        if role == 0:
            for block in range(blocks):
                blas.dot_panels_head(P, block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK), n_panels, h, states)
                publish(counters, 0, published + block + 1)
            for block in range(blocks):
                lo, hi = block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK)
                wait_for(counters, 1, published + block + 1)
                for i in range(lo, hi):
                    cost += terms[i]
                for p in range(n_panels):
                    blas.add_rows_block(g[p * width:(p + 1) * width], dz, P[p], rows[lo:hi], hi - lo, 0)
            costs[t - first] = cost
        else:
            for block in range(blocks):
                lo, hi = block * ROW_BLOCK, min(n_vis, (block + 1) * ROW_BLOCK)
                wait_for(counters, 0, published + block + 1)
                s = s_block[:hi - lo]
                blas.dot_panels_tail(P, lo, hi, n_panels, h, states, s)
                _reconstruction_row(s, b_prime, x, terms, dz, lo, 1, e)
                for i in range(lo, hi):
                    b_prime[i] -= lr * dz[i]
                for p in range(n_panels):
                    blas.add_rows_block(g[p * width:(p + 1) * width], dz, P[p], rows[lo:hi], hi - lo, 0)
                publish(counters, 1, published + block + 1)
        published += blocks
        for j in range(n_own):
            dh[j] = g[j] * h[j] * (1.0 - h[j])
            b_own[j] -= lr * dh[j]
        # W -= lr * (outer(tx, dh) + outer(dz, h)), and with each updated row the next step's pre-activation
        # acc = b + tx_next @ W, panel by panel
        last = t + 1 == stop
        if last:
            tx_next[:] = 0.0
        else:
            _corrupt(X[t + 1], U[t + 1 - first], keep, tx_next)
        acc[:] = b_own
        for p in range(n_panels):
            lo, hi = p * width, (p + 1) * width
            blas.update_rows_block(P[p], lr, tx, dz, tx_next, dh[lo:hi], h[lo:hi], acc[lo:hi])
        if not last:
            for j in range(n_own):
                h[j] = _sigmoid(acc[j])
            tx, tx_next = tx_next, tx
    _panels_into(P, W, 0, col_start, col_stop)
    b[col_start:col_stop] = b_own[:n_own]
    # the second thread's dz, terms and b' of a step are written only after the first has published its
    # partial sums of that step, so neither waits at the end of a step; both finish before the call returns
    barrier(counters, role, published + 1)
    return costs


@njit
def da_workspace_batch(batch_size, n_vis, n_hid, dtype):
    """The arrays the two threads of a batch > 1 dA call share: h, dz and the cost terms."""
    return (np.empty((batch_size, n_hid), dtype), np.empty((batch_size, n_vis), dtype),
            np.empty((batch_size, n_vis), np.float64))


@njit
def da_train_batch(X, U, first, stop, batch_size, W, b, b_prime, keep, lr, h, dz, terms, role, n_threads,
                   counters):
    """Batch > 1 dA steps on one thread or two (``role`` 0 or 1 of ``n_threads``), with the same bits: every
    product is split by the columns of its result (each element is one sum, whoever computes it)."""
    n_vis, n_hid = W.shape
    costs = np.empty(stop - first, np.float64)
    hid_start, hid_stop = _split(n_hid, 0.5, role, n_threads, 16)
    vis_start, vis_stop = _split(n_vis, 0.5, role, n_threads, 1)
    W_hid = W[:, hid_start:hid_stop]  # the columns this thread updates
    meetings = 0
    for t in range(first, stop):
        x = X[t * batch_size:(t + 1) * batch_size]
        u = U[(t - first) * batch_size:(t - first + 1) * batch_size]
        m = x.shape[0]
        tx = np.empty_like(x)
        for r in range(m):
            for i in range(n_vis):
                tx[r, i] = x[r, i] if u[r, i] < keep else 0.0
        a = matmul(tx, W_hid)
        for r in range(m):
            for j in range(hid_start, hid_stop):
                h[r, j] = _sigmoid(a[r, j - hid_start] + b[j])
        meetings += 1
        barrier(counters, role, meetings)
        # the reconstruction's rows of W: this thread's inputs
        s = matmul_t(h[:m], W[vis_start:vis_stop])
        _reconstruction_rows(s, b_prime, x, terms, dz, vis_start)
        meetings += 1
        barrier(counters, role, meetings)  # dz whole, and W read by both before either updates it
        if role == 0:
            cost = 0.0
            for r in range(m):
                for i in range(n_vis):
                    cost += terms[r, i]
            costs[t - first] = cost / m
        dh = matmul(dz[:m], W_hid)
        for r in range(m):
            for j in range(hid_start, hid_stop):
                dh[r, j - hid_start] *= h[r, j] * (1.0 - h[r, j])
        b[hid_start:hid_stop] -= lr * dh.sum(axis=0)
        # W -= lr * (tx.T @ dh + dz.T @ h), both terms accumulated in place (dh, dz use the old W)
        gemm_accumulate(-lr, tx, dh, W_hid)
        gemm_accumulate(-lr, dz[:m], h[:m, hid_start:hid_stop], W_hid)
        b_prime[vis_start:vis_stop] -= lr * dz[:m, vis_start:vis_stop].sum(axis=0)
        meetings += 1
        barrier(counters, role, meetings)  # W whole before the next step reads its rows
    return costs


@njit
def _backprop_rows(a_in, delta, W, lr, d_in, start, stop):
    """One pass over rows start..stop-1 of W: d_in = (W @ delta) * a_in(1-a_in) (old W), then
    W -= lr*outer(a_in, delta).  Each row on its own: the threads split them."""
    for i in range(start, stop):
        s = dot_wide(W[i], delta)  # summed in float64, as before
        d_in[i] = s * a_in[i] * (1.0 - a_in[i])
        c = lr * a_in[i]
        if c != 0.0:
            for j in range(W.shape[1]):
                W[i, j] -= c * delta[j]


@njit
def _nonzero_rows(x, start, stop, rows):
    """The i in start..stop-1 where x[i] is not 0, into ``rows``; returns how many."""
    n = 0
    for i in range(start, stop):
        if x[i] != 0.0:
            rows[n] = i
            n += 1
    return n


@njit
def _add_rows(acc, x, W, rows, n_rows, first, last):
    """acc[j - first] += x[i] W[i, j] for the columns first..last-1 (unsigned), for each of the ``n_rows`` rows
    i in ``rows``, in that order.  Four rows per sweep of acc, each term added in turn (the same roundings as
    one row at a time): acc is loaded and stored once per four rows, not at every row (blocks as wide as
    :func:`sda.engines.blas.rows_block` keep it in registers instead: ``blas.add_rows_block``)."""
    quads = n_rows // 4 * 4
    for k in range(0, quads, 4):
        i0, i1, i2, i3 = rows[k], rows[k + 1], rows[k + 2], rows[k + 3]
        x0, x1, x2, x3 = x[i0], x[i1], x[i2], x[i3]
        for j in range(first, last):
            acc[j - first] = (((acc[j - first] + x0 * W[i0, j]) + x1 * W[i1, j]) + x2 * W[i2, j]) + x3 * W[i3, j]
    for k in range(quads, n_rows):
        i = rows[k]
        xi = x[i]
        for j in range(first, last):
            acc[j - first] += xi * W[i, j]


@njit
def _forward_columns(x, W, b, out, start, stop, rows):
    """out[j] = sigmoid(b[j] + sum_i x[i] W[i, j]) for the columns start..stop-1, summed in the order of i
    (rows where x is 0 add nothing); ``rows``: room for W.shape[0] row numbers."""
    acc = b[start:stop].copy()
    # unsigned loop bounds: Numba then indexes without the check for negative indices, and LLVM vectorises
    first, last = np.uint64(start), np.uint64(stop)
    _add_rows(acc, x, W, rows, _nonzero_rows(x, 0, W.shape[0], rows), first, last)
    for j in range(first, last):
        out[j] = _sigmoid(acc[j - first])


@njit
def mlp_train(X, Y, first, stop, batch_size, Ws, bs, W_out, b_out, lr):
    """Finetuning SGD on minibatches first..stop-1; ``Ws``, ``bs`` are typed
    lists of the sigmoid layers' parameters.  Returns each step's cost."""
    if batch_size == 1:
        return mlp_train_b1(X, Y, first, stop, Ws, bs, W_out, b_out, lr, *mlp_workspace(Ws, W_out), 0, 1,
                            NO_PARTNER)
    return mlp_train_batch(X, Y, first, stop, batch_size, Ws, bs, W_out, b_out, lr,
                           *mlp_workspace_batch(batch_size, Ws, W_out), 0, 1, NO_PARTNER)


@njit
def mlp_workspace(Ws, W_out):
    """The arrays the two threads of a batch-1 finetuning call share: each layer's output and delta, the
    softmax layer's output, and the first thread's partial sums of the forward products (two rows: layer k
    uses row k % 2, so that the first thread may start a layer while the second finishes the one before)."""
    acts, deltas = List(), List()
    widest = 0
    for W in Ws:
        acts.append(np.empty(W.shape[1], W.dtype))
        deltas.append(np.empty(W.shape[1], W.dtype))
        widest = max(widest, W.shape[1])
    return acts, deltas, np.empty(W_out.shape[1], W_out.dtype), np.empty((2, widest), W_out.dtype)


@njit
def mlp_train_b1(X, Y, first, stop, Ws, bs, W_out, b_out, lr, acts, deltas, p, partial, role, n_threads,
                 counters):
    """Batch-1 finetuning steps on one thread or two (``role`` 0 or 1 of ``n_threads``), with the same bits
    (two threads: :func:`_mlp_train_b1_rows`)."""
    costs = np.empty(stop - first, np.float64)
    if n_threads == 2:
        return _mlp_train_b1_rows(X, Y, first, stop, Ws, bs, W_out, b_out, lr, acts, deltas, p, partial, role,
                                  counters, costs)
    n_layers = len(Ws)
    tallest = 0
    for W in Ws:
        tallest = max(tallest, W.shape[0])
    rows = np.empty(tallest, np.int64)  # the rows with a non-zero input (_nonzero_rows)
    for t in range(first, stop):
        x = X[t]
        inputs = x
        for k in range(n_layers):
            _forward_columns(inputs, Ws[k], bs[k], acts[k], 0, Ws[k].shape[1], rows)
            inputs = acts[k]
        costs[t - first] = _softmax_layer(acts[n_layers - 1], W_out, b_out, p, Y[t])
        # output layer: the top hidden layer's delta with the old W_out, then the update; then each hidden layer
        delta = p
        for k in range(n_layers, 0, -1):
            W = W_out if k == n_layers else Ws[k]
            b = b_out if k == n_layers else bs[k]
            _backprop_rows(acts[k - 1], delta, W, lr, deltas[k - 1], 0, W.shape[0])
            _update_bias(delta.reshape(1, -1), b, lr)
            delta = deltas[k - 1]
        # first layer: update only the rows whose input is non-zero
        W0, d0 = Ws[0], deltas[0]
        for i in range(W0.shape[0]):
            c = lr * x[i]
            if c != 0.0:
                for j in range(W0.shape[1]):
                    W0[i, j] -= c * d0[j]
        _update_bias(d0.reshape(1, -1), bs[0], lr)
    return costs


@njit
def _softmax_layer(top, W_out, b_out, p, y):
    """The logistic layer of a batch-1 step: p = softmax(top @ W_out + b_out) - onehot(y), the delta of its
    logits; returns the cost -log p(y | top)."""
    logits = b_out.copy()
    for i in range(W_out.shape[0]):
        a = top[i]
        for j in range(W_out.shape[1]):
            logits[j] += a * W_out[i, j]
    mx = logits.max()
    tot = 0.0
    for j in range(W_out.shape[1]):
        p[j] = exp(logits[j] - mx)
        tot += p[j]
    cost = -(logits[y] - mx - log(tot))
    for j in range(W_out.shape[1]):
        p[j] /= tot
    p[y] -= 1.0
    return cost


@njit
def _mlp_train_b1_rows(X, Y, first, stop, Ws, bs, W_out, b_out, lr, acts, deltas, p, partial, role, counters,
                       costs):
    """:func:`mlp_train_b1` on two threads: each keeps to its half of the rows of every hidden layer's W, a
    private copy for the whole call stored in panels of 128 columns (float32; :func:`_panels_of`).

    A hidden layer's backward pass only reads its rows (:func:`_delta_below_panels`: the delta below, with the
    old weights) and leaves its update pending; the next step's forward product applies it to each row just
    before adding the row into its sums (:func:`_forward_panels`), panel by panel: one contiguous stream per
    block of columns, which reads and writes W once where the backward pass wrote it and the forward pass read it
    again, and the same roundings in the same order.  The forward products split by rows: the second thread
    continues the first's sums; the softmax layer runs on the first thread.  They meet at no barrier: the first
    thread starts a layer as soon as the second has published the outputs below that its rows take, while the
    second finishes the layer below."""
    n_layers = len(Ws)
    width = blas.rows_block(W_out)
    starts, stops = np.empty(n_layers, np.int64), np.empty(n_layers, np.int64)
    panels, pending_c, pending_delta = List(), List(), List()
    tallest = 0
    for k in range(n_layers):
        starts[k], stops[k] = _split(Ws[k].shape[0], 0.5, role, 2, 1)
        panels.append(_panels_of(Ws[k], starts[k], stops[k], 0, Ws[k].shape[1]))
        # the update left pending: W[starts[k] + i] -= c[i] * delta (none at the start: c = 0)
        pending_c.append(np.zeros(stops[k] - starts[k], W_out.dtype))
        pending_delta.append(np.zeros(panels[k].shape[0] * width, W_out.dtype))
        tallest = max(tallest, Ws[k].shape[0])
    rows = np.empty(tallest, np.int64)  # this thread's rows read or updated by a forward product (_listed_rows)
    meetings = 0
    for t in range(first, stop):
        x = X[t]
        inputs = x
        for k in range(n_layers):
            before = meetings
            meetings = _forward_panels(inputs[starts[k]:stops[k]], panels[k], bs[k], acts[k], pending_c[k],
                                       pending_delta[k], partial[k % 2], role, meetings, counters, rows)
            if role == 0 and k < n_layers - 1:
                # the second thread's blocks of this layer's output that the first's rows of the next take
                wait_for(counters, 1, before + (stops[k + 1] - 1) // width + 1)
            elif role == 0:
                wait_for(counters, 1, meetings)  # all of the top layer, for the softmax layer
            inputs = acts[k]
        if role == 0:
            costs[t - first] = _softmax_layer(acts[n_layers - 1], W_out, b_out, p, Y[t])
        meetings += 1
        barrier(counters, role, meetings)
        # output layer: the top hidden layer's delta with the old W_out, then the update; then each hidden layer
        start, end = _split(W_out.shape[0], 0.5, role, 2, 1)
        _backprop_rows(acts[n_layers - 1], p, W_out, lr, deltas[n_layers - 1], start, end)
        if role == 0:
            _update_bias(p.reshape(1, -1), b_out, lr)
        meetings += 1
        barrier(counters, role, meetings)
        for k in range(n_layers - 1, 0, -1):
            pending_delta[k][:deltas[k].shape[0]] = deltas[k]
            _delta_below_panels(acts[k - 1], pending_delta[k], panels[k], lr, deltas[k - 1], pending_c[k],
                                starts[k])
            if role == 0:
                _update_bias(deltas[k].reshape(1, -1), bs[k], lr)
            meetings += 1
            barrier(counters, role, meetings)
        # first layer: its update is pending too, for the rows whose input is non-zero
        pending_delta[0][:deltas[0].shape[0]] = deltas[0]
        for i in range(stops[0] - starts[0]):
            pending_c[0][i] = lr * x[starts[0] + i]
        if role == 0:
            _update_bias(deltas[0].reshape(1, -1), bs[0], lr)
        # no barrier before the next step: what a thread reads first there it wrote itself (its rows of W0; the
        # first thread b0) or waits for (the second thread, the first's published sums)
    for k in range(n_layers):
        _apply_pending(panels[k], pending_c[k], pending_delta[k])
        _panels_into(panels[k], Ws[k], starts[k], 0, Ws[k].shape[1])
    return costs


@njit
def _delta_below_panels(a_in, delta, P, lr, d_in, c, start):
    """The backward pass over the rows start, start + 1, ... of W stored in the panels P: ``d_in = (W @ delta) *
    a_in (1 - a_in)`` with W as it is (``delta`` padded with zeros to the panels' width, which adds +0 to the
    sums: the same bits), and the update ``W -= outer(c, delta)``, ``c = lr * a_in``, left pending."""
    for i in range(P.shape[1]):
        s = blas.dot_wide_panels(P, i, P.shape[0], delta)  # summed in float64, as before
        a = a_in[start + i]
        d_in[start + i] = s * a * (1.0 - a)
        c[i] = lr * a


@njit
def _apply_pending(P, c, delta):
    """``W[i] -= c[i] * delta`` for the rows of W stored in the panels P where c[i] is not 0; then none pending."""
    width = P.shape[2]
    for i in range(P.shape[1]):
        ci = c[i]
        if ci != 0.0:
            for p in range(P.shape[0]):
                row, d = P[p, i], delta[p * width:(p + 1) * width]
                for j in range(width):
                    row[j] -= ci * d[j]
        c[i] = 0.0


@njit
def _listed_rows(x, c, rows):
    """The i where x[i] or c[i] is not 0 (a row the forward product adds, or one with an update pending), into
    ``rows``; returns how many."""
    n = 0
    for i in range(x.shape[0]):
        if x[i] != 0.0 or c[i] != 0.0:
            rows[n] = i
            n += 1
    return n


@njit
def _forward_panels(x, P, b, out, c, delta, partial, role, count, counters, rows):
    """``out = sigmoid(b + x @ W)`` on two threads that each keep to their own rows of W, stored in the panels P
    (``x``: the inputs of this thread's rows), with the sums of :func:`_forward_columns`, in its order, after
    applying the update left pending (``W[i] -= c[i] * delta``) to each row just before the row is read.

    Block by block of :func:`sda.engines.blas.rows_block` columns (one panel), the first thread sums its rows
    into ``partial`` and publishes the block (counts ``count + 1``, ...); the second continues each block's sums
    over its rows, one block behind, writes ``out`` and publishes the block too.  So no row is read by the core
    that did not write it.  A block's sums stay in registers over all the rows
    (``blas.update_add_rows_block``).  Returns the count after the last block."""
    n_rows = _listed_rows(x, c, rows)
    n_cols = b.shape[0]
    width = P.shape[2]
    acc = np.zeros(width, P.dtype)
    for block in range(P.shape[0]):
        first, last = block * width, min(n_cols, (block + 1) * width)
        if role == 0:
            acc[:last - first] = b[first:last]
        else:
            wait_for(counters, 0, count + block + 1)
            acc[:last - first] = partial[first:last]
        blas.update_add_rows_block(acc, x, P[block], rows, n_rows, c, delta[block * width:(block + 1) * width])
        if role == 0:
            partial[first:last] = acc[:last - first]
            publish(counters, 0, count + block + 1)
        else:
            for j in range(first, last):
                out[j] = _sigmoid(acc[j - first])
            publish(counters, 1, count + block + 1)
    return count + P.shape[0]


@njit
def mlp_workspace_batch(batch_size, Ws, W_out):
    """The arrays the two threads of a batch > 1 finetuning call share: each hidden layer's outputs and deltas,
    and the softmax layer's delta."""
    acts, deltas = List(), List()
    for W in Ws:
        acts.append(np.empty((batch_size, W.shape[1]), W.dtype))
        deltas.append(np.empty((batch_size, W.shape[1]), W.dtype))
    return acts, deltas, np.empty((batch_size, W_out.shape[1]), W_out.dtype)


@njit
def mlp_train_batch(X, Y, first, stop, batch_size, Ws, bs, W_out, b_out, lr, acts, deltas, delta_out, role,
                    n_threads, counters):
    """Batch > 1 finetuning steps on one thread or two (``role`` 0 or 1 of ``n_threads``), with the same bits:
    the forward products split by the columns of W; the hidden layers above the first backward in one pass over
    each thread's rows of W (:func:`sda.engines.blas.backward_rows`: the delta below, then the update); the
    softmax layer's and the first layer's updates split by columns, the softmax on the first thread."""
    n_layers = len(Ws)
    costs = np.empty(stop - first, np.float64)
    meetings = 0
    for t in range(first, stop):
        x = np.ascontiguousarray(X[t * batch_size:(t + 1) * batch_size])
        y = Y[t * batch_size:(t + 1) * batch_size]
        m = x.shape[0]
        inputs = x
        for k in range(n_layers):
            start, end = _split(Ws[k].shape[1], 0.5, role, n_threads, 16)
            s = matmul(inputs, Ws[k][:, start:end])
            out, b = acts[k], bs[k]  # out of the loop: each typed-list lookup costs a reference count
            for r in range(m):
                for j in range(start, end):
                    out[r, j] = _sigmoid(s[r, j - start] + b[j])
            meetings += 1
            barrier(counters, role, meetings)
            inputs = acts[k][:m]
        if role == 0:
            delta = matmul(inputs, W_out)
            cost = 0.0
            for r in range(m):
                tot = _exp_shifted_logits(delta[r], b_out)
                cost -= log(delta[r, y[r]] / tot)
                # d(mean NLL)/d(logits) = (p - onehot(y)) / m
                for j in range(delta.shape[1]):
                    delta[r, j] = delta[r, j] / tot / m
                delta[r, y[r]] -= 1.0 / m
            costs[t - first] = cost / m
            delta_out[:m] = delta
        meetings += 1
        barrier(counters, role, meetings)
        delta = delta_out[:m]
        for L in range(n_layers, -1, -1):
            # layer L's weights take layer L-1's outputs (the data for L == 0) in; L == n_layers is the softmax
            W = W_out if L == n_layers else Ws[L]
            b = b_out if L == n_layers else bs[L]
            a_in = x if L == 0 else acts[L - 1][:m]
            if 0 < L < n_layers:
                # a hidden layer above the first, in one pass over this thread's rows of W: each row's part of
                # the delta below with the row before its update, then the update
                start, end = _split(W.shape[0], 0.5, role, n_threads, 1)
                d_in = deltas[L - 1]
                blas.backward_rows(delta, W, a_in, -lr, d_in[:m], start, end)
                for r in range(m):
                    for i in range(start, end):
                        d_in[r, i] = d_in[r, i] * (a_in[r, i] * (1.0 - a_in[r, i]))
                start, end = _split(W.shape[1], 0.5, role, n_threads, 16)
                _update_bias(delta[:, start:end], b[start:end], lr)
                meetings += 1
                barrier(counters, role, meetings)  # the delta below whole before either uses it
                delta = deltas[L - 1][:m]
                continue
            if L == n_layers:
                # the softmax layer: backpropagate with the weights before their update, this thread's rows of W
                start, end = _split(W.shape[0], 0.5, role, n_threads, 1)
                d_part = matmul_t(delta, W[start:end])
                d_in = deltas[L - 1]
                for r in range(m):
                    for i in range(start, end):
                        d_in[r, i] = d_part[r, i - start] * (a_in[r, i] * (1.0 - a_in[r, i]))
                meetings += 1
                barrier(counters, role, meetings)  # W read by both before either updates it
            start, end = _split(W.shape[1], 0.5, role, n_threads, 16)
            if start < end:
                _update_layer(a_in, delta[:, start:end], W[:, start:end], b[start:end], lr)
            if L == n_layers:
                delta = deltas[L - 1][:m]
        meetings += 1
        barrier(counters, role, meetings)  # W whole before the next step reads it
    return costs


@njit
def _exp_shifted_logits(row, b):
    """The softmax's numerators in place: ``row`` (a @ W_out) becomes exp(row + b - max(row + b)); returns their
    sum (the denominator), summed in the order of the classes."""
    for j in range(row.shape[0]):
        row[j] += b[j]
    mx = row.max()
    total = 0.0
    for j in range(row.shape[0]):
        row[j] = exp(row[j] - mx)
        total += row[j]
    return total


@njit
def _update_layer(a_in, delta, W, b, lr):
    """W -= lr * a_in.T @ delta; b -= lr * sum of delta's rows."""
    gemm_accumulate(-lr, a_in, delta, W)
    _update_bias(delta, b, lr)


@njit
def _update_bias(delta, b, lr):
    """b -= lr * each row of delta, one row after the other."""
    for r in range(delta.shape[0]):
        for j in range(b.shape[0]):
            b[j] -= lr * delta[r, j]


@njit
def _sigmoid_layer(a, W, b):
    s = blas.product(a, W)
    for r in range(s.shape[0]):
        for j in range(s.shape[1]):
            s[r, j] = _sigmoid(s[r, j] + b[j])
    return s


@njit
def encode(X, Ws, bs):
    """The output of the sigmoid layers ``Ws``, ``bs`` (typed lists, bottom layer first) for each row of X:
    ``sigmoid(a @ W + b)`` layer after layer, as ``SdA.encode`` computes it, with the same bits on every CPU
    (for the inputs of the layer being pretrained, cached once per layer; PyTensor's compiled ``encode`` goes
    through OpenBLAS and fast-math Numba code, which round differently on different CPUs)."""
    a = _sigmoid_layer(X, Ws[0], bs[0])
    for k in range(1, len(Ws)):
        a = _sigmoid_layer(a, Ws[k], bs[k])
    return a


@njit
def class_probabilities(X, Ws, bs, W_out, b_out):
    """``p(y | x)`` for each row of X, as ``logLayer.p_y_given_x`` computes it: :func:`encode`, then the softmax
    of ``a @ W_out + b_out``, with the same bits on every CPU (the validation and test errors of a kernel run)."""
    p = blas.product(encode(X, Ws, bs), W_out)
    for r in range(p.shape[0]):
        total = _exp_shifted_logits(p[r], b_out)
        for j in range(p.shape[1]):
            p[r, j] = p[r, j] / total
    return p


#: the modules whose code the kernels inline (their products, barriers and waits)
INLINED_HELPERS = (blas, threads)


def forget_kernels_built_with_other_helpers(digest=None):
    """Flush the kernels' on-disk cache when a module in ``INLINED_HELPERS`` changed since they were cached.

    Numba keys a cached kernel on the file that defines it (this one) only, but
    the kernels inline code from ``sda/engines/blas.py`` (its products) and ``sda/engines/threads.py`` (the
    barriers): after an edit or an update of one of those files alone (an editable install pulling a fix, say)
    Numba would load kernels that still carry the old code.  A digest of those files kept beside the cache
    tells.  Returns True if the cache was flushed."""
    if digest is None:
        digest = hashlib.sha256()
        for module in INLINED_HELPERS:
            with open(module.__file__, "rb") as f:
                digest.update(f.read())
        digest = digest.hexdigest()
    kernels = [value for value in globals().values()
               if isinstance(value, numba.core.registry.CPUDispatcher) and value._cache is not None
               and hasattr(value._cache, "_cache_path")]
    if not kernels:
        return False
    stamp = os.path.join(kernels[0]._cache._cache_path, "kernels.helpers-digest")
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


forget_kernels_built_with_other_helpers()
