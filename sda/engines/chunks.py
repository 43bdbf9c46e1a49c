"""Many minibatches per compiled call: a ``pytensor.scan`` over minibatch indices
with the SGD updates inside (prototype for device=cuda; also runs on the CPU).

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
use one chunk size and let the last, shorter chunk of an epoch compile once more,
or finish an epoch with the per-minibatch functions.

Adapted from the perf prototype ``scan_epoch.py``.
"""
import numpy

from pytensor.graph.replace import clone_replace

from ..backend import T, compile_mode, floatX, pytensor
from ..minibatches import minibatch
from ..updates import sgd


def _scan_updates(step_graph, states, givens, indices):
    """``(costs, updates)`` looping ``step_graph`` = (cost, [new state...]) over ``indices``."""
    cost, new_states = step_graph

    def step(i, *old):
        replace = dict(zip(states, old))
        replace.update({var: value(i) for var, value in givens.items()})
        return clone_replace([cost, *new_states], replace=replace)

    outputs = pytensor.scan(step, sequences=[indices], outputs_info=[None, *states], return_updates=False)
    costs, finals = outputs[0], outputs[1:]
    # tensor states come back as sequences (keep the last); a generator state as its final value
    return costs, [(s, f[-1] if isinstance(f, T.TensorVariable) else f) for s, f in zip(states, finals)]


def pretraining_chunk_functions(sda, train_set_x, batch_size):
    """``fns[k](indices, corruption, lr)`` trains layer k on the minibatches
    ``indices`` (an int32 array) in one call and returns their costs."""
    fns = []
    for dA_layer in sda.dA_layers:
        indices = T.ivector("indices")
        corruption = T.scalar("corruption", dtype=floatX)
        lr = T.scalar("lr", dtype=floatX)
        cost, updates = dA_layer.get_cost_updates(corruption, lr)
        states = [s for s, _ in updates]
        costs, scan_updates = _scan_updates(
            (cost, [u for _, u in updates]), states,
            {sda.x: lambda i: minibatch(train_set_x, i, batch_size)}, indices)
        fns.append(pytensor.function([indices, corruption, lr], costs, updates=scan_updates, mode=compile_mode()))
    return fns


def finetune_chunk_function(sda, train_set_x, train_set_y, batch_size, learning_rate):
    """``fn(indices)`` finetunes on the minibatches ``indices`` in one call; returns their costs."""
    indices = T.ivector("indices")
    updates = sgd(sda.finetune_cost, sda.params, learning_rate)
    states = [s for s, _ in updates]
    costs, scan_updates = _scan_updates(
        (sda.finetune_cost, [u for _, u in updates]), states,
        {sda.x: lambda i: minibatch(train_set_x, i, batch_size),
         sda.y: lambda i: minibatch(train_set_y, i, batch_size)}, indices)
    return pytensor.function([indices], costs, updates=scan_updates, mode=compile_mode())


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
