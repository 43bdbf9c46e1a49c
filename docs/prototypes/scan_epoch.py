"""One compiled call per epoch: ``pytensor.scan`` over minibatch indices with the
SGD updates inside (the shared parameters and the noise generator as scan states).

The step graph is the package's own (``dA.get_cost_updates`` /
``sgd(finetune_cost)``), with the shared variables replaced by scan states.
"""
import numpy

from pytensor.graph.replace import clone_replace

from sda.backend import T, floatX, pytensor
from sda.minibatches import minibatch
from sda.updates import sgd


def _scan_updates(step_graph, states, givens, indices, mode=None):
    """Compile ``f(indices, ...)`` looping ``step_graph`` = (cost, [new state...]) over ``indices``."""
    cost, new_states = step_graph

    def step(i, *old):
        replace = dict(zip(states, old))
        replace.update({var: value(i) for var, value in givens.items()})
        out = clone_replace([cost, *new_states], replace=replace)
        return out

    outputs = pytensor.scan(step, sequences=[indices], outputs_info=[None, *states], return_updates=False)
    costs, finals = outputs[0], outputs[1:]
    # tensor states come back as sequences (keep the last); a generator state as its final value
    return costs, [(s, f[-1] if isinstance(f, T.TensorVariable) else f) for s, f in zip(states, finals)]


def pretraining_epoch_functions(sda, train_set_x, batch_size, mode=None):
    """``fns[k](indices, corruption, lr)`` trains layer k on the minibatches ``indices`` (an int32 array)."""
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
        fns.append(pytensor.function([indices, corruption, lr], costs, updates=scan_updates, mode=mode))
    return fns


def finetune_epoch_function(sda, train_set_x, train_set_y, batch_size, learning_rate, mode=None):
    """``fn(indices)`` finetunes on the minibatches ``indices``; returns their costs."""
    indices = T.ivector("indices")
    updates = sgd(sda.finetune_cost, sda.params, learning_rate)
    states = [s for s, _ in updates]
    costs, scan_updates = _scan_updates(
        (sda.finetune_cost, [u for _, u in updates]), states,
        {sda.x: lambda i: minibatch(train_set_x, i, batch_size),
         sda.y: lambda i: minibatch(train_set_y, i, batch_size)}, indices)
    return pytensor.function([indices], costs, updates=scan_updates, mode=mode)


def index_range(first, stop):
    return numpy.arange(first, stop, dtype="int32")
