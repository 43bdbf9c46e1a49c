"""Stacked denoising auto-encoders (the tutorial's ``SdA.py``).

This tutorial introduces stacked denoising auto-encoders (SdA) using PyTensor.
Denoising autoencoders (:mod:`sda.autoencoder`) are the building blocks for SdA:
each layer is pretrained as a dA on the output of the layers below it, then the
stack, topped by a logistic regression layer, is finetuned as an MLP.

References:
   - P. Vincent, H. Larochelle, Y. Bengio, P.A. Manzagol: Extracting and
     Composing Robust Features with Denoising Autoencoders, ICML'08, 1096-1103, 2008
   - P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio, P.A. Manzagol: Stacked
     Denoising Autoencoders: Learning Useful Representations in a Deep Network
     with a Local Denoising Criterion, JMLR 11, 3371-3408, 2010
"""

import numpy

from .autoencoder import dA
from .backend import T, compile_mode, floatX, pytensor, sigmoid, static_shapes
from .layers import HiddenLayer
from .logistic import LogisticRegression
from .minibatches import minibatch
from .random_streams import RandomStreams
from .updates import sgd

# The tutorial's defaults for the inputs of the pretraining functions
# (it declared them with ``theano.In(..., value=...)``, which PyTensor dropped).
DEFAULT_PRETRAIN_CORRUPTION = 0.2
DEFAULT_PRETRAIN_LR = 0.1


def with_defaults(compiled, **defaults):
    """Wrap a compiled function so that the named inputs get default values.

    ``compiled`` stays reachable as ``.compiled`` (e.g. to profile it).
    """

    def call(*args, **kwargs):
        return compiled(*args, **{**defaults, **kwargs})

    call.compiled = compiled
    call.defaults = dict(defaults)
    return call


