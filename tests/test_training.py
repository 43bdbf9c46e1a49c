"""The training loops: costs fall, early stopping behaves exactly like the tutorial's loop."""

import copy
import math

import numpy
import pytest

from sda.errors import TrainingError
from sda.training import (EarlyStoppingState, EpochProgress, Interrupted, PretrainingState, StopRequest,
                          finetune_sda, minibatch_runner, pretrain_sda, train_epochs)


def structured_data(n=120, n_ins=16, n_classes=3, seed=0):
    """Noisy copies of a few binary prototypes: learnable, and in [0, 1]."""
    rng = numpy.random.RandomState(seed)
    prototypes = rng.rand(n_classes, n_ins) > 0.5
    y = rng.randint(0, n_classes, n)
    flips = rng.rand(n, n_ins) < 0.1
    x = numpy.where(flips, ~prototypes[y], prototypes[y]).astype("float64")
    return x, y.astype("int32")


def make_sets(seed=0):
    from sda.backend import floatX, pytensor

    x, y = structured_data(seed=seed)
    split = [(x[:80], y[:80]), (x[80:100], y[80:100]), (x[100:], y[100:])]
    return [(pytensor.shared(a.astype(floatX)), pytensor.shared(b)) for a, b in split]


def test_pretraining_cost_falls():
    from sda import SdA

    sets = make_sets()
    sda = SdA(numpy.random.RandomState(1), n_ins=16, hidden_layers_sizes=[12, 8], n_outs=3,
              corruption_levels=[0.1, 0.2])
    fns = sda.pretraining_functions(sets[0][0], batch_size=4)
    logged = []
    runners = [minibatch_runner(fn, corruption=c, lr=0.1) for fn, c in zip(fns, [0.1, 0.2])]
    state = pretrain_sda(runners.__getitem__, 2, 20, epochs=8, learning_rate=0.1, log=logged.append)
    for costs in state.costs:
        assert len(costs) == 8 and costs[-1] < costs[0] * 0.9
    assert logged[0].startswith("Pre-training layer 0, epoch 0, cost ")
    assert logged[-1].startswith("Pre-training layer 1, epoch 7, cost ")


def test_finetuning_error_falls_and_logs_like_the_tutorial():
    from sda import SdA

    sets = make_sets()
    sda = SdA(numpy.random.RandomState(1), n_ins=16, hidden_layers_sizes=[12], n_outs=3, corruption_levels=[0.1])
    train_fn, valid_score, test_score = sda.build_finetune_functions(sets, batch_size=4, learning_rate=0.5)
    initial = numpy.mean(valid_score())
    logged = []
    state = finetune_sda(minibatch_runner(train_fn), valid_score, test_score, 20, 15, 0.5, logged.append)
    assert len(valid_score()) == 5  # the tutorial's scorers: one error rate per minibatch of 4
    assert state.best_validation_loss < initial and state.best_validation_loss <= 0.1
    assert logged[0] == "epoch 1, minibatch 20/20, validation error %f %%" % (state.history[0]["validation_error"] * 100)
    assert any(line.startswith("     epoch 1, minibatch 20/20, test error of best model") for line in logged)


def tutorial_loop(train_fn, validate, test, n_train_batches, training_epochs):
    """The tutorial's finetuning loop, literally, as the reference."""
    patience = 10 * n_train_batches
    patience_increase = 2.
    improvement_threshold = 0.995
    validation_frequency = min(n_train_batches, patience // 2)
    best_validation_loss = numpy.inf
    test_score = 0.
    best_iter = 0
    done_looping = False
    epoch = 0
    calls = 0
    while (epoch < training_epochs) and (not done_looping):
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            train_fn(minibatch_index)
            calls += 1
            iter = (epoch - 1) * n_train_batches + minibatch_index
            if (iter + 1) % validation_frequency == 0:
                this_validation_loss = validate()
                if this_validation_loss < best_validation_loss:
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)
                    best_validation_loss = this_validation_loss
                    best_iter = iter
                    test_score = test()
            if patience <= iter:
                done_looping = True
                break
    return best_validation_loss, best_iter, test_score, epoch, calls


@pytest.mark.parametrize("losses", [
    [0.5, 0.4, 0.3] + [0.3] * 40,                     # improves early, then flat: patience runs out
    [0.5 - 0.01 * i for i in range(30)] + [0.2] * 40,  # steady improvement pushes patience out
    [0.5, 0.499, 0.4985, 0.498] + [0.6] * 40,          # improvements below the threshold
    [0.3] * 50,
])
@pytest.mark.parametrize("n_batches", [1, 3, 7])
def test_early_stopping_matches_the_tutorial_loop(losses, n_batches):
    def run(loop):
        it = iter(losses)
        tests = iter(range(1000))
        calls = []
        result = loop(lambda i: calls.append(i) or 0.0, lambda: next(it), lambda: next(tests) / 1000)
        return result, calls

    (ref_best, ref_iter, ref_test, ref_epoch, ref_calls), ref_seq = run(
        lambda t, v, s: tutorial_loop(t, v, s, n_batches, 60))
    (state), seq = run(
        lambda t, v, s: finetune_sda(minibatch_runner(t), lambda: [v()], lambda: [s()], n_batches, 60, 0.1,
                                     lambda line: None))
    assert state.best_validation_loss == ref_best
    assert state.best_iter == ref_iter
    assert state.test_score == ref_test
    assert state.epoch == ref_epoch
    assert seq == ref_seq  # the very same minibatches trained, in the same order


