#!/usr/bin/env python
"""The tutorial's SdA run (``SdA.py``'s ``test_SdA``) as a PyTorch user would write it: plain eager PyTorch.

    python bench/torch_sda.py --dataset ../shared/data/mnist                  # the tutorial's run
    python bench/torch_sda.py --dataset ../shared/data/mnist --batch-size 20 --n-train 20000
    python bench/torch_sda.py ... --cache-layer-inputs                        # as train_sda.py does, see below

This is the other side of ``bench/e2e.py``'s end-to-end comparison, so it does exactly the work that
``scripts/train_sda.py`` does, no more and no less, in the way a competent PyTorch user would:

* data: the four MNIST IDX files read with NumPy, pixels / 255, the first ``--n-train`` training examples, and
  the project's split (training = the first 50 000 images of the training file, validation = its last 10 000,
  test = the test file; a smaller training file gives its last sixth to validation, as ``sda.data`` does).  It
  does not import ``sda``: a PyTorch user's script would not, and ``import sda`` sets one BLAS thread;
* model: 784-[hidden]-10, sigmoid layers initialised uniform in +-4 sqrt(6 / (fan_in + fan_out)), zero biases,
  a zero-initialised softmax layer; each hidden layer shares its weights and bias with a denoising autoencoder
  (tied weights, its own visible bias, masking noise);
* pretraining: layer by layer, ``--pretraining-epochs`` epochs of SGD on the mean over the minibatch of the
  cross-entropy reconstruction cost summed over the inputs.  Written with ``binary_cross_entropy_with_logits``,
  PyTorch's numerically stable form: PyTensor rewrites the tutorial's ``log(sigmoid(.))`` into the same
  softplus, so both sides compute the same function stably;
* pretraining layer k > 0: the tutorial's graph computes the frozen layers below from the pixels at every
  minibatch, and so does this script by default (under ``no_grad``: a competent user does not backpropagate
  into frozen layers).  ``--cache-layer-inputs`` computes them once per layer for the whole training set
  instead, as ``train_sda.py``'s kernels do (the tutorial's own suggestion); the JSON line says which;
* finetuning: SGD on the mean negative log-likelihood (``cross_entropy`` of the logits) with the tutorial's
  early stopping, literally: validation every epoch, patience 10 epochs of minibatches, patience increase 2,
  improvement threshold 0.995, the test set scored at each new best validation error (and the best parameters
  kept, as ``train_sda.py`` keeps them); validation and test in batches of ``--eval-batch-size``, every example
  counted;
* threads: ``torch.set_num_threads`` = the CPUs this process may use (2 on the project's machine), as
  ``bench/torch_steps.py`` is run; float32 by default, float64 with ``--floatx float64``; seeded with
  ``torch.manual_seed`` (PyTorch's generator, not NumPy's: the initial weights and the noise differ from
  ``train_sda.py``'s, the procedure and the sizes do not).

It prints the tutorial's log lines as ``train_sda.py`` does (on stdout; the ``ran for`` lines on stderr) and, last
on stdout, one JSON line: minutes per
phase, best validation and test error, peak resident memory (``getrusage``), the settings.  The defaults are
the tutorial's, as ``train_sda.py``'s are (``tests/test_benchmark.py`` checks that they agree).
"""
import argparse
import gzip
import json
import math
import os
import resource
import sys
import time

import numpy
import torch
import torch.nn.functional as F

DEFAULTS = {"batch_size": 1, "hidden_layers": [1000, 1000, 1000], "corruption_levels": [0.1, 0.2, 0.3],
            "pretraining_epochs": 15, "pretrain_lr": 0.001, "training_epochs": 1000, "finetune_lr": 0.1,
            "eval_batch_size": 1000, "seed": 89677}
IMAGES, LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
VALIDATION_SIZE = 10_000


class BadInput(Exception):
    """A mistake of the user's: one line on stderr, exit code 2."""


def log(message):
    """The tutorial's log lines: on stdout, as train_sda.py prints them."""
    print(message, flush=True)


