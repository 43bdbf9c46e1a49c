"""The tutorial's classes: shapes, dtypes, shared parameters, gradients, noise."""

import re

import numpy
import pytest

from sda import SdA, HiddenLayer, LogisticRegression, dA
from sda.backend import T, floatX, pytensor, sigmoid
from sda.random_streams import RandomStreams


def small_sda(seed=1, n_ins=12, sizes=(8, 6), n_outs=3):
    return SdA(numpy.random.RandomState(seed), n_ins=n_ins, hidden_layers_sizes=list(sizes), n_outs=n_outs,
               corruption_levels=[0.1] * len(sizes))


def shared(values, dtype=floatX):
    return pytensor.shared(numpy.asarray(values, dtype=dtype), borrow=True)


def test_logistic_regression_starts_at_zero_and_predicts_uniformly():
    x = T.matrix("x", dtype=floatX)
    clf = LogisticRegression(x, n_in=5, n_out=4)
    assert clf.W.get_value().shape == (5, 4) and not clf.W.get_value().any()
    assert clf.b.get_value().shape == (4,) and clf.W.dtype == floatX
    p = pytensor.function([x], clf.p_y_given_x)(numpy.ones((3, 5), dtype=floatX))
    numpy.testing.assert_allclose(p, 0.25, rtol=1e-6)


def test_softmax_is_row_wise():
    x = T.matrix("x", dtype=floatX)
    clf = LogisticRegression(x, n_in=2, n_out=3)
    clf.W.set_value(numpy.arange(6, dtype=floatX).reshape(2, 3))
    p = pytensor.function([x], clf.p_y_given_x)(numpy.random.rand(4, 2).astype(floatX))
    numpy.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_logistic_errors_and_nll_values():
    x = T.matrix("x", dtype=floatX)
    y = T.ivector("y")
    clf = LogisticRegression(x, n_in=2, n_out=2)
    clf.W.set_value(numpy.array([[1, -1], [-1, 1]], dtype=floatX))
    f = pytensor.function([x, y], [clf.errors(y), clf.negative_log_likelihood(y)])
    xs = numpy.array([[2, 0], [0, 2]], dtype=floatX)
    err, nll = f(xs, numpy.array([0, 0], dtype="int32"))
    assert err == pytest.approx(0.5)
    # p(correct) = sigmoid(4) for the first row, sigmoid(-4) for the second
    expected = -(numpy.log(1 / (1 + numpy.exp(-4))) + numpy.log(1 / (1 + numpy.exp(4)))) / 2
    assert nll == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("bad_y", [T.matrix("y", dtype="int32"), T.vector("y", dtype=floatX)])
def test_logistic_refuses_labels_of_wrong_rank_or_dtype(bad_y):
    clf = LogisticRegression(T.matrix("x", dtype=floatX), n_in=2, n_out=2)
    with pytest.raises(TypeError, match="y should"):
        clf.errors(bad_y)


def test_hidden_layer_initialisation_ranges():
    rng = numpy.random.RandomState(0)
    x = T.matrix("x", dtype=floatX)
    tanh_layer = HiddenLayer(rng, x, 300, 200)
    sig_layer = HiddenLayer(rng, x, 300, 200, activation=sigmoid)
    bound = numpy.sqrt(6.0 / 500)
    w = tanh_layer.W.get_value()
    assert w.shape == (300, 200) and w.dtype == floatX
    assert numpy.abs(w).max() <= bound and numpy.abs(w).max() > 0.95 * bound
    assert numpy.abs(sig_layer.W.get_value()).max() > 0.95 * 4 * bound
    out = pytensor.function([x], sig_layer.output)(numpy.zeros((2, 300), dtype=floatX))
    numpy.testing.assert_allclose(out, 0.5)


def test_dA_shapes_tied_weights_and_output_ranges():
    da = dA(numpy.random.RandomState(1), n_visible=10, n_hidden=4)
    assert da.W.get_value().shape == (10, 4)
    assert da.b.get_value().shape == (4,) and da.b_prime.get_value().shape == (10,)
    assert all(p.dtype == floatX for p in da.params)
    h = da.get_hidden_values(da.x)
    z = da.get_reconstructed_input(h)
    xs = numpy.random.RandomState(2).rand(5, 10).astype(floatX)
    hv, zv = pytensor.function([da.x], [h, z])(xs)
    assert hv.shape == (5, 4) and zv.shape == (5, 10) and zv.dtype == floatX
    assert (zv > 0).all() and (zv < 1).all()
    W = da.W.get_value()
    numpy.testing.assert_allclose(zv, 1 / (1 + numpy.exp(-(hv @ W.T))), rtol=1e-4)


