"""The three (x, y) pairs a dataset is made of, what a format knows about them, the
carving of a split a format lacks out of the training set, and the checks of labels."""

import numpy

from ..errors import DataError
from .reading import reason

#: The tutorial's three splits, in the order ``load_data`` returns them.
SPLIT_NAMES = ("train", "valid", "test")

#: A split missing from a .npz or an image folder takes 1/HELD_OUT_PART of the training examples.
HELD_OUT_PART = 6

#: Seed of the fixed shuffle that carves missing splits (and orders an image folder's training set):
#: ``numpy.random.RandomState(SPLIT_SEED).permutation(n)``, the same on every machine and numpy version.
SPLIT_SEED = 0


def as_labels(path, split, y, hint=""):
    """Labels as int32: any integer array, or floats holding whole numbers."""
    try:
        y = numpy.asarray(y)
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: its {split} labels are not an array ({reason(error)})") from error
    if y.ndim != 1:
        raise DataError(f"{path}: its {split} labels have shape {y.shape}, expected 1-D (one per example)")
    if y.dtype.kind == "b":
        y = y.astype(numpy.int32)
    if y.dtype.kind not in "iuf":
        example = f" (e.g. {y.flat[0].item()!r})" if y.size and y.dtype.kind in "USb" else ""
        raise DataError(
            f"{path}: its {split} labels are {kind_name(y.dtype)}{example}, not class indices: "
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


def kind_name(dtype):
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



def image_shape_for(n_pixels, known=None):
    """``(rows, cols)`` to draw an example of ``n_pixels`` values: ``known`` (a
    dataset's ``image_shape``) when it fits, else a square when ``n_pixels``
    is one, else a single row."""
    if known is not None and int(numpy.prod(known)) == n_pixels:
        return tuple(int(v) for v in known)
    side = int(round(n_pixels ** 0.5))
    return (side, side) if side * side == n_pixels else (1, int(n_pixels))


# ----- splits that a .npz or an image folder lacks ------------------------------------------


def carve(path, train, missing):
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
