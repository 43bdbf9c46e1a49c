"""Timings of the JAX back end (device=cuda) for docs/gpu.md.

    THEANO_FLAGS=device=cuda,floatX=float32 python bench/gpu_bench.py [--quick] [--cpu-jax]

Fake MNIST-sized data (50 000 x 784 training rows, 10 000 validation rows),
layers [1000, 1000, 1000], the package's own compiled functions.  Prints one
JSON object per measurement.  ``--cpu-jax`` runs the same on JAX's CPU device
(for trying it without a GPU); ``--numba`` times the CPU (Numba) path instead.
"""
import argparse
import contextlib
import json
import sys
import time
import warnings

import numpy

warnings.filterwarnings("ignore", message="The RandomType SharedVariables")

import sda.backend as backend  # noqa: E402
from sda import SdA  # noqa: E402
from sda.backend import pytensor  # noqa: E402


def emit(**record):
    print(json.dumps(record), flush=True)


def fake(n, rng):
    x = pytensor.shared(rng.rand(n, 784).astype(backend.floatX), borrow=True)
    y = pytensor.shared(rng.randint(0, 10, n).astype("int32"), borrow=True)
    return x, y


def per_call(fn, args_of, n, warm=5):
    for k in range(warm):
        float(numpy.asarray(fn(*args_of(k))).ravel()[0])
    t = time.perf_counter()
    for k in range(n):
        float(numpy.asarray(fn(*args_of(k))).ravel()[0])  # a sync per call, as the training loop's float(cost)
    return (time.perf_counter() - t) / n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cpu-jax", action="store_true")
    parser.add_argument("--numba", action="store_true")
    parser.add_argument("--chunks", default="1000,5000")
    parser.add_argument("--parts", default="step,resident,scan,eval")
    args = parser.parse_args()
    parts = args.parts.split(",")
    ctx = backend.jax_on_cpu() if args.cpu_jax else contextlib.nullcontext()
    n_train = 5000 if args.quick else 50000
    sizes = [100, 100, 100] if args.quick else [1000, 1000, 1000]
    with ctx:
        emit(device=backend.device, jax_device=str(backend.jax_device), floatX=backend.floatX,
             versions=backend.versions())
        rng = numpy.random.RandomState(0)
        train, valid = fake(n_train, rng), fake(10000, rng)
        if "step" in parts:
            for bs in (1, 20):
                sda = SdA(numpy.random.RandomState(1), n_ins=784, hidden_layers_sizes=sizes, n_outs=10,
                          corruption_levels=[0.1, 0.2, 0.3])
                t = time.perf_counter()
                fns = sda.pretraining_functions(train[0], bs)
                for layer, fn in enumerate(fns):
                    t = time.perf_counter()
                    fn(0, corruption=0.1, lr=0.001)
                    first = time.perf_counter() - t
                    sec = per_call(lambda i: fn(i, corruption=0.1, lr=0.001), lambda k: (k % 2000,), 200 if bs == 1 else 100)
                    emit(what="pretrain step", layer=layer, batch=bs, ms=round(sec * 1e3, 4),
                         first_call_s=round(first, 2))
                train_fn, valid_score, _ = sda.build_finetune_functions([train, valid, valid], bs, 0.1, 1000)
                t = time.perf_counter()
                train_fn(0)
                first = time.perf_counter() - t
                sec = per_call(train_fn, lambda k: (k % 2000,), 200 if bs == 1 else 100)
                emit(what="finetune step", batch=bs, ms=round(sec * 1e3, 4), first_call_s=round(first, 2))
                if bs == 1 and "eval" in parts:
                    valid_score()
                    t = time.perf_counter()
                    for _ in range(3):
                        numpy.mean(valid_score())
                    emit(what="validation (10000 rows, eval batch 1000)", ms=round((time.perf_counter() - t) / 3 * 1e3, 2))
        if "resident" in parts and not args.numba:
            # the same pretraining step with 1 000 and with n_train rows; and PyTensor's plain JAX mode
            sda = SdA(numpy.random.RandomState(1), n_ins=784, hidden_layers_sizes=sizes, n_outs=10,
                      corruption_levels=[0.1, 0.2, 0.3])
            for n in (1000, n_train):
                x = pytensor.shared(numpy.asarray(train[0].get_value())[:n].copy(), borrow=True)
                fn = sda.pretraining_functions(x, 1)[0]
                sec = per_call(lambda i: fn(i, corruption=0.1, lr=0.001), lambda k: (k % 500,), 200)
                emit(what="resident: pretrain step layer 0 batch 1", rows=n, ms=round(sec * 1e3, 4),
                     storage=type(x.get_value(borrow=True)).__name__,
                     W_storage=type(sda.params[0].get_value(borrow=True)).__name__)
            from pytensor.compile.mode import get_mode

            # PyTensor's plain JAX mode as the default while the tutorial's functions compile
            with pytensor.config.change_flags(mode=get_mode("JAX")):
                for n in (1000, n_train):
                    x = pytensor.shared(numpy.asarray(train[0].get_value())[:n].copy(), borrow=True)
                    fn = sda.pretraining_functions(x, 1)[0]
                    sec = per_call(lambda i: fn(i, corruption=0.1, lr=0.001), lambda k: (k % 500,), 20)
                    emit(what="plain mode=JAX (numpy storage): pretrain step layer 0 batch 1", rows=n,
                         ms=round(sec * 1e3, 4), storage=type(x.get_value(borrow=True)).__name__)
        if "scan" in parts:
            from sda.engines import chunks as gpu

            for bs in (1, 20):
                sda = SdA(numpy.random.RandomState(1), n_ins=784, hidden_layers_sizes=sizes, n_outs=10,
                          corruption_levels=[0.1, 0.2, 0.3])
                fns = [gpu.pretraining_chunk_function(sda, k, train[0], bs) for k in range(len(sizes))]
                ft = gpu.finetune_chunk_function(sda, train[0], train[1], bs, 0.1)
                n_batches = n_train // bs
                for K in [int(k) for k in args.chunks.split(",")]:
                    K = min(K, n_batches)
                    idx = [numpy.arange(s, s + K, dtype="int32") % n_batches for s in (0, K, 2 * K)]
                    for layer, fn in enumerate(fns):
                        t = time.perf_counter()
                        numpy.asarray(fn(idx[0], 0.1, 0.001))
                        first = time.perf_counter() - t
                        t = time.perf_counter()
                        for r in (1, 2):
                            c = numpy.asarray(fn(idx[r], 0.1, 0.001))
                        sec = (time.perf_counter() - t) / 2
                        emit(what="scan chunk pretrain", layer=layer, batch=bs, K=K, us_per_step=round(sec / K * 1e6, 2),
                             first_call_s=round(first, 2), cost_last=float(c[-1]))
                    t = time.perf_counter()
                    numpy.asarray(ft(idx[0]))
                    first = time.perf_counter() - t
                    t = time.perf_counter()
                    for r in (1, 2):
                        c = numpy.asarray(ft(idx[r]))
                    sec = (time.perf_counter() - t) / 2
                    emit(what="scan chunk finetune", batch=bs, K=K, us_per_step=round(sec / K * 1e6, 2),
                         first_call_s=round(first, 2), cost_last=float(c[-1]))
                if args.quick:
                    break


if __name__ == "__main__":
    sys.exit(main())
