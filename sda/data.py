"""MNIST for the tutorials: find it, download it, check it and load it.

The Deep Learning Tutorials' ``load_data`` read ``mnist.pkl.gz``, a pickle the
tutorial's authors made from the official MNIST files.  This module reads either
that pickle or the four official IDX files themselves, and downloads the IDX
files when they are missing::

    datasets = load_data()                      # data/ (or $SDA_DATA)
    train_set_x, train_set_y = datasets[0]      # PyTensor shared variables

Everything except :func:`load_data` is plain NumPy, so the data can be loaded,
inspected and tested without PyTensor.

Where the data is (:func:`resolve_dataset`): the ``dataset`` argument (the
scripts' ``--dataset``), else the environment variable ``SDA_DATA``, else the
checkout's ``data/`` folder.  What it is (:func:`load_mnist_arrays` picks the
reader):

* a folder holding the four IDX files (downloaded there if some are missing);
* the tutorial's ``mnist.pkl.gz``.

More formats (a ``.npz``, folders of images, ...) fit in as more branches of
:func:`_reader_for` that return the same three ``(x, y)`` pairs.

Every problem the user can put right raises :class:`~sda.errors.DataError` (or
:class:`~sda.errors.UsageError` for a bad argument) with a one-line message
saying what is wrong and what to do.
"""

import contextlib
import gzip
import hashlib
import http.client
import numbers
import os
import pickle
import re
import struct
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy

from .errors import DataError, UsageError

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_MIRRORS",
    "MNIST_FILES",
    "SPLIT_NAMES",
    "download_mnist",
    "load_data",
    "load_mnist_arrays",
    "mirror_list",
    "read_idx",
    "resolve_dataset",
]

# --------------------------------------------------------------------------
# Where the data is, and where it comes from
# --------------------------------------------------------------------------

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"

