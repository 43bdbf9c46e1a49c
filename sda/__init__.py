"""Denoising and Stacked Denoising Autoencoders (Vincent et al. 2008/2010) on PyTensor.

A faithful port of the Deep Learning Tutorials' ``dA.py`` and ``SdA.py``; the
tutorial's own files are under :mod:`sda.tutorial`::

    from sda import LogisticRegression, HiddenLayer, dA, SdA, load_data

The names are loaded lazily (PEP 562) so that ``import sda.errors`` or a
script's ``--help`` never imports PyTensor: PyTensor reads its flags once, at
import, and :mod:`sda.backend` must translate ``THEANO_FLAGS`` / ``.theanorc``
before that happens.
"""

import importlib
import os

# OpenBLAS's worker threads busy-wait between calls; on a small machine the
# threads of its two copies (NumPy/SciPy's, used by Numba, and PyTensor's) spin
# against each other and made steps 3-10x slower and erratic in our
# measurements (docs/performance.md).  One thread each, unless the user says otherwise.
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

__version__ = "1.1.0"

_EXPORTS = {
    "LogisticRegression": "sda.tutorial.logistic_sgd",
    "HiddenLayer": "sda.tutorial.mlp",
    "dA": "sda.tutorial.dA",
    "SdA": "sda.tutorial.SdA",
    "load_data": "sda.data",
    "tile_raster_images": "sda.tutorial.utils",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(_EXPORTS[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sda' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
