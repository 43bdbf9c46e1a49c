"""The batch-1 kernels give the same bits on one thread and on two, and the thread count is chosen by speed."""

import numpy
import pytest
from numba import typed

from sda.engines import kernel_steps, threads
from sda.errors import UsageError


def da_run(n_threads, dtype, n_vis, n_hid, batch_size=1, calls=((0, 4), (4, 10))):
    """Ten minibatches in two calls."""
    rng = numpy.random.RandomState(0)
    n = 10 * batch_size if batch_size > 1 else 100
    X = (rng.rand(n, n_vis) * (rng.rand(n, n_vis) < 0.3)).astype(dtype)
    U = rng.rand(n, n_vis).astype(dtype)
    W = (numpy.random.RandomState(1).randn(n_vis, n_hid) * 0.1).astype(dtype)
    b, b_prime = numpy.zeros(n_hid, dtype), numpy.zeros(n_vis, dtype)
    parameters = (W, b, b_prime, W.dtype.type(0.8), W.dtype.type(0.1))
    costs = []
    for first, stop in calls:
        if batch_size == 1:
            first, stop = 10 * first, 10 * stop
            costs.append(threads.run_roles(kernel_steps.da_train_b1, n_threads, X, U[first:], first, stop,
                                           *parameters, *kernel_steps.da_workspace(n_vis, W.dtype)))
        else:
            costs.append(threads.run_roles(kernel_steps.da_train_batch, n_threads, X, U[first * batch_size:],
                                           first, stop, batch_size, *parameters,
                                           *kernel_steps.da_workspace_batch(batch_size, n_vis, n_hid, W.dtype)))
    return [numpy.concatenate(costs), W, b, b_prime]


def mlp_run(n_threads, dtype, sizes, batch_size=1, n_out=10):
    rng = numpy.random.RandomState(0)
    n = 100 * batch_size
    X = (rng.rand(n, sizes[0]) * (rng.rand(n, sizes[0]) < 0.3)).astype(dtype)
    Y = rng.randint(0, n_out, n).astype(numpy.int32)
    Ws, bs = typed.List(), typed.List()
    for n_in, n_hid in zip(sizes[:-1], sizes[1:]):
        Ws.append(rng.uniform(-0.5, 0.5, (n_in, n_hid)).astype(dtype))
        bs.append(numpy.zeros(n_hid, dtype))
    W_out = (numpy.random.RandomState(0).rand(sizes[-1], n_out) * 0.1).astype(dtype)
    b_out = numpy.zeros(n_out, dtype)
    parameters = (Ws, bs, W_out, b_out, W_out.dtype.type(0.1))
    if batch_size == 1:
        costs = [threads.run_roles(kernel_steps.mlp_train_b1, n_threads, X, Y, first, stop, *parameters,
                                   *kernel_steps.mlp_workspace(Ws, W_out)) for first, stop in ((0, 40), (40, 100))]
    else:
        costs = [threads.run_roles(kernel_steps.mlp_train_batch, n_threads, X, Y, first, stop, batch_size,
                                   *parameters, *kernel_steps.mlp_workspace_batch(batch_size, Ws, W_out))
                 for first, stop in ((0, 4), (4, 10))]
    return [numpy.concatenate(costs), W_out, b_out, *Ws, *bs]


def assert_same_bits(one, two):
    for i, (a, b) in enumerate(zip(one, two)):
        numpy.testing.assert_array_equal(a, b, err_msg=f"array {i}")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_vis, n_hid", [(97, 61), (64, 40), (30, 7), (5, 33), (150, 130), (21, 700)])
@pytest.mark.parametrize("batch_size", [1, 3, 20])
def test_the_da_kernel_gives_the_same_bits_on_two_threads(dtype, n_vis, n_hid, batch_size):
    one, two = da_run(1, dtype, n_vis, n_hid, batch_size), da_run(2, dtype, n_vis, n_hid, batch_size)
    assert one[0][-1] < one[0][0]  # it trained
    assert_same_bits(one, two)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes", [[64, 40, 30], [50, 7], [33, 70, 20, 17], [150, 130, 80], [151, 300, 257, 12]])
@pytest.mark.parametrize("batch_size", [1, 3, 20])
def test_the_finetuning_kernel_gives_the_same_bits_on_two_threads(dtype, sizes, batch_size):
    one, two = mlp_run(1, dtype, sizes, batch_size), mlp_run(2, dtype, sizes, batch_size)
    untrained = (numpy.random.RandomState(0).rand(sizes[-1], 10) * 0.1).astype(dtype)
    assert numpy.isfinite(one[0]).all() and not numpy.array_equal(one[1], untrained)  # it trained
    assert_same_bits(one, two)


def test_an_empty_call_returns_no_costs_on_two_threads():
    assert len(da_run(2, "float32", 20, 10, calls=((5, 5),))[0]) == 0
    assert len(da_run(2, "float32", 20, 10, batch_size=4, calls=((5, 5),))[0]) == 0


class FakeClock:
    """Each call of the kernel 'takes' the seconds the test sets for its thread count."""

    def __init__(self):
        self.now, self.cost = 0.0, {1: 1.0, 2: 0.5}

    def __call__(self):
        return self.now


