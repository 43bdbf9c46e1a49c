"""Loading a dataset: where it is, which reader reads it, the checks every format
passes, and PyTensor shared variables for the tutorial's ``load_data``."""

import contextlib
import numbers
import os
from pathlib import Path

import numpy

from ..errors import DataError, UsageError, ValuesOutOfRange
from .download import MNIST_FILES, MNIST_NAMES, idx_path
from .idx import read_idx_folder
from .image_folder import IMAGE_SUFFIXES, read_image_folder
from .npz import read_npz
from .preprocess import rescale_splits
from .reading import reason
from .splits import SPLIT_NAMES, Splits
from .tutorial_pickle import PICKLE_SUFFIXES, read_pickle

#: The checkout's ``data/`` folder, used when neither an argument nor SDA_DATA names one.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def resolve_dataset(path=None):
    """Return the dataset location as a :class:`~pathlib.Path`.

    The first of: ``path`` (the ``--dataset`` flag), the environment variable
    ``SDA_DATA``, the checkout's ``data/`` folder.  As in the tutorial, a bare
    file name such as ``"mnist.pkl.gz"`` that is not in the current folder but
    is in ``data/`` means the one in ``data/``.  Nothing is checked here.
    """
    if path is None or str(path).strip() == "":
        path = os.environ.get("SDA_DATA", "").strip() or DEFAULT_DATA_DIR
    path = Path(path).expanduser()
    in_data_dir = DEFAULT_DATA_DIR / path.name
    if len(path.parts) == 1 and not path.exists() and in_data_dir.exists():
        return in_data_dir
    return path


class Datasets(list):
    """:func:`load_data`'s list of three ``(shared_x, shared_y)`` pairs, with the
    attributes of :class:`Splits` (``image_shape``, ``label_names``, ...)."""

    def __init__(self, pairs, splits=None):
        super().__init__(pairs)
        for name in Splits.META:
            setattr(self, name, getattr(splits, name, None))


def _reader_for(path):
    """Pick the reader for the dataset at ``path`` -- the one place to add formats.

    A reader is called as ``reader(path, dtype, download)`` and returns the
    three (x, y) pairs (a :class:`Splits`, or a plain tuple) with x floats of
    ``dtype``, shape (n, pixels), and y int32.
    """
    if not _exists(path):
        _refuse_missing(path)
        return read_idx_folder  # a new folder for the four MNIST files
    name = path.name.lower()
    if name.endswith(PICKLE_SUFFIXES):
        if path.is_dir():
            raise DataError(f"{path} is a folder: give the pickle file itself, or a folder of IDX files")
        return read_pickle
    if name.endswith(".npz"):
        if path.is_dir():
            raise DataError(f"{path} is a folder: give the .npz file itself, or a folder of IDX files or images")
        return read_npz
    has_idx = path.is_dir() and any(idx_path(path, n) is not None for n in MNIST_FILES)
    if path.is_dir() and not has_idx and (path / "train").is_dir():
        return read_image_folder
    if path.is_dir() and not has_idx:
        _refuse_loose_images(path)
    if path.is_dir():
        return read_idx_folder
    if path.name in MNIST_NAMES:
        raise DataError(f"{path} is one of the four MNIST files: give the folder that holds all four ({path.parent})")
    raise DataError(
        f"{path} is in no format this program reads: give a folder with the four MNIST IDX files, "
        "the tutorial's mnist.pkl.gz, a .npz (train_x, train_y, ...) or a folder of train/<label>/ images"
    )


def _exists(path):
    try:
        return path.exists()
    except OSError as error:  # e.g. a folder on the way that may not be searched
        raise DataError(f"cannot read {path} ({reason(error)}): check the path and its permissions") from error


