#!/usr/bin/env python
"""Eager PyTorch SdA steps (the tutorial's maths), timed; prints one JSON line.

Run by scripts/benchmark.py with an interpreter that has torch (it may be another venv):
    python scripts/torch_steps.py --batch-sizes 1,20 --steps 200 --repeats 5 --threads 2
"""
import argparse
import json
import statistics
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch-sizes", default="1,20")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
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

    out = {}
    for b in [int(s) for s in a.batch_sizes.split(",")]:
        nb = n // b
        phases = {f"pretrain_{k}": (lambda i, k=k: pretrain_step(k, X[i * b:(i + 1) * b])) for k in range(3)}
        phases["finetune"] = lambda i: finetune_step(X[i * b:(i + 1) * b], Y[i * b:(i + 1) * b])
        for name, step in phases.items():
            for i in range(20):
                step(i % nb)
            times = []
            for r in range(a.repeats):
                t = time.perf_counter()
                for i in range(a.steps):
                    step(i % nb)
                times.append((time.perf_counter() - t) / a.steps * 1e3)
            out[f"{b}/{name}"] = {"median_ms": statistics.median(times), "all_ms": times}
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "results": out}))


if __name__ == "__main__":
    main()
