"""IDX files (the format of the official MNIST files) and the tutorial's split of
the four of them into training, validation and test sets."""

import gzip
import struct
import zlib
from pathlib import Path

import numpy

from ..errors import DataError
from .download import MNIST_FILES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, download_mnist
from .reading import GZIP_MAGIC, read_bytes, reason
from .splits import Splits

#: The tutorial's validation set: the last 10 000 of the 60 000 training images.
MNIST_VALID_SIZE = 10_000

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (n, rows, cols)
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (n,)
_IDX_UBYTE = 0x08


def _fix_hint(path):
    """What to do about a damaged file: official ones can be downloaded again."""
    if Path(path).name in MNIST_FILES:
        return "delete it and run again to download it, or put the official file there"
    return "replace it with a valid file"


def _gunzip_if_gzip(path, data):
    """Decompress ``data`` if it is gzip (told by its first bytes, not its name)."""
    if data[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(
                f"{path} is a truncated or damaged gzip file ({reason(error)}): {_fix_hint(path)}"
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
    data = _gunzip_if_gzip(path, read_bytes(path))
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


def read_idx_folder(folder, dtype, download):
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