def _refuse_missing(path):
    """A path that does not exist is only taken for a new folder to download MNIST into when its
    name has no extension (a mistyped ``toy.npzz`` or ``digits/7/001.png`` is not) and its parent
    is an existing folder (a mistyped parent is not created either)."""
    if path.suffix:
        raise DataError(
            f"{path} does not exist: check the path (MNIST is downloaded only into a folder whose name has "
            "no extension, such as data/mnist)"
        )
    parent = path.parent
    if not _exists(parent):
        raise DataError(f"{path} does not exist, nor does {parent}: check the path, or create {parent} "
                        f"to have MNIST downloaded into {path}")
    if not parent.is_dir():
        raise DataError(f"{path} does not exist ({parent} is a file, not a folder): check the path")


def _refuse_loose_images(folder):
    """A folder of images without train/ would otherwise be taken for an empty IDX folder
    (and MNIST downloaded into it): say how to arrange it."""
    layout = f"arrange the images as {folder}/train/<label>/*.png (valid/ and test/ optional)"
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        loose = False
        if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            raise DataError(f"{folder} holds image files ({entry.name}) but no train/ folder: {layout}")
        with contextlib.suppress(OSError):
            loose = entry.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in entry.iterdir())
        if loose:
            raise DataError(f"{entry} holds images but {folder} has no train/ folder: {layout}")


# --------------------------------------------------------------------------
# Loading: numpy arrays, then PyTensor shared variables
# --------------------------------------------------------------------------


def load_mnist_arrays(path=None, n_train=None, dtype="float32", download=True, rescale=False):
    """Load a dataset as numpy arrays: ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``.

    :param path: a folder with the four IDX files (MNIST's, or your own in the
        same layout), the tutorial's ``mnist.pkl.gz``, a ``.npz`` or a folder of
        ``train/<label>/`` images (see the module's docstring); ``None`` means
        :func:`resolve_dataset`'s default.  A folder that lacks the IDX files
        gets MNIST downloaded into it, and so does a path that does not exist
        yet if its name has no extension and its parent folder exists (it is
        created); any other path that does not exist is refused.
    :param n_train: keep only the first ``n_train`` training examples
    :param dtype: float type of x (``"float32"`` or ``"float64"``)
    :param download: download missing IDX files (else raise DataError)
    :param rescale: ``True``: map x linearly so that the training set's
        smallest value becomes 0 and its largest 1 (computed before
        ``n_train`` is applied); the validation and test sets get the same map,
        clipped to [0, 1].  A pair ``(min, max)``: that map instead (e.g. a
        training run's ``rescaled_from``, to encode other data the same way).
        ``False``: x outside [0, 1] is refused.

    Returns a :class:`Splits` (a tuple of the three pairs, with
    ``image_shape``, ``label_names``, ``sources`` and ``rescaled_from``).
    Each x has one example per row, shape (n, 784) for MNIST, with values in
    [0, 1]; each y holds the int32 class labels.

    IDX pixels are scaled as ``pixel / 255.0``, so that 255 maps to exactly
    1.0.  The tutorial's ``mnist.pkl.gz`` is reported to hold ``pixel / 256``
    (top value 0.99609375); it is used as stored.  The split is the
    tutorial's: train = first 50 000 training images, valid = last 10 000,
    test = the official test set (see :func:`read_idx_folder` for smaller
    files).
    """
    path = resolve_dataset(path)
    dtype = _float_dtype(dtype)
    _check_n_train_type(n_train)
    splits = _reader_for(path)(path, dtype, download)
    if not isinstance(splits, Splits):
        splits = Splits(splits)
    _check_sizes(path, splits)
    if rescale is None or isinstance(rescale, (bool, numpy.bool_)):
        if rescale:
            splits = rescale_splits(path, splits)
    else:
        splits = rescale_splits(path, splits, fixed=rescale)
    _check_values(path, splits)
    return _keep_first(path, splits, n_train)


def _float_dtype(dtype):
    try:
        dtype = numpy.dtype(dtype)
    except TypeError as error:
        raise UsageError(f"dtype {dtype!r} is not a numpy type: use float32 or float64") from error
    if dtype.kind != "f":
        raise UsageError(f"dtype {dtype} is not a float type: use float32 or float64")
    return dtype


