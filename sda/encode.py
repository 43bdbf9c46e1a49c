"""A trained SdA as a feature extractor: ``scripts/encode.py``.

Loads a ``model.npz`` written by ``train_sda.py`` and writes, for a dataset
split or for image files, the hidden representation of one layer
(:func:`sda.inference.encode`) or, with ``predict=True``, the
class probabilities and predicted labels (:func:`sda.inference.predict_proba`)::

    python scripts/encode.py runs/sda --dataset toy.npz --split all --output features.npz
    python scripts/encode.py runs/sda digit.png --predict --output p.npz

Importing this module does not import PyTensor.
"""

import os

import numpy

from .errors import DataError, UsageError
from .locks import holder
from .model_io import training_rescale

__all__ = ["OUTPUT_SUFFIXES", "SPLIT_CHOICES", "run_encode"]

#: What ``--split`` accepts; ``all`` is train, valid and test, in that order.
SPLIT_CHOICES = ("train", "valid", "test", "all")

#: The output formats, told by the file name's suffix.
OUTPUT_SUFFIXES = (".npy", ".npz")

#: A training run's files beside its model: never an output of encode.py.
RUN_FILES = ("model.npz", "checkpoint.npz", "results.json")


def run_encode(model, output, dataset=None, images=(), split="all", layer=-1, predict=False, rescale=None,
               raw_images=False, log=print):
    """Encode a dataset split or image files with a saved SdA and write the result.

    :param model: ``model.npz`` written by ``train_sda.py``, or its output directory
    :param output: ``.npz`` (named arrays) or ``.npy`` (the one main array)
    :param dataset: any dataset :func:`sda.data.load_mnist_arrays` reads
        (``None``: $SDA_DATA, else data/); not with ``images``
    :param images: image files to encode instead of a dataset
    :param split: ``train``, ``valid``, ``test`` or ``all`` (the three, in that order)
    :param layer: hidden layer whose representation is written (0 = first,
        -1 = top, as in Python indexing)
    :param predict: write class probabilities and labels instead of a hidden layer
    :param rescale: how the dataset's x are brought into [0, 1], as in training:
        ``None`` follows the training run (``rescaled_from`` in the
        ``results.json`` beside the model: the same min..max map; no map when
        absent), ``True`` maps this dataset's training min..max, ``False``
        none, a ``(min, max)`` pair that map.  Image files are not affected.
    :param raw_images: read image files as the image-folder format does (grey
        levels / 255, as they are; their pixel count must be the model's
        input size) instead of preparing them as MNIST digits were
        (:func:`sda.data.preprocess.image_to_mnist`, square models only)

    The ``.npz`` holds ``h`` (examples x units of the layer), or with
    ``predict`` ``p_y_given_x`` (examples x classes) and ``y_pred``; for a
    dataset also ``y`` (the true labels), with ``split="all"`` also ``split``
    (the name of each row's set), and for image folders and image files
    ``files`` (each row's file).  A ``.npy`` holds ``h`` or ``p_y_given_x``
    alone.  Returns the dict of arrays written.
    """
    suffix = _output_suffix(output)
    images = [os.fspath(p) for p in images or ()]
    if images and dataset is not None:
        raise UsageError("give either --dataset or image files, not both")
    if split not in SPLIT_CHOICES:
        raise UsageError(f"--split {split!r}: choose one of {', '.join(SPLIT_CHOICES)}")
    if isinstance(layer, bool) or not isinstance(layer, (int, numpy.integer)):
        raise UsageError(f"--layer must be an integer (0 = first hidden layer, -1 = top), got {layer!r}")
    _refuse_to_replace_an_input(output, model, dataset, images)

    from .model_io import load_model

    sda = load_model(os.fspath(model))
    if not predict and not -sda.n_layers <= layer < sda.n_layers:
        sizes = ", ".join(map(str, sda.hidden_layers_sizes))
        raise UsageError(f"--layer {layer}: the model has {sda.n_layers} hidden layers ({sizes} units): "
                         f"give 0 to {sda.n_layers - 1}, or -1 for the top one")

    if images:
        x, extra = _image_inputs(sda, images, raw_images), {"files": numpy.array(images)}
        where = f"{len(images)} image file{'s' * (len(images) != 1)}"
    else:
        if rescale is None:
            rescale = training_rescale(model)
        x, extra = _dataset_inputs(sda, dataset, split, rescale)
        from .data import resolve_dataset

        sets = "the train, valid and test sets" if split == "all" else f"the {split} set"
        where = f"{sets} of {resolve_dataset(dataset)}"

    if predict:
        probabilities = sda.predict_proba(x)
        arrays = {"p_y_given_x": probabilities, "y_pred": numpy.argmax(probabilities, axis=1).astype(numpy.int32)}
        what = "class probabilities p_y_given_x" + (" and labels y_pred" if suffix == ".npz" else "")
    else:
        arrays = {"h": sda.encode(x, layer)}
        index = range(sda.n_layers)[layer]
        what = f"hidden layer {index} (h, {sda.hidden_layers_sizes[index]} units)"
    arrays.update(extra)
    _write(output, suffix, arrays)
    log(f"wrote {what} of {len(x)} examples from {where} to {output}")
    return arrays


