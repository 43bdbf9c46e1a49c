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

* a folder holding the four IDX files (downloaded there if some are missing),
  MNIST's or your own in the same layout and names, images of any size;
* the tutorial's ``mnist.pkl.gz``;
* a ``.npz`` holding ``train_x, train_y`` and optionally ``valid_x, valid_y``,
  ``test_x, test_y`` and ``label_names`` (:func:`_read_npz`);
* a folder of images arranged as ``train/<label>/*.png`` (``valid/`` and
  ``test/`` optional) (:func:`_read_image_folder`).

A split that a ``.npz`` or an image folder lacks (validation, test) is carved
out of its training set: ``n // 6`` examples each, chosen by
``numpy.random.RandomState(SPLIT_SEED).permutation(n)`` (see :func:`_carve`).

Every reader returns a :class:`Splits`: the three ``(x, y)`` pairs, plus what
the format knows about them (``image_shape``, ``label_names``, ``sources``).
x must lie in [0, 1] (the cross-entropy cost needs it); ``rescale=True`` maps
the training set's range onto [0, 1] instead (:func:`_rescale`).

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
import zipfile
import zlib
from pathlib import Path

import numpy

from .errors import DataError, UsageError

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_MIRRORS",
    "IMAGE_SUFFIXES",
    "MNIST_FILES",
    "SPLIT_NAMES",
    "SPLIT_SEED",
    "Datasets",
    "Splits",
    "image_shape_for",
    "read_image_files",
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

#: A split missing from a .npz or an image folder takes 1/HELD_OUT_PART of the training examples.
HELD_OUT_PART = 6

#: Seed of the fixed shuffle that carves missing splits (and orders an image folder's training set):
#: ``numpy.random.RandomState(SPLIT_SEED).permutation(n)``, the same on every machine and numpy version.
SPLIT_SEED = 0

#: The image files an image folder may hold (grey levels are taken from any mode Pillow reads).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")

#: The arrays a dataset .npz may hold.
NPZ_KEYS = ("train_x", "train_y", "valid_x", "valid_y", "test_x", "test_y", "label_names")

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
    """Read one IDX images file and its labels file: x = pixel / 255 as (n, rows*cols), y int32, (rows, cols)."""
    images = read_idx(images_path, magic=IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, magic=IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels: "
            "the two files do not belong together; replace them with matching files"
        )
    x = images.reshape(len(images), -1).astype(dtype)
    x /= dtype.type(255)
    return x, labels.astype(numpy.int32), _image_shape(images)


def _image_shape(images):
    """(rows, cols) of an IDX images array (n, rows, cols); None for other layouts."""
    return tuple(int(v) for v in images.shape[1:]) if images.ndim == 3 else None


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

    Images of any size are read (rows and columns come from the IDX header);
    the training and test files must hold images of the same size.
    """
    _ensure_idx_files(folder, download)
    train_x, train_y, train_shape = _read_idx_examples(folder / TRAIN_IMAGES, folder / TRAIN_LABELS, dtype)
    test_x, test_y, test_shape = _read_idx_examples(folder / TEST_IMAGES, folder / TEST_LABELS, dtype)
    if train_shape != test_shape:
        raise DataError(
            f"{folder / TRAIN_IMAGES} holds {_size_text(train_shape)} images but {folder / TEST_IMAGES} "
            f"holds {_size_text(test_shape)} ones: both must have the same image size (rows x columns)"
        )
    n_valid = _validation_size(len(train_x), folder / TRAIN_IMAGES)
    n_fit = len(train_x) - n_valid
    return Splits(
        ((train_x[:n_fit], train_y[:n_fit]), (train_x[n_fit:], train_y[n_fit:]), (test_x, test_y)),
        image_shape=train_shape,
    )


def _size_text(shape):
    return " x ".join(map(str, shape)) if shape else "unshaped"


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


def _as_labels(path, split, y, hint=""):
    """Labels as int32: any integer array, or floats holding whole numbers."""
    try:
        y = numpy.asarray(y)
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: its {split} labels are not an array ({_reason(error)})") from error
    if y.ndim != 1:
        raise DataError(f"{path}: its {split} labels have shape {y.shape}, expected 1-D (one per example)")
    if y.dtype.kind == "b":
        y = y.astype(numpy.int32)
    if y.dtype.kind not in "iuf":
        example = f" (e.g. {y.flat[0].item()!r})" if y.size and y.dtype.kind in "USb" else ""
        raise DataError(
            f"{path}: its {split} labels are {_kind_name(y.dtype)}{example}, not class indices: "
            f"labels must be whole numbers from 0 up{hint}"
        )
    if y.dtype.kind == "f":
        bad = y[~numpy.isfinite(y) | (y != numpy.round(y))]
        if bad.size:
            raise DataError(
                f"{path}: its {split} labels include {bad[0].item()!r}: labels must be whole numbers from 0 up "
                f"(class indices){hint}"
            )
    if y.size and (y.min() < 0 or y.max() > numpy.iinfo(numpy.int32).max):
        raise DataError(
            f"{path}: its {split} labels range over {y.min()}..{y.max()}: labels must be whole numbers from 0 up "
            f"(class indices){hint}"
        )
    return y.astype(numpy.int32)


def _kind_name(dtype):
    """What an array holds, in words: "strings", "Python objects", else its numpy type."""
    return {"U": "strings", "S": "byte strings", "O": "Python objects"}.get(dtype.kind, f"{dtype} values")


class Splits(tuple):
    """The three ``(x, y)`` pairs ``(train, valid, test)`` and what the data knows about itself.

    Attributes (``None`` where the format does not tell):

    * ``image_shape``: ``(rows, cols)`` of one example (IDX files, image
      folders, a ``.npz`` whose x are 3-D); a flat x says nothing;
    * ``label_names``: the name of each class index, a tuple (image folders
      whose label folders are not all integers; a ``.npz``'s ``label_names``);
    * ``sources``: for image folders, the file of each example, one array of
      paths per split, in the order of the rows;
    * ``rescaled_from``: ``(min, max)`` of the training x that ``rescale=True``
      mapped onto [0, 1].
    """

    META = ("image_shape", "label_names", "sources", "rescaled_from")

    def __new__(cls, pairs, image_shape=None, label_names=None, sources=None, rescaled_from=None):
        self = super().__new__(cls, tuple((x, y) for x, y in pairs))
        self.image_shape = None if image_shape is None else tuple(int(v) for v in image_shape)
        self.label_names = None if label_names is None else tuple(str(v) for v in label_names)
        self.sources = sources
        self.rescaled_from = rescaled_from
        return self

    def replace(self, pairs=None, **changes):
        """A copy with other pairs and/or attributes."""
        meta = {name: getattr(self, name) for name in self.META}
        meta.update(changes)
        return Splits(self if pairs is None else pairs, **meta)


class Datasets(list):
    """:func:`load_data`'s list of three ``(shared_x, shared_y)`` pairs, with the
    attributes of :class:`Splits` (``image_shape``, ``label_names``, ...)."""

    def __init__(self, pairs, splits=None):
        super().__init__(pairs)
        for name in Splits.META:
            setattr(self, name, getattr(splits, name, None))


def image_shape_for(n_pixels, known=None):
    """``(rows, cols)`` to draw an example of ``n_pixels`` values: ``known`` (a
    dataset's ``image_shape``) when it fits, else a square when ``n_pixels``
    is one, else a single row."""
    if known is not None and int(numpy.prod(known)) == n_pixels:
        return tuple(int(v) for v in known)
    side = int(round(n_pixels ** 0.5))
    return (side, side) if side * side == n_pixels else (1, int(n_pixels))


# ----- splits that a .npz or an image folder lacks ------------------------------------------


def _carve(path, train, missing):
    """Set aside ``n // 6`` training examples for each split named in ``missing``.

    ``train`` is a tuple of aligned arrays (x, y, ...).  The examples are
    chosen by a fixed shuffle, ``numpy.random.RandomState(SPLIT_SEED).permutation(n)``:
    its first ``n // 6`` indices go to the first missing split (validation if
    it is missing), the next ``n // 6`` to the second (test).  Every part keeps
    the examples' original order.  Returns ``(rest_of_train, {split: arrays})``.
    """
    if not missing:
        return train, {}
    n = len(train[0])
    k = n // HELD_OUT_PART
    if k < 1:
        raise DataError(
            f"{path} has {n} training examples and no {' or '.join(missing)} set: give at least "
            f"{HELD_OUT_PART} training examples (1/{HELD_OUT_PART} is set aside for each missing set), "
            f"or give the {' and '.join(missing)} set"
        )
    order = numpy.random.RandomState(SPLIT_SEED).permutation(n)
    carved = {}
    for i, split in enumerate(missing):
        chosen = numpy.sort(order[i * k:(i + 1) * k])
        carved[split] = tuple(a[chosen] for a in train)
    rest = numpy.sort(order[len(missing) * k:])
    return tuple(a[rest] for a in train), carved


# ----- .npz ----------------------------------------------------------------------------------

_NPZ_LAYOUT = "train_x, train_y and optionally valid_x, valid_y, test_x, test_y, label_names"
_NPZ_LABEL_HINT = "; store class names, if any, as label_names"


def _read_npz(path, dtype, download):
    """A ``.npz`` of ``train_x, train_y`` and optionally ``valid_x, valid_y``,
    ``test_x, test_y`` and ``label_names``.

    x: one example per row, 2-D ``(n, pixels)`` or N-D ``(n, rows, cols, ...)``
    (flattened; a 3-D x gives the image shape), any numeric type, values in
    [0, 1] (or any range with ``rescale=True``).  y: whole-number class labels
    from 0 up (integers, or floats holding whole numbers).  A missing validation
    or test set is carved out of the training set (:func:`_carve`); the training
    examples keep their order.  ``label_names`` (strings, one per class) is kept
    as the :class:`Splits`' ``label_names``.
    """
    arrays = _load_npz(path)
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown:
        raise DataError(f"{path} holds {', '.join(unknown)}, which this program does not read: "
                        f"a dataset .npz holds {_NPZ_LAYOUT}")
    lacking = [key for key in ("train_x", "train_y") if key not in arrays]
    if lacking:
        raise DataError(f"{path} lacks {' and '.join(lacking)}: a dataset .npz holds {_NPZ_LAYOUT}")
    pairs, shapes = {}, {}
    for split in SPLIT_NAMES:
        kx, ky = f"{split}_x", f"{split}_y"
        if (kx in arrays) != (ky in arrays):
            has, lacks = (kx, ky) if kx in arrays else (ky, kx)
            raise DataError(f"{path} holds {has} but not {lacks}: give both, or neither "
                            f"(the {split} set is then carved out of the training set)")
        if kx not in arrays:
            continue
        x = _npz_examples(path, kx, arrays[kx], dtype)
        y = _as_labels(path, split, arrays[ky], _NPZ_LABEL_HINT)
        if len(x) != len(y):
            raise DataError(f"{path}: {kx} has {len(x)} rows (examples) but {ky} has {len(y)} labels: "
                            "they must match, one label per example")
        pairs[split], shapes[split] = (x, y), arrays[kx].shape[1:]
    for split, shape in shapes.items():
        if shape != shapes["train"]:
            raise DataError(f"{path}: train_x holds examples of shape {shapes['train']} but {split}_x holds "
                            f"{shape}: every set must have the same example shape")
    rest, carved = _carve(path, pairs["train"], [s for s in ("valid", "test") if s not in pairs])
    pairs.update(carved, train=rest)
    label_names = _npz_label_names(path, arrays.get("label_names"), pairs)
    image_shape = shapes["train"] if len(shapes["train"]) == 2 else None
    return Splits([pairs[s] for s in SPLIT_NAMES], image_shape=image_shape, label_names=label_names)


def _load_npz(path):
    """All arrays of a ``.npz``, read without unpickling anything."""
    how = "write it with numpy.savez(path, train_x=..., train_y=..., ...)"
    try:
        loaded = numpy.load(path, allow_pickle=False)
    except FileNotFoundError as error:
        raise DataError(f"{path} does not exist: give an existing .npz dataset") from error
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz file ({_reason(error)}): {how}") from error
    if not isinstance(loaded, numpy.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array, not named arrays: {how}")
    arrays = {}
    with loaded:
        for key in loaded.files:
            try:
                arrays[key] = loaded[key]
            except ValueError as error:  # object arrays need pickle, which is never used
                if "allow_pickle" not in str(error):
                    raise DataError(f"{path}: its {key} cannot be read ({_reason(error)}): {how}") from error
                raise DataError(f"{path}: its {key} holds Python objects (mixed types or None?), not numbers "
                                "or strings: store a numeric array") from error
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise DataError(f"{path} is truncated or damaged ({_reason(error)}): {how}") from error
    return arrays


def _npz_examples(path, key, x, dtype):
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: its {key} holds {_kind_name(x.dtype)}, not numbers: store the pixels as numbers "
                        "(floats in [0, 1], or any range with --rescale)")
    if x.ndim < 2:
        raise DataError(f"{path}: its {key} has shape {x.shape}, expected one example per row: "
                        "(examples, pixels) or (examples, rows, cols)")
    return x.reshape(len(x), -1).astype(dtype)


def _npz_label_names(path, names, pairs):
    if names is None:
        return None
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise DataError(f"{path}: its label_names has shape {names.shape} and type {names.dtype}: "
                        "give one string per class, class 0 first")
    top = max(int(y.max()) for _, y in pairs.values() if y.size)
    if top >= len(names):
        raise DataError(f"{path}: its labels go up to {top} but label_names holds {len(names)} names: "
                        "give one name per class, class 0 first")
    return tuple(str(n) for n in names)


# ----- a folder of images ------------------------------------------------------------------


def _read_image_folder(folder, dtype, download):
    """Images arranged as ``<folder>/<split>/<label>/<image>``.

    ``<split>`` is ``train`` (required), ``valid`` and ``test`` (optional:
    carved out of the training set when absent, see :func:`_carve`).  Images
    are PNG, JPEG, BMP, GIF or TIFF files (:data:`IMAGE_SUFFIXES`); each
    becomes its grey levels / 255 (any colour is converted to grey); all must
    have the same size.  Files and folders whose name starts with a dot are
    ignored.

    Labels are the label folders' names: when every name is a whole number
    (``0``, ``1``, ``7``) that number is the label; otherwise the names of all
    splits are sorted (as strings) and numbered 0..K-1, and the
    :class:`Splits`' ``label_names`` holds them in that order.  The training
    examples are put in a fixed pseudo-random order
    (``RandomState(SPLIT_SEED)``), since a folder lists them class by class and
    minibatch SGD learns badly from classes in turn; validation and test
    examples stay in folder order.  ``sources`` holds each example's file.
    """
    stray = sorted(p.name for p in folder.iterdir()
                   if p.is_dir() and not p.name.startswith(".") and p.name not in SPLIT_NAMES)
    if stray:
        raise DataError(f"{folder} holds the folder {stray[0]}/, but an image dataset holds only train/, valid/ "
                        "and test/ (each with one folder per label): rename or remove it")
    listed = {split: _list_image_split(folder / split) for split in SPLIT_NAMES if (folder / split).is_dir()}
    names = sorted({label for files in listed.values() for label, _ in files})
    if all(re.fullmatch(r"[0-9]+", name) for name in names):
        index, label_names = {name: int(name) for name in names}, None
    else:
        index, label_names = {name: i for i, name in enumerate(names)}, names
    parts, reference = {}, None
    for split, files in listed.items():
        paths = [path for _, path in files]
        x, reference = _read_same_size_images(paths, dtype, reference)
        y = numpy.array([index[label] for label, _ in files], dtype=numpy.int32)
        parts[split] = (x, y, numpy.array([str(p) for p in paths]))
    rest, carved = _carve(folder, parts["train"], [s for s in ("valid", "test") if s not in parts])
    order = numpy.random.RandomState(SPLIT_SEED).permutation(len(rest[0]))
    parts.update(carved, train=tuple(a[order] for a in rest))
    return Splits([parts[s][:2] for s in SPLIT_NAMES], image_shape=reference[1], label_names=label_names,
                  sources=tuple(parts[s][2] for s in SPLIT_NAMES))


def _list_image_split(split_dir):
    """``[(label, image path)]`` of one split folder, sorted by label then file name."""
    files = []
    for entry in sorted(p for p in split_dir.iterdir() if not p.name.startswith(".")):
        if not entry.is_dir():
            raise DataError(f"{entry} lies directly in {split_dir}: put each image in a folder named after its "
                            f"label, e.g. {split_dir / '0' / entry.name}")
        images = sorted(p for p in entry.iterdir() if not p.name.startswith("."))
        if not images:
            raise DataError(f"{entry} holds no images: add images or remove the empty label folder")
        for image in images:
            if image.is_dir():
                raise DataError(f"{image} is a folder inside the label folder {entry}: put the images directly "
                                f"in {entry}")
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{image} is not an image file (expected {', '.join(IMAGE_SUFFIXES)}): "
                                "remove it from the dataset folder")
            files.append((entry.name, image))
    if not files:
        raise DataError(f"{split_dir} holds no label folders: arrange the images as {split_dir}/<label>/*.png")
    return files


def read_image_files(paths, dtype="float32"):
    """Grey levels / 255 of image files that all have the same size, as the
    image-folder format reads them: ``(x, (rows, cols))`` with x of shape
    ``(n, rows * cols)``."""
    x, reference = _read_same_size_images(list(paths), numpy.dtype(dtype), None)
    return x, reference[1]


def _read_same_size_images(paths, dtype, reference):
    """Read ``paths`` as grey levels / 255; ``reference`` = (path, (rows, cols)) they must match
    (the first image's when None).  Returns ``(x, reference)``."""
    from PIL import Image

    if not paths:
        raise DataError("no image files given")
    x = None
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                grey = numpy.asarray(image.convert("L"), dtype=numpy.uint8)
        except Exception as error:  # Pillow raises many kinds on a damaged or foreign file
            if isinstance(error, MemoryError):
                raise
            raise DataError(f"{path} is not an image file Pillow can read ({_reason(error)}): "
                            "remove it or replace it with a PNG or JPEG file") from error
        if reference is None:
            reference = (path, grey.shape)
        elif grey.shape != reference[1]:
            (h0, w0), (h1, w1) = reference[1], grey.shape
            raise DataError(f"{reference[0]} is {w0}x{h0} pixels (width x height) but {path} is {w1}x{h1}: "
                            "all images must have the same size; resize them to one size")
        if x is None:
            x = numpy.empty((len(paths), grey.size), dtype=dtype)
        x[i] = grey.reshape(-1)
    x /= dtype.type(255)
    return x, reference


# ----- which reader ---------------------------------------------------------------------------


def _reader_for(path):
    """Pick the reader for the dataset at ``path`` -- the one place to add formats.

    A reader is called as ``reader(path, dtype, download)`` and returns the
    three (x, y) pairs (a :class:`Splits`, or a plain tuple) with x floats of
    ``dtype``, shape (n, pixels), and y int32.
    """
    name = path.name.lower()
    if name.endswith(_PICKLE_SUFFIXES):
        if path.is_dir():
            raise DataError(f"{path} is a folder: give the pickle file itself, or a folder of IDX files")
        return _read_pickle
    if name.endswith(".npz"):
        if path.is_dir():
            raise DataError(f"{path} is a folder: give the .npz file itself, or a folder of IDX files or images")
        if not path.exists():
            raise DataError(f"{path} does not exist: give an existing .npz dataset")
        return _read_npz
    has_idx = path.is_dir() and any((path / n).exists() for n in MNIST_FILES)
    if path.is_dir() and not has_idx and (path / "train").is_dir():
        return _read_image_folder
    if path.is_dir() and not has_idx:
        _refuse_loose_images(path)
    if path.is_dir() or (not path.exists() and not name.endswith(_FILE_SUFFIXES)):
        return _read_idx_folder
    if not path.exists():
        raise DataError(
            f"{path} does not exist: give an existing mnist.pkl.gz or .npz, or a folder for the four MNIST IDX files"
        )
    if path.name in MNIST_FILES:
        raise DataError(f"{path} is one of the four MNIST files: give the folder that holds all four ({path.parent})")
    raise DataError(
        f"{path} is in no format this program reads: give a folder with the four MNIST IDX files, "
        "the tutorial's mnist.pkl.gz, a .npz (train_x, train_y, ...) or a folder of train/<label>/ images"
    )


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
        (or does not exist yet) gets MNIST downloaded into it.
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
    test = the official test set (see :func:`_read_idx_folder` for smaller
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
            splits = _rescale(path, splits)
    else:
        splits = _rescale(path, splits, fixed=rescale)
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
            raise DataError(f"{path}: its {split} set is empty")
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
            raise DataError(
                f"{path}: its {split} x holds values from {low} to {high}, expected pixels in [0, 1] "
                "(the cross-entropy cost needs them there): scale them yourself (e.g. divide by 255), "
                "or pass --rescale to map the training set's range onto [0, 1]"
            )
        if y.min() < 0:
            raise DataError(f"{path}: its {split} labels include {y.min()}; class labels must be >= 0")


def _rescale(path, splits, fixed=None):
    """Min-max over the training x (or the ``fixed`` (min, max)): ``(x - min) / (max - min)``
    for every set, clipped to [0, 1]."""
    if fixed is None:
        train_x = splits[0][0]
        low, high = float(train_x.min()), float(train_x.max())
        if not (numpy.isfinite(low) and numpy.isfinite(high)):
            raise DataError(f"{path}: its train x holds NaN or infinite values, which cannot be rescaled: "
                            "fix or remove those examples")
        if high <= low:
            raise DataError(f"{path}: every training x value is {low}: there is no range to rescale onto [0, 1]")
    else:
        try:
            low, high = (float(v) for v in fixed)
        except (TypeError, ValueError):
            raise UsageError(f"rescale must be True, False or a (min, max) pair, got {fixed!r}") from None
        if not (numpy.isfinite(low) and numpy.isfinite(high) and high > low):
            raise UsageError(f"rescale range {fixed!r} is not a pair of finite numbers min < max")
    pairs = []
    for x, y in splits:
        scaled = (x - x.dtype.type(low)) / x.dtype.type(high - low)
        numpy.clip(scaled, 0, 1, out=scaled)
        pairs.append((scaled.astype(x.dtype, copy=False), y))
    return splits.replace(pairs, rescaled_from=(low, high))


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
    from .backend import floatX, pytensor

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
