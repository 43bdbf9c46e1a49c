#!/usr/bin/env python
"""Milliseconds per SGD step of the SdA: each pretraining layer and finetuning, per batch size and variant.

    python bench/benchmark.py --quick
    python bench/benchmark.py --variants compiled,kernels --batch-sizes 1,20 --repeats 7 --json out.json

Variants (``VARIANTS``: name -> builder; add a fast path by adding a builder):

* ``compiled``        the tutorial's compiled functions, as ``train_sda.py --engine compiled`` runs them:
                      ``SdA.pretraining_functions(...)[k](index, corruption=c, lr=lr)`` and
                      ``build_finetune_functions(...)[0](index)``, PyTensor's configured mode (Numba by default);
* ``compiled-c``      the same functions with ``Mode(linker="cvm", optimizer="fast_run")`` (PyTensor's C back end;
                      BLAS from ``PYTENSOR_FLAGS=blas__ldflags=...``, if any);
* ``compiled-cached`` pretraining layer k>0 as a standalone dA on the lower layers' outputs computed once;
* ``compiled-jax``    the same functions through PyTensor's JAX back end on JAX's CPU device (the device=cuda
                      code path; needs jax);
* ``kernels``         the package's fast path, as ``train_sda.py`` runs it by default (``sda.engines.kernels``: Numba kernels,
                      many minibatches per call, lower layers cached, one or two threads as each call measures best);
* ``kernels-1``, ``kernels-2``  the same on one thread, on two;
* ``torch``           eager PyTorch (2 threads, ``bench/torch_steps.py --serve`` in a child process: this
                      interpreter if it imports torch, else --torch-python; skipped when neither has torch).

Whole runs (process start to exit, against a plain eager-PyTorch script of the same work): ``bench/e2e.py``.

Data: real MNIST's training images if --data points at them (default: /work/shared/data/mnist or $SDA_DATA),
else random images with MNIST's shape and sparsity.  Each figure is the median over --repeats runs of --steps
steps, after a warm-up (compilation excluded).  Variants, PyTorch included, are timed round-robin, repeat by
repeat and phase by phase, so that load from other processes spreads over all of them.
"""
import argparse
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import sda  # noqa: E402,F401  (first: it sets one BLAS thread before NumPy loads its OpenBLAS)
import numpy  # noqa: E402

PHASES = ["pretrain_0", "pretrain_1", "pretrain_2", "finetune"]
LAYERS = [1000, 1000, 1000]
N_TRAIN, N_FINETUNE_EPOCHS, N_PRETRAIN_EPOCHS = 50_000, 36, 15
CORRUPTION = [0.1, 0.2, 0.3]
PRETRAIN_LR, FINETUNE_LR = 0.001, 0.1
# Reference eager PyTorch 2.13, 2 threads, the figures the speed targets were set against (ms per step);
# the JSON keeps its historical keys issue_torch_ms / speedup_vs_issue_torch for them
ISSUE_TORCH = {1: [2.8, 4.6, 4.8, 7.8], 20: [4.8, 9.7, 10.7, 12.7]}
TARGET_RATIO = {1: 3.0, 20: 1.5}


def load_images(n, data):
    """(n, 784) float32 images and int32 labels: real MNIST when available, else MNIST-like noise."""
    if data and os.path.isdir(data):
        from sda.data import load_mnist_arrays

        (x, y), _, _ = load_mnist_arrays(data, n_train=n, download=False)
        return numpy.ascontiguousarray(x, dtype="float32"), numpy.asarray(y, dtype="int32"), "mnist"
    rng = numpy.random.RandomState(0)
    x = (rng.rand(n, 784) * (rng.rand(n, 784) < 0.19)).astype("float32")
    return x, rng.randint(0, 10, n).astype("int32"), "random"


