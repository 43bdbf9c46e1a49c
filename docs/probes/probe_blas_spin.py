"""CPU time an idle process burns after 2-thread OpenBLAS calls (the worker threads spin before sleeping)."""
import os, sys, time, resource; sys.path.insert(0, os.getcwd())
import numpy as np
from sda import blas, kernels
r = np.random.RandomState(0)
A = r.randn(20, 1000).astype(np.float32); W = r.randn(1000, 1000).astype(np.float32)
kernels.matmul(A, W)
def cpu(): u = resource.getrusage(resource.RUSAGE_SELF); return u.ru_utime + u.ru_stime
for sleep in (0.05, 0.2, 1.0):
    with blas.threads(2):
        for i in range(200): kernels.matmul(A, W)
    c0 = cpu(); time.sleep(sleep); print("after 2-thread calls, CPU used while idle %.2fs: %.3f s" % (sleep, cpu() - c0))
