"""Datasets stored as a ``.npz`` of named arrays."""

import zipfile
import zlib

import numpy

from ..errors import DataError
from .reading import reason
from .splits import SPLIT_NAMES, Splits, as_labels, carve, kind_name

#: The arrays a dataset .npz may hold.
NPZ_KEYS = ("train_x", "train_y", "valid_x", "valid_y", "test_x", "test_y", "label_names")

_NPZ_LAYOUT = "train_x, train_y and optionally valid_x, valid_y, test_x, test_y, label_names"
_NPZ_LABEL_HINT = "; store class names, if any, as label_names"


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
    """All arrays of a ``.npz``, read without unpickling anything."""
    how = "write it with numpy.savez(path, train_x=..., train_y=..., ...)"
    try:
        loaded = numpy.load(path, allow_pickle=False)
    except FileNotFoundError as error:
        raise DataError(f"{path} does not exist: give an existing .npz dataset") from error
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a readable .npz file ({reason(error)}): {how}") from error
    if not isinstance(loaded, numpy.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array, not named arrays: {how}")
    arrays = {}
    with loaded:
        for key in loaded.files:
            try:
                arrays[key] = loaded[key]
            except ValueError as error:  # object arrays need pickle, which is never used
                if "allow_pickle" not in str(error):
                    raise DataError(f"{path}: its {key} cannot be read ({reason(error)}): {how}") from error
                raise DataError(f"{path}: its {key} holds Python objects (mixed types or None?), not numbers "
                                "or strings: store a numeric array") from error
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise DataError(f"{path} is truncated or damaged ({reason(error)}): {how}") from error
    return arrays


def _npz_examples(path, key, x, dtype):
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: its {key} holds {kind_name(x.dtype)}, not numbers: store the pixels as numbers "
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
