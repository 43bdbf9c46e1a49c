#!/usr/bin/env python
"""Eager PyTorch SdA steps (the tutorial's maths), timed; prints one JSON line.

    python bench/torch_steps.py --batch-sizes 1,20 --steps 200 --repeats 5 --threads 2

With ``--serve`` it times nothing itself: bench/benchmark.py starts it (with an
interpreter that has torch; it may be another venv) and sends one request per line,
``BATCH PHASE FIRST STEPS``, so that PyTorch is timed round-robin with the other
variants.  It answers each with ``done``, and ``ready TORCH_VERSION`` at start.
"""
import argparse
import json
import statistics
import sys
import time

import torch


def make_steps(threads, batch_sizes):
    """{(batch, phase): step(i)}: one SGD step on minibatch i of a fixed MNIST-like set."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    n = 2000
    X = (torch.rand(n, 784, generator=g) * (torch.rand(n, 784, generator=g) < 0.19)).float()
    Y = torch.randint(0, 10, (n,), generator=g)
    sizes = [784, 1000, 1000, 1000]

    def param(*shape):
        return (torch.rand(*shape, generator=g) * 0.1 - 0.05).requires_grad_()

    Ws = [param(sizes[k], sizes[k + 1]) for k in range(3)]
    bs = [torch.zeros(sizes[k + 1], requires_grad=True) for k in range(3)]
    bvs = [torch.zeros(sizes[k], requires_grad=True) for k in range(3)]
    Wl, bl = torch.zeros(1000, 10, requires_grad=True), torch.zeros(10, requires_grad=True)

    def sgd(loss, params, lr):
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p_, g_ in zip(params, grads):
                p_ -= lr * g_

    def pretrain_step(k, x, c=0.2, lr=0.001):
        with torch.no_grad():
            for j in range(k):
                x = torch.sigmoid(x @ Ws[j] + bs[j])
        tx = x * (torch.rand(x.shape) < 1 - c)
        y = torch.sigmoid(tx @ Ws[k] + bs[k])
        z = torch.sigmoid(y @ Ws[k].T + bvs[k])
        loss = -(x * torch.log(z) + (1 - x) * torch.log(1 - z)).sum(1).mean()
        sgd(loss, [Ws[k], bs[k], bvs[k]], lr)
        return loss

    def finetune_step(x, y, lr=0.1):
        h = x
        for j in range(3):
            h = torch.sigmoid(h @ Ws[j] + bs[j])
        loss = torch.nn.functional.cross_entropy(h @ Wl + bl, y)
        sgd(loss, Ws + bs + [Wl, bl], lr)
        return loss

    steps = {}
    for b in batch_sizes:
        nb = n // b
        for k in range(3):
            steps[b, f"pretrain_{k}"] = lambda i, k=k, b=b, nb=nb: pretrain_step(k, X[i % nb * b:(i % nb + 1) * b])
        steps[b, "finetune"] = lambda i, b=b, nb=nb: finetune_step(X[i % nb * b:(i % nb + 1) * b],
                                                                   Y[i % nb * b:(i % nb + 1) * b])
    return steps


def serve(steps):
    print("ready", torch.__version__, flush=True)
    for line in sys.stdin:
        b, phase, first, count = line.split()
        step = steps[int(b), phase]
        for i in range(int(first), int(first) + int(count)):
            step(i)
        print("done", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch-sizes", default="1,20")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--serve", action="store_true", help="answer timing requests on stdin (see above)")
    a = p.parse_args()
    steps = make_steps(a.threads, [int(s) for s in a.batch_sizes.split(",")])
    if a.serve:
        return serve(steps)
    out = {}
    for (b, name), step in steps.items():
        for i in range(20):
            step(i)
        times = []
        for r in range(a.repeats):
            t = time.perf_counter()
            for i in range(a.steps):
                step(i)
            times.append((time.perf_counter() - t) / a.steps * 1e3)
        out[f"{b}/{name}"] = {"median_ms": statistics.median(times), "all_ms": times}
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "results": out}))


if __name__ == "__main__":
    main()
