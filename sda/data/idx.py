"""IDX files (the format of the official MNIST files) and the tutorial's split of
the four of them into training, validation and test sets."""

import math
import struct
from pathlib import Path

import numpy

from ..errors import DataError
from .download import (MNIST_FILES, MNIST_NAMES, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, download_mnist,
                       idx_path)
from .reading import Inflater, memory_size, open_regular
from .splits import Splits

#: The tutorial's validation set: the last 10 000 of the 60 000 training images.
MNIST_VALID_SIZE = 10_000

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (n, rows, cols)
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (n,)
_IDX_UBYTE = 0x08


def _fix_hint(path):
    """What to do about a damaged file: official ones can be downloaded again."""
    if Path(path).name in MNIST_NAMES:
        return "delete it and run again to download it, or put the official file there"
    return "replace it with a valid file"


def read_idx(path, magic=None):
    """Read an IDX file of unsigned bytes, gzip-compressed or not; return a numpy uint8 array.

    An IDX file (the format of the official MNIST files) is a big-endian
    header -- two zero bytes, a type code (0x08 for unsigned bytes), the number
    of dimensions ``d``, then ``d`` 32-bit sizes -- followed by the data.  The
    magic number is the first four bytes read as one integer: 2051 for MNIST
    images (n, rows, cols), 2049 for labels (n,).  Pass ``magic`` to insist on
    one of them.

    The header declares how much data follows, so memory stays bounded by it:
    a declared size that the file cannot hold (more than its compressed bytes
    can inflate to) or that this machine's memory cannot hold is refused
    before anything is inflated, and inflating stops as soon as the data
    exceeds the declared size.
    """
    hint = _fix_hint(path)
    with open_regular(path) as stream:
        data = Inflater(stream, path, hint)
        start = data.read_exactly(4)
        if not data.compressed and Path(path).name.endswith(".gz") and not _idx_start(start):
            # an uncompressed IDX file is read whatever its name; anything else named .gz is most
            # likely what a server sent instead (an HTML error page)
            what = ("is empty" if not data.stored_size
                    else "is not a gzip file (an HTML error page saved under that name?)")
            raise DataError(f"{path} {what}: {hint}")
        if len(start) < 4 and not data.finished:
            raise DataError(f"{path} is a truncated gzip file (its end is missing): {hint}")
        if not _idx_start(start):
            begins = f"starts with 0x{start.hex()}" if start else "is empty"
            raise DataError(f"{path} is not an IDX file of unsigned bytes (it {begins}): {hint}")
        found = struct.unpack(">I", start)[0]
        if magic is not None and found != magic:
            raise DataError(
                f"{path} has IDX magic number {found}, expected {magic} ({_magic_name(magic)}): "
                f"is it the right file? {hint}"
            )
        ndim = start[3]
        sizes = data.read_exactly(4 * ndim)
        if len(sizes) < 4 * ndim:
            raise DataError(f"{path} is truncated (its IDX header is incomplete): {hint}")
        shape = struct.unpack(f">{ndim}I", sizes)
        declared = math.prod(shape)
        _check_declared_size(path, shape, declared, data, 4 + 4 * ndim)
        array = numpy.empty(declared, dtype=numpy.uint8)
        got = data.fill(array)
        if got < declared:
            raise DataError(f"{path} declares {_size_text(shape)} = {declared} bytes of data but holds {got}: "
                            f"the file is truncated or damaged: {hint}")
        if data.read_exactly(1):
            raise DataError(f"{path} holds more than the {_size_text(shape)} = {declared} bytes of data its header "
                            f"declares: the file is damaged: {hint}")
        if not data.finished:
            raise DataError(f"{path} is a truncated gzip file (its end is missing): {hint}")
    return array.reshape(shape)


def _idx_start(start):
    """Whether ``start`` (a file's first 4 bytes) begins an IDX file of unsigned bytes."""
    return len(start) == 4 and start[:2] == b"\0\0" and start[2] == _IDX_UBYTE and start[3] != 0


