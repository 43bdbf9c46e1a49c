"""The fast kernels train the same model as the tutorial's compiled functions (within float rounding)."""

import numpy
import pytest

from sda import SdA
from sda.backend import floatX, pytensor
from sda.engines.kernels import FinetuningRunner, PretrainingRunner
from sda.training import minibatch_runner

TOLERANCE = dict(rtol=2e-4, atol=2e-5) if floatX == "float32" else dict(rtol=1e-9, atol=1e-10)


def data(n=60, n_ins=30, seed=0):
    rng = numpy.random.RandomState(seed)
    x = (rng.rand(n, n_ins) * (rng.rand(n, n_ins) < 0.4)).astype(floatX)  # sparse, like MNIST
    y = rng.randint(0, 4, n).astype("int32")
    return pytensor.shared(x), pytensor.shared(y)


def twin_models(**kwargs):
    make = lambda: SdA(numpy.random.RandomState(3), n_ins=30, hidden_layers_sizes=[20, 15], n_outs=4,  # noqa: E731
                       corruption_levels=[0.2, 0.3], **kwargs)
    return make(), make()


def assert_same_params(a, b):
    for name, value in a.get_param_arrays(with_visible_biases=True).items():
        numpy.testing.assert_allclose(value, b.get_param_arrays(with_visible_biases=True)[name], err_msg=name,
                                      **TOLERANCE)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_pretraining_kernels_match_the_compiled_functions(batch_size):
    x, _ = data()
    plain, fast = twin_models()
    n_batches = 60 // batch_size
    plain_fns = plain.pretraining_functions(x, batch_size)
    fast.pretraining_functions(x, batch_size)  # creates the noise generators the kernels draw from
    for layer, corruption in enumerate([0.2, 0.3]):
        expected = minibatch_runner(plain_fns[layer], corruption=corruption, lr=0.05)(0, n_batches)
        runner = PretrainingRunner(fast, layer, x, batch_size, corruption, 0.05, chunk=7)
        got = []
        while len(got) < n_batches:
            got.extend(runner(len(got), n_batches))
        numpy.testing.assert_allclose(got, expected, rtol=1e-4)
        assert_same_params(plain, fast)
    # and the noise generators are in the same state afterwards
    for p, f in zip(plain.theano_rng.get_state(), fast.theano_rng.get_state()):
        assert p == f


@pytest.mark.parametrize("batch_size", [1, 4])
def test_finetuning_kernels_match_the_compiled_function(batch_size):
    x, y = data()
    plain, fast = twin_models()
    rng = numpy.random.RandomState(1)
    for model in (plain, fast):  # non-zero logistic weights, same for both
        model.logLayer.W.set_value(numpy.asarray(numpy.random.RandomState(1).uniform(-0.3, 0.3, (15, 4)), floatX))
    n_batches = 60 // batch_size
    train_fn = plain.build_finetune_functions([(x, y)] * 3, batch_size, 0.1)[0]
    expected = minibatch_runner(train_fn)(0, n_batches)
    runner = FinetuningRunner(fast, x, y, batch_size, 0.1, chunk=5)
    got = []
    while len(got) < n_batches:
        got.extend(runner(len(got), n_batches))
    numpy.testing.assert_allclose(got, expected, rtol=1e-4)
    assert_same_params(plain, fast)
    del rng


def test_a_decaying_rate_reaches_kernels_and_compiled_function_alike():
    """The finetuning rate is a shared variable both paths read at every call."""
    x, y = data()
    plain, fast = twin_models()
    rate = pytensor.shared(numpy.asarray(0.1, dtype=floatX))
    train_fn = plain.build_finetune_functions([(x, y)] * 3, 2, rate)[0]
    runner = FinetuningRunner(fast, x, y, 2, rate, chunk=30)
    for value in (0.1, 0.03, 0.001):
        rate.set_value(numpy.asarray(value, dtype=floatX))
        minibatch_runner(train_fn)(0, 30)
        runner(0, 30)
        assert_same_params(plain, fast)
    assert runner.learning_rate == numpy.asarray(0.001, dtype=floatX)