def log_time(what, seconds):
    """The tutorial's ``ran for`` lines: on stderr, as in the tutorial."""
    print(f"The {what} code for file torch_sda.py ran for {seconds / 60.0:.2f}m", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- data

def read_idx(path, magic):
    """An IDX file's array (uint8); ``magic`` is 2051 for images, 2049 for labels."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise BadInput(f"cannot read {path}: {e.strerror or e}") from None
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != magic:
        raise BadInput(f"{path} is not an IDX file of {'images' if magic == 2051 else 'labels'}")
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = numpy.frombuffer(raw, dtype=numpy.uint8, offset=4 + 4 * ndim)
    if data.size != math.prod(shape):
        raise BadInput(f"{path} holds {data.size} values, its header says {math.prod(shape)}")
    return data.reshape(shape)


def load_mnist(folder, n_train, dtype):
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) as NumPy arrays, split as ``sda.data`` splits."""

    def examples(images, labels):
        x = read_idx(os.path.join(folder, images), 2051)
        x = x.reshape(len(x), -1).astype(dtype)
        x /= dtype(255)  # 255 -> exactly 1.0, as sda.data scales
        return x, read_idx(os.path.join(folder, labels), 2049).astype(numpy.int64)

    x, y = examples(IMAGES, LABELS)
    n_valid = min(VALIDATION_SIZE, len(x) // 6)
    if n_valid < 1:
        raise BadInput(f"{folder}: at least 6 training images are needed to set some aside for validation")
    n_fit = len(x) - n_valid
    if n_train is not None and not 1 <= n_train <= n_fit:
        raise BadInput(f"--n-train {n_train}, but {folder} has {n_fit} training examples: give 1 to {n_fit}")
    n = n_fit if n_train is None else n_train
    return (x[:n], y[:n]), (x[n_fit:], y[n_fit:]), examples(TEST_IMAGES, TEST_LABELS)


# ----------------------------------------------------------------------------------------------- model

class SdA(torch.nn.Module):
    """Sigmoid layers whose weights and biases each denoising autoencoder shares, and a softmax layer on top."""

    def __init__(self, n_ins, hidden_layers, n_outs):
        super().__init__()
        sizes = [n_ins] + list(hidden_layers)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes, sizes[1:]))
        with torch.no_grad():
            for layer in self.layers:
                n_out, n_in = layer.weight.shape
                bound = 4 * math.sqrt(6.0 / (n_in + n_out))  # the tutorial's (Glorot's) range, x4 for sigmoid
                layer.weight.uniform_(-bound, bound)
                layer.bias.zero_()
        # each dA's own bias of the reconstruction (the tutorial's b_prime)
        self.visible_biases = torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(n)) for n in sizes[:-1])
        self.logistic = torch.nn.Linear(sizes[-1], n_outs)
        with torch.no_grad():
            self.logistic.weight.zero_()
            self.logistic.bias.zero_()

    def encode(self, x, n_layers):
        """The output of the first ``n_layers`` sigmoid layers."""
        for layer in self.layers[:n_layers]:
            x = torch.sigmoid(layer(x))
        return x

    def forward(self, x):
        """The logits of the softmax layer."""
        return self.logistic(self.encode(x, len(self.layers)))

    def reconstruction_cost(self, k, x, corruption):
        """dA k's cost on its input ``x``: masking noise, encode, decode with the transposed weights."""
        layer = self.layers[k]
        corrupted = x * (torch.rand_like(x) < 1 - corruption)  # keep each input with probability 1 - c
        hidden = torch.sigmoid(layer(corrupted))
        logits = F.linear(hidden, layer.weight.t(), self.visible_biases[k])
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1).mean()

    def dA_parameters(self, k):
        return [self.layers[k].weight, self.layers[k].bias, self.visible_biases[k]]

    def mlp_parameters(self):
        """What finetuning trains: the sigmoid layers and the softmax layer (not the visible biases)."""
        return [p for layer in [*self.layers, self.logistic] for p in layer.parameters()]


# ----------------------------------------------------------------------------------------------- training

