#!/usr/bin/env python
"""How far the batch-1 steps are from what this machine's caches allow: ms per step against the passes they make.

    python bench/floor.py
    python bench/floor.py --threads 1,2 --repeats 9 --json out.json

A batch-1 step is bound by moving its weight matrices (3-4 MB each in float32, larger than a core's L2 here)
through the cache.  Each pass over a matrix either reads it or reads and writes it back; a read-write pass costs
about two and a half reads.  This times, in one process and alternating repeat by repeat:

* ``step``        the kernels' steps (``sda.engines.kernel_steps``, as ``train_sda.py`` runs them) on MNIST's
                  images (a dA on the pixels, dAs on dense inputs of 1000 units, finetuning of 784-1000-1000-1000-10);
* ``floor``       the passes those steps make and nothing else, each thread on its own rows with no waiting: a dA
                  step one read (the reconstruction) and one read-write (the update, with the next step's forward
                  product); a finetuning step, for each 1000 x 1000 layer, one read (forward) and one read-write
                  (the delta below and the update), and for the first layer the same over the rows of the
                  non-zero pixels (the softmax layer's 40 kB left out).  No step that gives the kernels' bits
                  makes fewer passes (docs/performance.md sections 11 and 13);
* ``reads only``  the same passes with every write left out: the floor of a step that would write its weights
                  back only every few steps (deferred rank-one updates, which change the rounding: section 13).

``step / floor`` is how much a step could still gain with the same arithmetic on this machine.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import sda  # noqa: E402,F401  (first: it sets one BLAS thread before NumPy loads its OpenBLAS)
import numba  # noqa: E402
import numpy  # noqa: E402
from numba.typed import List  # noqa: E402

from benchmark import load_images, machine  # noqa: E402
from sda.engines import blas, kernel_steps, threads  # noqa: E402

HIDDEN = 1000
KEEP = {"pretrain_0": 0.9, "pretrain_1": 0.8, "pretrain_2": 0.7}  # 1 - the tutorial's corruption levels
PRETRAIN_LR, FINETUNE_LR = 0.001, 0.1


@numba.njit(cache=True, nogil=True)
def _read(W, x, rows, out):
    """One read of the given rows of W (a dot product each)."""
    for i in rows:
        out[i] = blas.dot(W[i], x)


@numba.njit(cache=True, nogil=True)
def _read_write(W, x, rows, c):
    """One read-write pass over the given rows of W (a rank-one update)."""
    for i in rows:
        for j in range(W.shape[1]):
            W[i, j] -= c * x[j]


@numba.njit(cache=True, nogil=True)
def passes(Ws, X, first, stop, writes, role, n_threads, counters):
    """The passes of steps first..stop-1: per matrix one read and one read-write (a second read where ``writes``
    is false), each thread over its half of the rows; for a matrix as wide as a row of X, the rows where that
    row of X is non-zero (the first layer of finetuning; pass the dA's matrix in a typed list of its own, with X
    of the other width, for all its rows)."""
    out = numpy.empty(max([W.shape[0] for W in Ws]), Ws[0].dtype)
    v = numpy.full(max([W.shape[1] for W in Ws]), 1e-3, Ws[0].dtype)
    c = Ws[0].dtype.type(1e-7)
    listed = numpy.empty(out.shape[0], numpy.int64)
    for t in range(first, stop):
        for W in Ws:
            start, end = kernel_steps._split(W.shape[0], 0.5, role, n_threads, 1)
            if W.shape[0] == X.shape[1]:
                rows = listed[:kernel_steps._nonzero_rows(X[t], start, end, listed)]
            else:
                rows = numpy.arange(start, end)
            x = v[:W.shape[1]]
            _read(W, x, rows, out)
            if writes:
                _read_write(W, x, rows, c)
            else:
                _read(W, x, rows, out)
    return numpy.zeros(stop - first)


class Case:
    """One phase: its step and its passes on the same matrices and data, each ``steps`` steps per call."""

    def __init__(self, phase, images, labels, steps, rng):
        self.phase, self.steps = phase, steps
        dtype = numpy.float32
        if phase == "finetune":
            shapes = [(images.shape[1], HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, HIDDEN)]
            self.Ws = List([(rng.randn(*s) * 0.05).astype(dtype) for s in shapes])
            self.bs = List([numpy.zeros(s[1], dtype) for s in shapes])
            self.W_out, self.b_out = (rng.randn(HIDDEN, 10) * 0.05).astype(dtype), numpy.zeros(10, dtype)
            self.X = images[:steps]
            self.Y = labels[:steps]
        else:
            inputs = images[:steps] if phase == "pretrain_0" else rng.rand(steps, HIDDEN).astype(dtype)
            self.X, self.U = inputs, rng.rand(*inputs.shape).astype(dtype)
            self.W = (rng.randn(inputs.shape[1], HIDDEN) * 0.05).astype(dtype)
            self.b, self.b_prime = numpy.zeros(HIDDEN, dtype), numpy.zeros(inputs.shape[1], dtype)
            self.Ws = List([self.W])
            self.other_width = numpy.zeros((steps, 1), dtype)

    def step(self, n_threads):
        if self.phase == "finetune":
            return _timed(threads.run_roles, kernel_steps.mlp_train_b1, n_threads, self.X, self.Y, 0, self.steps,
                          self.Ws, self.bs, self.W_out, self.b_out, numpy.float32(FINETUNE_LR),
                          *kernel_steps.mlp_workspace(self.Ws, self.W_out))
        return _timed(threads.run_roles, kernel_steps.da_train_b1, n_threads, self.X, self.U, 0, self.steps,
                      self.W, self.b, self.b_prime, numpy.float32(KEEP[self.phase]), numpy.float32(PRETRAIN_LR),
                      *kernel_steps.da_workspace(self.W.shape[0], self.W.dtype))

    def passes(self, n_threads, writes):
        X = self.X if self.phase == "finetune" else self.other_width
        return _timed(threads.run_roles, passes, n_threads, self.Ws, X, 0, self.steps, writes)


def _timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument("--steps", type=int, default=500, help="steps per timed call (a kernel call's length)")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls of each, alternating; the median")
    parser.add_argument("--data", default=os.environ.get("SDA_DATA", "/work/shared/data/mnist"),
                        help="MNIST's folder (else random images of MNIST's shape and sparsity)")
    parser.add_argument("--json", help="write the table here too")
    args = parser.parse_args(argv)
    thread_counts = [int(n) for n in args.threads.split(",")]
    images, labels, source = load_images(args.steps, args.data)
    rng = numpy.random.RandomState(0)
    cases = [Case(phase, images, labels, args.steps, rng) for phase in ("pretrain_0", "pretrain_1", "pretrain_2", "finetune")]
    measures = [(case, n, name) for case in cases for n in thread_counts for name in ("step", "floor", "reads only")]
    runs = {
        "step": lambda case, n: case.step(n),
        "floor": lambda case, n: case.passes(n, True),
        "reads only": lambda case, n: case.passes(n, False),
    }
    times = {key: [] for key in measures}
    for case, n, name in measures:  # warm-up: compilation
        runs[name](case, n)
    for _ in range(args.repeats):
        for key in measures:
            times[key].append(runs[key[2]](key[0], key[1]) / args.steps * 1e3)
    host, load = machine(), os.getloadavg()[0]
    print(f"{host['cpu']}, {host['cpus']} cpus, load average {load:.2f} at the end; "
          f"{source} data; ms per batch-1 step, float32, median of {args.repeats} calls of {args.steps} steps, alternating")
    print(f"{'phase':<12}{'threads':>8}{'step':>9}{'floor':>9}{'reads only':>12}{'step / floor':>14}"
          f"{'floor / reads only':>20}")
    rows = []
    for case in cases:
        for n in thread_counts:
            step, floor, reads = (statistics.median(times[(case, n, name)]) for name in ("step", "floor", "reads only"))
            rows.append({"phase": case.phase, "threads": n, "step_ms": step, "floor_ms": floor, "reads_only_ms": reads})
            print(f"{case.phase:<12}{n:>8}{step:>9.3f}{floor:>9.3f}{reads:>12.3f}{step / floor:>14.2f}"
                  f"{floor / reads:>20.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": host, "load_average_at_end": load, "steps": args.steps,
                       "repeats": args.repeats, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
