"""Whole runs: the tutorial's ``test_SdA`` and ``test_dA`` as functions of a configuration.

A run validates its configuration, loads the data, builds the model, trains it
with :mod:`sda.training`, checkpoints as it goes, and writes its files.  The
scripts only turn flags into a configuration and call :func:`run_sda` or
:func:`run_da`.
"""

import functools
import json
import os
import signal
import sys
import timeit
from dataclasses import asdict, dataclass, field

import numpy

from .checkpoint import Checkpointer, data_fingerprint, stop_on_signals
from .errors import DataError, RunInterrupted, UsageError
from .files import atomic_write, ensure_writable_dir
from .progress import EpochBars

# how training steps run: "compiled" = the tutorial's compiled functions, one call
# per minibatch; "kernels" = sda.fast's Numba kernels, many minibatches per call
# (same model, same noise, equal within float rounding; CPU only); "chunks" =
# sda.gpu's compiled scan over many minibatches per call (what makes a GPU fast);
# "auto" = kernels on the CPU, chunks on a GPU
ENGINES = ("auto", "kernels", "compiled", "chunks")
GPU_CHUNK = 5000  # minibatches per compiled call on a GPU (a multiple of the 1000 used for validation)


def resolve_engine(engine):
    from . import backend

    if engine == "auto":
        return "kernels" if backend.device == "cpu" else "chunks"
    if engine == "kernels" and backend.device != "cpu":
        raise UsageError(f"--engine kernels runs on the CPU only, but device={backend.device}: "
                         f"use --engine compiled (or auto)")
    return engine


# keys of a configuration that do not change a run's numbers: a resumed run may change them
NOT_RESULT_KEYS = {"dataset", "output_dir", "output_folder", "resume", "checkpoint_every", "eval_batch_size",
                   "progress"}


def log_time(what, script, seconds):
    """The tutorial's ``... ran for %.2fm`` line, on stderr as in the tutorial."""
    print(f"The {what} code for file {script} ran for {seconds / 60.0:.2f}m", file=sys.stderr, flush=True)


class Log:
    """Prints the tutorial's lines on stdout and keeps them for the checkpoint."""

    def __init__(self, lines=None):
        self.lines = list(lines or [])

    def __call__(self, line):
        print(line, flush=True)
        self.lines.append(line)


class Stopwatch:
    """Seconds spent in a phase, across interruptions and resumes."""

    def __init__(self, seconds=0.0):
        self.saved = seconds
        self.started = None

    def start(self):
        self.started = timeit.default_timer()

    def stop(self):
        self.saved, self.started = self.seconds(), None

    def seconds(self):
        return self.saved + (0.0 if self.started is None else timeit.default_timer() - self.started)


# ----------------------------------------------------------------- configurations

@dataclass
class SdAConfig:
    """Everything that defines a ``train_sda.py`` run (the tutorial's defaults)."""

    finetune_lr: float = 0.1
    finetune_lr_decay: float = 1.0  # the finetuning rate of epoch e is finetune_lr * decay ** (e - 1)
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
    rescale: bool = False  # map the training set's range of x onto [0, 1] (else x must lie there)
    n_ins: int = None  # None: the data's input size
    n_outs: int = None  # None: the data's number of classes (largest label + 1)
    eval_batch_size: int = 1000
    resume: bool = False
    checkpoint_every: int = 1
    progress: bool = None  # None: a progress bar when stderr is a terminal
    engine: str = "auto"  # kernels (fast, CPU), compiled (the tutorial's compiled functions), auto

    def validate(self):
        check_positive_int("--batch-size", self.batch_size)
        if self.engine not in ENGINES:
            raise UsageError(f"--engine {self.engine!r} is not one of {', '.join(ENGINES)}")
        check_positive_float("--finetune-lr", self.finetune_lr)
        if not 0.0 < self.finetune_lr_decay <= 1.0:
            raise UsageError(f"--finetune-lr-decay multiplies the finetuning rate after every epoch and must be in "
                             f"(0, 1] (1: a constant rate, as in the tutorial), got {self.finetune_lr_decay!r}")
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
        for flag, value in (("--n-ins", self.n_ins), ("--n-outs", self.n_outs)):
            if value is not None:
                check_positive_int(flag, value)
        check_positive_int("--eval-batch-size", self.eval_batch_size)
        check_non_negative_int("--checkpoint-every", self.checkpoint_every)


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
    rescale: bool = False  # map the training set's range of x onto [0, 1] (else x must lie there)
    corruption_levels: list = field(default_factory=lambda: [0.0, 0.3])
    resume: bool = False
    checkpoint_every: int = 1
    progress: bool = None  # None: a progress bar when stderr is a terminal

    def validate(self):
        check_positive_float("--learning-rate", self.learning_rate)
        check_non_negative_int("--training-epochs", self.training_epochs)
        check_positive_int("--batch-size", self.batch_size)
        check_positive_int("--n-hidden", self.n_hidden)
        if self.n_train is not None:
            check_positive_int("--n-train", self.n_train)
        if not self.corruption_levels:
            raise UsageError("--corruption-levels is empty: give at least one level, e.g. 0,0.3")
        for level in self.corruption_levels:
            check_corruption("--corruption-levels", level)
        check_non_negative_int("--checkpoint-every", self.checkpoint_every)


