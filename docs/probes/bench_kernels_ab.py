"""Old kernels against the kernels of this checkout, alternated in one process: milliseconds per step.

    python docs/probes/bench_kernels_ab.py --old 4b43181 --dtype float32 --old-blas-threads 1 --repeats 7

The old commit's ``sda`` is exported (git archive) into a temporary folder as the package ``sda_old``; each
repeat times the old kernel and then the new one on the same data, and the figures are the minimum CPU time
of the thread (robust on a shared machine) and the median of the per-pair ratios (new / old), with the median
wall times.  Real MNIST (784 inputs) for dA layer 0 and the finetuning; dense inputs in (0, 1) for dA layer 1
(1000 x 1000).  The old kernels' BLAS runs on ``--old-blas-threads`` threads at batch 20 (the new kernels call
no BLAS).
"""
import argparse
import gzip
import os
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--old", default="4b43181", help="commit of the old kernels")
parser.add_argument("--dtype", default="float32")
parser.add_argument("--runs", default="da0 b1,da1 b1,ft b1,da0 b20,da1 b20,ft b20")
parser.add_argument("--old-blas-threads", type=int, default=1)
parser.add_argument("--repeats", type=int, default=7)
parser.add_argument("--mnist", default="/work/shared/data/mnist/train-images-idx3-ubyte.gz")
args = parser.parse_args()

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
old_dir = tempfile.mkdtemp(prefix="sda_old_")
archive = subprocess.run(["git", "-C", root, "archive", args.old, "sda"], check=True, capture_output=True).stdout
with tempfile.TemporaryFile() as f:
    f.write(archive)
    f.seek(0)
    tarfile.open(fileobj=f).extractall(old_dir)
os.rename(os.path.join(old_dir, "sda"), os.path.join(old_dir, "sda_old"))
sys.path.insert(0, old_dir)
sys.path.insert(0, root)

from numba import typed  # noqa: E402

import sda.engines.kernel_steps as new  # noqa: E402
import sda_old.engines.blas as old_blas  # noqa: E402
import sda_old.engines.kernel_steps as old  # noqa: E402

dtype = np.dtype(args.dtype).type
with gzip.open(args.mnist) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
r = np.random.RandomState(0)
N = 4000
X0 = np.ascontiguousarray(images[:N] / dtype(255), dtype)
X1 = r.rand(N, 1000).astype(dtype)
Y = r.randint(0, 10, N).astype(np.int32)
U0, U1 = r.rand(N, 784).astype(dtype), r.rand(N, 1000).astype(dtype)


def weights(a, c, seed):
    bound = 4 * np.sqrt(6.0 / (a + c))
    return np.random.RandomState(seed).uniform(-bound, bound, (a, c)).astype(dtype)


def run(module, name, steps):
    kind, b = name.split()
    batch = int(b[1:])
    if kind.startswith("da"):
        X, U = (X0, U0) if kind == "da0" else (X1, U1)
        W, bias, b_prime = weights(X.shape[1], 1000, 1), np.zeros(1000, dtype), np.zeros(X.shape[1], dtype)
        noise = U[:steps] if batch == 1 else U[:steps * batch]
        t0, w0 = time.thread_time(), time.perf_counter()
        module.da_train(X, noise, 0, steps, batch, W, bias, b_prime, dtype(0.9), dtype(0.001))
    else:
        Ws, bs = typed.List(), typed.List()
        for i, (a, c) in enumerate(((784, 1000), (1000, 1000), (1000, 1000))):
            Ws.append(weights(a, c, 10 + i))
            bs.append(np.zeros(c, dtype))
        W_out, b_out = np.zeros((1000, 10), dtype), np.zeros(10, dtype)
        t0, w0 = time.thread_time(), time.perf_counter()
        module.mlp_train(X0, Y, 0, steps, batch, Ws, bs, W_out, b_out, dtype(0.1))
    return (time.thread_time() - t0) / steps * 1e3, (time.perf_counter() - w0) / steps * 1e3


runs = args.runs.split(",")
results = {}
with old_blas.threads(args.old_blas_threads):
    for name in runs:
        steps = 200 if name.endswith("b1") else 40
        for module in (old, new):
            run(module, name, 2)  # compile / warm up
        for _ in range(args.repeats):
            for label, module in (("old", old), ("new", new)):
                results.setdefault((name, label), []).append(run(module, name, steps))
print(f"{args.dtype}, old BLAS threads {args.old_blas_threads}, {args.repeats} alternated pairs, load {os.getloadavg()}")
for name in runs:
    o, n = np.array(results[name, "old"]), np.array(results[name, "new"])
    print(f"{name:8s} CPU min old {o[:, 0].min():.3f} new {n[:, 0].min():.3f} ratio {n[:, 0].min() / o[:, 0].min():.3f}"
          f" | median pair ratio {np.median(n[:, 0] / o[:, 0]):.3f}"
          f" | wall median old {np.median(o[:, 1]):.3f} new {np.median(n[:, 1]):.3f}"
          f" ratio {np.median(n[:, 1] / o[:, 1]):.3f}")
