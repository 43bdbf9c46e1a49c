"""Image files as the grey levels a person sees, in [0, 1].

Every mode Pillow opens is read at its own depth, black 0 and white 1:

* ``1``, ``L`` (8 bits): level / 255; ``I;16`` and its byte orders (16-bit
  grey, e.g. 16-bit PNGs): level / 65535; ``I`` (32-bit integers): level /
  65535 (what Pillow gives 16-bit PGM files and others of more than 8 bits),
  or / (2**31 - 1) for a TIFF that declares 32-bit samples; ``F`` (floats):
  taken as they are, so they must lie in [0, 1].  Levels outside those ranges
  (negative integers, floats below 0 or above 1, NaN) are refused, never
  clipped without a word.
* colour (``RGB``, ``P``, ``CMYK``, ``YCbCr``, ...): converted to RGB by
  Pillow, then its luma, ``(299 R + 587 G + 114 B) / 1000`` (ITU-R 601, as
  Pillow's own grey conversion, without its rounding to 8 bits).
* transparency (``LA``, ``RGBA``, ``PA``, ``P`` or ``L`` with a transparent
  colour, ...): composited onto **white**, the background of paper, of web
  pages and of most image viewers: a fully transparent pixel reads as white
  (1.0), an opaque one as its own grey, a half-transparent one half-way.  A
  dark digit on a transparent background thus reads as a dark digit on white
  (:func:`sda.data.preprocess.image_to_mnist` then inverts it as it does for
  a scan of paper).

An image is opened lazily: its declared size is checked (at most
:data:`MAX_PIXELS`, and the size the caller expects) before a pixel is decoded,
so a small file that claims to be huge (a "decompression bomb") costs no
memory.
"""

import contextlib
import warnings

import numpy

from ..errors import DataError
from .reading import open_regular, reason

#: The most pixels an image may have: 2**26, e.g. 8192 x 8192 (decoded as
#: floats, 512 MiB).  Pillow's own limit (about 179 million) is higher.
MAX_PIXELS = 1 << 26

_LUMA = numpy.array([299.0, 587.0, 114.0])  # per mille
_ALPHA_MODES = ("LA", "PA", "RGBA", "RGBa")
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_UNREADABLE = "replace it with a PNG or JPEG file"


@contextlib.contextmanager
def open_image(path, expected_shape=None, reference=None):
    """The Pillow image of ``path``, opened but not decoded, its size checked.

    :param expected_shape: ``(rows, cols)`` the image must have (the first
        image of a dataset's), None for any size; ``reference`` names the
        image that has it, for the message
    """
    from PIL import Image

    with open_regular(path) as stream:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below, in one line
                image = Image.open(stream)
        except Image.DecompressionBombError as error:
            raise DataError(f"{path} claims more pixels than Pillow will decode ({reason(error)}): "
                            f"images of at most {MAX_PIXELS} pixels are read; shrink it") from None
        except Exception as error:  # Pillow raises many kinds on a damaged or foreign file
            raise DataError(f"{path} is not an image file Pillow can read ({reason(error)}): "
                            f"{_UNREADABLE}") from error
        with image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise DataError(f"{path} is {width}x{height} pixels (width x height), more than the {MAX_PIXELS} "
                                "pixels an image may have here: shrink it")
            if expected_shape is not None and (height, width) != tuple(expected_shape):
                h0, w0 = expected_shape
                raise DataError(f"{reference} is {w0}x{h0} pixels (width x height) but {path} is {width}x{height}: "
                                "all images must have the same size; resize them to one size")
            yield image


def read_grey(path, expected_shape=None, reference=None):
    """The grey levels of the image file ``path``, float64 of shape (rows, cols) in [0, 1]."""
    with open_image(path, expected_shape, reference) as image:
        return grey_levels(image, path)


def grey_levels(image, path):
    """A Pillow image's grey levels as a person sees them, float64 in [0, 1] (see the module's docstring)."""
    try:
        image.load()
    except Exception as error:  # a truncated or damaged file fails while it is decoded
        if isinstance(error, MemoryError):
            raise
        raise DataError(f"{path} is not an image file Pillow can read ({reason(error)}): {_UNREADABLE}") from error
    mode = image.mode
    if mode in ("1", "L") and "transparency" not in image.info:
        return numpy.asarray(image.convert("L"), dtype=numpy.float64) / 255
    if mode in _SIXTEEN_BIT_MODES:
        return numpy.asarray(image, dtype=numpy.float64) / 65535
    if mode == "I":
        return _in_range(path, numpy.asarray(image, dtype=numpy.float64) / _white_of_integers(image), mode)
    if mode == "F":
        return _in_range(path, numpy.asarray(image, dtype=numpy.float64), mode)
    transparent = mode in _ALPHA_MODES or "transparency" in image.info
    try:
        pixels = numpy.asarray(image.convert("RGBA" if transparent else "RGB"), dtype=numpy.float64)
    except ValueError as error:
        raise DataError(f"{path} is an image of mode {mode}, which Pillow cannot convert to colours "
                        f"({reason(error)}): save it as a grey or RGB image") from error
    # one division of whole numbers: grey (k, k, k) reads exactly k / 255, as grey k does
    grey = (pixels[..., :3] @ _LUMA) / (1000 * 255)
    if transparent:
        alpha = pixels[..., 3] / 255
        grey = alpha * grey + (1 - alpha)
        numpy.clip(grey, 0, 1, out=grey)  # rounding may overshoot white by an ulp
    return grey


def _white_of_integers(image):
    """The level of white in a 32-bit integer ('I') image: only a TIFF says it uses all 32 bits."""
    bits = getattr(image, "tag_v2", {}).get(258)  # TIFF's BitsPerSample
    return 2 ** 31 - 1 if bits and max(bits if isinstance(bits, tuple) else (bits,)) == 32 else 65535


def _in_range(path, grey, mode):
    low, high = grey.min(), grey.max()
    if not (low >= 0 and high <= 1):  # NaN fails too
        what = "floating-point levels" if mode == "F" else "integer levels"
        raise DataError(f"{path} holds {what} outside the range from black to white (from {low:g} to {high:g} "
                        f"once scaled): save it with levels in range (floats in [0, 1]), or as an 8- or 16-bit image")
    return grey
