"""Unpickling that cannot run code.

A pickle names the functions and classes that rebuild its objects, and
``pickle.load`` imports and calls whatever they are (``os.system`` included).
:func:`restricted_load` hands out only the objects of an explicit table and
refuses any other name *before* anything is imported or called.  The table
:data:`NUMPY_ARRAYS` rebuilds what NumPy arrays are pickled as; a caller adds
what its own files hold (plain containers -- tuples, lists, dicts, str, bytes,
numbers -- need no entry).

The table's NumPy entries are wrappers, not NumPy's functions themselves: an
array is only rebuilt as NumPy pickles it, so a pickle cannot have NumPy
allocate an array larger than the data it carries.
"""

import pickle
import reprlib

import numpy

__all__ = ["ForbiddenPickleError", "NUMPY_ARRAYS", "restricted_load"]


class ForbiddenPickleError(pickle.UnpicklingError):
    """The pickle names an object outside the table; ``name`` is ``module.name``."""

    def __init__(self, name):
        super().__init__(f"it names {name}, which such a file never holds (refused before it could run)")
        self.name = name


class _ArrayType:
    """Stands for ``numpy.ndarray`` in a pickle: only :func:`_reconstruct` may use it,
    calling it (``ndarray(shape)``) would allocate any size the pickle asks for."""

    def __call__(self, *args):
        raise pickle.UnpicklingError("it calls numpy.ndarray(...), which is not how NumPy pickles an array")

    def __repr__(self):
        return "numpy.ndarray"


_ARRAY_TYPE = _ArrayType()

# NumPy's own rebuilding functions, found where this NumPy version keeps them
_NUMPY_RECONSTRUCT = numpy.empty(0).__reduce__()[0]
_NUMPY_SCALAR = numpy.float64(0).__reduce__()[0]


def _reconstruct(array_type, shape, dtype_code):
    """``numpy.ndarray.__reduce__``'s ``_reconstruct(ndarray, (0,), b'b')``: an empty array that
    ``__setstate__`` then fills from the data in the pickle (whose length NumPy checks)."""
    if array_type is not _ARRAY_TYPE or tuple(shape) != (0,):
        raise pickle.UnpicklingError(f"it rebuilds an array as {reprlib.repr(array_type)} of shape "
                                     f"{reprlib.repr(shape)}, not as NumPy pickles one")
    return _NUMPY_RECONSTRUCT(numpy.ndarray, (0,), dtype_code)


def _frombuffer(buffer, dtype, shape, order):
    """Protocol 5's array: the bytes of the pickle viewed with ``dtype`` and ``shape``."""
    if not isinstance(dtype, numpy.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError(f"it rebuilds an array of {reprlib.repr(dtype)} from bytes, "
                                     "not as NumPy pickles one")
    return numpy.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def _scalar(dtype, data=None):
    """A NumPy scalar (``numpy.float32(0.5)``) from its bytes."""
    if not isinstance(dtype, numpy.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError(f"it rebuilds a scalar of {reprlib.repr(dtype)} from bytes, "
                                     "not as NumPy pickles one")
    return _NUMPY_SCALAR(dtype) if data is None else _NUMPY_SCALAR(dtype, data)


def _latin1_bytes(text, encoding):
    """Python 3 pickles ``bytes`` at protocol 2 as ``_codecs.encode(text, 'latin1')``."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"it calls _codecs.encode with {reprlib.repr(encoding)}, "
                                     "not as pickle encodes bytes")
    return text.encode("latin1")


def _empty_bytes(*args):
    """... and empty ``bytes`` (an empty array's data) as ``bytes()``; ``bytes(n)`` would allocate n bytes."""
    if args:
        raise pickle.UnpicklingError("it calls bytes(...) with arguments, not as pickle writes empty bytes")
    return b""


#: What NumPy arrays, dtypes and scalars are pickled as, at every protocol, by
#: NumPy 1 (``numpy.core``) and NumPy 2 (``numpy._core``) alike.
NUMPY_ARRAYS = {
    "numpy.ndarray": _ARRAY_TYPE,
    "numpy.dtype": numpy.dtype,
    "numpy.core.multiarray._reconstruct": _reconstruct,
    "numpy._core.multiarray._reconstruct": _reconstruct,
    "numpy.core.multiarray.scalar": _scalar,
    "numpy._core.multiarray.scalar": _scalar,
    "numpy.core.numeric._frombuffer": _frombuffer,
    "numpy._core.numeric._frombuffer": _frombuffer,
    "_codecs.encode": _latin1_bytes,
    "__builtin__.bytes": _empty_bytes,
    "builtins.bytes": _empty_bytes,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, stream, allowed, **options):
        super().__init__(stream, **options)
        self._allowed = allowed

    def find_class(self, module, name):
        # every name a pickle refers to (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*) comes through here
        try:
            return self._allowed[f"{module}.{name}"]
        except KeyError:
            raise ForbiddenPickleError(f"{module}.{name}") from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("it refers to a persistent object, which such a file never holds")


def restricted_load(stream, allowed=NUMPY_ARRAYS, encoding="ASCII"):
    """``pickle.load(stream, encoding=encoding)``, building only the objects of ``allowed``.

    :param stream: a binary file object
    :param allowed: ``{"module.name": object}``, what each name the pickle may
        refer to stands for (e.g. ``{**NUMPY_ARRAYS, "collections.OrderedDict":
        collections.OrderedDict}``)
    :param encoding: how to decode Python 2 ``str`` objects (``"latin1"`` for
        pickles that hold NumPy arrays)

    Raises :class:`ForbiddenPickleError` (a ``pickle.UnpicklingError``) at
    the first name outside ``allowed``, before it is imported or called; any
    other damage raises what ``pickle.load`` raises.
    """
    return _RestrictedUnpickler(stream, allowed, encoding=encoding).load()
