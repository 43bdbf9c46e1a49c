"""Unpickling that cannot run code or have memory allocated at will.

A pickle names the functions and classes that rebuild its objects, and
``pickle.load`` imports and calls whatever they are (``os.system`` included).
:func:`restricted_load` hands out only the objects of an explicit table and
refuses any other name *before* anything is imported or called.  The table
:data:`NUMPY_ARRAYS` rebuilds what NumPy arrays are pickled as; a caller adds
what its own files hold (plain containers -- tuples, lists, dicts, str, bytes,
numbers -- need no entry).

The table's NumPy entries are wrappers, not NumPy's functions themselves: an
array, dtype or scalar is only rebuilt as NumPy pickles it, so a pickle cannot
have NumPy allocate an array larger than the data it carries:

* dtypes are only the plain ones NumPy pickles arrays of (booleans, integers,
  floats, complex numbers, bytes and str of at most :data:`MAX_ITEMSIZE` bytes,
  Python objects), never structured, void or sub-array dtypes, and the state a
  pickle gives a dtype must leave it what its type code says (NumPy lets that
  state mark an integer dtype as holding Python objects, say);
* an array's state must carry exactly the bytes (or, for an array of Python
  objects, exactly the objects) its shape and dtype call for, checked before
  NumPy sees it (NumPy allocates an object array's memory from its shape alone,
  and reads past a list that is too short);
* a scalar must carry exactly its dtype's number of bytes;
* the state of nothing else NumPy makes, and of nothing the table hands out,
  can be set at all.

The pickle is run by Python's own unpickler in pure Python
(``pickle._Unpickler``), the only one whose ``BUILD`` (setting an object's
state) can be checked as above; it also keeps the pickle's memo in a dict,
where the C unpickler allocates an array as long as the largest memo index a
pickle names (a 9-byte pickle can make it allocate gigabytes).  The arrays of a
dataset arrive in a few large pieces, so this costs no noticeable time.
"""

import math
import pickle
import re
import reprlib

import numpy

__all__ = ["ForbiddenPickleError", "MAX_ITEMSIZE", "NUMPY_ARRAYS", "restricted_load"]

#: The largest dtype item (one str or bytes value) a pickle may declare, in bytes.
MAX_ITEMSIZE = 1 << 20

# dtype kinds a pickle may hold: bool, signed and unsigned integers, floats,
# complex, bytes, str, Python objects (whose items must be in the pickle)
_KINDS = "biufcSUO"
# type codes as NumPy pickles them: dtype('f4', False, True), dtype('U2', ...), dtype('O8', ...)
_DTYPE_CODE = re.compile(r"[biufcO][0-9]{1,2}|[SU][0-9]{1,8}")
_HELD = f"only booleans, numbers, bytes and str of at most {MAX_ITEMSIZE} bytes, and Python objects"


class ForbiddenPickleError(pickle.UnpicklingError):
    """The pickle names an object outside the table; ``name`` is ``module.name``."""

    def __init__(self, name):
        super().__init__(f"it names {name}, which such a file never holds (refused before it could run)")
        self.name = name


def _refuse(what):
    """The error for NumPy objects not rebuilt as NumPy pickles them: ``it <what>``."""
    return pickle.UnpicklingError(f"it {what}")


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


def _check_dtype(dtype, what="an array"):
    """``dtype`` if it is one a pickle may hold (see the module's docstring), else UnpicklingError."""
    if not isinstance(dtype, numpy.dtype):
        raise _refuse(f"rebuilds {what} of {reprlib.repr(dtype)}, which is not a dtype")
    if (dtype.kind not in _KINDS or dtype.names is not None or dtype.subdtype is not None
            or not 0 < dtype.itemsize <= MAX_ITEMSIZE):
        raise _refuse(f"rebuilds {what} of dtype {reprlib.repr(str(dtype))} ({dtype.itemsize} bytes per item), "
                      f"which such a file never holds ({_HELD})")
    canonical = numpy.dtype(dtype.str)
    if (dtype != canonical or dtype.itemsize != canonical.itemsize or dtype.alignment != canonical.alignment
            or dtype.flags != canonical.flags):
        raise _refuse(f"gives the dtype {dtype.str} a state that does not fit it ({dtype.itemsize} bytes per item, "
                      f"alignment {dtype.alignment}, flags {dtype.flags})")
    return dtype


