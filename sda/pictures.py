"""Pictures of what a dA learns and does, saved as PNG with Pillow: its filters (the
columns of weight matrices as tiles) and its reconstructions of masked digits.

Each picture is a PIL image, so that a notebook shows it inline, and the scripts
write the same picture to a file (:func:`save_image`, atomically).
"""

import itertools
import os

import numpy

from .files import atomic_write
from .tutorial.utils import tile_raster_images


def save_image(image, path):
    """Writes the PIL ``image`` as a PNG, atomically (a full disk or a vanished folder: one line, the old
    file intact); returns ``image``."""
    with atomic_write(path, "wb") as f:
        image.save(f, format="PNG")
    return image


def filters_image(W, img_shape=(28, 28), tile_shape=(10, 10), tile_spacing=(1, 1)):
    """The first ``rows * cols`` filters (columns of ``W``, shaped (n_visible,
    n_hidden)) as tiles, each tile scaled to [0, 1]: a hidden unit's filter is
    the input that excites it most, so it shows what the unit looks for."""
    from PIL import Image

    return Image.fromarray(tile_raster_images(X=numpy.asarray(W).T, img_shape=img_shape,
                                              tile_shape=tile_shape, tile_spacing=tile_spacing))


def save_filters(W, path, img_shape=(28, 28), tile_shape=(10, 10), tile_spacing=(1, 1)):
    """Saves :func:`filters_image` as a PNG; returns ``path``."""
    save_image(filters_image(W, img_shape, tile_shape, tile_spacing), path)
    return path


def masking_noise(x, corruption_level, seed):
    """``x`` with about a fraction ``corruption_level`` of its values set to 0:
    the dA's masking noise (each value is kept where a uniform draw is below
    ``1 - corruption_level``, as in :meth:`sda.tutorial.dA.dA.get_corrupted_input`).

    The draws come from a generator of their own seeded with ``seed``, so a
    picture shows the same noise every time and leaves the model's noise alone.
    """
    x = numpy.asarray(x)
    keep = numpy.random.RandomState(seed).uniform(size=x.shape) < 1 - corruption_level
    return (keep * x).astype(x.dtype)


def reconstruct(da, x):
    """The dA's reconstruction ``z = s(W' s(W x + b) + b')`` of each row of ``x``,
    computed by the dA's own graph (``get_hidden_values``, then
    ``get_reconstructed_input``), so a dA subclass is drawn as it computes."""
    from .backend import T, floatX, pytensor

    rows = T.matrix("x", dtype=floatX)
    return pytensor.function([rows], da.get_reconstructed_input(da.get_hidden_values(rows)))(
        numpy.asarray(x, dtype=floatX))


def reconstructions(da, x, corruption_level, seed):
    """What a dA does, as three arrays of the same shape as ``x``: the digits,
    the digits with masking noise, and the dA's reconstruction of the masked
    digits.  Training made the reconstruction close to the clean digits, not
    to the masked ones: the dA has learned to fill in what the noise removed."""
    tilde_x = masking_noise(x, corruption_level, seed)
    return numpy.asarray(x), tilde_x, reconstruct(da, tilde_x)


def rows_image(rows, img_shape=(28, 28), tile_spacing=(1, 1)):
    """Equally long arrays of images (one image per row of each array) as one
    picture, one row of tiles per array, drawn as they are (values in [0, 1],
    0 black and 1 white)."""
    from PIL import Image

    rows = [numpy.asarray(row) for row in rows]
    return Image.fromarray(tile_raster_images(X=numpy.concatenate(rows), img_shape=img_shape,
                                              tile_shape=(len(rows), len(rows[0])), tile_spacing=tile_spacing,
                                              scale_rows_to_unit_interval=False))


def reconstructions_image(da, x, corruption_level, seed, img_shape=(28, 28), path=None):
    """:func:`reconstructions` as a picture: the digits ``x`` on the first row,
    masked at ``corruption_level`` on the second, the dA's reconstructions on
    the third.  The same ``seed`` gives the same picture; saved to ``path``
    (PNG) when given."""
    image = rows_image(reconstructions(da, x, corruption_level, seed), img_shape)
    return image if path is None else save_image(image, path)


def first_of_each_class(y, n=10):
    """Indices of ``n`` examples to show: the first example of each class, in
    class order (a 0, a 1, ... a 9 for MNIST), then the next examples in order
    when there are fewer classes than ``n``."""
    y = numpy.asarray(y)
    firsts = [int(numpy.flatnonzero(y == label)[0]) for label in numpy.unique(y)][:n]
    chosen = set(firsts)
    return firsts + list(itertools.islice((i for i in range(len(y)) if i not in chosen), n - len(firsts)))


def filters_in_input_space(arrays, layer):
    """The filters of hidden ``layer`` shown in input space: each unit's weight
    vector projected linearly through the layers below (``W_0 W_1 ... W_layer``),
    one column per unit.  Layer 0's are its weights themselves."""
    projection = numpy.asarray(arrays["hidden_W_0"], dtype="float64")
    for k in range(1, layer + 1):
        projection = projection @ numpy.asarray(arrays[f"hidden_W_{k}"], dtype="float64")
    return projection


def save_layer_filters(arrays, output_dir, img_shape=(28, 28), tiles=10):
    """``filters_layer_K.png`` for every hidden layer of a model's arrays; returns the paths."""
    paths = []
    layer = 0
    while f"hidden_W_{layer}" in arrays:
        W = filters_in_input_space(arrays, layer)
        side = min(tiles, int(numpy.ceil(numpy.sqrt(W.shape[1]))))
        paths.append(save_filters(W, os.path.join(output_dir, f"filters_layer_{layer}.png"), img_shape=img_shape,
                                  tile_shape=(side, side)))
        layer += 1
    return paths


def write_run_pictures(results, arrays, output_dir, n_ins, img_shape=None):
    """learning_curves.png, and the filters of every layer (when the inputs are images:
    ``img_shape`` (rows, cols) as the data knows it, else square)."""
    from .plots import plot_learning_curves

    plot_learning_curves(results, os.path.join(output_dir, "learning_curves.png"))
    side = int(round(n_ins ** 0.5))
    if img_shape is None and side * side == n_ins:
        img_shape = (side, side)
    if img_shape is not None:
        save_layer_filters(arrays, output_dir, img_shape=img_shape)
