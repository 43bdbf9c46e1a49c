"""Whole runs: the tutorial's ``test_SdA`` and ``test_dA`` as functions of a configuration.

A run validates its configuration, loads the data, builds the model, trains it
with :mod:`sda.training` and writes its files.  The scripts only turn flags into
a configuration and call :func:`run_sda` or :func:`run_da`.
"""

import functools
import json
import os
import sys
import time
import timeit
from dataclasses import asdict, dataclass, field

import numpy

from .errors import DataError, UsageError
from .files import atomic_write, ensure_writable_dir

log = functools.partial(print, flush=True)


def log_time(what, script, seconds):
    """The tutorial's ``... ran for %.2fm`` line, on stderr as in the tutorial."""
    print(f"The {what} code for file {script} ran for {seconds / 60.0:.2f}m", file=sys.stderr, flush=True)


# ----------------------------------------------------------------- configurations

@dataclass
class SdAConfig:
    """Everything that defines a ``train_sda.py`` run (the tutorial's defaults)."""

    finetune_lr: float = 0.1
    pretraining_epochs: int = 15
    pretrain_lr: float = 0.001
    training_epochs: int = 1000
    batch_size: int = 1
    hidden_layers: list = field(default_factory=lambda: [1000, 1000, 1000])
    corruption_levels: list = field(default_factory=lambda: [0.1, 0.2, 0.3])
    seed: int = 89677
    dataset: str = None
    output_dir: str = "runs/sda"
    n_train: int = None
    n_outs: int = 10
    eval_batch_size: int = 1000

    def validate(self):
        check_positive_int("--batch-size", self.batch_size)
        check_positive_float("--finetune-lr", self.finetune_lr)
        check_positive_float("--pretrain-lr", self.pretrain_lr)
        check_non_negative_int("--pretraining-epochs", self.pretraining_epochs)
        check_non_negative_int("--training-epochs", self.training_epochs)
        if not self.hidden_layers:
            raise UsageError("--hidden-layers is empty: give at least one layer size, e.g. 1000,1000,1000")
        for size in self.hidden_layers:
            check_positive_int("--hidden-layers", size)
        for level in self.corruption_levels:
            check_corruption("--corruption-levels", level)
        if len(self.hidden_layers) != len(self.corruption_levels):
            raise UsageError(
                f"--hidden-layers has {len(self.hidden_layers)} sizes but --corruption-levels has "
                f"{len(self.corruption_levels)} levels: give one corruption level per hidden layer")
        if self.n_train is not None:
            check_positive_int("--n-train", self.n_train)
        check_positive_int("--eval-batch-size", self.eval_batch_size)


@dataclass
class DAConfig:
    """Everything that defines a ``train_da.py`` run (the tutorial's ``test_dA`` defaults)."""

    learning_rate: float = 0.1
    training_epochs: int = 15
    batch_size: int = 20
    n_hidden: int = 500
    seed: int = 123
    dataset: str = None
    output_folder: str = "dA_plots"
    n_train: int = None
    corruption_levels: list = field(default_factory=lambda: [0.0, 0.3])

    def validate(self):
        check_positive_float("--learning-rate", self.learning_rate)
        check_non_negative_int("--training-epochs", self.training_epochs)
        check_positive_int("--batch-size", self.batch_size)
        check_positive_int("--n-hidden", self.n_hidden)
        if self.n_train is not None:
            check_positive_int("--n-train", self.n_train)
        for level in self.corruption_levels:
            check_corruption("--corruption-levels", level)


def check_positive_int(flag, value):
    if not isinstance(value, (int, numpy.integer)) or value <= 0:
        raise UsageError(f"{flag} must be a positive integer, got {value!r}")


def check_non_negative_int(flag, value):
    if not isinstance(value, (int, numpy.integer)) or value < 0:
        raise UsageError(f"{flag} must be an integer >= 0, got {value!r}")


def check_positive_float(flag, value):
    if not numpy.isfinite(value) or value <= 0:
        raise UsageError(f"{flag} must be a number > 0, got {value!r}")


def check_corruption(flag, value):
    if not (0.0 <= value < 1.0):
        raise UsageError(f"{flag}: a corruption level is the fraction of inputs zeroed and must be in [0, 1), "
                         f"got {value!r}")


