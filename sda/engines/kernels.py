"""Fast runners: many minibatches per call, through the Numba kernels of :mod:`sda.engines.kernel_steps`.

They plug into the same loops as the tutorial's compiled functions
(:func:`sda.training.pretrain_sda`, :func:`sda.training.finetune_sda`): a runner
``run(first, stop)`` trains on minibatches ``first`` .. (at most ``first +
chunk``) and returns their costs.  They update the SdA's own shared variables in
place, and draw the masking noise from the dA's own generator, in the same order
and amount as the compiled functions do, so that both paths train the same
model on the same noise (equal within float rounding; ``tests/test_fast.py``).

Pretraining layer ``k > 0`` runs on the outputs of the (frozen) layers below,
computed once for the whole training set when the layer starts — the
tutorial's own suggestion — instead of recomputing them at every minibatch.

At batch sizes above 1 the kernels' BLAS runs on ``blas_threads`` threads
(default: :func:`sda.engines.blas.default_threads`) during each call, and on one
thread otherwise; batch 1 uses no BLAS.
"""

import numpy
from numba import typed

from . import blas, kernel_steps as kernels

# minibatches per kernel call: long enough to make the call's cost negligible,
# short enough that a stop request (Ctrl-C) is answered within a fraction of a second
DEFAULT_CHUNK = 500


def _value(shared):
    return shared.get_value(borrow=True)


def _blas_threads(batch_size, requested):
    if batch_size == 1:
        return blas.num_threads()  # no BLAS call at batch 1: leave it as it is
    if requested is None:
        return blas.default_threads()
    if not 1 <= int(requested) <= blas.MAX_THREADS:
        raise ValueError(f"blas_threads must be from 1 to {blas.MAX_THREADS}, not {requested!r}")
    return int(requested)


class PretrainingRunner:
    """Trains ``sda.dA_layers[layer]`` on minibatches of the training set."""

    def __init__(self, sda, layer, train_set_x, batch_size, corruption_level, learning_rate, chunk=DEFAULT_CHUNK,
                 blas_threads=None):
        self.sda, self.layer, self.train_set_x = sda, layer, train_set_x
        self.batch_size, self.chunk = batch_size, chunk
        self.blas_threads = _blas_threads(batch_size, blas_threads)
        self.dA = sda.dA_layers[layer]
        dtype = _value(self.dA.W).dtype
        # the compiled graph compares float32 uniforms with 1 - c computed in floatX
        self.keep = dtype.type(1) - dtype.type(corruption_level)
        self.learning_rate = dtype.type(learning_rate)
        self.inputs = None

    def layer_inputs(self):
        """The layer's inputs for the whole training set: the data, or the output
        of the frozen layers below (computed on first use, i.e. once they are trained)."""
        if self.inputs is None:
            x = _value(self.train_set_x)
            self.inputs = x if self.layer == 0 else numpy.ascontiguousarray(self.sda.encode(x, layer=self.layer - 1))
        return self.inputs

    def __call__(self, first, stop):
        stop = min(stop, first + self.chunk)
        inputs = self.layer_inputs()
        W = _value(self.dA.W)
        # the same draws, in the same order, as the compiled function's uniform(size=(batch, n_in))
        noise = _value(self.dA.noise_rng).uniform(0.0, 1.0, size=((stop - first) * self.batch_size,
                                                                  inputs.shape[1])).astype(W.dtype)
        if self.batch_size == 1:
            noise = noise.reshape(stop - first, inputs.shape[1])
        with blas.threads(self.blas_threads):
            return kernels.da_train(inputs, noise, first, stop, self.batch_size, W, _value(self.dA.b),
                                    _value(self.dA.b_prime), self.keep, self.learning_rate)


class FinetuningRunner:
    """Finetunes the whole SdA (sigmoid layers and logistic layer) on minibatches.

    ``learning_rate`` is a number, or a shared scalar read at every call (so that
    the rate can change between epochs, as with the compiled functions)."""

    def __init__(self, sda, train_set_x, train_set_y, batch_size, learning_rate, chunk=DEFAULT_CHUNK,
                 blas_threads=None):
        self.sda, self.train_set_x, self.train_set_y = sda, train_set_x, train_set_y
        self.batch_size, self.chunk = batch_size, chunk
        self.blas_threads = _blas_threads(batch_size, blas_threads)
        self.rate = learning_rate

    @property
    def learning_rate(self):
        rate = self.rate.get_value() if hasattr(self.rate, "get_value") else self.rate
        return _value(self.sda.logLayer.W).dtype.type(rate)

    def __call__(self, first, stop):
        stop = min(stop, first + self.chunk)
        Ws, bs = typed.List(), typed.List()
        for layer in self.sda.sigmoid_layers:
            Ws.append(_value(layer.W))
            bs.append(_value(layer.b))
        with blas.threads(self.blas_threads):
            return kernels.mlp_train(_value(self.train_set_x), _value(self.train_set_y), first, stop,
                                     self.batch_size, Ws, bs, _value(self.sda.logLayer.W),
                                     _value(self.sda.logLayer.b), self.learning_rate)
