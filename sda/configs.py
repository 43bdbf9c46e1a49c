"""What defines a run: the configurations of ``train_sda.py`` and ``train_da.py``,
with the tutorial's defaults, checked where they are made.

Every value is checked by ``validate()`` before any work starts, so a mistake is
one line naming the flag.  :func:`check_data_fits` checks the data against the
model before it is built.
"""

from dataclasses import asdict, dataclass, field

import numpy

from .errors import DataError, UsageError

# keys of a configuration that do not change a run's numbers: a resumed run may change them
NOT_RESULT_KEYS = {"dataset", "output_dir", "output_folder", "resume", "overwrite", "checkpoint_every",
                   "eval_batch_size", "pretrained_from",  # a pretrained run's layers are those it would pretrain
                   "progress"}
# keys that finetuning alone reads: a run started from another's pretrained layers may change them
FINETUNING_KEYS = ("finetune_lr", "finetune_lr_decay", "training_epochs")


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
    overwrite: bool = False  # replace a finished run's files in the output folder
    engine: str = "auto"  # kernels (fast, CPU), compiled (the tutorial's compiled functions), chunks (a scan, GPUs), auto
    pretrained_from: str = None  # a run's folder: start from its pretrained.npz and only finetune

    def validate(self):
        check_positive_int("--batch-size", self.batch_size)
        check_seed(self.seed)
        check_engine(self.engine)
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
    overwrite: bool = False  # replace a finished run's files in the output folder
    engine: str = "auto"  # as SdAConfig.engine

    def validate(self):
        check_engine(self.engine)
        check_positive_float("--learning-rate", self.learning_rate)
        check_seed(self.seed)
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


def check_engine(name):
    from .engines import engine_names

    if name not in engine_names():
        raise UsageError(f"--engine {name!r} is not one of {', '.join(engine_names())}")


def check_positive_int(flag, value):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value <= 0:
        raise UsageError(f"{flag} must be a positive integer, got {value!r}")


def check_non_negative_int(flag, value):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value < 0:
        raise UsageError(f"{flag} must be an integer >= 0, got {value!r}")


def check_positive_float(flag, value):
    if not numpy.isfinite(value) or value <= 0:
        raise UsageError(f"{flag} must be a number > 0, got {value!r}")


#: NumPy's RandomState takes seeds from 0 to 2**32 - 1
MAX_SEED = 2 ** 32 - 1


def check_seed(value):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or not 0 <= value <= MAX_SEED:
        raise UsageError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {value!r}")


def available_memory():
    """Bytes of memory this process can still use (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _gib(n_bytes):
    return f"{n_bytes / 2 ** 30:,.1f} GiB"


def check_fits_in_memory(what, n_bytes, flag_hint):
    """Refuses, with the estimate, work that cannot fit in the memory left (before allocating any of it)."""
    available = available_memory()
    if available is not None and n_bytes > available:
        raise UsageError(f"{what} would need about {_gib(n_bytes)} of memory but {_gib(available)} is available: "
                         f"{flag_hint}")


def check_sda_fits_in_memory(n_ins, hidden_layers, n_outs, n_train, floatX):
    """The SdA's parameters live in several copies at once (the model, the best so far, a checkpoint
    being written, the kernels' check), and pretraining a layer keeps the outputs of the layers below
    for the whole training set."""
    itemsize = numpy.dtype(floatX).itemsize
    sizes = [n_ins, *hidden_layers, n_outs]
    weights = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])) * itemsize
    layer_inputs = n_train * max(hidden_layers) * itemsize
    check_fits_in_memory(f"an SdA of layers {','.join(map(str, hidden_layers))} on {n_ins} inputs and {n_outs} "
                         "classes (the largest label + 1, unless --n-outs)",
                         4 * weights + layer_inputs,
                         "use smaller --hidden-layers (or --n-train); with many classes, check the labels or --n-outs")


def check_corruption(flag, value):
    if not (0.0 <= value < 1.0):
        raise UsageError(f"{flag}: a corruption level is the fraction of inputs zeroed and must be in [0, 1), "
                         f"got {value!r}")


def dataset_values(datasets):
    """The numpy arrays behind the shared variables of ``load_data``."""
    return [(x.get_value(borrow=True), y.get_value(borrow=True)) for x, y in datasets]


def check_data_fits(datasets, n_ins, n_outs, batch_size):
    """Refuses data that the model cannot use, naming the problem; returns the
    model's ``(n_ins, n_outs)``, taken from the data where not given."""
    return check_arrays_fit(dataset_values(datasets), n_ins, n_outs, batch_size)


def check_arrays_fit(arrays, n_ins, n_outs, batch_size):
    """:func:`check_data_fits` on the numpy arrays ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``
    (a sweep checks them before any trial starts)."""
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
