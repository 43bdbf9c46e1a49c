"""The Deep Learning Tutorials' ``mnist.pkl.gz``: a (gzip-compressed) pickle of
three (x, y) pairs."""

import io

import numpy

from ..errors import DataError
from ..safe_pickle import ForbiddenPickleError, restricted_load
from .reading import Inflater, open_regular, reason
from .splits import SPLIT_NAMES, as_labels

PICKLE_SUFFIXES = (".pkl.gz", ".pkl", ".pickle", ".pickle.gz")

#: The most a gzip-compressed pickle may inflate, in times its compressed size.
MAX_INFLATION = 64

_FIX = "replace it with the tutorial's mnist.pkl.gz, or use a folder with the four official IDX files"


def read_pickle(path, dtype, download):
    """The tutorial's ``mnist.pkl.gz``: a (gzip-compressed) pickle of three (x, y) pairs.

    It was written by Python 2, hence ``encoding="latin1"``.  Its x already
    hold floats in [0, 1] and are used as stored (only cast to ``dtype``).

    No pickle can run code here: it is read by
    :func:`sda.safe_pickle.restricted_load`, which builds NumPy arrays and
    plain containers only and refuses any other object before it is built.
    A gzip-compressed pickle may inflate to at most :data:`MAX_INFLATION`
    times its size (the tutorial's inflates 14 times).
    """
    return _pairs_from_pickle(path, _unpickle(path), dtype)


def _unpickle(path):
    with open_regular(path) as raw:
        try:
            return restricted_load(io.BufferedReader(Inflater(raw, path, _FIX, MAX_INFLATION)), encoding="latin1")
        except ForbiddenPickleError as error:
            raise DataError(f"{path} is not the tutorial's pickle of arrays: {error}; {_FIX}") from None
        except DataError:
            raise
        except MemoryError:
            raise DataError(f"{path} asks for more memory than this machine has: it is damaged or not the "
                            f"tutorial's pickle; {_FIX}") from None
        except Exception as error:  # unpickling a damaged file can raise almost anything
            if isinstance(error, (OSError, EOFError)):
                what = "is truncated, damaged or not readable"
            else:
                what = "is not a pickle this program can read"
            raise DataError(f"{path} {what} ({reason(error)}): {_FIX}") from error


def _pairs_from_pickle(path, obj, dtype):
    """Check that ``obj`` is three (x, y) pairs and convert them."""
    layout = "three (x, y) pairs (train, valid, test) like the tutorial's mnist.pkl.gz"
    if not isinstance(obj, (tuple, list)) or len(obj) != 3:
        size = f" of {len(obj)}" if isinstance(obj, (tuple, list)) else ""
        raise DataError(f"{path} holds a Python {type(obj).__name__}{size}, not {layout}")
    pairs = []
    for split, pair in zip(SPLIT_NAMES, obj):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise DataError(
                f"{path}: its {split} set is of type {type(pair).__name__}, not an (x, y) pair; expected {layout}"
            )
        pairs.append((_as_examples(path, split, pair[0], dtype), as_labels(path, split, pair[1])))
    return tuple(pairs)


def _as_examples(path, split, x, dtype):
    try:
        x = numpy.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: its {split} x is not a numeric array ({reason(error)})") from error
    if x.ndim != 2:
        raise DataError(f"{path}: its {split} x has shape {x.shape}, expected 2-D (examples, pixels)")
    return x
