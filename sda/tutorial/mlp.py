"""A fully connected hidden layer (the tutorial's ``mlp.py``)."""

import numpy

from ..backend import T, floatX, pytensor, sigmoid


class HiddenLayer:
    def __init__(self, rng, input, n_in, n_out, W=None, b=None, activation=T.tanh):
        """Typical hidden layer of an MLP: units are fully connected and have
        a sigmoidal activation function. Weight matrix W is of shape (n_in, n_out)
        and the bias vector b is of shape (n_out,).

        Hidden unit activation is given by: activation(dot(input, W) + b)

        :type rng: numpy.random.RandomState
        :param rng: a random number generator used to initialize weights
        :param input: a symbolic tensor of shape (n_examples, n_in)
        :param n_in: dimensionality of input
        :param n_out: number of hidden units
        :param W, b: shared variables to use instead of new ones (this is how
            the SdA makes a sigmoid layer and a dA share their parameters)
        :param activation: non linearity to be applied in the hidden layer
        """
        self.input = input

        if W is None:
            # Glorot & Bengio (2010): uniform in +-sqrt(6 / (fan_in + fan_out)) for
            # tanh, four times wider for the sigmoid, whose slope at 0 is 1/4.
            bound = numpy.sqrt(6.0 / (n_in + n_out))
            if activation in (sigmoid, T.sigmoid):
                bound *= 4
            W_values = numpy.asarray(rng.uniform(low=-bound, high=bound, size=(n_in, n_out)), dtype=floatX)
            W = pytensor.shared(value=W_values, name="W", borrow=True)

        if b is None:
            b = pytensor.shared(value=numpy.zeros((n_out,), dtype=floatX), name="b", borrow=True)

        self.W = W
        self.b = b

        lin_output = T.dot(input, self.W) + self.b
        self.output = lin_output if activation is None else activation(lin_output)
        self.params = [self.W, self.b]