def result_keys(config):
    """The part of a configuration that a resumed run must share with its checkpoint."""
    return {k: v for k, v in asdict(config).items() if k not in NOT_RESULT_KEYS}


def check_positive_int(flag, value):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value <= 0:
        raise UsageError(f"{flag} must be a positive integer, got {value!r}")


def check_non_negative_int(flag, value):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 0:
        raise UsageError(f"{flag} must be an integer >= 0, got {value!r}")


def check_positive_float(flag, value):
    if not numpy.isfinite(value) or value <= 0:
        raise UsageError(f"{flag} must be a number > 0, got {value!r}")


def check_corruption(flag, value):
    if not (0.0 <= value < 1.0):
        raise UsageError(f"{flag}: a corruption level is the fraction of inputs zeroed and must be in [0, 1), "
                         f"got {value!r}")


# ------------------------------------------------------------------- data checks

def dataset_values(datasets):
    """The numpy arrays behind the shared variables of ``load_data``."""
    return [(x.get_value(borrow=True), y.get_value(borrow=True)) for x, y in datasets]


def check_data_fits(datasets, n_ins, n_outs, batch_size):
    """Refuses data that the model cannot use, naming the problem; returns the
    model's ``(n_ins, n_outs)``, taken from the data where not given."""
    arrays = dataset_values(datasets)
    (train_x, _), (valid_x, _), _ = arrays
    data_ins = train_x.shape[1]
    if n_ins is not None and n_ins != data_ins:
        raise DataError(f"the images have {data_ins} pixels but --n-ins is {n_ins}: "
                        f"drop --n-ins or use data of the right size")
    n_outs = n_outs or 1 + max(int(y.max()) for _, y in arrays if y.size)
    for name, (x, y) in zip(("training", "validation", "test"), arrays):
        if y.size and (y.min() < 0 or y.max() >= n_outs):
            raise DataError(f"the {name} labels range over {y.min()}..{y.max()}, but the model has {n_outs} "
                            f"classes (0..{n_outs - 1}): check the label files, or set --n-outs")
    if batch_size > train_x.shape[0]:
        raise UsageError(f"--batch-size {batch_size} is larger than the training set ({train_x.shape[0]} "
                         f"examples): use a smaller batch")
    if batch_size > valid_x.shape[0]:
        raise UsageError(f"--batch-size {batch_size} is larger than the validation set ({valid_x.shape[0]} "
                         f"examples): use a smaller batch")
    return data_ins, n_outs


def run_metadata():
    from . import backend

    return {"floatX": backend.floatX, "device": backend.device, "versions": backend.versions()}


def interrupted(stop, checkpointer, resume_command):
    exit_code = 128 + getattr(signal, stop.signal or "SIGINT")
    how = f": {resume_command}" if resume_command else " with --resume and the same flags"
    return RunInterrupted(f"{stop.signal or 'interrupt'} received; checkpoint written to {checkpointer.path}. "
                          f"Resume with{how}", exit_code)


# ------------------------------------------------------------------------- runs