def _output_suffix(output):
    suffix = os.path.splitext(os.fspath(output))[1].lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise UsageError(f"--output {output}: the file name must end in .npz (named arrays) or .npy (one array)")
    return suffix


def _refuse_to_replace_an_input(output, model, dataset, images):
    """Refuses, in one line and before any work, an ``output`` that would replace what the encoding reads
    (the model, the dataset, an image file) or a training run's files (a run's model.npz, checkpoint.npz,
    results.json beside the model; any file in a folder a run holds locked)."""
    target = os.path.abspath(os.fspath(output))
    model = os.fspath(model)
    model_dir = model if os.path.isdir(model) else os.path.dirname(model) or "."
    model_file = os.path.join(model, "model.npz") if os.path.isdir(model) else model

    def refuse(what):
        raise UsageError(f"--output {output} would {what}: give another --output file")

    if _same_file(target, model_file):
        refuse(f"replace the model file {model_file}")
    name = os.path.basename(target)
    if name in RUN_FILES and _same_file(os.path.dirname(target), model_dir):
        refuse(f"replace the training run's {name} beside the model")
    for image in images:
        if _same_file(target, image):
            refuse(f"replace the image file {image}")
    if not images:
        from .data import resolve_dataset

        data = os.fspath(resolve_dataset(dataset))
        if os.path.isfile(data):
            if _same_file(target, data):
                refuse(f"replace the dataset file {data}")
        elif _inside(target, data):  # a dataset folder, or the one MNIST would be downloaded into
            refuse(f"write into the dataset folder {data}")
    folder, owner = _locked_run_folder(os.path.dirname(target))
    if folder is not None:
        raise UsageError(f"--output {output} is in {folder}, which a training run is using (process {owner}): "
                         "give an --output outside it, or wait for the run to finish")


def _same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (or folder): the same inode when both exist, else the
    same real path."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return os.path.realpath(a) == os.path.realpath(b)


def _inside(path, folder):
    """Whether ``path`` is ``folder`` or anything below it, symbolic links resolved."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False


def _locked_run_folder(folder):
    """``(folder, owner's process id)`` for ``folder`` or the nearest folder above it that a run holds locked
    (:class:`sda.locks.FolderLock`), else ``(None, None)``.  Nothing is created or changed; the test holds a
    shared lock for an instant only when a lock file is there."""
    folder = os.path.realpath(folder)
    while True:
        owner = holder(folder)
        if owner is not None:
            return folder, owner
        parent = os.path.dirname(folder)
        if parent == folder:
            return None, None
        folder = parent


def _image_inputs(sda, images, raw_images):
    from .backend import floatX

    for path in images:
        if not os.path.isfile(path):
            raise DataError(f"{path} does not exist or is not a file: give image files (PNG, JPEG, ...)")
    if raw_images:
        from .data import read_image_files

        x, shape = read_image_files(images, dtype=floatX)
        if x.shape[1] != sda.n_ins:
            raise DataError(f"{images[0]} is {shape[1]}x{shape[0]} pixels = {x.shape[1]} inputs, but the model "
                            f"takes {sda.n_ins}: give images of the size the model was trained on")
        return x
    from .data.preprocess import image_to_mnist

    side = int(round(sda.n_ins ** 0.5))
    if side * side != sda.n_ins:
        raise DataError(f"the model takes {sda.n_ins} inputs, not a square image: encode image files of its size "
                        f"with --raw-images, or put them in an image dataset folder and use --dataset")
    return numpy.stack([image_to_mnist(path, side) for path in images]).astype(floatX)


def _dataset_inputs(sda, dataset, split, rescale):
    from .backend import floatX
    from .data import SPLIT_NAMES, load_mnist_arrays

    splits = load_mnist_arrays(dataset, dtype=floatX, rescale=rescale)
    chosen = SPLIT_NAMES if split == "all" else (split,)
    parts = [splits[SPLIT_NAMES.index(name)] for name in chosen]
    x = numpy.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    if x.shape[1] != sda.n_ins:
        raise DataError(f"the dataset's examples have {x.shape[1]} inputs but the model takes {sda.n_ins}: "
                        "give the kind of data the model was trained on")
    extra = {"y": numpy.concatenate([p[1] for p in parts])}
    if split == "all":
        extra["split"] = numpy.repeat(numpy.array(chosen), [len(p[0]) for p in parts])
    if splits.sources is not None:
        extra["files"] = numpy.concatenate([splits.sources[SPLIT_NAMES.index(name)] for name in chosen])
    return x, extra


def _write(output, suffix, arrays):
    from .files import atomic_write

    folder = os.path.dirname(os.path.abspath(output))
    try:
        os.makedirs(folder, exist_ok=True)
        with atomic_write(output, "wb") as f:
            if suffix == ".npz":
                numpy.savez(f, **arrays)
            else:
                numpy.save(f, next(iter(arrays.values())))
    except OSError as error:
        raise UsageError(f"--output {output} cannot be written ({error.strerror or error}): "
                         "choose another path") from None
