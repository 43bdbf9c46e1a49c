"""Many minibatches per compiled call: a ``pytensor.scan`` over minibatch indices
with the SGD updates inside (the engine for device=cuda; also runs on the CPU).

On a GPU a per-minibatch function call costs far more than the minibatch's
arithmetic at batch size 1 (launch and Python overhead).  Here one call trains
on a whole *chunk* of minibatches: the JAX back end turns the scan into one
``lax.scan`` on the device, the parameters and the noise generator being the
scan's states and the shared variables getting their final values once per
chunk.  The step graph is the package's own (``dA.get_cost_updates`` and
``sgd(finetune_cost)``), the shared variables replaced by scan states, so a
chunk of K minibatches does what K calls of the tutorial's step function do
(with the JAX back end's random numbers).

JAX compiles one program per chunk length (the number of scan steps is static):
one chunk size is used, and the last, shorter chunk of an epoch compiles once more.
"""
import numpy

from . import register
from .compiled import CompiledEngine

# minibatches per compiled call (a multiple of the 1000 used for validation)
DEFAULT_CHUNK = 5000


def _scan_updates(step_graph, states, givens, indices):
    """``(costs, updates)`` looping ``step_graph`` = (cost, [new state...]) over ``indices``."""
    from pytensor.graph.replace import clone_replace

    from ..backend import T, pytensor

    cost, new_states = step_graph

    def step(i, *old):
        replace = dict(zip(states, old))
        replace.update({var: value(i) for var, value in givens.items()})
        return clone_replace([cost, *new_states], replace=replace)

    outputs = pytensor.scan(step, sequences=[indices], outputs_info=[None, *states], return_updates=False)
    costs, finals = outputs[0], outputs[1:]
    # tensor states come back as sequences (keep the last); a generator state as its final value
    return costs, [(s, f[-1] if isinstance(f, T.TensorVariable) else f) for s, f in zip(states, finals)]


def pretraining_chunk_function(model, layer, train_set_x, batch_size):
    """``fn(indices, corruption, lr)`` trains ``model.dA_layers[layer]`` on the
    minibatches ``indices`` (an int32 array) in one call and returns their costs."""
    from ..backend import T, floatX, pytensor
    from ..minibatches import minibatch

    indices = T.ivector("indices")
    corruption = T.scalar("corruption", dtype=floatX)
    lr = T.scalar("lr", dtype=floatX)
    cost, updates = model.dA_layers[layer].get_cost_updates(corruption, lr)
    states = [s for s, _ in updates]
    costs, scan_updates = _scan_updates(
        (cost, [u for _, u in updates]), states,
        {model.x: lambda i: minibatch(train_set_x, i, batch_size)}, indices)
    return pytensor.function([indices, corruption, lr], costs, updates=scan_updates)


def finetune_chunk_function(sda, train_set_x, train_set_y, batch_size, learning_rate):
    """``fn(indices)`` finetunes on the minibatches ``indices`` in one call; returns their costs."""
    from ..backend import T, pytensor
    from ..minibatches import minibatch
    from ..updates import sgd

    indices = T.ivector("indices")
    updates = sgd(sda.finetune_cost, sda.params, learning_rate)
    states = [s for s, _ in updates]
    costs, scan_updates = _scan_updates(
        (sda.finetune_cost, [u for _, u in updates]), states,
        {sda.x: lambda i: minibatch(train_set_x, i, batch_size),
         sda.y: lambda i: minibatch(train_set_y, i, batch_size)}, indices)
    return pytensor.function([indices], costs, updates=scan_updates)


def chunk_runner(fn, chunk, stop=None, **inputs):
    """A runner for :mod:`sda.training` (``run(first, stop_index)`` returns the
    costs of minibatches ``first .. stop_index - 1``) calling ``fn(indices,
    **inputs)`` on chunks of at most ``chunk`` minibatches, checking ``stop``
    after each chunk."""

    def run(first, stop_index):
        costs = []
        while first < stop_index:
            last = min(first + chunk, stop_index)
            costs.extend(float(c) for c in numpy.asarray(fn(numpy.arange(first, last, dtype="int32"), **inputs)))
            first = last
            if stop:
                break
        return costs

    return run


@register
class ChunkEngine(CompiledEngine):
    """A compiled scan over many minibatches per call: what makes a GPU fast
    (on the CPU it runs through PyTensor's Numba scan).  It scores and records
    itself as the compiled engine does."""

    name = "chunks"
    auto_on = ("gpu",)

    def __init__(self, strict=True, chunk=DEFAULT_CHUNK):
        self.chunk = chunk

    @staticmethod
    def check_device(device):
        """Runs wherever PyTensor compiles a scan (the CPU, or a GPU through JAX)."""

    def pretraining_runner(self, model, layer, train_set_x, batch_size, corruption_level, learning_rate, stop,
                           log=print):
        fn = pretraining_chunk_function(model, layer, train_set_x, batch_size)
        return chunk_runner(fn, self.chunk, stop, corruption=corruption_level, lr=learning_rate)

    def finetuning_runner(self, model, train_set, batch_size, learning_rate, stop, log=print):
        fn = finetune_chunk_function(model, *train_set, batch_size, learning_rate)
        return chunk_runner(fn, self.chunk, stop)

