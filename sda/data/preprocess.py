"""Mapping data onto [0, 1]: min-max rescaling, and image files prepared as MNIST's
digits were."""

import numpy

from ..errors import DataError, UsageError
from .images import read_grey


def rescale_splits(path, splits, fixed=None):
    """Min-max over the training x (or the ``fixed`` (min, max)): ``(x - min) / (max - min)``
    for every set, clipped to [0, 1]."""
    if fixed is None:
        train_x = splits[0][0]
        low, high = float(train_x.min()), float(train_x.max())
        if not (numpy.isfinite(low) and numpy.isfinite(high)):
            raise DataError(f"{path}: its train x holds NaN or infinite values, which cannot be rescaled: "
                            "fix or remove those examples")
        if high <= low:
            raise DataError(f"{path}: every training x value is {low}: there is no range to rescale onto [0, 1]")
    else:
        try:
            low, high = (float(v) for v in fixed)
        except (TypeError, ValueError):
            raise UsageError(f"rescale must be True, False or a (min, max) pair, got {fixed!r}") from None
        if not (numpy.isfinite(low) and numpy.isfinite(high) and high > low):
            raise UsageError(f"rescale range {fixed!r} is not a pair of finite numbers min < max")
    pairs = []
    for x, y in splits:
        scaled = (x - x.dtype.type(low)) / x.dtype.type(high - low)
        numpy.clip(scaled, 0, 1, out=scaled)
        pairs.append((scaled.astype(x.dtype, copy=False), y))
    return splits.replace(pairs, rescaled_from=(low, high))


def image_to_mnist(path, side=28):
    """Reads an image file of any size or mode and prepares it as MNIST's digits
    were: grey levels, white digit on black (inverted when the background is
    light), the digit's bounding box scaled to fit 20×20 keeping its aspect
    ratio, then placed in a 28×28 frame with its centre of mass at the centre.
    Grey levels and transparency are read as :mod:`sda.data.images` reads them.
    Returns a float vector of ``side * side`` values in [0, 1]."""
    from PIL import Image

    grey = read_grey(path)
    # MNIST digits are light on dark: a light border means a dark digit on paper
    border = numpy.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if border.mean() > 0.5:
        grey = 1.0 - grey
    grey = numpy.clip(grey - numpy.median(border if border.mean() <= 0.5 else 1.0 - border), 0, None)
    if grey.max() <= 0:
        return numpy.zeros(side * side)
    rows, cols = numpy.nonzero(grey > 0.1 * grey.max())
    digit = grey[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    box = side * 20 // 28
    scale = box / max(digit.shape)
    new_size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    digit = numpy.asarray(Image.fromarray((digit / digit.max() * 255).astype(numpy.uint8)).resize(
        new_size, Image.LANCZOS), dtype=numpy.float64) / 255.0
    frame = numpy.zeros((side, side))
    # centre of mass at the centre of the frame, as in MNIST
    total = digit.sum()
    cy = (numpy.arange(digit.shape[0])[:, None] * digit).sum() / total
    cx = (numpy.arange(digit.shape[1])[None, :] * digit).sum() / total
    top = int(round(side / 2 - cy - 0.5))
    left = int(round(side / 2 - cx - 0.5))
    top = min(max(top, 0), side - digit.shape[0])
    left = min(max(left, 0), side - digit.shape[1])
    frame[top:top + digit.shape[0], left:left + digit.shape[1]] = digit
    return numpy.clip(frame, 0.0, 1.0).reshape(-1)
