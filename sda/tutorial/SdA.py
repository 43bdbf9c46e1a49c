"""Stacked denoising auto-encoders (the tutorial's ``SdA.py``).

This tutorial introduces stacked denoising auto-encoders (SdA) using PyTensor.
Denoising autoencoders (:mod:`sda.tutorial.dA`) are the building blocks for SdA:
each layer is pretrained as a dA on the output of the layers below it, then the
stack, topped by a logistic regression layer, is finetuned as an MLP.

References:
   - P. Vincent, H. Larochelle, Y. Bengio, P.A. Manzagol: Extracting and
     Composing Robust Features with Denoising Autoencoders, ICML'08, 1096-1103, 2008
   - P. Vincent, H. Larochelle, I. Lajoie, Y. Bengio, P.A. Manzagol: Stacked
     Denoising Autoencoders: Learning Useful Representations in a Deep Network
     with a Local Denoising Criterion, JMLR 11, 3371-3408, 2010
"""

import os

import numpy

from ..backend import T, floatX, pytensor, sigmoid
from ..minibatches import minibatch
from ..random_streams import RandomStreams
from ..updates import sgd
from .dA import dA
from .logistic_sgd import LogisticRegression
from .mlp import HiddenLayer

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
                 corruption_levels=[0.1, 0.1], dA_class=dA):
        """This class is made to support a variable number of layers.

        :type numpy_rng: numpy.random.RandomState
        :param numpy_rng: numpy random number generator used to draw initial weights
        :type theano_rng: sda.random_streams.RandomStreams
        :param theano_rng: symbolic random generator; if None, one is seeded from `numpy_rng`
        :param n_ins: dimension of the input to the sdA
        :param hidden_layers_sizes: intermediate layers size, must contain at least one value
        :param n_outs: dimension of the output of the network
        :param corruption_levels: amount of corruption to use for each layer
        :param dA_class: the class of the layers' denoising autoencoders: a
            subclass of :class:`dA` (another cost, another noise) trains the
            same stack its own way
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
            dA_layer = dA_class(numpy_rng=numpy_rng, theano_rng=theano_rng, input=layer_input,
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
            )
            # append `fn` to the list of functions
            pretrain_fns.append(with_defaults(fn, corruption=DEFAULT_PRETRAIN_CORRUPTION,
                                              lr=DEFAULT_PRETRAIN_LR))
        return pretrain_fns

    def build_finetune_functions(self, datasets, batch_size, learning_rate):
        """Generates a function `train` that implements one step of finetuning,
        a function `validate` that computes the error on a batch from the
        validation set, and a function `test` that computes the error on a
        batch from the testing set

        :param datasets: a list of three pairs `(x, y)` of shared variables:
            train, valid, test
        :param batch_size: size of a minibatch
        :param learning_rate: learning rate used during finetune stage
        :returns: ``(train_fn, valid_score, test_score)``: ``train_fn(index)``
            takes one SGD step and returns the minibatch cost; ``valid_score()``
            and ``test_score()`` return the error rate of every minibatch of
            their set (a short last minibatch is left out, as in the tutorial)
        """
        (train_set_x, train_set_y), (valid_set_x, valid_set_y), (test_set_x, test_set_y) = datasets

        # compute number of minibatches for validation and testing
        n_valid_batches = valid_set_x.get_value(borrow=True).shape[0] // batch_size
        n_test_batches = test_set_x.get_value(borrow=True).shape[0] // batch_size

        index = T.iscalar("index")  # index to a [mini]batch

        # compute list of fine-tuning updates
        updates = sgd(self.finetune_cost, self.params, learning_rate)

        train_fn = pytensor.function(
            inputs=[index],
            outputs=self.finetune_cost,
            updates=updates,
            givens={self.x: minibatch(train_set_x, index, batch_size),
                    self.y: minibatch(train_set_y, index, batch_size)},
            name="train",
        )
        test_score_i = pytensor.function(
            [index], self.errors,
            givens={self.x: minibatch(test_set_x, index, batch_size),
                    self.y: minibatch(test_set_y, index, batch_size)},
            name="test",
        )
        valid_score_i = pytensor.function(
            [index], self.errors,
            givens={self.x: minibatch(valid_set_x, index, batch_size),
                    self.y: minibatch(valid_set_y, index, batch_size)},
            name="valid",
        )

        # Create a function that scans the entire validation set
        def valid_score():
            return [valid_score_i(i) for i in range(n_valid_batches)]

        # Create a function that scans the entire test set
        def test_score():
            return [test_score_i(i) for i in range(n_test_batches)]

        return train_fn, valid_score, test_score


def test_SdA(finetune_lr=0.1, pretraining_epochs=15, pretrain_lr=0.001, training_epochs=1000, dataset=None,
             batch_size=1, hidden_layers_sizes=(1000, 1000, 1000), corruption_levels=(0.1, 0.2, 0.3), seed=89677,
             n_train=None):
    """The tutorial's ``test_SdA``, kept as it was written: pretrain layer by
    layer, then finetune with early stopping, one compiled call per minibatch.

    ``scripts/train_sda.py`` runs the same procedure (:func:`sda.recipes.run_sda`)
    with checkpoints, engines and result files; ``tests/test_tutorial.py`` checks
    that both train the same parameters.  The parameters after the layer sizes
    were constants in the tutorial.

    :param dataset: anything :func:`sda.data.load_data` reads (default: MNIST)
    :returns: ``(sda, best_validation_loss, test_score)``
    """
    import sys
    import timeit

    from ..data import load_data

    datasets = load_data(dataset, n_train=n_train)

    train_set_x, train_set_y = datasets[0]
    valid_set_x, valid_set_y = datasets[1]
    test_set_x, test_set_y = datasets[2]

    # compute number of minibatches for training, validation and testing
    n_train_batches = train_set_x.get_value(borrow=True).shape[0]
    n_train_batches //= batch_size

    # numpy random generator
    numpy_rng = numpy.random.RandomState(seed)
    print("... building the model")
    # construct the stacked denoising autoencoder class
    sda = SdA(
        numpy_rng=numpy_rng,
        n_ins=train_set_x.get_value(borrow=True).shape[1],
        hidden_layers_sizes=list(hidden_layers_sizes),
        n_outs=int(max(y.get_value(borrow=True).max() for _, y in datasets)) + 1,
        corruption_levels=list(corruption_levels),
    )
    #########################
    # PRETRAINING THE MODEL #
    #########################
    print("... getting the pretraining functions")
    pretraining_fns = sda.pretraining_functions(train_set_x=train_set_x, batch_size=batch_size)

    print("... pre-training the model")
    start_time = timeit.default_timer()
    ## Pre-train layer-wise
    for i in range(sda.n_layers):
        # go through pretraining epochs
        for epoch in range(pretraining_epochs):
            # go through the training set
            c = []
            for batch_index in range(n_train_batches):
                c.append(pretraining_fns[i](index=batch_index, corruption=corruption_levels[i], lr=pretrain_lr))
            print("Pre-training layer %i, epoch %d, cost %f" % (i, epoch, numpy.mean(c, dtype="float64")))

    end_time = timeit.default_timer()

    print("The pretraining code for file " + os.path.split(__file__)[1]
          + " ran for %.2fm" % ((end_time - start_time) / 60.0), file=sys.stderr)

    ########################
    # FINETUNING THE MODEL #
    ########################

    # get the training, validation and testing function for the model
    print("... getting the finetuning functions")
    train_fn, validate_model, test_model = sda.build_finetune_functions(
        datasets=datasets, batch_size=batch_size, learning_rate=finetune_lr)

    print("... finetuning the model")
    # early-stopping parameters
    patience = 10 * n_train_batches  # look as this many examples regardless
    patience_increase = 2.0  # wait this much longer when a new best is found
    improvement_threshold = 0.995  # a relative improvement of this much is considered significant
    validation_frequency = min(n_train_batches, patience // 2)
    # go through this many minibatches before checking the network on the
    # validation set; in this case we check every epoch

    best_validation_loss = numpy.inf
    best_iter = 0
    test_score = 0.0
    start_time = timeit.default_timer()

    done_looping = False
    epoch = 0

    while (epoch < training_epochs) and (not done_looping):
        epoch = epoch + 1
        for minibatch_index in range(n_train_batches):
            train_fn(minibatch_index)
            iter = (epoch - 1) * n_train_batches + minibatch_index

            if (iter + 1) % validation_frequency == 0:
                validation_losses = validate_model()
                this_validation_loss = numpy.mean(validation_losses, dtype="float64")
                print("epoch %i, minibatch %i/%i, validation error %f %%"
                      % (epoch, minibatch_index + 1, n_train_batches, this_validation_loss * 100.0))

                # if we got the best validation score until now
                if this_validation_loss < best_validation_loss:
                    # improve patience if loss improvement is good enough
                    if this_validation_loss < best_validation_loss * improvement_threshold:
                        patience = max(patience, iter * patience_increase)

                    # save best validation score and iteration number
                    best_validation_loss = this_validation_loss
                    best_iter = iter

                    # test it on the test set
                    test_losses = test_model()
                    test_score = numpy.mean(test_losses, dtype="float64")
                    print("     epoch %i, minibatch %i/%i, test error of best model %f %%"
                          % (epoch, minibatch_index + 1, n_train_batches, test_score * 100.0))

            if patience <= iter:
                done_looping = True
                break

    end_time = timeit.default_timer()
    print("Optimization complete with best validation score of %f %%, on iteration %i, with test performance %f %%"
          % (best_validation_loss * 100.0, best_iter + 1, test_score * 100.0))
    print("The training code for file " + os.path.split(__file__)[1]
          + " ran for %.2fm" % ((end_time - start_time) / 60.0), file=sys.stderr)
    return sda, best_validation_loss, test_score
