"""Datasets stored as folders of images (``train/<label>/*.png``), and reading image
files as grey levels."""

import re

import numpy

from ..errors import DataError
from .images import read_grey
from .splits import SPLIT_NAMES, SPLIT_SEED, Splits, carve

#: The image files an image folder may hold (grey levels are taken from any mode Pillow reads).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def read_image_folder(folder, dtype, download):
    """Images arranged as ``<folder>/<split>/<label>/<image>``.

    ``<split>`` is ``train`` (required), ``valid`` and ``test`` (optional:
    carved out of the training set when absent, see :func:`~sda.data.splits.carve`).  Images
    are PNG, JPEG, BMP, GIF or TIFF files (:data:`IMAGE_SUFFIXES`); each
    becomes its grey levels in [0, 1] (any mode, colour and transparency as
    :mod:`sda.data.images` reads them); all must have the same size.  Files and folders whose name starts with a dot are
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
        index, label_names = _numeric_labels(folder, listed, names), None
    else:
        index, label_names = {name: i for i, name in enumerate(names)}, names
    parts, reference = {}, None
    for split, files in listed.items():
        paths = [path for _, path in files]
        x, reference = _read_same_size_images(paths, dtype, reference)
        y = numpy.array([index[label] for label, _ in files], dtype=numpy.int32)
        parts[split] = (x, y, numpy.array([str(p) for p in paths]))
    rest, carved = carve(folder, parts["train"], [s for s in ("valid", "test") if s not in parts])
    order = numpy.random.RandomState(SPLIT_SEED).permutation(len(rest[0]))
    parts.update(carved, train=tuple(a[order] for a in rest))
    return Splits([parts[s][:2] for s in SPLIT_NAMES], image_shape=reference[1], label_names=label_names,
                  sources=tuple(parts[s][2] for s in SPLIT_NAMES))


def _numeric_labels(folder, listed, names):
    """``{name: int(name)}`` for label folders named by whole numbers; two names of one number
    (``1`` and ``01``) would silently merge two classes, and a number past int32 fits no label."""
    index, first = {}, {}
    for name in names:
        label = int(name)
        where = next(folder / split / name for split, files in listed.items() if any(n == name for n, _ in files))
        if label in first:
            raise DataError(f"{first[label]} and {where} are both label {label} (a label folder named by a whole "
                            "number is that label): merge them into one folder, or rename one")
        if label > numpy.iinfo(numpy.int32).max:
            raise DataError(f"{where} is label {label}, more than the largest label "
                            f"{numpy.iinfo(numpy.int32).max}: number the label folders from 0")
        index[name], first[label] = label, where
    return index


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
    """Grey levels in [0, 1] of image files that all have the same size, as the
    image-folder format reads them: ``(x, (rows, cols))`` with x of shape
    ``(n, rows * cols)``."""
    x, reference = _read_same_size_images(list(paths), numpy.dtype(dtype), None)
    return x, reference[1]


def _read_same_size_images(paths, dtype, reference):
    """Read ``paths`` as grey levels in [0, 1]; ``reference`` = (path, (rows, cols)) they must match
    (the first image's when None).  Returns ``(x, reference)``.

    Each image's size is checked before it is decoded, so memory never holds
    more than ``x`` and one image, whatever the files claim."""
    if not paths:
        raise DataError("no image files given")
    x = None
    for i, path in enumerate(paths):
        if reference is None:
            grey = read_grey(path)
            reference = (path, grey.shape)
        else:
            grey = read_grey(path, expected_shape=reference[1], reference=reference[0])
        if x is None:
            x = numpy.empty((len(paths), grey.size), dtype=dtype)
        x[i] = grey.reshape(-1)
    return x, reference
