"""MNIST for the tutorials: find it, download it, check it and load it.

The Deep Learning Tutorials' ``load_data`` read ``mnist.pkl.gz``, a pickle the
tutorial's authors made from the official MNIST files.  This package reads either
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
  MNIST's or your own in the same layout and names (each gzipped, or
  uncompressed under its name without ``.gz``), images of any size; a path
  that does not exist is created for the download only if its name has no
  extension and its parent folder exists (else it is refused as mistyped);
* the tutorial's ``mnist.pkl.gz``;
* a ``.npz`` holding ``train_x, train_y`` and optionally ``valid_x, valid_y``,
  ``test_x, test_y`` and ``label_names`` (:func:`~sda.data.npz.read_npz`);
* a folder of images arranged as ``train/<label>/*.png`` (``valid/`` and
  ``test/`` optional) (:func:`~sda.data.image_folder.read_image_folder`).

A split that a ``.npz`` or an image folder lacks (validation, test) is carved
out of its training set: ``n // 6`` examples each, chosen by
``numpy.random.RandomState(SPLIT_SEED).permutation(n)`` (see :func:`~sda.data.splits.carve`).

Every reader returns a :class:`Splits`: the three ``(x, y)`` pairs, plus what
the format knows about them (``image_shape``, ``label_names``, ``sources``).
x must lie in [0, 1] (the cross-entropy cost needs it); ``rescale=True`` maps
the training set's range onto [0, 1] instead (:func:`~sda.data.preprocess.rescale_splits`).

Every problem the user can put right raises :class:`~sda.errors.DataError` (or
:class:`~sda.errors.UsageError` for a bad argument) with a one-line message
saying what is wrong and what to do.

No data file is trusted (:mod:`sda.data.reading`): only regular files are
read (a named pipe or a device is refused before it is opened); what a format
declares (an IDX header's sizes, a .npz array's shape, an image's pixels) is
checked against the file and the machine's memory before anything is inflated
or decoded, and inflating stops where the declared data ends; a pickle builds
NumPy arrays and plain containers only (:mod:`sda.safe_pickle`).

One module per concept: :mod:`~sda.data.download` (the official files, their
mirrors and a verified download), :mod:`~sda.data.reading` (a data file's
bytes, within bounds), :mod:`~sda.data.idx`, :mod:`~sda.data.tutorial_pickle`,
:mod:`~sda.data.npz` and :mod:`~sda.data.image_folder` (the four formats),
:mod:`~sda.data.images` (an image file as grey levels),
:mod:`~sda.data.splits` (the three (x, y) pairs and what a format knows about
them), :mod:`~sda.data.preprocess` (mapping data onto [0, 1]: rescaling, image
files prepared as MNIST digits) and :mod:`~sda.data.datasets` (choosing the
reader, the checks every format passes, :func:`load_mnist_arrays` and
:func:`load_data`).
"""

from .datasets import DEFAULT_DATA_DIR, Datasets, load_data, load_mnist_arrays, resolve_dataset
from .download import DEFAULT_MIRRORS, MNIST_FILES, download_mnist, mirror_list
from .idx import read_idx
from .image_folder import IMAGE_SUFFIXES, read_image_files
from .splits import SPLIT_NAMES, SPLIT_SEED, Splits, image_shape_for

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
