"""How training steps run: interchangeable engines behind one small protocol.

An engine turns one phase of training (pretraining one dA layer; finetuning the
whole stack) into a *runner*: ``run(first, stop)`` trains on minibatches
``first .. stop - 1`` (or fewer, when a stop was requested or a chunk ends)
and returns their costs.  The loops of :mod:`sda.training` only ever call runners,
so every engine trains through the same loops, checkpoints and logs::

    class Engine:
        name: str                 # what --engine calls it
        auto_on: tuple            # devices ("cpu", "gpu") where --engine auto picks it
        def check_device(device)  # refuse (UsageError) a device it cannot run on
        def pretraining_runner(model, layer, train_set_x, batch_size, corruption_level, learning_rate, stop, log)
        def finetuning_runner(model, train_set, batch_size, learning_rate, stop, log)
        def error_scorer(model, set_x, set_y, batch_size, log)  # () -> each example's 0/1 error
        def determinants(batch_size)  # its settings that change the numbers (a resume must keep them)
        def describe()            # what results.json records about how steps ran

``model`` is an SdA, or anything with its ``dA_layers``, ``sigmoid_layers`` (the
layers below each dA) and input ``x``: :class:`LoneDA` is a single dA seen so.
Engines compile only what they run, when a phase starts.  The registry maps
names to classes; :func:`resolve` picks one for ``--engine`` and the device.
"""

from ..errors import UsageError

REGISTRY = {}


class LoneDA:
    """A single dA as the engines take a model: a stack of one dA layer with nothing below it
    (``train_da.py`` trains its dAs through the engines as ``pretraining_runner(LoneDA(da), 0, ...)``)."""

    def __init__(self, da):
        self.dA_layers, self.sigmoid_layers, self.x = [da], [], da.x


def register(cls):
    """Class decorator: make an engine available to ``--engine`` under ``cls.name``."""
    REGISTRY[cls.name] = cls
    return cls


def engine_names():
    """What ``--engine`` accepts."""
    _load_engines()
    return ("auto", *REGISTRY)


def resolve(name, device):
    """The engine ``name`` (or, for ``"auto"``, the one made for ``device``'s kind), ready to run there.

    :param device: ``"cpu"`` or a GPU name (``"cuda"``, ``"cuda0"``, ...)
    """
    _load_engines()
    kind = "cpu" if device == "cpu" else "gpu"
    if name == "auto":
        cls = next(cls for cls in REGISTRY.values() if kind in cls.auto_on)
        return cls(strict=False)
    if name not in REGISTRY:
        raise UsageError(f"--engine {name!r} is not one of {', '.join(engine_names())}")
    cls = REGISTRY[name]
    cls.check_device(device)
    return cls(strict=True)


def _load_engines():
    # importing the modules registers their engines
    from . import chunks, compiled, kernels  # noqa: F401