class SdA:
    """Stacked denoising auto-encoder class (SdA)

    A stacked denoising autoencoder model is obtained by stacking several
    dAs.  The hidden layer of the dA at layer `i` becomes the input of the dA
    at layer `i+1`.  The first layer dA gets as input the input of the SdA,
    and the hidden layer of the last dA represents the output.  Note that
    after pretraining, the SdA is dealt with as a normal MLP, the dAs are only
    used to initialize the weights.
    """

    def __init__(self, numpy_rng, theano_rng=None, n_ins=784, hidden_layers_sizes=[500, 500], n_outs=10,
                 corruption_levels=[0.1, 0.1]):
        """This class is made to support a variable number of layers.

        :type numpy_rng: numpy.random.RandomState
        :param numpy_rng: numpy random number generator used to draw initial weights
        :type theano_rng: sda.random_streams.RandomStreams
        :param theano_rng: symbolic random generator; if None, one is seeded from `numpy_rng`
        :param n_ins: dimension of the input to the sdA
        :param hidden_layers_sizes: intermediate layers size, must contain at least one value
        :param n_outs: dimension of the output of the network
        :param corruption_levels: amount of corruption to use for each layer
        """
        self.sigmoid_layers = []
        self.dA_layers = []
        self.params = []
        self.n_layers = len(hidden_layers_sizes)
        self.n_ins = n_ins
        self.hidden_layers_sizes = list(hidden_layers_sizes)
        self.n_outs = n_outs
        self.corruption_levels = list(corruption_levels)

        assert self.n_layers > 0

        if theano_rng is None:
            theano_rng = RandomStreams(numpy_rng.randint(2 ** 30))
        self.theano_rng = theano_rng

        # the data is presented as rasterized images, the labels as 1D vectors of [int] labels
        self.x = T.matrix("x", dtype=floatX)
        self.y = T.ivector("y")

        # The SdA is an MLP, for which all weights of intermediate layers are
        # shared with a different denoising autoencoder.  We first construct the
        # SdA as a deep multilayer perceptron, and when constructing each
        # sigmoidal layer we also construct a denoising autoencoder that shares
        # weights with that layer.  During pretraining we train these
        # autoencoders (which changes the weights of the MLP as well); during
        # finetuning we finish training the SdA by stochastic gradient descent
        # on the MLP.
        for i in range(self.n_layers):
            # the size of the input is either the number of hidden units of the
            # layer below or the input size if we are on the first layer
            input_size = n_ins if i == 0 else hidden_layers_sizes[i - 1]
            # the input to this layer is either the activation of the hidden
            # layer below or the input of the SdA if you are on the first layer
            layer_input = self.x if i == 0 else self.sigmoid_layers[-1].output

            sigmoid_layer = HiddenLayer(rng=numpy_rng, input=layer_input, n_in=input_size,
                                        n_out=hidden_layers_sizes[i], activation=sigmoid)
            self.sigmoid_layers.append(sigmoid_layer)
            # it's arguably a philosophical question... but we are going to only
            # declare that the parameters of the sigmoid_layers are parameters of
            # the StackedDAA; the visible biases in the dA are parameters of those
            # dA, but not the SdA
            self.params.extend(sigmoid_layer.params)

            # Construct a denoising autoencoder that shared weights with this layer
            dA_layer = dA(numpy_rng=numpy_rng, theano_rng=theano_rng, input=layer_input,
                          n_visible=input_size, n_hidden=hidden_layers_sizes[i],
                          W=sigmoid_layer.W, bhid=sigmoid_layer.b)
            self.dA_layers.append(dA_layer)

        # We now need to add a logistic layer on top of the MLP
        self.logLayer = LogisticRegression(input=self.sigmoid_layers[-1].output,
                                           n_in=hidden_layers_sizes[-1], n_out=n_outs)
        self.params.extend(self.logLayer.params)

        # compute the cost for second phase of training, defined as the negative log likelihood
        self.finetune_cost = self.logLayer.negative_log_likelihood(self.y)
        # compute the gradients with respect to the model parameters; symbolic
        # variable that points to the number of errors made on the minibatch
        # given by self.x and self.y
        self.errors = self.logLayer.errors(self.y)

    def pretraining_functions(self, train_set_x, batch_size):
        """Generates a list of functions, each of them implementing one step in
        training the dA corresponding to the layer with same index.  The
        function will require as input the minibatch index, and to train a dA
        you just need to iterate, calling the corresponding function on all
        minibatch indexes.

        :type train_set_x: shared variable
        :param train_set_x: shared variable that contains all datapoints used for training the dA
        :param batch_size: size of a [mini]batch
        :returns: one callable per layer, ``fn(index, corruption=0.2, lr=0.1)``
            returning the minibatch's reconstruction cost
        """
        index = T.iscalar("index")  # index to a minibatch
        corruption_level = T.scalar("corruption", dtype=floatX)  # % of corruption to use
        learning_rate = T.scalar("lr", dtype=floatX)  # learning rate to use

        pretrain_fns = []
        for dA_layer in self.dA_layers:
            # get the cost and the updates list
            cost, updates = dA_layer.get_cost_updates(corruption_level, learning_rate)
            # compile the theano function
            fn = pytensor.function(
                inputs=[index, corruption_level, learning_rate],
                outputs=cost,
                updates=updates,
                givens={self.x: minibatch(train_set_x, index, batch_size)},
                mode=compile_mode(),
            )
            pretrain_fns.append(with_defaults(fn, corruption=DEFAULT_PRETRAIN_CORRUPTION,
                                              lr=DEFAULT_PRETRAIN_LR))
        return pretrain_fns

    def build_finetune_functions(self, datasets, batch_size, learning_rate, eval_batch_size=None):
        """Generates a function `train` that implements one step of finetuning,
        a function `validate` that computes the error on a batch from the
        validation set, and a function `test` that computes the error on a
        batch from the testing set

        :param datasets: a list of three pairs `(x, y)` of shared variables:
            train, valid, test
        :param batch_size: size of a minibatch
        :param learning_rate: learning rate used during finetune stage
        :param eval_batch_size: minibatch size for validation and testing; it
            changes no result, only speed (default: `batch_size`, as in the tutorial)
        :returns: ``(train_fn, valid_score, test_score)``: ``train_fn(index)``
            takes one SGD step and returns the minibatch cost;
            ``valid_score()`` and ``test_score()`` return the 0/1 error of every
            example of their set, so that ``numpy.mean`` of it is the error rate
        """
        (train_set_x, train_set_y), (valid_set_x, valid_set_y), (test_set_x, test_set_y) = datasets
        eval_batch_size = eval_batch_size or batch_size

        index = T.iscalar("index")  # index to a [mini]batch

        updates = sgd(self.finetune_cost, self.params, learning_rate)
        train_fn = pytensor.function(
            inputs=[index],
            outputs=self.finetune_cost,
            updates=updates,
            givens={self.x: minibatch(train_set_x, index, batch_size),
                    self.y: minibatch(train_set_y, index, batch_size)},
            name="train",
            mode=compile_mode(),
        )
        valid_score = self._error_scorer(valid_set_x, valid_set_y, eval_batch_size, "valid")
        test_score = self._error_scorer(test_set_x, test_set_y, eval_batch_size, "test")
        return train_fn, valid_score, test_score

    def _error_scorer(self, set_x, set_y, batch_size, name):
        """A function scanning a whole shared set, returning each example's 0/1 error.

        Unlike the tutorial, which returned each minibatch's error rate and
        dropped a short last minibatch, this counts every example, so the mean
        is exact for any batch size.
        """
        index = T.iscalar("index")
        wrong = T.neq(self.logLayer.y_pred, self.y)
        fn = pytensor.function(
            [index], wrong,
            givens={self.x: minibatch(set_x, index, batch_size),
                    self.y: minibatch(set_y, index, batch_size)},
            name=name, mode=compile_mode(),
        )
        n_examples = set_x.get_value(borrow=True).shape[0]
        n_calls = -(-n_examples // batch_size)
        last = None
        if static_shapes() and n_examples % batch_size:
            # JAX compiles static shapes: a short last minibatch gets its own
            # function, with a constant index (a slice of known length)
            n_calls -= 1
            last = pytensor.function(
                [], wrong,
                givens={self.x: minibatch(set_x, n_calls, batch_size),
                        self.y: minibatch(set_y, n_calls, batch_size)},
                name=name + "_last", mode=compile_mode(),
            )

        def score():
            return numpy.concatenate([fn(i) for i in range(n_calls)] + ([last()] if last is not None else []))

        score.compiled = fn
        return score

    # ----- parameters as arrays (best-model snapshots, model.npz, checkpoints) -----

    def get_param_arrays(self, with_visible_biases=False):
        """The MLP's parameters as a dict of arrays named as in ``model.npz``:
        ``hidden_W_0, hidden_b_0, ..., logistic_W, logistic_b`` (W is (n_in, n_out)).

        :param with_visible_biases: also the dAs' visible biases
            ``dA_b_prime_0, ...`` (not part of the MLP, but part of a checkpoint)
        """
        # numpy.asarray: on a GPU the values are device arrays
        return {name: numpy.asarray(variable.get_value())
                for name, variable in self._named_params(with_visible_biases).items()}

    def set_param_arrays(self, arrays):
        """Load arrays named as by :meth:`get_param_arrays` into the shared variables."""
        named = self._named_params(with_visible_biases=any(k.startswith("dA_b_prime_") for k in arrays))
        missing = sorted(set(named) - set(arrays))
        if missing:
            raise ValueError(f"missing parameters: {', '.join(missing)}")
        for name, variable in named.items():
            value = numpy.asarray(arrays[name])
            expected = variable.get_value(borrow=True).shape
            if value.shape != expected:
                raise ValueError(f"{name} has shape {value.shape}, the model expects {expected}")
            variable.set_value(value.astype(variable.dtype))

    def _named_params(self, with_visible_biases=False):
        named = {}
        for i, layer in enumerate(self.sigmoid_layers):
            named[f"hidden_W_{i}"] = layer.W
            named[f"hidden_b_{i}"] = layer.b
        named["logistic_W"] = self.logLayer.W
        named["logistic_b"] = self.logLayer.b
        if with_visible_biases:
            for i, dA_layer in enumerate(self.dA_layers):
                named[f"dA_b_prime_{i}"] = dA_layer.b_prime
        return named

    # ----- using a trained model: rebuild from model.npz, predict, encode -----

    @classmethod
    def from_param_arrays(cls, arrays, seed=0):
        """An SdA whose parameters are ``arrays`` (named as in ``model.npz``);
        the layer sizes follow from the arrays' shapes."""
        sizes, i = [], 0
        while f"hidden_W_{i}" in arrays:
            sizes.append(numpy.shape(arrays[f"hidden_W_{i}"])[1])
            i += 1
        if not sizes or "logistic_W" not in arrays:
            raise ValueError("expected arrays hidden_W_0, hidden_b_0, ..., logistic_W, logistic_b")
        n_ins = numpy.shape(arrays["hidden_W_0"])[0]
        n_outs = numpy.shape(arrays["logistic_W"])[1]
        sda = cls(numpy.random.RandomState(seed), n_ins=n_ins, hidden_layers_sizes=sizes, n_outs=n_outs,
                  corruption_levels=[0.0] * len(sizes))
        sda.set_param_arrays(arrays)
        return sda

    def _compiled(self, name, output):
        cache = self.__dict__.setdefault("_compiled_cache", {})
        if name not in cache:
            cache[name] = pytensor.function([self.x], output, mode=compile_mode())
        return cache[name]

    def _in_batches(self, fn, x, batch_size=1000):
        x = numpy.asarray(x, dtype=floatX)
        if x.ndim != 2 or x.shape[1] != self.n_ins:
            raise ValueError(f"expected inputs of shape (n, {self.n_ins}), got {x.shape}")
        return numpy.concatenate([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]) if len(x) else \
            fn(x)

    def predict_proba(self, x):
        """Class probabilities ``p(y | x)``, one row per row of the array ``x``."""
        return self._in_batches(self._compiled("proba", self.logLayer.p_y_given_x), x)

    def predict(self, x):
        """The most probable class of each row of ``x``."""
        return self._in_batches(self._compiled("predict", self.logLayer.y_pred), x)

    def encode(self, x, layer=-1):
        """The hidden representation h(x) of ``layer`` (default: the top one) of each row of ``x``."""
        index = range(self.n_layers)[layer]
        return self._in_batches(self._compiled(f"encode{index}", self.sigmoid_layers[index].output), x)