def chosen_counts(chooser, clock, calls):
    counts = []

    def kernel(*args):
        role, n_threads = args[-3], args[-2]
        if role == 0:
            counts.append(n_threads)
            clock.now += clock.cost[n_threads] * 100
        return n_threads

    for _ in range(calls):
        chooser.run(kernel, minibatches=100)
    return counts


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.delenv("SDA_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)


def test_the_chooser_keeps_the_faster_count_and_checks_the_other_now_and_then(two_cpus):
    clock = FakeClock()
    chooser = threads.ThreadChooser(recheck=5, clock=clock)
    # a trial at call 5; it confirms two threads, so the next one waits twice as long (call 15)
    assert chosen_counts(chooser, clock, 16) == [2, 1, 2, 2, 2, 1] + [2] * 9 + [1]
    clock.cost = {1: 1.0, 2: 3.0}  # the second core got busy: the next call, slower, switches to one thread
    # ... and the check comes back to 5 calls later (call 21), then 10 after that (call 31)
    assert chosen_counts(chooser, clock, 16) == [2, 1, 1, 1, 1, 2] + [1] * 9 + [2]


def test_confirmed_choices_are_checked_ever_less_often_up_to_a_limit(two_cpus):
    clock = FakeClock()
    chooser = threads.ThreadChooser(recheck=5, clock=clock, longest_recheck=20)
    counts = chosen_counts(chooser, clock, 80)
    trials = [call for call, count in enumerate(counts) if count == 1]
    assert trials == [1, 5, 15, 35, 55, 75]  # the first timing of one thread, then waits of 5, 10, 20, 20, 20


def test_trials_of_a_thread_count_are_short_calls(two_cpus):
    # trying the slower count costs MEASURED_MINIBATCHES minibatches, not a whole chunk; so does the first call
    clock = FakeClock()
    chooser = threads.ThreadChooser(recheck=5, clock=clock)
    lengths = []
    for _ in range(11):
        lengths.append(chooser.call_length(500))
        chosen_counts(chooser, clock, 1)
    short = threads.MEASURED_MINIBATCHES
    assert lengths == [short, short, 500, 500, 500, short, 500, 500, 500, 500, 500]
    assert chooser.call_length(30) == 30


def test_a_fixed_count_never_shortens_a_call(monkeypatch):
    monkeypatch.setenv("SDA_THREADS", "2")
    assert threads.ThreadChooser().call_length(500) == 500


def test_short_calls_are_not_measured(two_cpus):
    chooser = threads.ThreadChooser(clock=FakeClock())
    chooser.run(lambda *args: None, minibatches=4)
    assert chooser.seconds_per_minibatch == {}


@pytest.mark.parametrize("value, expected", [("1", 1), ("2", 2), (" 2 ", 2)])
def test_sda_threads_fixes_the_count(monkeypatch, value, expected):
    monkeypatch.setenv("SDA_THREADS", value)
    clock = FakeClock()
    assert set(chosen_counts(threads.ThreadChooser(clock=clock), clock, 4)) == {expected}


def test_one_cpu_means_one_thread(monkeypatch):
    monkeypatch.delenv("SDA_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cpus", lambda: 1)
    clock = FakeClock()
    assert set(chosen_counts(threads.ThreadChooser(clock=clock), clock, 4)) == {1}


@pytest.mark.parametrize("value", ["0", "3", "two", "1.5"])
def test_a_bad_sda_threads_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv("SDA_THREADS", value)
    with pytest.raises(UsageError, match="SDA_THREADS must be 1 or 2") as refused:
        threads.ThreadChooser()
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("batch_size", [1, 10])
def test_a_whole_run_gives_the_same_model_on_one_thread_and_on_two(learnable_mnist, tmp_path, monkeypatch,
                                                                     batch_size):
    from sda.configs import SdAConfig
    from sda.recipes.train_sda import run_sda

    models = []
    for n_threads in ("1", "2"):
        monkeypatch.setenv("SDA_THREADS", n_threads)
        out = tmp_path / n_threads
        results = run_sda(SdAConfig(dataset=str(learnable_mnist), output_dir=str(out), n_train=200,
                                    batch_size=batch_size,
                                    hidden_layers=[40, 30], corruption_levels=[0.1, 0.2], pretraining_epochs=1,
                                    training_epochs=2, progress=False))
        assert results["engine"] == "kernels" and results["compiled_fallbacks"] == []
        with numpy.load(out / "model.npz") as model:
            models.append({name: model[name] for name in model.files})
    assert models[0].keys() == models[1].keys()
    for name in models[0]:
        numpy.testing.assert_array_equal(models[0][name], models[1][name], err_msg=name)


@pytest.mark.parametrize("n_rows", [0, 1, 7, 200])
def test_forward_passes_by_rows_on_two_threads_give_the_same_bits(two_cpus, n_rows):
    rng = numpy.random.RandomState(0)
    X = (rng.rand(n_rows, 50) * (rng.rand(n_rows, 50) < 0.3)).astype("float32")
    Ws, bs = typed.List([rng.randn(50, 40).astype("float32"), rng.randn(40, 30).astype("float32")]), typed.List(
        [rng.randn(40).astype("float32"), rng.randn(30).astype("float32")])
    one = kernel_steps.encode(X, Ws, bs)
    numpy.testing.assert_array_equal(threads.by_rows(kernel_steps.encode, X, Ws, bs), one)
    assert one.shape == (n_rows, 30)


def test_an_error_on_the_helper_thread_is_raised_on_the_caller_s(two_cpus):
    def kernel(rows):
        if rows[0] == 5:
            raise ValueError("second half")
        return rows

    with pytest.raises(ValueError, match="second half"):
        threads.by_rows(kernel, numpy.arange(10))