# ------------------------------------------------------------------- data checks

def check_data_fits(datasets, n_outs, batch_size):
    """Refuses data that the model cannot use, naming the problem."""
    arrays = [(x.get_value(borrow=True), y.get_value(borrow=True)) for x, y in datasets]
    (train_x, _), (valid_x, _), _ = arrays
    for name, (x, y) in zip(("training", "validation", "test"), arrays):
        if y.size and (y.min() < 0 or y.max() >= n_outs):
            raise DataError(f"the {name} labels range over {y.min()}..{y.max()}, but the model has {n_outs} "
                            f"classes (0..{n_outs - 1}): check the label files")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise DataError(f"the {name} inputs range over [{x.min():g}, {x.max():g}], but the cross-entropy "
                            f"needs values in [0, 1]: rescale them")
    if batch_size > train_x.shape[0]:
        raise UsageError(f"--batch-size {batch_size} is larger than the training set ({train_x.shape[0]} "
                         f"examples): use a smaller batch")
    if batch_size > valid_x.shape[0]:
        raise UsageError(f"--batch-size {batch_size} is larger than the validation set ({valid_x.shape[0]} "
                         f"examples): use a smaller batch")


def run_metadata():
    from . import backend

    return {"floatX": backend.floatX, "device": backend.device, "versions": backend.versions()}


# ------------------------------------------------------------------------- runs

def run_sda(config, script="train_sda.py"):
    """The tutorial's ``test_SdA``: pretrain, finetune, report; writes
    ``results.json`` and ``model.npz`` (best-validation parameters) in
    ``config.output_dir`` and returns the results dict."""
    config.validate()
    output_dir = ensure_writable_dir(config.output_dir, "--output-dir")

    from .backend import T  # noqa: F401  (imports PyTensor, configured)
    from .data import load_data
    from .minibatches import n_batches
    from .stacked import SdA
    from .training import finetune_sda, pretrain_sda

    datasets = load_data(config.dataset, n_train=config.n_train)
    check_data_fits(datasets, config.n_outs, config.batch_size)
    train_set_x = datasets[0][0]
    n_ins = train_set_x.get_value(borrow=True).shape[1]

    # compute number of minibatches for training, validation and testing
    n_train_batches = n_batches(train_set_x, config.batch_size)

    # numpy random generator
    numpy_rng = numpy.random.RandomState(config.seed)
    log("... building the model")
    sda = SdA(numpy_rng=numpy_rng, n_ins=n_ins, hidden_layers_sizes=config.hidden_layers,
              n_outs=config.n_outs, corruption_levels=config.corruption_levels)

    #########################
    # PRETRAINING THE MODEL #
    #########################
    log("... getting the pretraining functions")
    pretraining_fns = sda.pretraining_functions(train_set_x=train_set_x, batch_size=config.batch_size)

    log("... pre-training the model")
    start_time = timeit.default_timer()
    pretraining = pretrain_sda(pretraining_fns, n_train_batches, config.pretraining_epochs,
                               config.pretrain_lr, config.corruption_levels, log)
    pretraining_seconds = timeit.default_timer() - start_time
    log_time("pretraining", script, pretraining_seconds)

    ########################
    # FINETUNING THE MODEL #
    ########################
    # get the training, validation and testing function for the model
    log("... getting the finetuning functions")
    train_fn, validate_model, test_model = sda.build_finetune_functions(
        datasets=datasets, batch_size=config.batch_size, learning_rate=config.finetune_lr,
        eval_batch_size=config.eval_batch_size)

    log("... finetuning the model")
    best_params = {}
    start_time = timeit.default_timer()
    finetuning = finetune_sda(train_fn, validate_model, test_model, n_train_batches, config.training_epochs,
                              config.finetune_lr, log,
                              on_new_best=lambda state: best_params.update(sda.get_param_arrays()))
    finetuning_seconds = timeit.default_timer() - start_time
    log("Optimization complete with best validation score of %f %%, on iteration %i, "
        "with test performance %f %%"
        % (finetuning.best_validation_loss * 100.0, finetuning.best_iter + 1, finetuning.test_score * 100.0))
    log_time("training", script, finetuning_seconds)

    # no validation ever happened (0 finetuning epochs): the model as it stands is the best
    best_params = best_params or sda.get_param_arrays()
    save_model(os.path.join(output_dir, "model.npz"), best_params)
    results = {
        "best_validation_error_percent": finetuning.best_validation_loss * 100.0
        if numpy.isfinite(finetuning.best_validation_loss) else None,
        "test_error_percent": finetuning.test_score * 100.0,
        "best_iter": finetuning.best_iter + 1,
        "finetune_epochs": finetuning.epoch,
        "pretraining_minutes": pretraining_seconds / 60.0,
        "finetuning_minutes": finetuning_seconds / 60.0,
        "pretraining_costs": pretraining.costs,
        "validation_history": finetuning.history,
        "config": asdict(config),
        "n_train_examples": int(train_set_x.get_value(borrow=True).shape[0]),
        **run_metadata(),
    }
    write_json(os.path.join(output_dir, "results.json"), results)
    return results


