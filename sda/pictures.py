"""Pictures of filters: the columns of weight matrices as tiles, saved as PNG with Pillow."""

import os

import numpy

from .files import atomic_write
from .tutorial.utils import tile_raster_images


def save_filters(W, path, img_shape=(28, 28), tile_shape=(10, 10), tile_spacing=(1, 1)):
    """Saves the first ``rows * cols`` filters (columns of ``W``, shaped
    (n_visible, n_hidden)) as a PNG of tiles, each tile scaled to [0, 1]."""
    from PIL import Image

    image = Image.fromarray(tile_raster_images(X=numpy.asarray(W).T, img_shape=img_shape,
                                               tile_shape=tile_shape, tile_spacing=tile_spacing))
    with atomic_write(path, "wb") as f:
        image.save(f, format="PNG")
    return path


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