def _check_declared_size(path, shape, declared, data, header):
    """Refuse, before inflating anything, a declared size the file or the machine cannot hold."""
    what = f"{path} declares {_size_text(shape)} = {declared} bytes of data"
    if not data.compressed and declared != data.stored_size - header:
        raise DataError(f"{what} but holds {data.stored_size - header}: the file is truncated or damaged: "
                        f"{_fix_hint(path)}")
    if declared > data.max_output:
        raise DataError(f"{what}, more than its {data.stored_size} compressed bytes can hold: "
                        f"the file is truncated or damaged: {_fix_hint(path)}")
    memory = memory_size()
    if memory is not None and declared > memory:
        raise DataError(f"{what}, more than this machine's {memory} bytes of memory: "
                        "use a smaller dataset or a machine with more memory")


def _magic_name(magic):
    return {IDX_IMAGES_MAGIC: "images", IDX_LABELS_MAGIC: "labels"}.get(magic, "IDX")


def _read_idx_examples(images_path, labels_path, dtype):
    """Read one IDX images file and its labels file: x = pixel / 255 as (n, rows*cols), y int32, (rows, cols)."""
    images = read_idx(images_path, magic=IDX_IMAGES_MAGIC)
    n, rows, cols = images.shape
    if n == 0:
        raise DataError(f"{images_path} holds no images (its header declares 0): give a file with images")
    if rows * cols == 0:
        raise DataError(f"{images_path} holds images of {rows} x {cols} pixels, which show nothing: "
                        "give images of at least 1 x 1 pixels")
    labels = read_idx(labels_path, magic=IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels: "
            "the two files do not belong together; replace them with matching files"
        )
    x = images.reshape(len(images), -1).astype(dtype)
    x /= dtype.type(255)
    return x, labels.astype(numpy.int32), (rows, cols)


def read_idx_folder(folder, dtype, download):
    """The four official IDX files in ``folder``, split as in the tutorial.

    Training = the first 50 000 of the 60 000 official training images,
    validation = the last 10 000, test = the official 10 000 test images.  A
    smaller training file (test data) gives its last sixth to validation
    (``n_valid = n // 6``).  Missing files are downloaded unless ``download``
    is false.  Each file may be gzipped (its official name) or uncompressed
    (its name without ``.gz``); the gzipped one is read when both are there.

    Images of any size are read (rows and columns come from the IDX header);
    the training and test files must hold images of the same size.
    """
    _ensure_idx_files(folder, download)
    train_images, train_labels, test_images, test_labels = (
        idx_path(folder, name) for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS))
    train_x, train_y, train_shape = _read_idx_examples(train_images, train_labels, dtype)
    test_x, test_y, test_shape = _read_idx_examples(test_images, test_labels, dtype)
    if train_shape != test_shape:
        raise DataError(
            f"{train_images} holds {_size_text(train_shape)} images but {test_images} "
            f"holds {_size_text(test_shape)} ones: both must have the same image size (rows x columns)"
        )
    n_valid = _validation_size(len(train_x), train_images)
    n_fit = len(train_x) - n_valid
    return Splits(
        ((train_x[:n_fit], train_y[:n_fit]), (train_x[n_fit:], train_y[n_fit:]), (test_x, test_y)),
        image_shape=train_shape,
    )


def _size_text(shape):
    return " x ".join(map(str, shape)) if shape else "unshaped"


def _ensure_idx_files(folder, download):
    """Download the MNIST files missing from ``folder`` or, if not allowed, say which are missing."""
    missing = [name for name in MNIST_FILES if idx_path(folder, name) is None]
    if not missing:
        return
    if not download:
        where = f"{folder} does not exist" if not folder.exists() else f"{folder} lacks {', '.join(missing)}"
        raise DataError(
            f"{where}: put the official MNIST files ({', '.join(MNIST_FILES)}; gzipped, or uncompressed "
            "without .gz) there or allow downloading them"
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
