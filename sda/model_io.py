"""Saved models: the parameters of an SdA as named arrays, ``model.npz`` out and in.

``model.npz`` holds ``hidden_W_0, hidden_b_0, ..., logistic_W, logistic_b``
(each ``W`` shaped ``(n_in, n_out)``, as in the tutorial); a checkpoint also
holds the dAs' visible biases ``dA_b_prime_0, ...``.
"""

import json
import os
import zipfile

import numpy

from .errors import DataError
from .files import atomic_write


def named_params(model, with_visible_biases=False):
    """The model's shared variables, named as in ``model.npz``."""
    named = {}
    for i, layer in enumerate(model.sigmoid_layers):
        named[f"hidden_W_{i}"] = layer.W
        named[f"hidden_b_{i}"] = layer.b
    named["logistic_W"] = model.logLayer.W
    named["logistic_b"] = model.logLayer.b
    if with_visible_biases:
        for i, dA_layer in enumerate(model.dA_layers):
            named[f"dA_b_prime_{i}"] = dA_layer.b_prime
    return named


def param_arrays(model, with_visible_biases=False):
    """The parameters as a dict of NumPy arrays (copies)."""
    # numpy.asarray: on a GPU the values are device arrays
    return {name: numpy.asarray(variable.get_value())
            for name, variable in named_params(model, with_visible_biases).items()}


def set_param_arrays(model, arrays):
    """Load arrays named as by :func:`param_arrays` into the model's shared variables."""
    named = named_params(model, with_visible_biases=any(k.startswith("dA_b_prime_") for k in arrays))
    missing = sorted(set(named) - set(arrays))
    if missing:
        raise ValueError(f"missing parameters: {', '.join(missing)}")
    for name, variable in named.items():
        _set_checked(name, variable, arrays[name])


def _set_checked(name, variable, value):
    """``variable.set_value(value)``, refusing with a ValueError what training never writes (a file edited by
    hand or damaged): another shape, or NaN and infinities (training stops before saving those)."""
    value = numpy.asarray(value)
    expected = variable.get_value(borrow=True).shape
    if value.shape != expected:
        raise ValueError(f"{name} has shape {value.shape}, the model expects {expected}")
    if value.dtype.kind not in "fiu" or not numpy.isfinite(value).all():
        raise ValueError(f"{name} holds values that are not finite numbers")
    variable.set_value(value.astype(variable.dtype))


class SharedValues:
    """Named shared variables as a stateful part of a run (``state_dict()`` / ``load_state_dict()``)."""

    def __init__(self, named):
        self.named = dict(named)

    def state_dict(self):
        return {name: numpy.asarray(variable.get_value()) for name, variable in self.named.items()}

    def load_state_dict(self, state):
        for name, variable in self.named.items():
            _set_checked(name, variable, state[name])


class Parameters(SharedValues):
    """A model's parameters, the dAs' visible biases included, as a stateful part of a run."""

    def __init__(self, model):
        super().__init__(named_params(model, with_visible_biases=True))


class BestParameters:
    """A copy of the parameters at the best validation so far (what ``model.npz`` gets)."""

    def __init__(self, model):
        self.model = model
        self.arrays = {}

    def keep(self):
        self.arrays = param_arrays(self.model)

    def state_dict(self):
        return dict(self.arrays)

    def load_state_dict(self, state):
        self.arrays = dict(state)


def save_model(path, arrays):
    """Writes the parameters as ``.npz`` (atomically: a crash leaves the old file)."""
    with atomic_write(path, "wb") as f:
        numpy.savez(f, **arrays)


def model_from_arrays(arrays, seed=0):
    """A :class:`~sda.inference.TrainedSdA` whose parameters are ``arrays`` (named
    as in ``model.npz``); the layer sizes follow from the arrays' shapes."""
    from .inference import TrainedSdA

    weights = []
    while f"hidden_W_{len(weights)}" in arrays:
        weights.append(f"hidden_W_{len(weights)}")
    if not weights or "logistic_W" not in arrays:
        raise ValueError("expected arrays hidden_W_0, hidden_b_0, ..., logistic_W, logistic_b")
    for name in [*weights, "logistic_W"]:
        if numpy.ndim(arrays[name]) != 2:
            raise ValueError(f"{name} has shape {numpy.shape(arrays[name])}, but a weight matrix (inputs x "
                             "units) has two dimensions")
    sizes = [numpy.shape(arrays[name])[1] for name in weights]
    model = TrainedSdA(numpy.random.RandomState(seed), n_ins=numpy.shape(arrays["hidden_W_0"])[0],
                       hidden_layers_sizes=sizes, n_outs=numpy.shape(arrays["logistic_W"])[1],
                       corruption_levels=[0.0] * len(sizes))
    set_param_arrays(model, arrays)
    return model


def load_model(path):
    """Rebuilds the SdA saved by ``train_sda.py`` in ``path`` (``model.npz``, or
    the output directory holding it)."""
    if os.path.isdir(path):
        path = os.path.join(path, "model.npz")
    if not os.path.exists(path):
        raise DataError(f"{path} does not exist: give the model.npz written by train_sda.py (or its directory)")
    try:
        with numpy.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path} is not a readable .npz file ({error}): give the model.npz written by "
                        f"train_sda.py") from None
    try:
        return model_from_arrays(arrays)
    except ValueError as error:
        raise DataError(f"{path} is not an SdA model: {error}") from None


def _recorded(model, key):
    """``key`` of the results.json beside ``model`` (None when absent or unreadable)."""
    model = os.fspath(model)
    folder = model if os.path.isdir(model) else os.path.dirname(model) or "."
    try:
        with open(os.path.join(folder, "results.json")) as f:
            return json.load(f).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def training_rescale(model):
    """The ``(min, max)`` the training run mapped onto [0, 1] (``rescaled_from``
    in the results.json beside ``model``), else False: data given to the model
    must be brought into [0, 1] the way its training data were."""
    recorded = _recorded(model, "rescaled_from")
    return tuple(recorded) if isinstance(recorded, list) and len(recorded) == 2 else False


def training_label_names(model, n_outs):
    """The names of the model's classes (``label_names`` in the results.json beside ``model``: an image
    folder's label folders), else None (the classes are the numbers 0..n_outs-1)."""
    names = _recorded(model, "label_names")
    if isinstance(names, list) and len(names) == n_outs and all(isinstance(n, str) for n in names):
        return names
    return None