def run_sda(config, script="train_sda.py", resume_command=None):
    """The tutorial's ``test_SdA``: pretrain, finetune, report.

    Writes ``results.json`` and ``model.npz`` (best-validation parameters) in
    ``config.output_dir``, checkpointing as it goes, and returns the results
    dict.  SIGINT/SIGTERM stop it after the current minibatch with a
    checkpoint (:class:`~sda.errors.RunInterrupted`); ``config.resume``
    continues from the checkpoint, bit for bit as if never stopped.
    """
    config.validate()
    output_dir = ensure_writable_dir(config.output_dir, "--output-dir")
    checkpointer = Checkpointer(output_dir, "sda", result_keys(config), every=config.checkpoint_every,
                                defaults=result_keys(SdAConfig()))
    if not config.resume:
        checkpointer.refuse_to_overwrite()

    from .data import load_data
    from .minibatches import n_batches
    from .stacked import SdA
    from .training import (EarlyStoppingState, Interrupted, PretrainingState, finetune_sda, minibatch_runner,
                           pretrain_sda)

    from .engines import chunks as gpu
    from .backend import floatX, pytensor
    from .engines.kernels import FinetuningRunner, PretrainingRunner

    engine = resolve_engine(config.engine)
    datasets = load_data(config.dataset, n_train=config.n_train, rescale=config.rescale)
    n_ins, n_outs = check_data_fits(datasets, config.n_ins, config.n_outs, config.batch_size)
    train_set_x, train_set_y = datasets[0]
    fingerprint = data_fingerprint(dataset_values(datasets)[0])
    saved = checkpointer.load(fingerprint) if config.resume else None

    # compute number of minibatches for training, validation and testing
    n_train_batches = n_batches(train_set_x, config.batch_size)

    log = Log(saved and saved["log"])
    # numpy random generator
    numpy_rng = numpy.random.RandomState(config.seed)
    log("... building the model")
    sda = SdA(numpy_rng=numpy_rng, n_ins=n_ins, hidden_layers_sizes=config.hidden_layers,
              n_outs=n_outs, corruption_levels=config.corruption_levels)

    pretraining = PretrainingState()
    finetuning = None
    best_params = {}
    clocks = {"pretraining": Stopwatch(), "finetuning": Stopwatch()}
    if saved:
        sda.set_param_arrays(saved["params"])
        pretraining = PretrainingState.from_dict(saved["pretraining"])
        finetuning = saved["finetuning"] and EarlyStoppingState(**saved["finetuning"])
        best_params = saved["best_params"]
        clocks = {phase: Stopwatch(seconds) for phase, seconds in saved["elapsed"].items()}
        where = (f"finetuning epoch {finetuning.epoch + (not finetuning.in_epoch)}" if finetuning else
                 f"pretraining layer {pretraining.layer}, epoch {pretraining.progress.epoch}")
        log(f"... resuming from {checkpointer.path} at {where}")

    def snapshot():
        return {"params": sda.get_param_arrays(with_visible_biases=True), "rng_state": sda.theano_rng.get_state(),
                "pretraining": asdict(pretraining), "finetuning": finetuning and finetuning.as_dict(),
                "best_params": best_params, "log": log.lines,
                "elapsed": {phase: clock.seconds() for phase, clock in clocks.items()}}

    def checkpoint(state=None):
        checkpointer.save(snapshot(), fingerprint)

    with stop_on_signals() as stop:
        try:
            if finetuning is None:
                #########################
                # PRETRAINING THE MODEL #
                #########################
                log("... getting the pretraining functions")
                pretraining_fns = sda.pretraining_functions(train_set_x=train_set_x, batch_size=config.batch_size)
                if saved:  # the noise generators exist once the pretraining functions do
                    sda.theano_rng.set_state(saved["rng_state"])
                if engine == "kernels":
                    runners = [PretrainingRunner(sda, k, train_set_x, config.batch_size, c, config.pretrain_lr)
                               for k, c in enumerate(config.corruption_levels)]
                elif engine == "chunks":
                    chunk_fns = gpu.pretraining_chunk_functions(sda, train_set_x, config.batch_size)
                    runners = [gpu.chunk_runner(fn, GPU_CHUNK, stop, corruption=c, lr=config.pretrain_lr)
                               for fn, c in zip(chunk_fns, config.corruption_levels)]
                else:
                    runners = [minibatch_runner(fn, stop, corruption=c, lr=config.pretrain_lr)
                               for fn, c in zip(pretraining_fns, config.corruption_levels)]
                log("... pre-training the model")
                clocks["pretraining"].start()
                pretrain_sda(runners, n_train_batches, config.pretraining_epochs, config.pretrain_lr, log,
                             state=pretraining, after_epoch=checkpoint, stop=stop, bars=EpochBars(config.progress))
                clocks["pretraining"].stop()
                finetuning = EarlyStoppingState.start(n_train_batches)
            log_time("pretraining", script, clocks["pretraining"].seconds())

            ########################
            # FINETUNING THE MODEL #
            ########################
            # get the training, validation and testing function for the model
            log("... getting the finetuning functions")
            # a shared variable rather than a constant, so that the rate can decay between epochs
            finetune_lr = pytensor.shared(numpy.asarray(config.finetune_lr, dtype=floatX), name="finetune_lr")
            train_fn, validate_model, test_model = sda.build_finetune_functions(
                datasets=datasets, batch_size=config.batch_size, learning_rate=finetune_lr,
                eval_batch_size=config.eval_batch_size)
            log("... finetuning the model")
            clocks["finetuning"].start()
            if engine == "kernels":
                run = FinetuningRunner(sda, train_set_x, train_set_y, config.batch_size, finetune_lr)
            elif engine == "chunks":
                run = gpu.chunk_runner(gpu.finetune_chunk_function(sda, train_set_x, train_set_y, config.batch_size,
                                                                   finetune_lr), GPU_CHUNK, stop)
            else:
                run = minibatch_runner(train_fn, stop)
            finetune_sda(run, validate_model, test_model, n_train_batches,
                         config.training_epochs, config.finetune_lr, log, state=finetuning,
                         learning_rate_decay=config.finetune_lr_decay,
                         set_learning_rate=lambda rate: finetune_lr.set_value(numpy.asarray(rate, dtype=floatX)),
                         after_validation=checkpoint,
                         on_new_best=lambda state: best_params.update(sda.get_param_arrays()), stop=stop,
                         bars=EpochBars(config.progress))
            clocks["finetuning"].stop()
        except Interrupted:
            checkpointer.save(snapshot(), fingerprint, force=True)
            raise interrupted(stop, checkpointer, resume_command) from None

    log("Optimization complete with best validation score of %f %%, on iteration %i, "
        "with test performance %f %%"
        % (finetuning.best_validation_loss * 100.0, finetuning.best_iter + 1, finetuning.test_score * 100.0))
    log_time("training", script, clocks["finetuning"].seconds())

    # no validation ever happened (0 finetuning epochs): the model as it stands is the best
    save_model(os.path.join(output_dir, "model.npz"), best_params or sda.get_param_arrays())
    results = {
        "best_validation_error_percent": finetuning.best_validation_loss * 100.0
        if numpy.isfinite(finetuning.best_validation_loss) else None,
        "test_error_percent": finetuning.test_score * 100.0,
        "best_iter": finetuning.best_iter + 1,
        "finetune_epochs": finetuning.epoch,
        "pretraining_minutes": clocks["pretraining"].seconds() / 60.0,
        "finetuning_minutes": clocks["finetuning"].seconds() / 60.0,
        "pretraining_costs": pretraining.costs,
        "validation_history": finetuning.history,
        "config": asdict(config),
        "n_train_examples": int(train_set_x.get_value(borrow=True).shape[0]),
        "n_ins": n_ins,
        "n_outs": n_outs,
        "engine": engine,
        # 1 and 2 BLAS threads round differently: what a batch > 1 kernel run used, to repeat it exactly
        "kernel_blas_threads": run.blas_threads if engine == "kernels" and config.batch_size > 1 else None,
        "label_names": datasets.label_names and list(datasets.label_names),  # class i is label_names[i]
        "rescaled_from": datasets.rescaled_from,  # (min, max) of the training x mapped onto [0, 1]
        **run_metadata(),
    }
    write_json(os.path.join(output_dir, "results.json"), results)
    write_pictures(results, best_params or sda.get_param_arrays(), output_dir, n_ins, datasets.image_shape)
    checkpointer.remove()
    return results