def _dtype(code, align=False, copy=False):
    """``numpy.dtype('f4', False, True)``: a new dtype (never NumPy's shared one, which the state
    that follows would change) of a plain type code only."""
    if (type(code) is not str or not _DTYPE_CODE.fullmatch(code)
            or type(align) not in (bool, int) or type(copy) not in (bool, int)):
        raise _refuse(f"calls numpy.dtype{reprlib.repr((code, align, copy))}, which such a file never holds "
                      f"({_HELD}, by their type codes such as 'f4')")
    try:
        dtype = numpy.dtype(code, bool(align), True)
    except (TypeError, ValueError) as error:
        raise _refuse(f"calls numpy.dtype({code!r}), which NumPy refuses ({error})") from None
    return _check_dtype(dtype, "a dtype")


def _set_dtype_state(dtype, state):
    """BUILD of a dtype: ``(3, '<', None, None, None, elsize, alignment, flags)``, without fields
    or sub-arrays, that leaves the dtype what its code says."""
    if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
            and state[1] in ("<", ">", "|", "=") and all(value is None for value in state[2:5])
            and all(type(value) is int for value in state[5:8]) and (len(state) == 8 or state[8] is None)):
        raise _refuse(f"gives a dtype the state {reprlib.repr(state)}, not as NumPy pickles one")
    dtype.__setstate__(state)
    _check_dtype(dtype, "a dtype")


def _set_array_state(array, state):
    """BUILD of an array from :func:`_reconstruct`: ``(1, shape, dtype, is_fortran, data)``, with
    exactly the data the shape and dtype call for (checked before NumPy allocates anything)."""
    if not isinstance(state, tuple) or len(state) not in (4, 5) or (len(state) == 5 and state[0] != 1):
        raise _refuse(f"gives an array the state {reprlib.repr(state)}, not as NumPy pickles one")
    shape, dtype, fortran, data = state[-4:]
    if (type(shape) is not tuple or not all(type(n) is int and n >= 0 for n in shape)
            or type(fortran) not in (bool, int)):
        raise _refuse(f"gives an array the shape {reprlib.repr(shape)}, not as NumPy pickles one")
    _check_dtype(dtype)
    count = math.prod(shape)
    if dtype.kind == "O":
        if type(data) is not list or len(data) != count:
            held = f"{len(data)} values" if type(data) is list else reprlib.repr(data)
            raise _refuse(f"rebuilds an array of {count} Python objects from {held}: its data does not fit its shape")
    else:
        if type(data) not in (bytes, str):
            raise _refuse(f"rebuilds an array from {reprlib.repr(data)}, not from bytes")
        if len(data) != count * dtype.itemsize:
            raise _refuse(f"rebuilds an array of {count} x {dtype.itemsize} bytes from {len(data)} bytes of data: "
                          "its data does not fit its shape")
    array.__setstate__(state)


def _reconstruct(array_type, shape, dtype_code):
    """``numpy.ndarray.__reduce__``'s ``_reconstruct(ndarray, (0,), b'b')``: an empty array that
    ``__setstate__`` then fills from the data in the pickle (see :func:`_set_array_state`)."""
    if array_type is not _ARRAY_TYPE or type(shape) not in (tuple, list) or tuple(shape) != (0,) \
            or dtype_code not in (b"b", "b"):
        raise _refuse(f"rebuilds an array as {reprlib.repr(array_type)} of shape {reprlib.repr(shape)}, "
                      "not as NumPy pickles one")
    return _NUMPY_RECONSTRUCT(numpy.ndarray, (0,), b"b")


