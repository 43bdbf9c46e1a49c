"""The training loops, written once: layer-wise pretraining and early-stopping finetuning.

Both scripts call these (``train_da.py`` trains a single dA with
:func:`train_epochs`, ``train_sda.py`` runs :func:`pretrain_sda` and
:func:`finetune_sda`).  They print the tutorial's log lines so that logs can be
compared with the tutorial's.

Every loop keeps its whole position in a small state object (epoch, next
minibatch, costs so far, early-stopping bookkeeping; each with ``state_dict()``
and ``load_state_dict()``) that the caller may pass in to resume from, and calls
a hook after every epoch (pretraining) or validation (finetuning): that is where
checkpoints are written.  A :class:`StopRequest`
(set by a signal handler) makes a loop return control after the minibatch in
progress by raising :class:`Interrupted`, its state describing exactly where it
stopped.

Minibatches are run by *runners*: ``run(first, stop)`` trains on minibatches
``first .. stop - 1`` and returns their costs, or fewer of them if it stopped
early for a stop request.  :func:`minibatch_runner` calls a compiled step
function once per minibatch, as the tutorial does; faster runners (several
minibatches per compiled call) plug in the same way.
"""

import math
from dataclasses import asdict, dataclass, field

import numpy

from .errors import TrainingError


class StopRequest:
    """A flag that a signal handler sets to ask the loops to stop cleanly.

    :param after_minibatches: also stop once this many minibatches have been
        trained (counted by :func:`run_minibatches`): a deterministic
        interruption, for tests and for training in installments
    """

    BUDGET_SPENT = "after_minibatches"

    def __init__(self, after_minibatches=None):
        self.signal = None
        self.budget = after_minibatches

    def __bool__(self):
        return self.signal is not None

    def limit(self, first, stop_index):
        """The end of the next run of minibatches, within the budget."""
        return stop_index if self.budget is None else min(stop_index, first + self.budget)

    def count(self, n):
        if self.budget is not None:
            self.budget -= n
            if self.budget <= 0:
                self.signal = self.signal or self.BUDGET_SPENT


class Interrupted(Exception):
    """Raised by a loop that stopped at a stop request; its state says where."""


def minibatch_runner(step, stop=None, **inputs):
    """A runner calling the compiled ``step(index, **inputs)`` on each minibatch
    in turn (the tutorial's loop body), checking ``stop`` after each."""

    def run(first, stop_index):
        costs = []
        for index in range(first, stop_index):
            costs.append(float(step(index, **inputs)))
            if stop:
                break
        return costs

    return run


def check_cost(cost, where, learning_rate):
    """Stop with a clear sentence when training has diverged."""
    if not math.isfinite(cost):
        raise TrainingError(
            f"the cost became {cost} in {where}: training diverged, most likely because the learning rate "
            f"({learning_rate:g}) is too large; lower it and run again (the last checkpoint, if any, is kept)")


def run_minibatches(run, position, stop_index, stop, bars=None, description=""):
    """Runs minibatches ``position.minibatch .. stop_index - 1``, appending
    their costs to ``position.epoch_costs``; raises :class:`Interrupted` if a
    stop request arrives before the range is done.

    :param bars: an :class:`sda.progress.EpochBars` to show progress, or None
    """
    bar = bars.epoch(description, stop_index, position.minibatch) if bars else None
    try:
        while position.minibatch < stop_index:
            if stop:
                raise Interrupted()
            costs = run(position.minibatch, stop.limit(position.minibatch, stop_index) if stop is not None
                        else stop_index)
            position.epoch_costs.extend(float(c) for c in costs)
            position.minibatch += len(costs)
            if stop is not None:
                stop.count(len(costs))
            if bar:
                bar.update(costs)
    finally:
        if bar:
            bar.close()


class DataclassState:
    """``state_dict()`` / ``load_state_dict()`` for a dataclass of plain values
    (JSON-able: numbers, strings, lists, dicts, nested dataclasses of the same kind)."""

    def state_dict(self):
        return asdict(self)

    def load_state_dict(self, state):
        for name, value in state.items():
            current = getattr(self, name)
            if isinstance(current, DataclassState):
                current.load_state_dict(value)
            else:
                setattr(self, name, value)