class Context:
    """What the builders share: the data (arrays and shared variables) and a fresh model per variant."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        from sda.backend import pytensor

        self.sx = pytensor.shared(x, borrow=True)
        self.sy = pytensor.shared(y, borrow=True)

    def model(self):
        from sda import SdA

        return SdA(numpy.random.RandomState(89677), n_ins=784, hidden_layers_sizes=LAYERS, n_outs=10,
                   corruption_levels=CORRUPTION)

    def lower_outputs(self, sda, k):
        """Outputs of the frozen layers below layer k for the whole set (NumPy, computed once)."""
        h = self.x
        for layer in sda.sigmoid_layers[:k]:
            W, b = layer.W.get_value(borrow=True), layer.b.get_value(borrow=True)
            h = (1 / (1 + numpy.exp(-(h @ W + b)))).astype("float32")
        return numpy.ascontiguousarray(h)


# A builder takes (ctx, batch_size) and returns {phase: run(first, stop)} where run trains
# minibatches first..stop-1.  Building (and compiling) happens here, warm-up in the harness.

def build_pytensor(ctx, bs, mode=None):
    import contextlib

    from sda.backend import pytensor

    # the tutorial's functions compile in PyTensor's default mode: change it while they compile
    with pytensor.config.change_flags(mode=mode) if mode is not None else contextlib.nullcontext():
        model = ctx.model()
        fns = model.pretraining_functions(ctx.sx, bs)
        train_fn = model.build_finetune_functions([(ctx.sx, ctx.sy)] * 3, bs, FINETUNE_LR)[0]
    runs = {}
    for k, fn in enumerate(fns):
        runs[f"pretrain_{k}"] = (lambda first, stop, fn=fn, c=CORRUPTION[k]:
                                 [fn(i, corruption=c, lr=PRETRAIN_LR) for i in range(first, stop)])
    runs["finetune"] = lambda first, stop: [train_fn(i) for i in range(first, stop)]
    return runs


def build_pytensor_c(ctx, bs):
    from pytensor.compile.mode import Mode

    return build_pytensor(ctx, bs, mode=Mode(linker="cvm", optimizer="fast_run"))


def build_pytensor_jax(ctx, bs):
    """The compiled functions through PyTensor's JAX back end on JAX's CPU device: the code path of device=cuda
    (``sda.backend.jax_on_cpu``), per-minibatch calls."""
    from sda import backend

    own = Context(ctx.x, ctx.y)  # the JAX linker moves its shared variables' storage to the device: not ctx's
    with backend.jax_on_cpu():
        runs = build_pytensor(own, bs)
    # JAX dispatches asynchronously: wait for the outputs, as the training loop does when it reads each cost
    return {phase: (lambda first, stop, run=run: [numpy.asarray(out) for out in run(first, stop)])
            for phase, run in runs.items()}


def build_pytensor_cached(ctx, bs):
    from sda import dA
    from sda.backend import pytensor

    runs = build_pytensor(ctx, bs)
    model = ctx.model()
    for k in (1, 2):
        h = pytensor.shared(ctx.lower_outputs(model, k), borrow=True)
        da = dA(numpy.random.RandomState(k), n_visible=LAYERS[k - 1], n_hidden=LAYERS[k])
        fn = _da_function(da, h, bs)
        runs[f"pretrain_{k}"] = (lambda first, stop, fn=fn, c=CORRUPTION[k]:
                                 [fn(i, c, PRETRAIN_LR) for i in range(first, stop)])
    return runs


def _da_function(da, data, bs):
    from sda.backend import T, floatX, pytensor
    from sda.minibatches import minibatch

    index = T.iscalar("index")
    c, lr = T.scalar("corruption", dtype=floatX), T.scalar("lr", dtype=floatX)
    cost, updates = da.get_cost_updates(c, lr)
    return pytensor.function([index, c, lr], cost, updates=updates, givens={da.x: minibatch(data, index, bs)})


def build_kernels(ctx, bs, threads=None):
    """The package's fast path, as train_sda.py runs it (sda.engines.kernels: Numba kernels, cached lower layers,
    one or two threads as each call measures best); ``threads`` fixes the count."""
    from sda.engines.kernels import FinetuningRunner, PretrainingRunner

    model = ctx.model()
    runs = {f"pretrain_{k}": PretrainingRunner(model, k, ctx.sx, bs, CORRUPTION[k], PRETRAIN_LR)
            for k in range(len(LAYERS))}
    runs["finetune"] = FinetuningRunner(model, (ctx.sx, ctx.sy), bs, FINETUNE_LR)
    if threads is not None:
        for runner in runs.values():
            runner.threads.fixed = threads
    return runs


class TorchStopped(RuntimeError):
    """The PyTorch child process died, hung or answered nonsense: its column is left out, the rest goes on."""


class TorchServer:
    """bench/torch_steps.py --serve in a child process (this interpreter if it has torch, else
    --torch-python), so that PyTorch's steps are timed round-robin with ours, not in a run of their own."""

    #: seconds to wait for one answer: starting torch, or one timed block of steps
    TIMEOUT = 600

    def __init__(self, python, batch_sizes):
        self.version = None
        self.process = subprocess.Popen([python, os.path.join(HERE, "torch_steps.py"), "--serve", "--threads", "2",
                                         "--batch-sizes", ",".join(map(str, batch_sizes))],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            words = self._answer().split()
            if not words or words[0] != "ready":
                raise TorchStopped("torch_steps.py --serve did not start")
        except TorchStopped:
            self.kill()
            raise
        self.version = words[1] if len(words) > 1 else "unknown"

    def _answer(self):
        # one line per request, and nothing after it until the next request: the pipe's
        # buffer is empty whenever we wait, so select() on it tells whether a line came
        ready, _, _ = select.select([self.process.stdout], [], [], self.TIMEOUT)
        line = self.process.stdout.readline() if ready else None
        if not line:
            raise TorchStopped(f"torch_steps.py --serve {'stopped' if ready else 'gave no answer'} "
                               f"(exit code {self.process.poll()})")
        return line

    def run(self, bs, phase, first, stop):
        try:
            self.process.stdin.write(f"{bs} {phase} {first} {stop - first}\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise TorchStopped(f"torch_steps.py --serve stopped (exit code {self.process.poll()})") from None
        if self._answer().strip() != "done":
            raise TorchStopped("torch_steps.py --serve answered something other than 'done'")
        return range(first, stop)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass

    def close(self):
        try:
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


def build_torch(ctx, bs):
    """Eager PyTorch, 2 threads (bench/torch_steps.py); None when no interpreter with torch is found."""
    if ctx.torch is None:
        return None
    return {phase: (lambda first, stop, phase=phase: ctx.torch.run(bs, phase, first, stop)) for phase in PHASES}


def start_torch(torch_python, batch_sizes, log):
    try:
        import torch  # noqa: F401

        python = sys.executable
    except ImportError:
        python = torch_python
    if not python or not os.path.exists(python):
        log("torch: not importable and no --torch-python; skipped")
        return None
    try:
        return TorchServer(python, batch_sizes)
    except (OSError, TorchStopped) as e:
        log(f"torch: {e}; skipped")
        return None


VARIANTS = {
    "compiled": build_pytensor,
    "compiled-c": build_pytensor_c,
    "compiled-cached": build_pytensor_cached,
    "compiled-jax": build_pytensor_jax,
    "kernels": build_kernels,
    "kernels-1": lambda ctx, bs: build_kernels(ctx, bs, threads=1),
    "kernels-2": lambda ctx, bs: build_kernels(ctx, bs, threads=2),
    "torch": build_torch,
}


def time_variants(ctx, batch_sizes, variants, steps, repeats, log):
    """{variant: {batch: {phase: {median_ms, all_ms, compile_s}}}}"""
    results = {}
    n_batches = ctx.x.shape[0]
    names = list(variants)

    def torch_stopped(error):
        log(f"torch: {error}; its column is left out")
        ctx.torch.kill()
        names.remove("torch")

    for bs in batch_sizes:
        built = {}
        for name in list(names):
            t = time.perf_counter()
            try:
                runs = VARIANTS[name](ctx, bs)
                if runs is None:
                    continue
                compile_s = {}
                for phase, run in runs.items():
                    t1 = time.perf_counter()
                    run(0, 2)  # compiles (Numba compiles at the first call)
                    compile_s[phase] = time.perf_counter() - t1
                for phase, run in runs.items():
                    run(0, min(20, steps))  # warm-up
            except TorchStopped as e:
                torch_stopped(e)
                continue
            built[name] = (runs, compile_s, time.perf_counter() - t)
            log(f"built {name} at batch {bs} in {built[name][2]:.1f}s")
        nb = n_batches // bs
        times = {name: {phase: [] for phase in PHASES} for name in built}
        for r in range(repeats):
            for phase in PHASES:
                for name in list(built):
                    run = built[name][0][phase]
                    first = (r * steps) % max(1, nb - steps)
                    t = time.perf_counter()
                    done = 0
                    try:
                        while done < steps:  # a runner may stop at its chunk size
                            done += len(run(first + done, first + steps))
                    except TorchStopped as e:
                        torch_stopped(e)
                        del built[name], times[name]
                        continue
                    times[name][phase].append((time.perf_counter() - t) / steps * 1e3)
        for name in built:
            results.setdefault(name, {})[bs] = {
                phase: {"median_ms": statistics.median(times[name][phase]), "all_ms": times[name][phase],
                        "compile_s": built[name][1][phase]} for phase in PHASES}
    return results


def projected_minutes(ms, bs):
    """The faithful run's wall time from ms per step: 15 epochs per layer, 36 finetuning epochs, 50 000 examples
    (validation/test passes not included: ~1 s each at eval batch 1000)."""
    steps = N_TRAIN // bs
    pre = N_PRETRAIN_EPOCHS * steps * sum(ms[f"pretrain_{k}"] for k in range(3)) / 1e3 / 60
    fine = N_FINETUNE_EPOCHS * steps * ms["finetune"] / 1e3 / 60
    return {"pretraining_min": pre, "finetuning_min": fine, "total_min": pre + fine}


def machine():
    """What the figures depend on besides the code: the CPU, how busy it was when the run started, the libraries."""
    import numba

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(), "numpy": numpy.__version__, "numba": numba.__version__,
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", default="compiled,kernels,torch",
                   help=f"comma-separated, from {sorted(VARIANTS)}")
    p.add_argument("--batch-sizes", default="1,20")
    p.add_argument("--steps", type=int, default=200, help="steps per timed run")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    p.add_argument("--quick", action="store_true", help="--steps 30 --repeats 3")
    p.add_argument("--data", default=os.environ.get("SDA_DATA", os.path.join(ROOT, "..", "shared", "data", "mnist")))
    p.add_argument("--n-examples", type=int, default=5000, help="training examples loaded")
    p.add_argument("--torch-python", default="/tmp/venv-torch/bin/python",
                   help="an interpreter with torch, used when torch is not importable here")
    p.add_argument("--json", help="write every figure to this file")
    a = p.parse_args(argv)
    if a.quick:
        a.steps, a.repeats = 30, 3
    batch_sizes = [int(s) for s in a.batch_sizes.split(",")]
    names = [s for s in a.variants.split(",") if s]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}")
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    host = machine()

    import warnings

    warnings.filterwarnings("ignore", message=".*is faster on contiguous arrays.*")
    x, y, source = load_images(max(a.n_examples, (a.steps + 20) * max(batch_sizes)), a.data)
    from sda.backend import config, floatX

    ctx = Context(x, y)
    ctx.torch = start_torch(a.torch_python, batch_sizes, log) if "torch" in names else None
    try:
        results = time_variants(ctx, batch_sizes, names, a.steps, a.repeats, log)
    finally:
        if ctx.torch is not None:
            ctx.torch.close()
    torch_version = ctx.torch.version if ctx.torch is not None else None

    summary = {}
    for name, per_bs in results.items():
        for bs, phases in per_bs.items():
            ms = {phase: phases[phase]["median_ms"] for phase in PHASES}
            row = {"ms": ms, "projected": projected_minutes(ms, bs)}
            row["speedup_vs_issue_torch"] = {ph: ISSUE_TORCH[bs][i] / ms[ph] for i, ph in enumerate(PHASES)
                                             if bs in ISSUE_TORCH}
            if "torch" in results and bs in results["torch"]:
                row["speedup_vs_torch_here"] = {ph: results["torch"][bs][ph]["median_ms"] / ms[ph] for ph in PHASES}
            summary.setdefault(name, {})[bs] = row
    report = {
        "config": {**vars(a), "floatX": floatX, "linker": config.linker, "mode": config.mode,
                   "blas__ldflags": config.blas__ldflags, "data": source, "torch": torch_version, **host},
        "raw": results, "summary": summary, "issue_torch_ms": ISSUE_TORCH, "target_ratio": TARGET_RATIO,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1, default=str)

    load = ", ".join(f"{v:.2f}" for v in host["load_average_at_start"])
    print(f"{host['cpu']}, {host['cpus']} cpus, load average {load} at the start; numba {host['numba']}, "
          f"torch {torch_version}; kernels: 1 or 2 threads as measured per call, kernels-N: N threads")
    print(f"ms per step (median of {a.repeats}x{a.steps} steps, {source} data, floatX={floatX}); "
          f"x = speed-up over eager torch measured here (reference torch figures in brackets)")
    head = f"{'variant':16} {'batch':>5} " + " ".join(f"{ph:>22}" for ph in PHASES) + f" {'full run':>9}"
    print(head)
    for name, per_bs in summary.items():
        for bs, row in per_bs.items():
            cells = []
            for ph in PHASES:
                cell = f"{row['ms'][ph]:7.3f}"
                if name != "torch" and "speedup_vs_torch_here" in row:
                    cell += f" {row['speedup_vs_torch_here'][ph]:5.1f}x"
                if name != "torch" and row["speedup_vs_issue_torch"]:
                    cell += f" [{row['speedup_vs_issue_torch'][ph]:4.1f}x]"
                cells.append(f"{cell:>22}")
            print(f"{name:16} {bs:5d} " + " ".join(cells) + f" {row['projected']['total_min']:7.1f}m")
    print(f"targets: >= {TARGET_RATIO[1]}x torch at batch 1, >= {TARGET_RATIO[20]}x at batch 20; "
          f"full run (batch 1) <= 45 min")


if __name__ == "__main__":
    main()