def pretrain(model, train_x, a):
    """Layer-wise pretraining; returns the mean cost of every epoch of every layer."""
    costs = []
    n_batches, b = len(train_x) // a.batch_size, a.batch_size
    for k in range(len(model.layers)):
        optimizer = torch.optim.SGD(model.dA_parameters(k), lr=a.pretrain_lr)
        inputs = train_x
        if a.cache_layer_inputs and k > 0:
            with torch.no_grad():  # once for the whole set: the frozen layers give the same output every epoch
                inputs = model.encode(train_x, k)
        costs.append([])
        for epoch in range(a.pretraining_epochs):
            epoch_costs = []
            for index in range(n_batches):
                x = inputs[index * b:(index + 1) * b]
                if not a.cache_layer_inputs and k > 0:
                    with torch.no_grad():  # the tutorial's graph: the frozen layers below, at every minibatch
                        x = model.encode(x, k)
                cost = model.reconstruction_cost(k, x, a.corruption_levels[k])
                optimizer.zero_grad()
                cost.backward()
                optimizer.step()
                epoch_costs.append(cost.item())
            costs[k].append(sum(epoch_costs) / len(epoch_costs))
            log("Pre-training layer %i, epoch %d, cost %f" % (k, epoch, costs[k][-1]))
    return costs


def error_rate(model, x, y, batch_size):
    """The fraction of misclassified examples, every example counted (as train_sda.py scores)."""
    with torch.no_grad():
        wrong = sum(int((model(x[i:i + batch_size]).argmax(dim=1) != y[i:i + batch_size]).sum())
                    for i in range(0, len(x), batch_size))
    return wrong / len(x)


