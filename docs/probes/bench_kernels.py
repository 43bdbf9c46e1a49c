"""Milliseconds per kernel step (sda.engines.kernel_steps) of a checkout, on real MNIST, at batch 1 and 20.

    python docs/probes/bench_kernels.py ROOT [--blas-threads N] [--steps S] [--repeats R]

ROOT is the checkout whose ``sda`` is timed (e.g. an export of the old commit, and this worktree): run the
two alternately, in the same time window, and compare the medians (docs/determinism.md).
Figures: dA layer 0 (784x1000, MNIST inputs) and layer 1 (1000x1000, dense inputs in (0, 1)), finetuning
784-1000-1000-1000-10; the kernels' BLAS (batch 20) on ``--blas-threads`` threads.
"""
import argparse
import gzip
import json
import sys
import time

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("root")
parser.add_argument("--blas-threads", type=int, default=1)
parser.add_argument("--steps", type=int, default=200)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--dtype", default="float32")
parser.add_argument("--mnist", default="/work/shared/data/mnist/train-images-idx3-ubyte.gz")
args = parser.parse_args()
sys.path.insert(0, args.root)

from numba import typed  # noqa: E402

from sda.engines import blas, kernel_steps as kernels  # noqa: E402

dtype = np.dtype(args.dtype).type
with gzip.open(args.mnist) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
r = np.random.RandomState(0)
n_rows = max(20 * args.steps, 1000)
X0 = np.ascontiguousarray(images[:n_rows] / dtype(255), dtype)
X1 = r.rand(n_rows, 1000).astype(dtype)
Y = r.randint(0, 10, n_rows).astype(np.int32)


def weights(n_in, n_out, seed):
    bound = 4 * np.sqrt(6.0 / (n_in + n_out))
    return np.random.RandomState(seed).uniform(-bound, bound, (n_in, n_out)).astype(dtype)


def da_step(X, batch, steps):
    n_in = X.shape[1]
    W, b, bp = weights(n_in, 1000, 1), np.zeros(1000, dtype), np.zeros(n_in, dtype)
    U = r.rand(steps * batch, n_in).astype(dtype)
    if batch == 1:
        U = U.reshape(steps, n_in)
    kernels.da_train(X, U, 0, 2, batch, W, b, bp, dtype(0.9), dtype(0.001))  # compile / warm up
    t0 = time.perf_counter()
    kernels.da_train(X, U, 0, steps, batch, W, b, bp, dtype(0.9), dtype(0.001))
    return (time.perf_counter() - t0) / steps * 1e3


def finetune_step(batch, steps):
    Ws, bs = typed.List(), typed.List()
    for i, (a, c) in enumerate(((784, 1000), (1000, 1000), (1000, 1000))):
        Ws.append(weights(a, c, 10 + i))
        bs.append(np.zeros(c, dtype))
    W_out, b_out = np.zeros((1000, 10), dtype), np.zeros(10, dtype)
    kernels.mlp_train(X0, Y, 0, 2, batch, Ws, bs, W_out, b_out, dtype(0.1))
    t0 = time.perf_counter()
    kernels.mlp_train(X0, Y, 0, steps, batch, Ws, bs, W_out, b_out, dtype(0.1))
    return (time.perf_counter() - t0) / steps * 1e3


figures = {}
with blas.threads(args.blas_threads):
    for _ in range(args.repeats):
        for batch in (1, 20):
            steps = args.steps if batch == 1 else max(args.steps // 4, 10)
            figures.setdefault(f"da0 b{batch}", []).append(da_step(X0, batch, steps))
            figures.setdefault(f"da1 b{batch}", []).append(da_step(X1, batch, steps))
            figures.setdefault(f"ft b{batch}", []).append(finetune_step(batch, steps))
print(json.dumps({name: float(np.median(v)) for name, v in figures.items()}))
