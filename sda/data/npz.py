"""Datasets stored as a ``.npz`` of named arrays."""

import math
import zipfile
import zlib

import numpy

from ..errors import DataError
from .reading import memory_size, open_regular, reason
from .splits import SPLIT_NAMES, Splits, as_labels, carve, kind_name

#: The arrays a dataset .npz may hold.
NPZ_KEYS = ("train_x", "train_y", "valid_x", "valid_y", "test_x", "test_y", "label_names")

_NPZ_LAYOUT = "train_x, train_y and optionally valid_x, valid_y, test_x, test_y, label_names"
_NPZ_LABEL_HINT = "; store class names, if any, as label_names"
_HOW = "write it with numpy.savez(path, train_x=..., train_y=..., ...)"
_NPY_HEADER_READERS = {(1, 0): numpy.lib.format.read_array_header_1_0, (2, 0): numpy.lib.format.read_array_header_2_0}


def read_npz(path, dtype, download):
    """A ``.npz`` of ``train_x, train_y`` and optionally ``valid_x, valid_y``,
    ``test_x, test_y`` and ``label_names``.

    x: one example per row, 2-D ``(n, pixels)`` or N-D ``(n, rows, cols, ...)``
    (flattened; a 3-D x gives the image shape), any numeric type, values in
    [0, 1] (or any range with ``rescale=True``).  y: whole-number class labels
    from 0 up (integers, or floats holding whole numbers).  A missing validation
    or test set is carved out of the training set (:func:`~sda.data.splits.carve`); the training
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
        y = as_labels(path, split, arrays[ky], _NPZ_LABEL_HINT)
        if len(x) != len(y):
            raise DataError(f"{path}: {kx} has {len(x)} rows (examples) but {ky} has {len(y)} labels: "
                            "they must match, one label per example")
        pairs[split], shapes[split] = (x, y), arrays[kx].shape[1:]
    for split, shape in shapes.items():
        if shape != shapes["train"]:
            raise DataError(f"{path}: train_x holds examples of shape {shapes['train']} but {split}_x holds "
                            f"{shape}: every set must have the same example shape")
    rest, carved = carve(path, pairs["train"], [s for s in ("valid", "test") if s not in pairs])
    pairs.update(carved, train=rest)
    label_names = _npz_label_names(path, arrays.get("label_names"), pairs)
    image_shape = shapes["train"] if len(shapes["train"]) == 2 else None
    return Splits([pairs[s] for s in SPLIT_NAMES], image_shape=image_shape, label_names=label_names)


def _load_npz(path):
    """All arrays of a ``.npz``, read without unpickling anything, and only once
    their declared sizes are known to fit in the file and in memory."""
    with open_regular(path) as stream:
        try:
            loaded = numpy.load(stream, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
            raise DataError(f"{path} is not a readable .npz file ({reason(error)}): {_HOW}") from error
        if not isinstance(loaded, numpy.lib.npyio.NpzFile):
            raise DataError(f"{path} holds a single array, not named arrays: {_HOW}")
        arrays = {}
        with loaded:
            _check_declared_sizes(path, loaded.zip)
            for key in loaded.files:
                try:
                    arrays[key] = loaded[key]
                except ValueError as error:  # object arrays need pickle, which is never used
                    if "allow_pickle" not in str(error):
                        raise DataError(f"{path}: its {key} cannot be read ({reason(error)}): {_HOW}") from error
                    raise DataError(f"{path}: its {key} holds Python objects (mixed types or None?), not numbers "
                                    "or strings: store a numeric array") from error
                except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                    raise DataError(f"{path} is truncated or damaged ({reason(error)}): {_HOW}") from error
    return arrays


def _check_declared_sizes(path, archive):
    """Each array's header declares its shape: refuse, before any array is inflated, one that its
    member of the zip file cannot hold, or arrays that all together do not fit in memory."""
    total = 0
    for info in archive.infolist():
        try:
            with archive.open(info) as member:
                header = _NPY_HEADER_READERS.get(numpy.lib.format.read_magic(member))
                if header is None:  # a newer .npy version: numpy.load checks it as it reads
                    continue
                shape, _, dtype = header(member)
                room = info.file_size - member.tell()
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
            raise DataError(f"{path}: its {info.filename} is not a readable array ({reason(error)}): {_HOW}") from error
        declared = math.prod(shape) * dtype.itemsize
        if declared > room and not dtype.hasobject:
            raise DataError(f"{path}: its {info.filename} declares an array of shape {shape} ({declared} bytes) but "
                            f"holds {room} bytes: the file is truncated or damaged: {_HOW}")
        total += declared
    memory = memory_size()
    if memory is not None and total > memory:
        raise DataError(f"{path} declares {total} bytes of arrays, more than this machine's {memory} bytes of "
                        "memory: use a smaller dataset or a machine with more memory")


def _npz_examples(path, key, x, dtype):
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: its {key} holds {kind_name(x.dtype)}, not numbers: store the pixels as numbers "
                        "(floats in [0, 1], or any range with --rescale)")
    if x.ndim < 2:
        raise DataError(f"{path}: its {key} has shape {x.shape}, expected one example per row: "
                        "(examples, pixels) or (examples, rows, cols)")
    if len(x) == 0:
        fix = "give it examples"
        if key != "train_x":
            fix += f", or leave out {key} and {key[:-1]}y (the set is then carved out of the training set)"
        raise DataError(f"{path}: its {key} has shape {x.shape}, no example: {fix}")
    if x[0].size == 0:
        raise DataError(f"{path}: its {key} has shape {x.shape}, its examples hold no value: "
                        "give each example at least one value (pixel)")
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