def test_resumed_early_stopping_state_continues_identically():
    losses = [0.5 - 0.01 * i for i in range(12)] + [0.4] * 40
    states = []

    def run(state=None, start=0):
        it = iter(losses[start:])
        return finetune_sda(minibatch_runner(lambda i: 0.0), lambda: [next(it)], lambda: [0.1], 2, 60, 0.1,
                            lambda line: None,
                            state=state, after_validation=lambda s: states.append(copy.deepcopy(s)))

    full = run()
    snapshot = states[5]
    restored = EarlyStoppingState.start(2)
    restored.load_state_dict(snapshot.state_dict())
    resumed = run(restored, start=len(snapshot.history))
    assert resumed.state_dict() == full.state_dict()


def test_nan_cost_stops_with_a_clear_message():
    with pytest.raises(TrainingError, match=r"pretraining layer 1, epoch 2.*learning rate \(0.5\)"):
        train_epochs(lambda first, stop: [math.nan] * (stop - first), 3, 5, lambda e, c: None, 0.5,
                     progress=EpochProgress(epoch=2), where="pretraining layer 1")


def counting_runner(calls):
    """A runner whose cost is a deterministic function of how many steps came before."""
    def step(index):
        calls.append(index)
        return 1.0 / len(calls)
    return step


def test_stop_request_interrupts_pretraining_and_resumes_exactly():
    def run(stop_after=None):
        calls, lines = [], []
        stop = StopRequest()
        step = counting_runner(calls)

        def stepping(index):
            if stop_after is not None and len(calls) + 1 == stop_after:
                stop.signal = "SIGINT"  # arrives during this minibatch
            return step(index)

        runners = [minibatch_runner(stepping, stop) for _ in range(2)]
        state = PretrainingState()
        try:
            pretrain_sda(runners.__getitem__, len(runners), 5, 3, 0.1, lines.append, state=state, stop=stop)
            return state, calls, lines, False
        except Interrupted:
            return state, calls, lines, True

    full_state, full_calls, full_lines, interrupted = run()
    assert not interrupted and len(full_calls) == 2 * 3 * 5
    for stop_after in (1, 7, 15, 16, 23):
        state, calls, lines, interrupted = run(stop_after)
        assert interrupted and len(calls) == stop_after  # the minibatch in progress was finished
        # resume from the state it stopped in; the remaining calls continue the count
        resumed_lines = []
        step = counting_runner(calls)
        runners = [minibatch_runner(step) for _ in range(2)]
        pretrain_sda(runners.__getitem__, len(runners), 5, 3, 0.1, resumed_lines.append, state=state)
        assert calls == full_calls
        assert lines + resumed_lines == full_lines
        assert state.costs == full_state.costs


def test_stop_request_interrupts_finetuning_and_resumes_exactly():
    losses = [0.5 - 0.01 * i for i in range(40)]

    def validations():
        it = iter(losses)
        return lambda: [next(it)]

    full = finetune_sda(minibatch_runner(lambda i: 0.5), validations(), lambda: [0.2], 4, 12, 0.1,
                        lambda line: None)
    for stop_after in (1, 4, 9, 30):
        stop = StopRequest()
        count = []

        def step(index):
            count.append(index)
            if len(count) == stop_after:
                stop.signal = "SIGTERM"
            return 0.5

        state = EarlyStoppingState.start(4)
        valid = validations()
        with pytest.raises(Interrupted):
            finetune_sda(minibatch_runner(step, stop), valid, lambda: [0.2], 4, 12, 0.1, lambda line: None,
                         state=state, stop=stop)
        assert len(count) == stop_after
        finetune_sda(minibatch_runner(step), valid, lambda: [0.2], 4, 12, 0.1, lambda line: None, state=state)
        assert state.state_dict() == full.state_dict()
        assert len(count) == 4 * 12


def test_finetuning_rate_decays_every_epoch_and_resumes_on_schedule():
    rates = []
    validations = iter([0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    state = finetune_sda(minibatch_runner(lambda i: 0.5), lambda: [next(validations)], lambda: [0.1], 3, 3, 0.2,
                         lambda line: None, learning_rate_decay=0.5, set_learning_rate=rates.append)
    assert rates == [0.2, 0.1, 0.05]
    # a run resumed after epoch 3 continues the schedule where it was
    finetune_sda(minibatch_runner(lambda i: 0.5), lambda: [next(validations)], lambda: [0.1], 3, 5, 0.2,
                 lambda line: None, state=state, learning_rate_decay=0.5, set_learning_rate=rates.append)
    assert rates == [0.2, 0.1, 0.05, 0.025, 0.0125]


def test_stop_after_minibatches_stops_exactly_there():
    """The deterministic interruption of the run tests: a budget of minibatches."""
    trained = []
    stop = StopRequest(after_minibatches=7)
    progress = EpochProgress()
    with pytest.raises(Interrupted):
        train_epochs(lambda first, last: [trained.append(i) or 1.0 for i in range(first, last)], 5, 3,
                     lambda epoch, cost: None, 0.1, progress=progress, stop=stop)
    assert trained == [0, 1, 2, 3, 4, 0, 1]
    assert (progress.epoch, progress.minibatch) == (1, 2)


def test_loop_states_round_trip_through_their_state_dicts():
    import json

    state = PretrainingState(layer=1, progress=EpochProgress(epoch=2, minibatch=3, epoch_costs=[1.5]), costs=[[2.0]])
    restored = PretrainingState()
    restored.load_state_dict(json.loads(json.dumps(state.state_dict())))
    assert restored == state and isinstance(restored.progress, EpochProgress)