def run_da(config, script="train_da.py"):
    """The tutorial's ``test_dA``: one dA per corruption level, with its filters as a PNG."""
    config.validate()
    output_folder = ensure_writable_dir(config.output_folder, "--output-folder")

    from .autoencoder import dA
    from .backend import T, compile_mode, floatX, pytensor
    from .data import load_data
    from .minibatches import minibatch, n_batches
    from .random_streams import RandomStreams
    from .training import minibatch_epoch, train_epochs
    from .utils import save_filters

    datasets = load_data(config.dataset, n_train=config.n_train)
    train_set_x = datasets[0][0]
    n_visible = train_set_x.get_value(borrow=True).shape[1]
    if config.batch_size > train_set_x.get_value(borrow=True).shape[0]:
        raise UsageError(f"--batch-size {config.batch_size} is larger than the training set: use a smaller batch")
    side = int(round(n_visible ** 0.5))
    img_shape = (side, side) if side * side == n_visible else (1, n_visible)

    # compute number of minibatches for training, validation and testing
    n_train_batches = n_batches(train_set_x, config.batch_size)
    index = T.lscalar()  # index to a [mini]batch
    x = T.matrix("x", dtype=floatX)  # the data is presented as rasterized images

    results = {"config": asdict(config), **run_metadata(), "runs": []}
    for corruption in config.corruption_levels:
        rng = numpy.random.RandomState(config.seed)
        theano_rng = RandomStreams(rng.randint(2 ** 30))
        da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=n_visible, n_hidden=config.n_hidden)
        cost, updates = da.get_cost_updates(corruption_level=corruption, learning_rate=config.learning_rate)
        train_da = pytensor.function([index], cost, updates=updates,
                                     givens={x: minibatch(train_set_x, index, config.batch_size)},
                                     mode=compile_mode())

        start_time = timeit.default_timer()
        costs = train_epochs(minibatch_epoch(train_da, n_train_batches), config.training_epochs,
                             lambda epoch, c: log("Training epoch %d, cost %f" % (epoch, c)),
                             config.learning_rate, where=f"the dA with {corruption:.0%} corruption")
        seconds = timeit.default_timer() - start_time
        what = "no corruption" if corruption == 0 else f"{corruption * 100:.0f}% corruption"
        log_time(what, script, seconds)

        png = os.path.join(output_folder, f"filters_corruption_{corruption * 100:.0f}.png")
        tiles = min(10, int(numpy.ceil(numpy.sqrt(config.n_hidden))))
        save_filters(da.W.get_value(borrow=True), png, img_shape=img_shape, tile_shape=(tiles, tiles))
        results["runs"].append({"corruption_level": corruption, "costs": costs, "minutes": seconds / 60.0,
                                "filters": os.path.basename(png)})
    write_json(os.path.join(output_folder, "results.json"), results)
    return results


# ----------------------------------------------------------------------- files

def save_model(path, arrays):
    """Writes the parameters as ``.npz`` (atomically: a crash leaves the old file)."""
    with atomic_write(path, "wb") as f:
        numpy.savez(f, **arrays)


def write_json(path, data):
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=2, default=float)
        f.write("\n")