def _check_n_train_type(n_train):
    if n_train is not None and (isinstance(n_train, bool) or not isinstance(n_train, numbers.Integral)):
        raise UsageError(f"n_train must be a whole number of training examples, got {n_train!r}")


def _check_sizes(path, pairs):
    """Checks that hold for every format: sizes agree, no set is empty."""
    widths = set()
    for split, (x, y) in zip(SPLIT_NAMES, pairs):
        if len(x) != len(y):
            raise DataError(f"{path}: its {split} set has {len(x)} examples but {len(y)} labels; they must match")
        if len(x) == 0:
            raise DataError(f"{path}: its {split} set is empty: give it examples")
        if x.shape[1] == 0:
            raise DataError(f"{path}: its {split} examples have no values (x of shape {x.shape}): "
                            "give each example at least one value (pixel)")
        widths.add(x.shape[1])
    if len(widths) > 1:
        raise DataError(f"{path}: its sets have different numbers of pixels per example ({sorted(widths)})")


def _check_values(path, pairs):
    """x finite and in [0, 1] (the cross-entropy cost needs it), labels >= 0."""
    for split, (x, y) in zip(SPLIT_NAMES, pairs):
        low, high = x.min(), x.max()
        if not (numpy.isfinite(low) and numpy.isfinite(high)):
            raise DataError(f"{path}: its {split} x holds NaN or infinite values: fix or remove those examples")
        if not (low >= 0 and high <= 1):
            raise ValuesOutOfRange(f"{path}: its {split} x", low, high)
        if y.min() < 0:
            raise DataError(f"{path}: its {split} labels include {y.min()}; class labels must be >= 0")

def _keep_first(path, splits, n_train):
    """Keep the first ``n_train`` training examples (all if None)."""
    if n_train is None:
        return splits
    (train_x, train_y), valid, test = splits
    available = len(train_x)
    if not 1 <= n_train <= available:
        raise UsageError(f"n_train={n_train}, but {path} has {available} training examples: give 1 to {available}")
    sources = splits.sources and (splits.sources[0][:n_train],) + tuple(splits.sources[1:])
    return splits.replace(((train_x[:n_train], train_y[:n_train]), valid, test), sources=sources)


def load_data(dataset=None, n_train=None, download=True, rescale=False):
    """Load the dataset into PyTensor shared variables, as the tutorial's ``load_data`` does.

    :param dataset: see :func:`load_mnist_arrays` (``None``: $SDA_DATA or data/)
    :param n_train: keep only the first ``n_train`` training examples
    :param download: download missing MNIST files
    :param rescale: map the training set's range of x onto [0, 1] (see :func:`load_mnist_arrays`)

    Returns ``[(train_set_x, train_set_y), (valid_set_x, valid_set_y),
    (test_set_x, test_set_y)]`` (a :class:`Datasets`, a list that also
    carries ``image_shape``, ``label_names``, ... as :class:`Splits` does).
    The data lives in shared variables so that, on a GPU, it is copied to the
    device once instead of once per minibatch; a minibatch is then a slice
    such as ``train_set_x[i * b:(i + 1) * b]``.
    """
    from ..backend import floatX, pytensor

    splits = load_mnist_arrays(dataset, n_train=n_train, dtype=floatX, download=download, rescale=rescale)
    return Datasets([_shared_pair(pytensor, floatX, pair, split) for split, pair in zip(SPLIT_NAMES, splits)],
                    splits)


def _shared_pair(pytensor, floatX, pair, split):
    """One (x, y) pair as shared variables named e.g. ``train_set_x`` and ``train_set_y``.

    The tutorial stored the labels as floatX and cast them back with
    ``T.cast(shared_y, 'int32')``: Theano's old GPU back end could only hold
    float32.  PyTensor stores int32 labels directly.
    """
    x, y = pair
    shared_x = pytensor.shared(numpy.asarray(x, dtype=floatX), name=f"{split}_set_x", borrow=True)
    shared_y = pytensor.shared(numpy.asarray(y, dtype="int32"), name=f"{split}_set_y", borrow=True)
    return shared_x, shared_y
