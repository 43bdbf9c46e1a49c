"""The tutorial's way: one compiled PyTensor function call per minibatch.

The step functions are compiled from the model's own graph (the dA's
``get_cost_updates``, the SdA's ``finetune_cost`` and ``params``), exactly as
:meth:`SdA.pretraining_functions <sda.tutorial.SdA.SdA.pretraining_functions>`
and :meth:`~sda.tutorial.SdA.SdA.build_finetune_functions` compile them, but
one phase at a time: a phase compiles only its own function.  Whatever a
user changes in the model's graph, this engine trains it.
"""

from ..training import minibatch_runner
from . import register


def pretraining_step(model, layer, train_set_x, batch_size):
    """The compiled ``fn(index, corruption, lr)`` training ``model.dA_layers[layer]``
    on minibatch ``index``; returns the minibatch's cost."""
    from ..backend import T, floatX, pytensor
    from ..minibatches import minibatch

    index = T.iscalar("index")
    corruption_level = T.scalar("corruption", dtype=floatX)
    learning_rate = T.scalar("lr", dtype=floatX)
    cost, updates = model.dA_layers[layer].get_cost_updates(corruption_level, learning_rate)
    return pytensor.function([index, corruption_level, learning_rate], cost, updates=updates,
                             givens={model.x: minibatch(train_set_x, index, batch_size)},
                             name=f"pretrain_{layer}")


def finetuning_step(model, train_set, batch_size, learning_rate):
    """The compiled ``fn(index)`` taking one SGD step of the whole stack on
    minibatch ``index``; returns the minibatch's cost."""
    from ..backend import T, pytensor
    from ..minibatches import minibatch
    from ..updates import sgd

    train_set_x, train_set_y = train_set
    index = T.iscalar("index")
    return pytensor.function([index], model.finetune_cost, updates=sgd(model.finetune_cost, model.params,
                                                                       learning_rate),
                             givens={model.x: minibatch(train_set_x, index, batch_size),
                                     model.y: minibatch(train_set_y, index, batch_size)},
                             name="train")


# PyTensor's settings that change the arithmetic of its compiled functions (the others change speed or messages)
PYTENSOR_ARITHMETIC = ("mode", "linker", "optimizer", "optimizer_including", "optimizer_excluding",
                       "numba__fastmath")


@register
class CompiledEngine:
    name = "compiled"
    auto_on = ()

    def __init__(self, strict=True):
        pass

    @staticmethod
    def check_device(device):
        """Runs wherever PyTensor compiles (the CPU, or a GPU through JAX)."""

    def pretraining_runner(self, model, layer, train_set_x, batch_size, corruption_level, learning_rate, stop,
                           log=print):
        fn = pretraining_step(model, layer, train_set_x, batch_size)
        return minibatch_runner(fn, stop, corruption=corruption_level, lr=learning_rate)

    def finetuning_runner(self, model, train_set, batch_size, learning_rate, stop, log=print):
        return minibatch_runner(finetuning_step(model, train_set, batch_size, learning_rate), stop)

    def error_scorer(self, model, set_x, set_y, batch_size, log=print):
        from ..inference import error_scorer

        return error_scorer(model, set_x, set_y, batch_size)

    def describe(self):
        return {"engine": self.name, **self.determinants(None)}

    def determinants(self, batch_size):
        """PyTensor's settings that change how its functions round (its version is in the versions).  The
        bits still depend on the CPU: PyTensor's Numba code calls OpenBLAS and glibc's libm, which pick their
        code per CPU (docs/determinism.md)."""
        from ..backend import config

        return {"pytensor_arithmetic": {name: str(getattr(config, name)) for name in PYTENSOR_ARITHMETIC}}