def write_pictures(results, arrays, output_dir, n_ins, img_shape=None):
    """learning_curves.png, and the filters of every layer (when the inputs are images:
    ``img_shape`` (rows, cols) as the data knows it, else square)."""
    from .plots import plot_learning_curves
    from .utils import save_layer_filters

    plot_learning_curves(results, os.path.join(output_dir, "learning_curves.png"))
    side = int(round(n_ins ** 0.5))
    if img_shape is None and side * side == n_ins:
        img_shape = (side, side)
    if img_shape is not None:
        save_layer_filters(arrays, output_dir, img_shape=img_shape)


def run_da(config, script="train_da.py", resume_command=None):
    """The tutorial's ``test_dA``: one dA per corruption level, with its filters
    as a PNG; checkpoints, interrupts and resumes like :func:`run_sda`."""
    config.validate()
    output_folder = ensure_writable_dir(config.output_folder, "--output-folder")
    checkpointer = Checkpointer(output_folder, "da", result_keys(config), every=config.checkpoint_every,
                                defaults=result_keys(DAConfig()))
    if not config.resume:
        checkpointer.refuse_to_overwrite()

    from .autoencoder import dA
    from .backend import T, compile_mode, floatX, pytensor
    from .data import image_shape_for, load_data
    from .minibatches import minibatch, n_batches
    from .random_streams import RandomStreams
    from .training import EpochProgress, Interrupted, minibatch_runner, train_epochs
    from .utils import save_filters

    datasets = load_data(config.dataset, n_train=config.n_train, rescale=config.rescale)
    train_set_x = datasets[0][0]
    n_examples, n_visible = train_set_x.get_value(borrow=True).shape
    if config.batch_size > n_examples:
        raise UsageError(f"--batch-size {config.batch_size} is larger than the training set ({n_examples} "
                         f"examples): use a smaller batch")
    fingerprint = data_fingerprint([train_set_x.get_value(borrow=True)])
    saved = checkpointer.load(fingerprint) if config.resume else None
    img_shape = image_shape_for(n_visible, datasets.image_shape)  # the data's (rows, cols), else square, else a row

    # compute number of minibatches for training, validation and testing
    n_train_batches = n_batches(train_set_x, config.batch_size)
    index = T.lscalar()  # index to a [mini]batch
    x = T.matrix("x", dtype=floatX)  # the data is presented as rasterized images

    log = Log(saved and saved["log"])
    finished = saved["finished"] if saved else []
    for run_index in range(len(finished), len(config.corruption_levels)):
        corruption = config.corruption_levels[run_index]
        rng = numpy.random.RandomState(config.seed)
        theano_rng = RandomStreams(rng.randint(2 ** 30))
        da = dA(numpy_rng=rng, theano_rng=theano_rng, input=x, n_visible=n_visible, n_hidden=config.n_hidden)
        cost, updates = da.get_cost_updates(corruption_level=corruption, learning_rate=config.learning_rate)
        train_da = pytensor.function([index], cost, updates=updates,
                                     givens={x: minibatch(train_set_x, index, config.batch_size)},
                                     mode=compile_mode())
        progress, clock = EpochProgress(), Stopwatch()
        if saved and saved["current"]:
            for variable, value in zip(da.params, saved["current"]["params"]):
                variable.set_value(value)
            theano_rng.set_state(saved["current"]["rng_state"])
            progress = EpochProgress(**saved["current"]["progress"])
            clock = Stopwatch(saved["current"]["seconds"])
            log(f"... resuming from {checkpointer.path} at corruption {corruption:g}, epoch {progress.epoch}")
            saved = None

        def snapshot():
            return {"finished": finished, "log": log.lines,
                    "current": {"params": [p.get_value() for p in da.params], "rng_state": theano_rng.get_state(),
                                "progress": asdict(progress), "seconds": clock.seconds()}}

        with stop_on_signals() as stop:
            clock.start()
            try:
                train_epochs(minibatch_runner(train_da, stop), n_train_batches, config.training_epochs,
                             lambda epoch, c: log("Training epoch %d, cost %f" % (epoch, c)),
                             config.learning_rate, progress=progress,
                             after_epoch=lambda p: checkpointer.save(snapshot(), fingerprint), stop=stop,
                             where=f"the dA with {corruption:.0%} corruption", bars=EpochBars(config.progress))
            except Interrupted:
                checkpointer.save(snapshot(), fingerprint, force=True)
                raise interrupted(stop, checkpointer, resume_command) from None
            clock.stop()
        what = "no corruption" if corruption == 0 else f"{corruption * 100:.0f}% corruption"
        log_time(what, script, clock.seconds())

        png = os.path.join(output_folder, f"filters_corruption_{corruption * 100:.0f}.png")
        tiles = min(10, int(numpy.ceil(numpy.sqrt(config.n_hidden))))
        save_filters(da.W.get_value(borrow=True), png, img_shape=img_shape, tile_shape=(tiles, tiles))
        finished.append({"corruption_level": corruption, "costs": progress.mean_costs,
                         "minutes": clock.seconds() / 60.0, "filters": os.path.basename(png)})
        checkpointer.save({"finished": finished, "log": log.lines, "current": None}, fingerprint, force=True)

    results = {"config": asdict(config), **run_metadata(), "runs": finished}
    write_json(os.path.join(output_folder, "results.json"), results)
    checkpointer.remove()
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