def test_corruption_keeps_one_minus_c_of_the_inputs():
    da = dA(numpy.random.RandomState(1), n_visible=1000, n_hidden=2)
    noisy = da.get_corrupted_input(da.x, 0.3)
    corrupt = pytensor.function([da.x], noisy, updates=da.theano_rng.updates_for(noisy))
    ones = numpy.ones((200, 1000), dtype=floatX)
    first, second = corrupt(ones), corrupt(ones)
    assert set(numpy.unique(first)) <= {0.0, 1.0}
    assert first.mean() == pytest.approx(0.7, abs=0.005)
    assert not numpy.array_equal(first, second), "the noise must change from call to call"


def test_same_seed_same_noise():
    def draw():
        stream = RandomStreams(42)
        sample = stream.uniform(size=(3,))
        return pytensor.function([], sample, updates=stream.updates_for(sample))()

    numpy.testing.assert_array_equal(draw(), draw())


def test_random_stream_state_round_trip():
    stream = RandomStreams(7)
    sample = stream.uniform(size=(4,))
    f = pytensor.function([], sample, updates=stream.updates_for(sample))
    f()
    state = stream.state_dict()
    a = f()
    stream.load_state_dict(state)
    numpy.testing.assert_array_equal(a, f())


def test_a_dA_owns_its_noise_generator_from_the_start():
    """The generator exists before any function is compiled, and every function
    built from the dA draws from it (no new generator per graph)."""
    da = dA(numpy.random.RandomState(1), n_visible=5, n_hidden=2)
    assert da.theano_rng.generators == [da.noise_rng]
    for _ in range(2):
        cost, updates = da.get_cost_updates(0.3, 0.1)
        assert [rng for rng, _ in updates if rng in da.theano_rng.generators] == [da.noise_rng]
    assert da.theano_rng.generators == [da.noise_rng]


def test_two_draws_from_one_generator_in_one_function_are_refused():
    stream = RandomStreams(3)
    rng = stream.generator()
    total = stream.uniform(size=(2,), rng=rng) + stream.uniform(size=(2,), rng=rng)
    with pytest.raises(ValueError, match="draws twice"):
        stream.updates_for(total)


def numeric_grad(f, params, eps):
    grads = []
    for p in params:
        value = p.get_value()
        g = numpy.zeros_like(value, dtype="float64")
        for idx in numpy.ndindex(value.shape):
            for sign in (+1, -1):
                v = value.copy()
                v[idx] += sign * eps
                p.set_value(v)
                g[idx] += sign * f() / (2 * eps)
            p.set_value(value)
        grads.append(g)
    return grads


def test_dA_gradient_matches_finite_differences():
    # corruption 0 makes the cost deterministic, so it can be differentiated numerically
    da = dA(numpy.random.RandomState(3), n_visible=6, n_hidden=3)
    cost, updates = da.get_cost_updates(corruption_level=0.0, learning_rate=1.0)
    xs = numpy.random.RandomState(4).rand(4, 6).astype(floatX)
    cost_fn = pytensor.function([da.x], cost)
    grad_fn = pytensor.function([da.x], T.grad(cost, da.params))
    eps = 1e-3 if floatX == "float32" else 1e-6
    expected = numeric_grad(lambda: float(cost_fn(xs)), da.params, eps)
    for g, e in zip(grad_fn(xs), expected):
        numpy.testing.assert_allclose(g, e, rtol=2e-2, atol=2e-3)
    # and the update is exactly one SGD step
    new_W = dict(updates)[da.W]
    W0 = da.W.get_value()
    numpy.testing.assert_allclose(pytensor.function([da.x], new_W)(xs), W0 - grad_fn(xs)[0], rtol=1e-5, atol=1e-6)


def test_finetune_gradient_matches_finite_differences():
    sda = small_sda(n_ins=5, sizes=(4, 3), n_outs=3)
    rng = numpy.random.RandomState(5)
    for p in sda.params:  # non-zero logistic weights so every gradient is informative
        p.set_value((p.get_value() + rng.uniform(-0.5, 0.5, p.get_value().shape)).astype(floatX))
    xs = rng.rand(6, 5).astype(floatX)
    ys = rng.randint(0, 3, 6).astype("int32")
    cost_fn = pytensor.function([sda.x, sda.y], sda.finetune_cost)
    grad_fn = pytensor.function([sda.x, sda.y], T.grad(sda.finetune_cost, sda.params))
    eps = 1e-3 if floatX == "float32" else 1e-6
    expected = numeric_grad(lambda: float(cost_fn(xs, ys)), sda.params, eps)
    for g, e in zip(grad_fn(xs, ys), expected):
        numpy.testing.assert_allclose(g, e, rtol=2e-2, atol=2e-3)