@dataclass
class EpochProgress(DataclassState):
    """Where an epoch loop stands: the epoch under way (0-based), its next
    minibatch, the costs of its minibatches so far, and the mean cost of every
    finished epoch."""

    epoch: int = 0
    minibatch: int = 0
    epoch_costs: list = field(default_factory=list)
    mean_costs: list = field(default_factory=list)

    def check_fits(self, epochs, n_batches, where):
        """Raises ValueError unless a run of ``epochs`` epochs of ``n_batches`` minibatches can stand here."""
        _check_position(where, "epoch", self.epoch, epochs)
        _check_position(where, "minibatch", self.minibatch, n_batches)
        if len(self.mean_costs) != self.epoch or len(self.epoch_costs) != self.minibatch:
            raise ValueError(f"{where}: the costs recorded do not match epoch {self.epoch}, minibatch "
                             f"{self.minibatch}")


def _check_position(where, what, value, last):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= last:
        raise ValueError(f"{where}: {what} {value!r} is not one of 0..{last}")


def train_epochs(run, n_batches, epochs, log_line, learning_rate, progress=None, after_epoch=None, stop=None,
                 where="training", bars=None):
    """Trains for epochs ``progress.epoch .. epochs - 1`` with the runner
    ``run``, printing ``log_line(epoch, mean cost)`` after each epoch.

    :param after_epoch: called as ``after_epoch(progress)`` after every epoch
    :returns: the :class:`EpochProgress`, with the mean cost of every epoch
    """
    progress = progress or EpochProgress()
    while progress.epoch < epochs:
        run_minibatches(run, progress, n_batches, stop, bars, f"{where}, epoch {progress.epoch}")
        mean_cost = float(numpy.mean(progress.epoch_costs, dtype="float64"))
        check_cost(mean_cost, f"{where}, epoch {progress.epoch}", learning_rate)
        log_line(progress.epoch, mean_cost)
        progress.mean_costs.append(mean_cost)
        progress.epoch, progress.minibatch, progress.epoch_costs = progress.epoch + 1, 0, []
        if after_epoch is not None:
            after_epoch(progress)
    return progress


@dataclass
class PretrainingState(DataclassState):
    """Where layer-wise pretraining stands: the layer under way and its
    :class:`EpochProgress`, and the mean costs of the finished layers."""

    layer: int = 0
    progress: EpochProgress = field(default_factory=EpochProgress)
    costs: list = field(default_factory=list)  # costs[layer] = mean cost of each epoch, finished layers

    def load_state_dict(self, state):
        self.layer, self.costs = state["layer"], state["costs"]
        self.progress = EpochProgress()
        self.progress.load_state_dict(state["progress"])

    def check_fits(self, n_layers, epochs, n_batches):
        """Raises ValueError unless a run of ``n_layers`` layers (``epochs`` epochs each, of ``n_batches``
        minibatches) can stand here."""
        _check_position("pretraining", "layer", self.layer, n_layers)
        if len(self.costs) != self.layer:
            raise ValueError(f"pretraining: the costs of {len(self.costs)} layers are recorded, not {self.layer}")
        if self.layer < n_layers:
            self.progress.check_fits(epochs, n_batches, f"pretraining layer {self.layer}")


def pretrain_sda(runner_for, n_layers, n_train_batches, epochs, learning_rate, log, state=None, after_epoch=None,
                 stop=None, bars=None):
    """Greedy layer-wise pretraining: trains each layer's dA in turn, the
    layers below it already trained (the tutorial's ``PRETRAINING THE MODEL``).

    :param runner_for: ``runner_for(layer)`` makes the runner of a layer when
        its training starts, e.g. ``minibatch_runner(pretraining_fns[layer],
        corruption=c[layer], lr=lr)``
    :param state: a :class:`PretrainingState` to resume from
    :param after_epoch: called as ``after_epoch(state)`` after every epoch
    """
    state = state or PretrainingState()
    while state.layer < n_layers:
        layer = state.layer
        train_epochs(runner_for(layer), n_train_batches, epochs,
                     lambda epoch, cost: log("Pre-training layer %i, epoch %d, cost %f" % (layer, epoch, cost)),
                     learning_rate, progress=state.progress,
                     after_epoch=None if after_epoch is None else lambda progress: after_epoch(state),
                     stop=stop, where=f"pretraining layer {layer}", bars=bars)
        state.costs.append(state.progress.mean_costs)
        state.layer, state.progress = layer + 1, EpochProgress()
    return state


