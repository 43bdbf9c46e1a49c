"""Multi-class logistic regression, the SdA's output layer (the tutorial's ``logistic_sgd.py``).

The tutorial's ``load_data`` lives in :mod:`sda.data` (it reads any dataset format);
it is imported here so that ``from sda.tutorial.logistic_sgd import load_data`` works
as in the tutorial.
"""

import numpy

from ..backend import T, floatX, pytensor, softmax
from ..data import load_data  # noqa: F401  (the tutorial defines it in this file)


class LogisticRegression:
    """Multi-class Logistic Regression Class

    The logistic regression is fully described by a weight matrix :math:`W`
    and bias vector :math:`b`. Classification is done by projecting data
    points onto a set of hyperplanes, the distance to which is used to
    determine a class membership probability.
    """

    def __init__(self, input, n_in, n_out):
        """Initialize the parameters of the logistic regression

        :param input: symbolic variable that describes the input of the
            architecture (one minibatch, one example per row)
        :param n_in: number of input units, the dimension of the space in
            which the datapoints lie
        :param n_out: number of output units, the dimension of the space in
            which the labels lie
        """
        # the weights and biases start at zero, as in the tutorial
        self.W = pytensor.shared(numpy.zeros((n_in, n_out), dtype=floatX), name="W", borrow=True)
        self.b = pytensor.shared(numpy.zeros((n_out,), dtype=floatX), name="b", borrow=True)

        # class-membership probabilities, one row per example
        # (axis=-1: PyTensor's softmax would otherwise normalise the whole matrix)
        self.p_y_given_x = softmax(T.dot(input, self.W) + self.b)

        # the most probable class of each example
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)

        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        """The mean negative log-likelihood of the correct labels under the model.

        .. math::
            \\ell(\\theta=\\{W,b\\}, \\mathcal{D}) = -\\frac{1}{|\\mathcal{D}|}
            \\sum_{i=0}^{|\\mathcal{D}|} \\log(P(Y=y^{(i)}|x^{(i)}, W,b))

        We use the mean instead of the sum so that the learning rate is less
        dependent on the batch size.

        :param y: vector giving the correct label of each example
        """
        self._check_labels(y)
        # T.arange(y.shape[0]) picks, in each row, the log-probability of the correct class
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """The fraction of examples in the minibatch that the model gets wrong
        (the zero-one loss averaged over the minibatch).

        :param y: vector giving the correct label of each example
        """
        self._check_labels(y)
        return T.mean(T.neq(self.y_pred, y))

    def _check_labels(self, y):
        if y.ndim != self.y_pred.ndim:
            raise TypeError(
                f"y should have the same shape as self.y_pred: a vector of labels, got a {y.ndim}-d {y.type}")
        if not y.dtype.startswith("int"):
            raise TypeError(f"y should hold integer labels (e.g. T.ivector), got dtype {y.dtype}")
