"""Update rules: plain functions returning a list of ``(shared variable, new value)`` pairs,
ready for ``pytensor.function(..., updates=...)`` (in the style of Lasagne)."""

from .backend import T


def sgd(cost, params, learning_rate):
    """Plain stochastic gradient descent: ``param <- param - learning_rate * d cost / d param``.

    :param cost: a symbolic scalar
    :param params: the shared variables to train
    :param learning_rate: a Python float or a symbolic scalar (a NumPy float64
        would upcast float32 parameters, which PyTensor refuses in an update)
    """
    grads = T.grad(cost, params)
    return [(param, param - learning_rate * grad) for param, grad in zip(params, grads)]
