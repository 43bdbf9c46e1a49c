# Probe (round 11, docs/performance.md section 16; used again by panels.py in round 12): in-isolation timing of the dA update pass with dh, h and the sums in registers (update_rows_block) against the plain loops; run from the repository root.
import sys, time
sys.path.insert(0, ".")
import numpy as np, numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from llvmlite import ir
from sda.engines.blas import _float_array, _vector, _splat, _row, _load_vector, _store_vector
njit = numba.njit(fastmath=False, nogil=True, error_model="numpy")

def make_update_block(nvec):
    @intrinsic
    def _update_block(typingctx, W, arow, crow, xnext, dh, h, acc, row_start, row_stop, first):
        def codegen(context, builder, sig, args):
            Ws, ars, crs, xns, dhs, hs, accs = (context.make_array(t)(context, builder, a) for t, a in zip(sig.args[:7], args[:7]))
            element, vt = _vector(context, sig.args[0].dtype)
            lanes_, align = vt.count, context.get_abi_sizeof(element)
            intp = context.get_value_type(types.intp)
            r0 = context.cast(builder, args[7], sig.args[7], types.intp)
            r1 = context.cast(builder, args[8], sig.args[8], types.intp)
            start = context.cast(builder, args[9], sig.args[9], types.intp)
            D = [_load_vector(builder, dhs.data, builder.add(start, ir.Constant(intp, v * lanes_)), vt, align) for v in range(nvec)]
            H = [_load_vector(builder, hs.data, builder.add(start, ir.Constant(intp, v * lanes_)), vt, align) for v in range(nvec)]
            A = [cgutils.alloca_once_value(builder, _load_vector(builder, accs.data, ir.Constant(intp, v * lanes_), vt, align)) for v in range(nvec)]
            zero = ir.Constant(element, 0.0)
            with cgutils.for_range_slice(builder, r0, r1, ir.Constant(intp, 1)) as (i, _):
                a = _splat(builder, builder.load(builder.gep(ars.data, [i])), vt)
                c = _splat(builder, builder.load(builder.gep(crs.data, [i])), vt)
                xn_s = builder.load(builder.gep(xns.data, [i]))
                row = _row(builder, Ws, i)
                news = []
                for v in range(nvec):
                    idx = builder.add(start, ir.Constant(intp, v * lanes_))
                    w = _load_vector(builder, row, idx, vt, align)
                    w = builder.fsub(w, builder.fadd(builder.fmul(a, D[v]), builder.fmul(c, H[v])))
                    _store_vector(builder, w, row, idx, align)
                    news.append(w)
                with builder.if_then(builder.fcmp_unordered("!=", xn_s, zero)):
                    xn = _splat(builder, xn_s, vt)
                    for v in range(nvec):
                        builder.store(builder.fadd(builder.load(A[v]), builder.fmul(xn, news[v])), A[v])
            for v in range(nvec):
                _store_vector(builder, builder.load(A[v]), accs.data, ir.Constant(intp, v * lanes_), align)
            return context.get_dummy_value()
        return types.void(W, arow, crow, xnext, dh, h, acc, row_start, row_stop, first), codegen
    return _update_block

upd4 = make_update_block(4)
upd8 = make_update_block(8)

@njit
def plain(W, dh, h, tx, dz, txn, lr, acc, reps):
    n_vis, n = W.shape
    for r in range(reps):
        for i in range(n_vis):
            a = lr * tx[i]; c = lr * dz[i]; xn = txn[i]
            if xn != 0.0:
                for j in range(n):
                    W[i, j] -= a * dh[j] + c * h[j]
                    acc[j] += xn * W[i, j]
            else:
                for j in range(n):
                    W[i, j] -= a * dh[j] + c * h[j]

def make_blocked(upd, width, band):
    @njit
    def blocked(W, dh, h, tx, dz, txn, lr, acc, reps):
        n_vis, n = W.shape
        arow = np.empty(n_vis, W.dtype); crow = np.empty(n_vis, W.dtype)
        for r in range(reps):
            for i in range(n_vis):
                arow[i] = lr * tx[i]; crow[i] = lr * dz[i]
            for r0 in range(0, n_vis, band):
                r1 = min(n_vis, r0 + band)
                full = n // width * width
                for c0 in range(0, full, width):
                    upd(W, arow, crow, txn, dh, h, acc[c0:c0 + width], r0, r1, c0)
                for c0 in range(full, n, 64):
                    upd4(W, arow, crow, txn, dh, h, acc[c0:c0 + 64], r0, r1, c0)
    return blocked

if __name__ == "__main__":
    dt = np.float32; rng = np.random.RandomState(0)
    variants = [("plain", plain)] + [(f"w{w} band{b}", make_blocked(u, w, b)) for (u, w) in ((upd8, 128),) for b in (4, 8, 16, 32, 64, 128)]
    for n_vis, density in ((784, 0.19), (784, 1.0), (1000, 0.8)):
        n = 576
        W0 = (rng.randn(n_vis, n) * 0.05).astype(dt); dh = rng.rand(n).astype(dt); h = rng.rand(n).astype(dt)
        tx = (rng.rand(n_vis) * (rng.rand(n_vis) < density)).astype(dt); dz = rng.rand(n_vis).astype(dt) * dt(1e-3)
        txn = (rng.rand(n_vis) * (rng.rand(n_vis) < density)).astype(dt)
        ref = None
        reps = 100
        res = []
        for name, f in variants:
            W = W0.copy(); acc = np.zeros(n, dt)
            f(W, dh, h, tx, dz, txn, dt(1e-3), acc, 1)
            if ref is None: ref = (W.copy(), acc.copy())
            same = np.array_equal(W, ref[0]) and np.array_equal(acc, ref[1])
            best = 1e9
            for k in range(5):
                t0 = time.perf_counter(); f(W, dh, h, tx, dz, txn, dt(1e-3), acc, reps); best = min(best, time.perf_counter() - t0)
            res.append(f"{name} {best/reps*1e6:.1f}us{'' if same else ' DIFF'}")
        print(f"{n_vis}x{n} density {density}: " + ", ".join(res))
