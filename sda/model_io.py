"""Saved models: ``model.npz`` in, a ready :class:`~sda.stacked.SdA` out."""

import json
import os
import zipfile

import numpy

from .errors import DataError


def load_model(path):
    """Rebuilds the SdA saved by ``train_sda.py`` in ``path`` (``model.npz``, or
    the output directory holding it)."""
    if os.path.isdir(path):
        path = os.path.join(path, "model.npz")
    if not os.path.exists(path):
        raise DataError(f"{path} does not exist: give the model.npz written by train_sda.py (or its directory)")
    try:
        with numpy.load(path) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path} is not a readable .npz file ({error}): give the model.npz written by "
                        f"train_sda.py") from None
    from .stacked import SdA

    try:
        return SdA.from_param_arrays(arrays)
    except ValueError as error:
        raise DataError(f"{path} is not an SdA model: {error}") from None


def training_rescale(model):
    """The ``(min, max)`` the training run mapped onto [0, 1] (``rescaled_from``
    in the results.json beside ``model``), else False: data given to the model
    must be brought into [0, 1] the way its training data were."""
    model = os.fspath(model)
    folder = model if os.path.isdir(model) else os.path.dirname(model) or "."
    try:
        with open(os.path.join(folder, "results.json")) as f:
            recorded = json.load(f).get("rescaled_from")
    except (OSError, ValueError, AttributeError):
        return False
    return tuple(recorded) if isinstance(recorded, list) and len(recorded) == 2 else False