def _frombuffer(buffer, dtype, shape, order):
    """Protocol 5's array: the bytes of the pickle viewed with ``dtype`` and ``shape`` (no copy)."""
    if type(buffer) not in (bytes, bytearray) or order not in ("C", "F"):
        raise _refuse(f"rebuilds an array from {reprlib.repr(buffer)} in order {reprlib.repr(order)}, "
                      "not as NumPy pickles one")
    if _check_dtype(dtype).kind == "O":
        raise _refuse("rebuilds an array of Python objects from bytes, not as NumPy pickles one")
    return numpy.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def _scalar(dtype, data=None):
    """A NumPy scalar (``numpy.float32(0.5)``) from exactly its bytes."""
    if _check_dtype(dtype, "a scalar").kind == "O":
        raise _refuse("rebuilds a NumPy scalar of Python objects, not as NumPy pickles one")
    if type(data) is str:  # Python 2's str, decoded as latin1
        try:
            data = data.encode("latin1")
        except UnicodeEncodeError:
            raise _refuse("rebuilds a NumPy scalar from text, not from bytes") from None
    if type(data) is not bytes or len(data) != dtype.itemsize:
        held = f"{len(data)} bytes" if type(data) is bytes else reprlib.repr(data)
        raise _refuse(f"rebuilds a NumPy scalar of {dtype.itemsize} bytes ({dtype.str}) from {held}, "
                      "not from exactly its bytes")
    return _NUMPY_SCALAR(dtype, data)


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
    "numpy.dtype": _dtype,
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

# the table's entries that make an object whose state the pickle then sets (BUILD), once
_UNBUILT_MAKERS = {id(_reconstruct): _set_array_state, id(_dtype): _set_dtype_state}


class _RestrictedUnpickler(pickle._Unpickler):
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, stream, allowed, **options):
        super().__init__(stream, **options)
        self._allowed = allowed
        self._handed_out = {}  # id -> each object find_class gave (kept alive, so ids stay unique)
        self._unbuilt = {}  # id -> (object, how to set its state), for what _reconstruct and _dtype made
        self._makers = {}

    def find_class(self, module, name):
        # every name a pickle refers to (GLOBAL, STACK_GLOBAL, INST, OBJ, EXT*) comes through here
        try:
            found = self._allowed[f"{module}.{name}"]
        except KeyError:
            raise ForbiddenPickleError(f"{module}.{name}") from None
        if id(found) in _UNBUILT_MAKERS:
            found = self._makers.setdefault(id(found), self._registering(found, _UNBUILT_MAKERS[id(found)]))
        self._handed_out[id(found)] = found
        return found

    def _registering(self, make, set_state):
        """``make``, recording what it returns as waiting for its state (BUILD)."""
        def made(*args):
            obj = make(*args)
            self._unbuilt[id(obj)] = (obj, set_state)
            return obj
        made.__qualname__ = made.__name__ = make.__name__
        return made

    def load_build(self):
        state, inst = self.stack[-1], self.stack[-2]
        waiting = self._unbuilt.pop(id(inst), None)
        if waiting is not None and waiting[0] is inst:
            self.stack.pop()
            waiting[1](inst, state)
        elif isinstance(inst, (numpy.ndarray, numpy.dtype, numpy.generic)) or id(inst) in self._handed_out:
            raise pickle.UnpicklingError(f"it sets the state of {reprlib.repr(inst)}, which NumPy's pickles "
                                         "never do (only a new array's or dtype's, once)")
        else:
            super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

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
    the first name outside ``allowed``, before it is imported or called, and
    ``pickle.UnpicklingError`` for NumPy objects not rebuilt as NumPy pickles
    them (see the module's docstring); any other damage raises what
    ``pickle.load`` raises.
    """
    return _RestrictedUnpickler(stream, allowed, encoding=encoding).load()
