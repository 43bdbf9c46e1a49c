"""The training loops, written once: layer-wise pretraining and early-stopping finetuning.

Both scripts call these (``train_da.py`` trains a single dA with
:func:`train_epochs`, ``train_sda.py`` runs :func:`pretrain_sda` and
:func:`finetune_sda`).  They print the tutorial's log lines so that logs can be
compared with the tutorial's, and after every epoch (pretraining) or every
validation (finetuning) they call an optional hook with their complete state,
which is what checkpoints are made of.
"""

import math
from dataclasses import asdict, dataclass, field

import numpy

from .errors import TrainingError


def minibatch_epoch(step, n_batches, **inputs):
    """An epoch runner: calls the compiled ``step(index, **inputs)`` on every
    minibatch index in turn and returns the costs it gave."""

    def run_epoch(first=0, stop=n_batches):
        return [step(index, **inputs) for index in range(first, stop)]

    return run_epoch


def check_cost(cost, where, learning_rate):
    """Stop with a clear sentence when training has diverged."""
    if not math.isfinite(cost):
        raise TrainingError(
            f"the cost became {cost} in {where}: training diverged, most likely because the learning rate "
            f"({learning_rate:g}) is too large; lower it and run again")


def train_epochs(run_epoch, epochs, log_line, learning_rate, first_epoch=0, after_epoch=None, where="training"):
    """Runs ``run_epoch()`` for epochs ``first_epoch .. epochs - 1``, printing
    ``log_line % (epoch, mean cost)`` after each, and returns the mean costs.

    :param after_epoch: called as ``after_epoch(epoch, mean_cost)`` once an
        epoch is complete (checkpoints hook here)
    """
    mean_costs = []
    for epoch in range(first_epoch, epochs):
        mean_cost = float(numpy.mean(run_epoch(), dtype="float64"))
        check_cost(mean_cost, f"{where}, epoch {epoch}", learning_rate)
        log_line(epoch, mean_cost)
        mean_costs.append(mean_cost)
        if after_epoch is not None:
            after_epoch(epoch, mean_cost)
    return mean_costs


@dataclass
class PretrainingState:
    """Where layer-wise pretraining stands: the next (layer, epoch) to run and
    the mean cost of every finished epoch of every layer."""

    layer: int = 0
    epoch: int = 0
    costs: list = field(default_factory=list)  # costs[layer] = [mean cost of each epoch]


def pretrain_sda(pretraining_fns, n_train_batches, epochs, learning_rate, corruption_levels, log,
                 state=None, after_epoch=None, epoch_runners=None):
    """Greedy layer-wise pretraining: trains each layer's dA in turn, the
    layers below it already trained (the tutorial's ``PRETRAINING THE MODEL``).

    :param pretraining_fns: from ``SdA.pretraining_functions``
    :param epoch_runners: optional, one ``run_epoch()`` per layer to use
        instead of calling ``pretraining_fns`` minibatch by minibatch (the
        fast paths plug in here)
    :param state: a :class:`PretrainingState` to resume from
    :param after_epoch: called as ``after_epoch(state)`` after every epoch
    """
    state = state or PretrainingState()
    while len(state.costs) < len(pretraining_fns):
        state.costs.append([])
    for layer in range(state.layer, len(pretraining_fns)):
        if epoch_runners is not None:
            run_epoch = epoch_runners[layer]
        else:
            run_epoch = minibatch_epoch(pretraining_fns[layer], n_train_batches,
                                        corruption=corruption_levels[layer], lr=learning_rate)

        def finished_epoch(epoch, mean_cost, layer=layer):
            state.costs[layer].append(mean_cost)
            state.layer, state.epoch = (layer, epoch + 1) if epoch + 1 < epochs else (layer + 1, 0)
            if after_epoch is not None:
                after_epoch(state)

        train_epochs(run_epoch, epochs,
                     lambda epoch, cost, layer=layer: log("Pre-training layer %i, epoch %d, cost %f"
                                                          % (layer, epoch, cost)),
                     learning_rate, first_epoch=state.epoch if layer == state.layer else 0,
                     after_epoch=finished_epoch, where=f"pretraining layer {layer}")
    state.layer, state.epoch = len(pretraining_fns), 0
    return state


@dataclass
class EarlyStoppingState:
    """The tutorial's early-stopping bookkeeping, complete enough to resume from."""

    n_train_batches: int
    patience: float
    patience_increase: float = 2.0  # wait this much longer when a new best is found
    improvement_threshold: float = 0.995  # a relative improvement of this much is significant
    best_validation_loss: float = math.inf
    best_iter: int = 0
    test_score: float = 0.0
    epoch: int = 0  # epochs started so far
    done_looping: bool = False
    history: list = field(default_factory=list)  # one dict per validation

    @classmethod
    def start(cls, n_train_batches, patience_epochs=10):
        # look at this many examples regardless
        return cls(n_train_batches=n_train_batches, patience=patience_epochs * n_train_batches)

    def as_dict(self):
        return asdict(self)


def finetune_sda(train_fn, valid_score, test_score, n_train_batches, training_epochs, learning_rate, log,
                 state=None, after_validation=None, on_new_best=None, run_epoch=None):
    """Finetunes the whole network by SGD with the tutorial's early stopping.

    Validation happens once per epoch (the tutorial's ``validation_frequency``
    is ``min(n_train_batches, patience // 2)``, which is ``n_train_batches``
    because patience starts at ten epochs).  When the validation error beats
    the best so far, the test error is measured and ``on_new_best(state)`` is
    called (to keep a copy of the parameters); when it beats it by a
    significant margin, patience grows to twice the current iteration.  The
    loop ends after ``training_epochs`` epochs or once the iteration count
    reaches the patience.

    :param run_epoch: optional ``run_epoch(first, stop)`` training on
        minibatches ``first .. stop - 1`` and returning their costs; defaults to
        calling ``train_fn`` on each minibatch
    :param after_validation: called as ``after_validation(state)`` after every
        validation (checkpoints hook here)
    """
    state = state or EarlyStoppingState.start(n_train_batches)
    run_epoch = run_epoch or minibatch_epoch(train_fn, n_train_batches)
    n = n_train_batches

    while state.epoch < training_epochs and not state.done_looping:
        state.epoch += 1
        epoch = state.epoch
        first_iter = (epoch - 1) * n
        # The tutorial checks `patience <= iter` after every minibatch; patience
        # only changes at validations, at the end of an epoch, so the epoch
        # stops early exactly at the first iteration reaching the patience.
        last_index = min(n - 1, max(0, math.ceil(state.patience) - first_iter))
        costs = run_epoch(0, last_index + 1)
        check_cost(float(numpy.mean(costs, dtype="float64")), f"finetuning, epoch {epoch}", learning_rate)
        iter = first_iter + last_index
        if last_index == n - 1:
            this_validation_loss = float(numpy.mean(valid_score(), dtype="float64"))
            log("epoch %i, minibatch %i/%i, validation error %f %%" % (epoch, n, n, this_validation_loss * 100.0))
            record = {"epoch": epoch, "iter": iter, "train_cost": float(numpy.mean(costs, dtype="float64")),
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
        if after_validation is not None:
            after_validation(state)
    return state
