"""The fast kernels train the same model as the tutorial's compiled functions (within float rounding),
and are checked against the model's own graph before each phase."""

import copy

import numba
import numpy
import pytest

from sda import SdA
from sda.backend import floatX, pytensor
from sda.engines import blas, kernel_steps, kernels
from sda.engines.kernels import FinetuningRunner, KernelEngine, PretrainingRunner
from sda.errors import UsageError
from sda.model_io import param_arrays
from sda.training import minibatch_runner
from sda.tutorial.dA import dA

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
    for name, value in param_arrays(a, with_visible_biases=True).items():
        numpy.testing.assert_allclose(value, param_arrays(b, with_visible_biases=True)[name], err_msg=name,
                                      **TOLERANCE)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_pretraining_kernels_match_the_compiled_functions(batch_size):
    x, _ = data()
    plain, fast = twin_models()
    n_batches = 60 // batch_size
    plain_fns = plain.pretraining_functions(x, batch_size)
    for layer, corruption in enumerate([0.2, 0.3]):
        expected = minibatch_runner(plain_fns[layer], corruption=corruption, lr=0.05)(0, n_batches)
        runner = PretrainingRunner(fast, layer, x, batch_size, corruption, 0.05, chunk=7)
        got = []
        while len(got) < n_batches:
            got.extend(runner(len(got), n_batches))
        numpy.testing.assert_allclose(got, expected, rtol=1e-4)
        assert_same_params(plain, fast)
    # and the noise generators are in the same state afterwards
    assert plain.theano_rng.state_dict() == fast.theano_rng.state_dict()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_masking_noise_is_the_compiled_function_s_uniforms_bit_for_bit(dtype):
    """The kernels draw with ``Generator.random`` into a reused buffer, block by block: the same numbers, in the
    same order, as the graph's ``uniform(0, 1)`` over the whole array, and the generator left in the same state."""
    x, _ = data()
    model = model_of()
    runner = PretrainingRunner(model, 0, x, 1, 0.2, 0.05)
    generator = model.dA_layers[0].noise_rng.get_value(borrow=True)
    twin = copy.deepcopy(generator)
    rows = 2 * (kernels.NOISE_BLOCK_VALUES // 30) + 7  # two whole blocks and part of a third
    for _ in range(2):  # the second call reuses the buffers
        noise = runner._noise(rows, 30, numpy.dtype(dtype))
        expected = twin.uniform(0.0, 1.0, size=(rows, 30)).astype(dtype)
        assert noise.dtype == dtype and numpy.array_equal(noise, expected)
        assert generator.bit_generator.state == twin.bit_generator.state


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
    runner = FinetuningRunner(fast, (x, y), batch_size, 0.1, chunk=5)
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
    runner = FinetuningRunner(fast, (x, y), 2, rate, chunk=30)
    for value in (0.1, 0.03, 0.001):
        rate.set_value(numpy.asarray(value, dtype=floatX))
        minibatch_runner(train_fn)(0, 30)
        runner(0, 30)
        assert_same_params(plain, fast)
    assert runner.learning_rate == numpy.asarray(0.001, dtype=floatX)


class SquaredErrorDA(dA):
    """A learner's variant: the squared reconstruction error instead of the cross-entropy."""

    def get_cost_updates(self, corruption_level, learning_rate):
        from sda.backend import T
        from sda.updates import sgd

        z = self.get_reconstructed_input(self.get_hidden_values(self.get_corrupted_input(self.x, corruption_level)))
        cost = T.mean(T.sum((self.x - z) ** 2, axis=1))
        return cost, sgd(cost, self.params, learning_rate) + self.theano_rng.updates_for(cost)


def model_of(dA_class=dA):
    return SdA(numpy.random.RandomState(3), n_ins=30, hidden_layers_sizes=[20, 15], n_outs=4,
               corruption_levels=[0.2, 0.3], dA_class=dA_class)


def runner_costs(runner, n):
    return list(runner(0, n))


def test_the_check_passes_the_tutorial_model_and_leaves_its_state_untouched():
    x, y = data()
    model = model_of()
    before = param_arrays(model, with_visible_biases=True)
    noise_before = model.theano_rng.state_dict()
    engine = KernelEngine(strict=True)
    runner = engine.pretraining_runner(model, 0, x, 1, 0.2, 0.05, None, log=pytest.fail)
    assert isinstance(runner, PretrainingRunner)
    assert isinstance(engine.finetuning_runner(model, (x, y), 2, 0.1, None, log=pytest.fail), FinetuningRunner)
    after = param_arrays(model, with_visible_biases=True)
    for name in before:
        numpy.testing.assert_array_equal(after[name], before[name], err_msg=name)
    assert model.theano_rng.state_dict() == noise_before
    assert engine.describe()["compiled_fallbacks"] == []


def test_auto_trains_an_edited_cost_with_the_compiled_engine_and_says_so():
    x, _ = data()
    lines = []
    model, twin = model_of(SquaredErrorDA), model_of(SquaredErrorDA)
    runner = KernelEngine(strict=False).pretraining_runner(model, 0, x, 1, 0.2, 0.05, None, log=lines.append)
    assert len(lines) == 1 and "pretraining layer 0" in lines[0] and "compiled engine" in lines[0]
    # what it trains is the squared error: the same costs as the model's own compiled function
    expected = minibatch_runner(twin.pretraining_functions(x, 1)[0], corruption=0.2, lr=0.05)(0, 10)
    numpy.testing.assert_array_equal(runner_costs(runner, 10), expected)


def test_kernels_engine_refuses_an_edited_cost_in_one_line():
    x, _ = data()
    with pytest.raises(UsageError) as refused:
        KernelEngine(strict=True).pretraining_runner(model_of(SquaredErrorDA), 0, x, 1, 0.2, 0.05, None)
    message = str(refused.value)
    assert "\n" not in message and "--engine compiled" in message and "the cost" in message


def test_an_edited_finetuning_graph_falls_back_too():
    """A hidden layer with tanh instead of the sigmoid: the kernels' finetuning does not compute it."""
    from sda.backend import T

    x, y = data()
    model = model_of()
    model.sigmoid_layers[-1].output = T.tanh(model.sigmoid_layers[-1].output)  # an edit the kernels ignore
    from sda.tutorial.logistic_sgd import LogisticRegression

    model.logLayer = LogisticRegression(model.sigmoid_layers[-1].output, 15, 4)
    model.params = model.params[:-2] + model.logLayer.params
    model.finetune_cost = model.logLayer.negative_log_likelihood(model.y)
    model.logLayer.W.set_value(numpy.full((15, 4), 0.1, dtype=floatX) * numpy.arange(4, dtype=floatX))
    lines = []
    KernelEngine(strict=False).finetuning_runner(model, (x, y), 1, 0.1, None, log=lines.append)
    assert len(lines) == 1 and "finetuning" in lines[0]


def trained_model():
    """A model whose predictions vary (random weights give every example the same class)."""
    x, y = data(n=200)
    model = model_of()
    KernelEngine(strict=True).finetuning_runner(model, (x, y), 1, 0.5, None, log=pytest.fail)(0, 200)
    return model, x, y


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_the_kernels_score_every_example_as_the_model_s_graph_does(batch_size):
    from sda.inference import error_scorer

    model, x, y = trained_model()
    ours = KernelEngine(strict=True).error_scorer(model, x, y, batch_size, log=pytest.fail)()
    expected = error_scorer(model, x, y, batch_size)()
    assert ours.shape == (200,) and 0 < ours.sum() < 200  # not a degenerate model
    numpy.testing.assert_array_equal(ours, expected)


def test_an_edited_prediction_is_scored_by_the_model_s_graph():
    """``y_pred`` as the least probable class: the kernels' argmax does not compute it."""
    from sda.backend import T
    from sda.inference import error_scorer

    model, x, y = trained_model()
    model.logLayer.y_pred = T.argmin(model.logLayer.p_y_given_x, axis=1)
    lines = []
    scorer = KernelEngine(strict=False).error_scorer(model, x, y, 10, log=lines.append)
    assert len(lines) == 1 and "errors on" in lines[0] and "predicted class" in lines[0]
    numpy.testing.assert_array_equal(scorer(), error_scorer(model, x, y, 10)())
    with pytest.raises(UsageError, match="--engine compiled"):
        KernelEngine(strict=True).error_scorer(model, x, y, 10)


def test_a_trained_model_s_probabilities_and_codes_come_from_the_kernels():
    from sda import inference
    from sda.engines import kernel_steps
    from sda.engines.kernels import typed_params

    model, x, _ = trained_model()
    rows = x.get_value()
    probabilities, codes = inference.predict_proba(model, rows), inference.encode(model, rows, layer=0)
    # the kernels' bits ...
    Ws, bs = typed_params(model.sigmoid_layers)
    numpy.testing.assert_array_equal(probabilities, kernel_steps.class_probabilities(
        rows, Ws, bs, model.logLayer.W.get_value(), model.logLayer.b.get_value()))
    numpy.testing.assert_array_equal(codes, kernel_steps.encode(rows, *typed_params(model.sigmoid_layers[:1])))
    # ... which are the graph's numbers
    numpy.testing.assert_allclose(probabilities, inference.compiled_function(
        model, "proba", model.logLayer.p_y_given_x)(rows), **TOLERANCE)
    numpy.testing.assert_array_equal(inference.predict(model, rows), probabilities.argmax(axis=1))


def test_an_edited_layer_is_encoded_by_the_model_s_graph():
    from sda import inference
    from sda.backend import T

    model, x, _ = trained_model()
    model.sigmoid_layers[0].output = T.tanh(model.sigmoid_layers[0].output)
    rows = x.get_value()
    expected = inference.compiled_function(model, "check", model.sigmoid_layers[0].output)(rows)
    numpy.testing.assert_array_equal(inference.encode(model, rows, layer=0), expected)


@numba.njit
def reconstruction_terms(s, x):
    """The cross-entropy of the input x reconstructed from the pre-sigmoid s, and its gradient ``z - x``
    w.r.t. s, one input at a time: the reference of the kernels' vectorised rows."""
    e, term = kernel_steps._softplus_terms(s, x)
    return term, kernel_steps._sigmoid_from_exp(s, e) - x


@numba.njit
def unfused_da_steps(X, U, W, b, b_prime, keep, lr):
    """The dA's batch-1 step as three passes over W (forward, reconstruction, update), as the graph computes it:
    the reference of the fused kernel, with the same order of every sum."""
    n_vis, n_hid = W.shape
    costs = numpy.empty(len(X))
    tx, h = numpy.empty(n_vis, W.dtype), numpy.empty(n_hid, W.dtype)
    g, dh, dz = numpy.empty(n_hid, W.dtype), numpy.empty(n_hid, W.dtype), numpy.empty(n_vis, W.dtype)
    for t in range(len(X)):
        kernel_steps._corrupt(X[t], U[t], keep, tx)
        kernel_steps._forward_columns(tx, W, b, h, 0, n_hid, numpy.empty(n_vis, numpy.int64))
        g[:] = 0.0
        cost = 0.0
        for i in range(n_vis):
            term, d = reconstruction_terms(b_prime[i] + blas.dot(W[i], h), X[t, i])
            cost += term
            dz[i] = d
            d_i = dz[i]
            for j in range(n_hid):
                g[j] += d_i * W[i, j]
        costs[t] = cost
        for j in range(n_hid):
            dh[j] = g[j] * h[j] * (1.0 - h[j])
        for i in range(n_vis):
            a, c = lr * tx[i], lr * dz[i]
            for j in range(n_hid):
                W[i, j] -= a * dh[j] + c * h[j]
            b_prime[i] -= c
        for j in range(n_hid):
            b[j] -= lr * dh[j]
    return costs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_fused_da_kernel_gives_the_three_pass_step_s_bits(dtype):
    rng = numpy.random.RandomState(0)
    X = (rng.rand(120, 97) * (rng.rand(120, 97) < 0.3)).astype(dtype)
    U = rng.rand(120, 97).astype(dtype)
    keep, lr = numpy.dtype(dtype).type(0.8), numpy.dtype(dtype).type(0.1)
    fused, unfused = [], []
    for out, train in ((fused, lambda *p: numpy.concatenate([kernel_steps.da_train(X, U, 0, 50, 1, *p, keep, lr),
                                                               kernel_steps.da_train(X, U[50:], 50, 120, 1, *p,
                                                                                     keep, lr)])),
                       (unfused, lambda *p: unfused_da_steps(X, U, *p, keep, lr))):
        W = (numpy.random.RandomState(1).randn(97, 61) * 0.1).astype(dtype)
        b, b_prime = numpy.zeros(61, dtype), numpy.zeros(97, dtype)
        out.extend([train(W, b, b_prime), W, b, b_prime])
    assert fused[0][-1] < fused[0][0]  # it trained
    for name, a, c in zip(("costs", "W", "b", "b_prime"), fused, unfused):
        numpy.testing.assert_array_equal(a, c, err_msg=name)


@numba.njit
def _reconstruction_one_term_at_a_time(s, b_prime, x, terms, dz, start):
    m = s.shape[0]
    for r in range(m):
        for i in range(start, start + s.shape[1]):
            term, d = reconstruction_terms(s[r, i - start] + b_prime[i], x[r, i])
            terms[r, i] = term
            dz[r, i] = d / m


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_reconstruction_rows_are_the_terms_one_at_a_time(dtype):
    # the reconstruction runs in two loops so that LLVM vectorises them: the same bits as the formulas one
    # input at a time, saturated and infinite inputs included
    rng = numpy.random.RandomState(5)
    for scale in (1, 30, 1000):
        s = (rng.randn(6, 50) * scale).astype(dtype)
        s[0, :6] = [0.0, -0.0, numpy.inf, -numpy.inf, 88.7, -104.0]
        b_prime, x = rng.randn(80).astype(dtype), rng.rand(6, 80).astype(dtype)
        x[x < 0.4] = 0.0
        expected_terms, expected_dz = numpy.zeros((6, 80)), numpy.zeros((6, 80), dtype)
        terms, dz = numpy.zeros((6, 80)), numpy.zeros((6, 80), dtype)
        _reconstruction_one_term_at_a_time(s.copy(), b_prime, x, expected_terms, expected_dz, 20)
        kernel_steps._reconstruction_rows(s.copy(), b_prime, x, terms, dz, 20)
        numpy.testing.assert_array_equal(terms.view(numpy.uint8), expected_terms.view(numpy.uint8))
        numpy.testing.assert_array_equal(dz.view(numpy.uint8), expected_dz.view(numpy.uint8))