def finetune(model, train, valid, test, a):
    """The tutorial's finetuning loop with early stopping, as written in SdA.py."""
    (train_x, train_y), b = train, a.batch_size
    n_train_batches = len(train_x) // b
    optimizer = torch.optim.SGD(model.mlp_parameters(), lr=a.finetune_lr)
    patience = 10 * n_train_batches  # look at this many examples regardless
    patience_increase = 2.0  # wait this much longer when a new best is found
    improvement_threshold = 0.995  # a relative improvement of this much is considered significant
    validation_frequency = min(n_train_batches, patience // 2)  # every epoch
    best_validation_loss, best_iter, test_score = math.inf, 0, 0.0
    best_parameters, train_costs = None, []
    done_looping, epoch = False, 0
    while epoch < a.training_epochs and not done_looping:
        epoch += 1
        epoch_costs = []
        for minibatch_index in range(n_train_batches):
            loss = F.cross_entropy(model(train_x[minibatch_index * b:(minibatch_index + 1) * b]),
                                   train_y[minibatch_index * b:(minibatch_index + 1) * b])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_costs.append(loss.item())
            iter = (epoch - 1) * n_train_batches + minibatch_index
            if (iter + 1) % validation_frequency == 0:
                this_validation_loss = error_rate(model, *valid, a.eval_batch_size)
                log("epoch %i, minibatch %i/%i, validation error %f %%"
                    % (epoch, minibatch_index + 1, n_train_batches, this_validation_loss * 100.0))
                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                    best_validation_loss, best_iter = this_validation_loss, iter
                    test_score = error_rate(model, *test, a.eval_batch_size)
                    log("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                        % (epoch, minibatch_index + 1, n_train_batches, test_score * 100.0))
                    best_parameters = {name: p.detach().clone() for name, p in model.state_dict().items()}
            if patience <= iter:
                done_looping = True
                break
        train_costs.append(sum(epoch_costs) / len(epoch_costs))
    return {"best_validation_error_percent": best_validation_loss * 100.0 if best_parameters else None,
            "test_error_percent": test_score * 100.0 if best_parameters else None,
            "best_iter": best_iter + 1 if best_parameters else None, "finetune_epochs": epoch,
            "finetune_costs": train_costs}


# ----------------------------------------------------------------------------------------------- command line

class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (argparse adds the whole usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def numbers(kind):
    def parse(text):
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    return parse


def parser():
    d = DEFAULTS
    p = Parser(prog="torch_sda.py", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default=os.environ.get("SDA_DATA"),
                   help="a folder holding the four MNIST IDX .gz files (default: $SDA_DATA)")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training examples")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--hidden-layers", type=numbers(int), default=d["hidden_layers"])
    p.add_argument("--corruption-levels", type=numbers(float), default=d["corruption_levels"])
    p.add_argument("--pretraining-epochs", type=int, default=d["pretraining_epochs"])
    p.add_argument("--pretrain-lr", type=float, default=d["pretrain_lr"])
    p.add_argument("--training-epochs", type=int, default=d["training_epochs"])
    p.add_argument("--finetune-lr", type=float, default=d["finetune_lr"])
    p.add_argument("--eval-batch-size", type=int, default=d["eval_batch_size"])
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--floatx", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                   help="torch.set_num_threads (default: the CPUs this process may use)")
    p.add_argument("--cache-layer-inputs", action="store_true",
                   help="pretrain layer k > 0 on the lower layers' outputs computed once per layer (as "
                        "train_sda.py's kernels do) instead of at every minibatch (as the tutorial's graph does)")
    return p


def check(a):
    if not a.dataset:
        raise BadInput("no data: give --dataset (a folder holding the four MNIST IDX .gz files) or set $SDA_DATA")
    for flag in ("batch_size", "eval_batch_size", "threads"):
        if getattr(a, flag) < 1:
            raise BadInput(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(a, flag)}")
    for flag in ("pretraining_epochs", "training_epochs"):
        if getattr(a, flag) < 0:
            raise BadInput(f"--{flag.replace('_', '-')} must be 0 or more, got {getattr(a, flag)}")
    if not a.hidden_layers or min(a.hidden_layers) < 1:
        raise BadInput(f"--hidden-layers needs positive sizes, got {a.hidden_layers}")
    if len(a.corruption_levels) != len(a.hidden_layers):
        raise BadInput(f"--corruption-levels has {len(a.corruption_levels)} levels for "
                       f"{len(a.hidden_layers)} hidden layers: give one per layer")
    if not all(0 <= c < 1 for c in a.corruption_levels):
        raise BadInput(f"--corruption-levels must lie in [0, 1), got {a.corruption_levels}")
    if a.pretrain_lr <= 0 or a.finetune_lr <= 0:
        raise BadInput("--pretrain-lr and --finetune-lr must be positive")


def run(a):
    torch.set_num_threads(a.threads)
    torch.set_default_dtype(getattr(torch, a.floatx))
    torch.manual_seed(a.seed)
    train, valid, test = load_mnist(a.dataset, a.n_train, numpy.dtype(a.floatx).type)
    if len(train[0]) < a.batch_size:
        raise BadInput(f"--batch-size {a.batch_size} is larger than the {len(train[0])} training examples")
    train, valid, test = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in (train, valid, test)]
    n_outs = int(max(int(y.max()) for _, y in (train, valid, test))) + 1

    log("... building the model")
    model = SdA(train[0].shape[1], a.hidden_layers, n_outs)
    log("... pre-training the model")
    start = time.perf_counter()
    pretraining_costs = pretrain(model, train[0], a)
    pretraining_s = time.perf_counter() - start
    log_time("pretraining", pretraining_s)
    log("... finetuning the model")
    start = time.perf_counter()
    results = finetune(model, train, valid, test, a)
    finetuning_s = time.perf_counter() - start
    if results["best_validation_error_percent"] is not None:
        log("Optimization complete with best validation score of %f %%, on iteration %i, with test performance %f %%"
            % (results["best_validation_error_percent"], results["best_iter"], results["test_error_percent"]))
    log_time("training", finetuning_s)
    return {**results, "pretraining_minutes": pretraining_s / 60.0, "finetuning_minutes": finetuning_s / 60.0,
            "pretraining_costs": pretraining_costs,
            # ru_maxrss is in KiB on Linux
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "n_train_examples": len(train[0]), "floatX": a.floatx, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "cache_layer_inputs": a.cache_layer_inputs,
            "config": {k: v for k, v in vars(a).items() if k != "dataset"}}


def main(argv=None):
    a = parser().parse_args(argv)
    try:
        check(a)
        results = run(a)
    except BadInput as e:
        print(f"torch_sda.py: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