@dataclass
class EarlyStoppingState(DataclassState):
    """The tutorial's early-stopping bookkeeping, complete enough to resume from."""

    n_train_batches: int
    patience: float
    patience_increase: float = 2.0  # wait this much longer when a new best is found
    improvement_threshold: float = 0.995  # a relative improvement of this much is significant
    best_validation_loss: float = math.inf
    best_iter: int = 0
    test_score: float = 0.0
    epoch: int = 0  # epochs started so far (1-based, as in the tutorial)
    in_epoch: bool = False  # True while epoch `epoch` is under way
    minibatch: int = 0  # next minibatch of the epoch under way
    epoch_costs: list = field(default_factory=list)
    done_looping: bool = False
    history: list = field(default_factory=list)  # one dict per validation

    def check_fits(self, training_epochs):
        """Raises ValueError unless a run of ``training_epochs`` epochs can stand here."""
        _check_position("finetuning", "epoch", self.epoch, training_epochs)
        _check_position("finetuning", "minibatch", self.minibatch, self.n_train_batches)
        if len(self.epoch_costs) != self.minibatch:
            raise ValueError(f"finetuning: the costs recorded do not match minibatch {self.minibatch}")

    @classmethod
    def start(cls, n_train_batches, patience_epochs=10):
        # look at this many examples regardless
        return cls(n_train_batches=n_train_batches, patience=patience_epochs * n_train_batches)


def finetune_sda(run, valid_score, test_score, n_train_batches, training_epochs, learning_rate, log,
                 state=None, after_validation=None, on_new_best=None, stop=None, bars=None,
                 learning_rate_decay=1.0, set_learning_rate=None):
    """Finetunes the whole network by SGD with the tutorial's early stopping.

    Validation happens once per epoch (the tutorial's ``validation_frequency``
    is ``min(n_train_batches, patience // 2)``, which is ``n_train_batches``
    because patience starts at ten epochs).  When the validation error beats
    the best so far, the test error is measured and ``on_new_best(state)`` is
    called (to keep a copy of the parameters); when it beats it by a
    significant margin, patience grows to twice the current iteration.  The
    loop ends after ``training_epochs`` epochs or once the iteration count
    reaches the patience.

    :param run: the runner, e.g. ``minibatch_runner(train_fn)``
    :param after_validation: called as ``after_validation(state)`` after every
        validation, and at the end (checkpoints hook here)
    :param learning_rate_decay: epoch ``e`` trains at ``learning_rate *
        learning_rate_decay ** (e - 1)``, told to the runner through
        ``set_learning_rate(rate)`` before the epoch (1: the tutorial's constant rate)
    """
    state = state or EarlyStoppingState.start(n_train_batches)
    n = n_train_batches

    while not state.done_looping:
        if not state.in_epoch:
            if state.epoch >= training_epochs:
                break
            state.epoch, state.in_epoch = state.epoch + 1, True
        epoch = state.epoch
        # a function of the epoch alone, so that a resumed run continues the schedule
        rate = learning_rate * learning_rate_decay ** (epoch - 1)
        if set_learning_rate is not None:
            set_learning_rate(rate)
        first_iter = (epoch - 1) * n
        # The tutorial checks `patience <= iter` after every minibatch; patience
        # only changes at validations, at the end of an epoch, so the epoch
        # stops early exactly at the first iteration reaching the patience.
        last_index = min(n - 1, max(0, math.ceil(state.patience) - first_iter))
        run_minibatches(run, state, last_index + 1, stop, bars, f"finetuning, epoch {epoch}")
        train_cost = float(numpy.mean(state.epoch_costs, dtype="float64"))
        check_cost(train_cost, f"finetuning, epoch {epoch}", rate)
        iter = first_iter + last_index
        if last_index == n - 1:
            this_validation_loss = float(numpy.mean(valid_score(), dtype="float64"))
            log("epoch %i, minibatch %i/%i, validation error %f %%" % (epoch, n, n, this_validation_loss * 100.0))
            record = {"epoch": epoch, "iter": iter, "train_cost": train_cost,
                      "validation_error": this_validation_loss, "test_error": None}
            # if we got the best validation score until now
            if this_validation_loss < state.best_validation_loss:
                # improve patience if loss improvement is good enough
                if this_validation_loss < state.best_validation_loss * state.improvement_threshold:
                    state.patience = max(state.patience, iter * state.patience_increase)
                state.best_validation_loss = this_validation_loss
                state.best_iter = iter
                # test it on the test set
                state.test_score = float(numpy.mean(test_score(), dtype="float64"))
                record["test_error"] = state.test_score
                log("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                    % (epoch, n, n, state.test_score * 100.0))
                if on_new_best is not None:
                    on_new_best(state)
            state.history.append(record)
        if state.patience <= iter:
            state.done_looping = True
        state.in_epoch, state.minibatch, state.epoch_costs = False, 0, []
        if after_validation is not None:
            after_validation(state)
    return state