#: The four official MNIST files and their md5 sums.
MNIST_FILES = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Base URLs that serve the four files, tried in order (``SDA_MNIST_MIRRORS``
#: replaces them: base URLs separated by commas or white space).
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

#: The checkout's ``data/`` folder, used when neither an argument nor SDA_DATA names one.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

#: The tutorial's three splits, in the order ``load_data`` returns them.
SPLIT_NAMES = ("train", "valid", "test")

#: The tutorial's validation set: the last 10 000 of the 60 000 training images.
MNIST_VALID_SIZE = 10_000

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (n, rows, cols)
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (n,)
_IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"
_PICKLE_SUFFIXES = (".pkl.gz", ".pkl", ".pickle", ".pickle.gz")
_FILE_SUFFIXES = _PICKLE_SUFFIXES + (".gz", ".npz", ".npy", ".zip", ".tar", ".bz2", ".xz")


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


def mirror_list(mirrors=None):
    """Return the base URLs to download from, as a tuple.

    ``mirrors`` (a sequence of URLs, or one string of URLs separated by commas
    or white space), else the environment variable ``SDA_MNIST_MIRRORS``
    (same syntax), else :data:`DEFAULT_MIRRORS`.
    """
    source = "the mirrors argument"
    if mirrors is None:
        mirrors, source = os.environ.get("SDA_MNIST_MIRRORS", ""), "SDA_MNIST_MIRRORS"
        if not mirrors.strip():
            return DEFAULT_MIRRORS
    if isinstance(mirrors, str):
        mirrors = re.split(r"[\s,]+", mirrors.strip())
    mirrors = tuple(url for url in mirrors if url)
    if not mirrors:
        raise UsageError(f"{source} names no mirror: give base URLs such as {DEFAULT_MIRRORS[0]}")
    for url in mirrors:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https", "ftp", "file") or not (parts.netloc or parts.scheme == "file"):
            raise UsageError(
                f"{source}: {url!r} is not a URL: give base URLs (http://, https://, ftp:// or file://) "
                "separated by commas or spaces"
            )
    return mirrors


# --------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------


def _log_to_stderr(message):
    print(message, file=sys.stderr, flush=True)


def download_mnist(dest_dir, mirrors=None, files=None, timeout=30, log=None):
    """Download the MNIST files missing from ``dest_dir``; return the paths written.

    :param dest_dir: folder to put the files in (created if needed)
    :param mirrors: base URLs tried in order (see :func:`mirror_list`)
    :param files: dict file name -> md5 sum (default :data:`MNIST_FILES`)
    :param timeout: seconds a stalled connection is waited for
    :param log: function given one line per step (default: print to stderr)

    A file already present is left alone, even if its md5 sum is wrong: the
    readers check it and tell the user to delete it if it is damaged.  A file
    whose md5 sum is wrong is tried from the next mirror.  A file is written
    under its real name only once complete (temporary file, fsync, rename), so
    an interrupted download never leaves a partial file behind.
    """
    dest_dir = Path(dest_dir)
    files = MNIST_FILES if files is None else files
    mirrors = mirror_list(mirrors)
    log = _log_to_stderr if log is None else log
    _make_folder(dest_dir)
    written = []
    for name, md5 in files.items():
        target = dest_dir / name
        if target.exists():
            continue
        data = _fetch_verified(name, md5, mirrors, timeout, log, dest_dir, files)
        _write_atomically(target, data)
        log(f"saved {target}")
        written.append(target)
    return written


def _make_folder(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"cannot create the data folder {folder} ({_reason(error)}): create it or choose another"
        ) from error


def _fetch_verified(name, md5, mirrors, timeout, log, dest_dir, files):
    """Return the bytes of ``name`` from the first mirror that serves it with the right md5."""
    last = "no mirror"
    for i, base in enumerate(mirrors):
        url = base if base.endswith("/") else base + "/"
        url += name
        then = "trying the next mirror" if i + 1 < len(mirrors) else "no mirror left"
        log(f"downloading {url}")
        try:
            data = _fetch(url, timeout)
        except (OSError, http.client.HTTPException, ValueError) as error:
            last = f"{url}: {_reason(error)}"
            log(f"could not download {url} ({_reason(error)}); {then}")
            continue
        got = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if got == md5:
            return data
        last = f"{url}: md5 {got}, expected {md5}"
        log(f"{url} has md5 {got}, expected {md5} (damaged or a different file); {then}")
    raise DataError(
        f"could not download {name}: every mirror failed (last: {last}); "
        f"put the official files ({', '.join(files)}) into {dest_dir} by hand, "
        "or set SDA_MNIST_MIRRORS to base URLs that serve them"
    )


def _fetch(url, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": "sda-pytensor (urllib)"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _write_atomically(target, data):
    """Write ``data`` to ``target`` so that ``target`` is either absent or complete."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private (0600)
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise DataError(
                f"cannot write {target} ({_reason(error)}): check that {target.parent} is writable and has free space"
            ) from error
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder):
    """Make the rename durable (best effort; not possible on every system)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(error):
    """A short, one-line reason for an exception."""
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        text = str(error.reason)
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."


# --------------------------------------------------------------------------
# Reading IDX files
# --------------------------------------------------------------------------


def _fix_hint(path):
    """What to do about a damaged file: official ones can be downloaded again."""
    if Path(path).name in MNIST_FILES:
        return "delete it and run again to download it, or put the official file there"
    return "replace it with a valid file"


def _read_bytes(path):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as error:
        raise DataError(f"{path} does not exist: put the file there or give another path") from error
    except OSError as error:
        raise DataError(f"cannot read {path} ({_reason(error)}): check the path and its permissions") from error


def _gunzip_if_gzip(path, data):
    """Decompress ``data`` if it is gzip (told by its first bytes, not its name)."""
    if data[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(
                f"{path} is a truncated or damaged gzip file ({_reason(error)}): {_fix_hint(path)}"
            ) from error
    if Path(path).name.endswith(".gz"):
        what = "is empty" if not data else "is not a gzip file (an HTML error page saved under that name?)"
        raise DataError(f"{path} {what}: {_fix_hint(path)}")
    return data


def read_idx(path, magic=None):
    """Read an IDX file of unsigned bytes, gzip-compressed or not; return a numpy uint8 array.

    An IDX file (the format of the official MNIST files) is a big-endian
    header -- two zero bytes, a type code (0x08 for unsigned bytes), the number
    of dimensions ``d``, then ``d`` 32-bit sizes -- followed by the data.  The
    magic number is the first four bytes read as one integer: 2051 for MNIST
    images (n, rows, cols), 2049 for labels (n,).  Pass ``magic`` to insist on
    one of them.

    The returned array is a read-only view of the decompressed bytes.
    """
    data = _gunzip_if_gzip(path, _read_bytes(path))
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _IDX_UBYTE or data[3] == 0:
        start = f"starts with 0x{data[:4].hex()}" if data else "is empty"
        raise DataError(f"{path} is not an IDX file of unsigned bytes (it {start}): {_fix_hint(path)}")
    found = struct.unpack(">I", data[:4])[0]
    if magic is not None and found != magic:
        raise DataError(
            f"{path} has IDX magic number {found}, expected {magic} ({_magic_name(magic)}): "
            f"is it the right file? {_fix_hint(path)}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated (its IDX header is incomplete): {_fix_hint(path)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(numpy.prod(shape, dtype=numpy.int64))
    if len(data) - header != expected:
        raise DataError(
            f"{path} declares {' x '.join(map(str, shape))} = {expected} bytes of data but holds "
            f"{len(data) - header}: the file is truncated or damaged: {_fix_hint(path)}"
        )
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=header).reshape(shape)


def _magic_name(magic):
    return {IDX_IMAGES_MAGIC: "images", IDX_LABELS_MAGIC: "labels"}.get(magic, "IDX")


def _read_idx_examples(images_path, labels_path, dtype):
    """Read one IDX images file and its labels file: x = pixel / 255 as (n, rows*cols), y int32."""
    images = read_idx(images_path, magic=IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, magic=IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels: "
            "the two files do not belong together; replace them with matching files"
        )
    x = images.reshape(len(images), -1).astype(dtype)
    x /= dtype.type(255)
    return x, labels.astype(numpy.int32)


# --------------------------------------------------------------------------
# The dataset formats: each reader returns the three (x, y) pairs
# --------------------------------------------------------------------------


def _read_idx_folder(folder, dtype, download):
    """The four official IDX files in ``folder``, split as in the tutorial.

    Training = the first 50 000 of the 60 000 official training images,
    validation = the last 10 000, test = the official 10 000 test images.  A
    smaller training file (test data) gives its last sixth to validation
    (``n_valid = n // 6``).  Missing files are downloaded unless ``download``
    is false.
    """
    _ensure_idx_files(folder, download)
    train_x, train_y = _read_idx_examples(folder / TRAIN_IMAGES, folder / TRAIN_LABELS, dtype)
    test_x, test_y = _read_idx_examples(folder / TEST_IMAGES, folder / TEST_LABELS, dtype)
    n_valid = _validation_size(len(train_x), folder / TRAIN_IMAGES)
    n_fit = len(train_x) - n_valid
    return (
        (train_x[:n_fit], train_y[:n_fit]),
        (train_x[n_fit:], train_y[n_fit:]),
        (test_x, test_y),
    )


def _ensure_idx_files(folder, download):
    """Download the MNIST files missing from ``folder`` or, if not allowed, say which are missing."""
    missing = [name for name in MNIST_FILES if not (folder / name).exists()]
    if not missing:
        return
    if not download:
        where = f"{folder} does not exist" if not folder.exists() else f"{folder} lacks {', '.join(missing)}"
        raise DataError(
            f"{where}: put the official MNIST files ({', '.join(MNIST_FILES)}) there "
            "or allow downloading them"
        )
    download_mnist(folder)


def _validation_size(n_total, path):
    """The tutorial's 10 000 validation images, or the last sixth of a smaller training file."""
    n_valid = min(MNIST_VALID_SIZE, n_total // 6)
    if n_valid < 1:
        raise DataError(
            f"{path} holds only {n_total} training images: at least 6 are needed to set some aside for validation"
        )
    return n_valid


def _read_pickle(path, dtype, download):
    """The tutorial's ``mnist.pkl.gz``: a (gzip-compressed) pickle of three (x, y) pairs.

    It was written by Python 2, hence ``encoding="latin1"``.  Its x already
    hold floats in [0, 1] and are used as stored (only cast to ``dtype``).
    Unpickling can run code: only load pickles from a source you trust.
    """
    return _pairs_from_pickle(path, _unpickle(path), dtype)


def _unpickle(path):
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if compressed else raw
            return pickle.load(stream, encoding="latin1")
    except FileNotFoundError as error:
        raise DataError(f"{path} does not exist: put the tutorial's mnist.pkl.gz there or give another path") from error
    except MemoryError:
        raise
    except Exception as error:  # unpickling a damaged file can raise almost anything
        if isinstance(error, (OSError, EOFError, zlib.error)):
            what = "is truncated, damaged or not readable"
        else:
            what = "is not a pickle this program can read"
        raise DataError(
            f"{path} {what} ({_reason(error)}): replace it with the tutorial's mnist.pkl.gz, "
            "or use a folder with the four official IDX files"
        ) from error


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
        pairs.append((_as_examples(path, split, pair[0], dtype), _as_labels(path, split, pair[1])))
    return tuple(pairs)


def _as_examples(path, split, x, dtype):
    try:
        x = numpy.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: its {split} x is not a numeric array ({_reason(error)})") from error
    if x.ndim != 2:
        raise DataError(f"{path}: its {split} x has shape {x.shape}, expected 2-D (examples, pixels)")
    return x


def _as_labels(path, split, y):
    """Labels as int32: any integer array, or floats holding whole numbers."""
    try:
        y = numpy.asarray(y)
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: its {split} labels are not an array ({_reason(error)})") from error
    if y.ndim != 1:
        raise DataError(f"{path}: its {split} labels have shape {y.shape}, expected 1-D (one per example)")
    whole = y.dtype.kind in "iu" or (
        y.dtype.kind == "f" and bool(numpy.all(numpy.isfinite(y))) and bool(numpy.all(y == numpy.round(y)))
    )
    if not whole or (y.size and (y.min() < 0 or y.max() > numpy.iinfo(numpy.int32).max)):
        raise DataError(f"{path}: its {split} labels must be whole numbers from 0 up (class indices)")
    return y.astype(numpy.int32)


def _reader_for(path):
    """Pick the reader for the dataset at ``path`` -- the one place to add formats.

    A reader is called as ``reader(path, dtype, download)`` and returns the
    three (x, y) pairs with x floats of ``dtype`` in [0, 1], shape (n, pixels),
    and y int32.
    """
    name = path.name.lower()
    if name.endswith(_PICKLE_SUFFIXES):
        if path.is_dir():
            raise DataError(f"{path} is a folder: give the pickle file itself, or a folder of IDX files")
        return _read_pickle
    if path.is_dir() or (not path.exists() and not name.endswith(_FILE_SUFFIXES)):
        return _read_idx_folder
    if not path.exists():
        raise DataError(
            f"{path} does not exist: give an existing mnist.pkl.gz, or a folder for the four MNIST IDX files"
        )
    if path.name in MNIST_FILES:
        raise DataError(f"{path} is one of the four MNIST files: give the folder that holds all four ({path.parent})")
    raise DataError(
        f"{path} is in no format this program reads: give a folder with the four MNIST IDX files "
        "or the tutorial's mnist.pkl.gz"
    )


# --------------------------------------------------------------------------
# Loading: numpy arrays, then PyTensor shared variables
# --------------------------------------------------------------------------


def load_mnist_arrays(path=None, n_train=None, dtype="float32", download=True):
    """Load MNIST as numpy arrays: ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))``.

    :param path: a folder with the four official IDX files, or the tutorial's
        ``mnist.pkl.gz``; ``None`` means :func:`resolve_dataset`'s default.  A
        folder that lacks files (or does not exist yet) gets them downloaded.
    :param n_train: keep only the first ``n_train`` training examples
    :param dtype: float type of x (``"float32"`` or ``"float64"``)
    :param download: download missing IDX files (else raise DataError)

    Each x has one example per row, shape (n, 784) for MNIST, with values in
    [0, 1]; each y holds the int32 class labels.

    IDX pixels are scaled as ``pixel / 255.0``, so that 255 maps to exactly
    1.0.  The tutorial's ``mnist.pkl.gz`` is reported to hold ``pixel / 256``
    (top value 0.99609375); it is used as stored.  The split is the
    tutorial's: train = first 50 000 training images, valid = last 10 000,
    test = the official test set (see :func:`_read_idx_folder` for smaller
    files).
    """
    path = resolve_dataset(path)
    dtype = _float_dtype(dtype)
    _check_n_train_type(n_train)
    pairs = _reader_for(path)(path, dtype, download)
    _check_pairs(path, pairs)
    return _keep_first(path, pairs, n_train)


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


def _check_pairs(path, pairs):
    """Checks that hold for every format: sizes agree, x in [0, 1], labels >= 0."""
    widths = set()
    for split, (x, y) in zip(SPLIT_NAMES, pairs):
        if len(x) != len(y):
            raise DataError(f"{path}: its {split} set has {len(x)} examples but {len(y)} labels; they must match")
        if len(x) == 0:
            raise DataError(f"{path}: its {split} set is empty")
        low, high = x.min(), x.max()
        if not (low >= 0 and high <= 1):  # also catches NaN
            raise DataError(f"{path}: its {split} x holds values from {low} to {high}, expected pixels in [0, 1]")
        if y.min() < 0:
            raise DataError(f"{path}: its {split} labels include {y.min()}; class labels must be >= 0")
        widths.add(x.shape[1])
    if len(widths) > 1:
        raise DataError(f"{path}: its sets have different numbers of pixels per example ({sorted(widths)})")


def _keep_first(path, pairs, n_train):
    """Keep the first ``n_train`` training examples (all if None)."""
    if n_train is None:
        return pairs
    (train_x, train_y), valid, test = pairs
    available = len(train_x)
    if not 1 <= n_train <= available:
        raise UsageError(f"n_train={n_train}, but {path} has {available} training examples: give 1 to {available}")
    return (train_x[:n_train], train_y[:n_train]), valid, test


def load_data(dataset=None, n_train=None, download=True):
    """Load the dataset into PyTensor shared variables, as the tutorial's ``load_data`` does.

    :param dataset: see :func:`load_mnist_arrays` (``None``: $SDA_DATA or data/)
    :param n_train: keep only the first ``n_train`` training examples
    :param download: download missing MNIST files

    Returns ``[(train_set_x, train_set_y), (valid_set_x, valid_set_y),
    (test_set_x, test_set_y)]``.  The data lives in shared variables so that,
    on a GPU, it is copied to the device once instead of once per minibatch;
    a minibatch is then a slice such as ``train_set_x[i * b:(i + 1) * b]``.
    """
    from .backend import floatX, pytensor

    pairs = load_mnist_arrays(dataset, n_train=n_train, dtype=floatX, download=download)
    return [_shared_pair(pytensor, floatX, pair, split) for split, pair in zip(SPLIT_NAMES, pairs)]


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
