"""(20,1000)@(1000,1000)-sized sgemm: OpenBLAS 0.3.34 (scipy-openblas32) vs NumPy's 0.3.31, and 1 vs 2 threads."""
import os; os.environ["OPENBLAS_NUM_THREADS"]="1"
import numpy as np, time, ctypes, glob, scipy_openblas32
lib32 = ctypes.CDLL(scipy_openblas32.get_lib_dir() + "/libscipy_openblas.so")
lib64 = ctypes.CDLL(glob.glob(os.path.dirname(np.__file__) + "/../numpy.libs/libscipy_openblas64_*.so")[0])
f32 = lib32.scipy_cblas_sgemm; f64 = lib64.scipy_cblas_sgemm64_
P = ctypes.c_void_p
f32.argtypes = [ctypes.c_int]*3 + [ctypes.c_int]*3 + [ctypes.c_float, P, ctypes.c_int, P, ctypes.c_int, ctypes.c_float, P, ctypes.c_int]
f64.argtypes = [ctypes.c_int]*3 + [ctypes.c_int64]*3 + [ctypes.c_float, P, ctypes.c_int64, P, ctypes.c_int64, ctypes.c_float, P, ctypes.c_int64]
for l, n in ((lib32, "scipy_openblas_get_config"),):
    g = getattr(l, n); g.restype = ctypes.c_char_p; print(g())
r=np.random.RandomState(0)
W=r.randn(1000,1000).astype(np.float32); x=r.randn(20,1000).astype(np.float32); W0=r.randn(784,1000).astype(np.float32); x0=r.randn(20,784).astype(np.float32)
c = np.empty((20,1000), np.float32)
def call(f, a, b):  # RowMajor=101, NoTrans=111
    m, k = a.shape; n = b.shape[1]
    f(101, 111, 111, m, n, k, 1.0, a.ctypes.data, k, b.ctypes.data, n, 0.0, c.ctypes.data, n)
def t(g, n=100):
    g(); ts=[]
    for _ in range(9):
        t0=time.perf_counter()
        for i in range(n): g()
        ts.append((time.perf_counter()-t0)/n*1e3)
    return np.median(ts)
for name,(a,b) in {"x@W":(x,W),"x0@W0":(x0,W0)}.items():
    call(f32,a,b); assert np.allclose(c, a@b, atol=1e-3)
    print(name, "openblas32-0.3.34 %.3f" % t(lambda: call(f32,a,b)), "numpy-0.3.31 %.3f" % t(lambda: call(f64,a,b)), "numpy@ %.3f" % t(lambda: a@b))
C = W.copy(); d = r.randn(20,1000).astype(np.float32)
def upd(f, a, b):  # C += -0.01 * a.T @ b ; RowMajor, Trans(112), NoTrans
    f(101, 112, 111, 1000, 1000, 20, -0.01, a.ctypes.data, 1000, b.ctypes.data, 1000, 1.0, C.ctypes.data, 1000)
def back(f, a):  # c = a @ W.T
    f(101, 111, 112, 20, 1000, 1000, 1.0, a.ctypes.data, 1000, W.ctypes.data, 1000, 0.0, c.ctypes.data, 1000)
print("update  openblas32 %.3f numpy %.3f" % (t(lambda: upd(f32, x, d)), t(lambda: upd(f64, x, d))))
print("back    openblas32 %.3f numpy %.3f" % (t(lambda: back(f32, d)), t(lambda: back(f64, d))))
for th in (1, 2):
    lib32.scipy_openblas_set_num_threads(th)
    print(th, "threads: x@W %.3f update %.3f back %.3f" % (t(lambda: call(f32, x, W)), t(lambda: upd(f32, x, d)), t(lambda: back(f32, d))))