def test_sda_layers_share_the_very_same_variables():
    sda = small_sda()
    for sig, da in zip(sda.sigmoid_layers, sda.dA_layers):
        assert sig.W is da.W and sig.b is da.b
    assert sda.params == [v for layer in sda.sigmoid_layers for v in (layer.W, layer.b)] + \
        [sda.logLayer.W, sda.logLayer.b]
    assert sda.dA_layers[1].x is sda.sigmoid_layers[0].output


def test_pretraining_a_layer_changes_the_mlp_output():
    sda = small_sda()
    data = shared(numpy.random.RandomState(0).rand(20, 12))
    fns = sda.pretraining_functions(data, batch_size=5)
    assert len(fns) == 2
    hidden = pytensor.function([sda.x], sda.sigmoid_layers[-1].output)
    xs = data.get_value()
    before = hidden(xs)
    fns[0](0, corruption=0.2, lr=0.5)
    assert not numpy.allclose(before, hidden(xs))


def test_pretraining_defaults_are_the_tutorials():
    sda = small_sda()
    fns = sda.pretraining_functions(shared(numpy.zeros((4, 12))), batch_size=2)
    assert fns[0].defaults == {"corruption": 0.2, "lr": 0.1}
    assert numpy.isfinite(fns[1](1))


def test_finetune_functions_score_minibatches_as_the_tutorial():
    sda = small_sda()
    rng = numpy.random.RandomState(0)
    sets = [(shared(rng.rand(n, 12)), shared(rng.randint(0, 3, n), "int32")) for n in (10, 7, 5)]
    train_fn, valid_score, test_score = sda.build_finetune_functions(sets, batch_size=2, learning_rate=0.1)
    # weights start at zero in the logistic layer: every example gets class 0;
    # one error rate per full minibatch, a short last one left out
    wrong = sets[1][1].get_value() != 0
    numpy.testing.assert_allclose(valid_score(), [wrong[0:2].mean(), wrong[2:4].mean(), wrong[4:6].mean()])
    assert len(test_score()) == 2
    assert numpy.isfinite(train_fn(0))


def test_error_scorer_scores_every_example():
    from sda.inference import error_scorer

    sda = small_sda()
    rng = numpy.random.RandomState(0)
    x, y = shared(rng.rand(7, 12)), shared(rng.randint(0, 3, 7), "int32")
    score = error_scorer(sda, x, y, batch_size=3)
    numpy.testing.assert_array_equal(score(), y.get_value() != 0)


def test_param_arrays_round_trip():
    from sda.model_io import param_arrays, set_param_arrays

    sda, other = small_sda(seed=1), small_sda(seed=2)
    arrays = param_arrays(sda)
    assert sorted(arrays) == ["hidden_W_0", "hidden_W_1", "hidden_b_0", "hidden_b_1", "logistic_W", "logistic_b"]
    assert arrays["hidden_W_0"].shape == (12, 8)
    set_param_arrays(other, arrays)
    for name, value in param_arrays(other).items():
        numpy.testing.assert_array_equal(value, arrays[name])


def test_sda_builds_its_layers_from_the_given_dA_class():
    class SquaredErrorDA(dA):
        pass

    sda = SdA(numpy.random.RandomState(1), n_ins=12, hidden_layers_sizes=[8, 6], n_outs=3,
              corruption_levels=[0.1, 0.1], dA_class=SquaredErrorDA)
    assert all(type(layer) is SquaredErrorDA for layer in sda.dA_layers)
    assert sda.dA_layers[0].W is sda.sigmoid_layers[0].W


def test_pretraining_noise_is_fresh_at_every_step():
    sda = small_sda()
    data = shared(numpy.random.RandomState(0).rand(4, 12))
    fn = sda.pretraining_functions(data, batch_size=4)[0]
    # with a zero learning rate only the noise can change the cost
    costs = {float(fn(0, corruption=0.5, lr=0.0)) for _ in range(3)}
    assert len(costs) == 3


@pytest.mark.parametrize("name, shape", [("hidden_W_0", (4,)), ("hidden_W_1", ()), ("logistic_W", (3, 2, 1))])
def test_a_model_file_whose_weights_are_not_matrices_is_one_clear_line(tmp_path, name, shape):
    from sda.errors import DataError
    from sda.model_io import load_model

    arrays = {"hidden_W_0": numpy.zeros((4, 3)), "hidden_b_0": numpy.zeros(3), "hidden_W_1": numpy.zeros((3, 2)),
              "hidden_b_1": numpy.zeros(2), "logistic_W": numpy.zeros((2, 5)), "logistic_b": numpy.zeros(5)}
    arrays[name] = numpy.zeros(shape)
    numpy.savez(tmp_path / "model.npz", **arrays)
    with pytest.raises(DataError, match=rf"is not an SdA model: {name} has shape {re.escape(str(shape))}, but a "
                                        r"weight matrix \(inputs x units\) has two dimensions"):
        load_model(str(tmp_path))
