"""The one module of :mod:`sda` that imports PyTensor.

PyTensor reads its flags once, when it is imported.  This module therefore, at
import:

1. resolves the user's THEANO_FLAGS, ``.theanorc``, PYTENSOR_FLAGS and
   ``.pytensorrc`` with :func:`sda.flags.resolve_settings` (a
   :class:`~sda.errors.ConfigError` on any bad value) and prints its warning
   lines (single lines on stderr starting with ``sda:``);
2. writes the merged PyTensor keys to ``os.environ["PYTENSOR_FLAGS"]`` while it
   imports PyTensor, then restores the variable (child processes resolve their
   own settings).  Values PyTensor rejects become a ConfigError naming the key.
   If PyTensor had already been imported by someone else, the settings are
   applied through ``pytensor.config`` where that is possible, with one warning
   about the rest;
3. with device=cuda (or cudaN), finds that GPU through JAX
   (:func:`sda.jax_device.find_gpu`: without JAX, or when JAX sees no GPU, a
   ConfigError, never a silent CPU run) and makes PyTensor's JAX back end with
   the shared variables kept on the GPU (:func:`sda.jax_device.jax_mode`) the
   default mode, ``pytensor.config.mode``: every ``pytensor.function`` then
   compiles for the GPU, with or without ``mode=compile_mode()``.  See
   docs/gpu.md.

Exports: ``pytensor``, ``T`` (``pytensor.tensor``), ``config``
(``pytensor.config``), ``floatX``, ``device`` (``'cpu'``, ``'cuda'``,
``'cudaN'``), ``settings`` (:class:`sda.flags.Settings`), :func:`sigmoid`,
:func:`softmax`, :func:`compile_mode`, :func:`static_shapes`,
:func:`versions`; and ``jax_device`` (the ``jax.Device`` compiled for, None
with device=cpu) and :class:`~sda.jax_device.jax_on_cpu` for tests and
benchmarks.
"""

import os
import platform
import sys

from sda.errors import ConfigError, UserError
from sda.flags import format_pytensor_flags, one_line, resolve_settings, warning_lines
from sda.jax_device import find_gpu, jax_mode, jax_on_cpu

__all__ = [
    "pytensor",
    "T",
    "config",
    "floatX",
    "device",
    "settings",
    "sigmoid",
    "softmax",
    "compile_mode",
    "static_shapes",
    "versions",
    "jax_device",
    "jax_on_cpu",
]


def _failing_key(exc, keys):
    """The config key whose value PyTensor rejected, found in the traceback."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        name = getattr(owner, "name", None)
        if isinstance(name, str) and name in keys:
            found = name
        tb = tb.tb_next
    return found


def _translate_import_error(exc, settings):
    key = _failing_key(exc, settings.pytensor_flags)
    if key is not None:
        return ConfigError(
            f"PyTensor rejected {key}={settings.pytensor_flags[key]} (from {settings.sources.get(key)}): "
            f"{one_line(exc)}"
        )
    return ConfigError(
        f"PyTensor could not start with these settings ({type(exc).__name__}: {one_line(exc)}): "
        "check THEANO_FLAGS, .theanorc, PYTENSOR_FLAGS and .pytensorrc"
    )


def _apply_to_loaded_config(config_, flags):
    """Set ``flags`` on an already-imported ``pytensor.config``; return keys that could not be."""
    not_applied = []
    params = getattr(config_, "_config_var_dict", {})
    for key, value in flags.items():
        try:
            current = getattr(config_, key)
            param = params.get(key)
            wanted = param.apply(value) if param is not None else value
            if current == wanted or str(current) == str(wanted):
                continue
            setattr(config_, key, value)
        except Exception:
            not_applied.append(key)
    return not_applied


# --------------------------------------------------------------------------
# Import time: resolve, hand over to PyTensor, import it.
# --------------------------------------------------------------------------

settings = resolve_settings(os.environ)
floatX = settings.floatX
device = settings.device
# PyTensor reads PYTENSOR_FLAGS once, at import: set it for the import only, so
# that child processes (the scripts run by a test, say) resolve their own
# THEANO_FLAGS and .theanorc instead of inheriting ours as an "explicit" setting.
_user_pytensor_flags = os.environ.get("PYTENSOR_FLAGS")
os.environ["PYTENSOR_FLAGS"] = format_pytensor_flags(settings.pytensor_flags)
for _line in warning_lines(settings):
    print(_line, file=sys.stderr)

_pytensor_was_loaded = "pytensor" in sys.modules
try:
    import pytensor
    import pytensor.tensor as T
    import pytensor.tensor.special
except ModuleNotFoundError as _exc:
    if _exc.name and _exc.name.split(".")[0] == "pytensor":
        raise UserError("PyTensor is not installed: pip install pytensor==3.0.7") from None
    raise
except Exception as _exc:
    raise _translate_import_error(_exc, settings) from _exc
finally:
    if _user_pytensor_flags is None:
        os.environ.pop("PYTENSOR_FLAGS", None)
    else:
        os.environ["PYTENSOR_FLAGS"] = _user_pytensor_flags

config = pytensor.config

if _pytensor_was_loaded:
    _not_applied = _apply_to_loaded_config(config, settings.pytensor_flags)
    if _not_applied:
        print(
            "sda: pytensor was imported before sda.backend, so these settings could not be applied: "
            + ", ".join(_not_applied)
            + " (import sda before pytensor)",
            file=sys.stderr,
        )

if config.floatX != floatX:  # e.g. a value set by the caller after resolution
    config.floatX = floatX


def _patch_generator_may_share_memory():
    """Let ``mode=DebugMode`` run the dA's pretraining function.

    DebugMode asks the type of every input of a node whether each output of the
    node may share memory with it.  PyTensor 3.0.7's
    ``AbstractRandomGeneratorType.may_share_memory`` reads ``_bit_generator``
    from both values, so for the dA's noise draw (outputs: a Generator and an
    array) it raises AttributeError on the array.  Made to answer False for
    values that are not Generators; left alone once PyTensor no longer raises
    (tests/test_back_ends.py tells which).  A subclass of the type instead would
    not do: PyTensor's JAX linker swaps the shared generator for one of the
    plain type.
    """
    import numpy
    from pytensor.tensor.random.type import AbstractRandomGeneratorType

    original = AbstractRandomGeneratorType.may_share_memory
    try:
        original(numpy.zeros(1), numpy.random.default_rng(0))
        return False  # fixed upstream
    except AttributeError:
        pass

    def may_share_memory(a, b):
        a_bits, b_bits = getattr(a, "_bit_generator", None), getattr(b, "_bit_generator", None)
        return a_bits is not None and a_bits is b_bits

    AbstractRandomGeneratorType.may_share_memory = staticmethod(may_share_memory)
    return True


#: Whether PyTensor's generator type needed the DebugMode fix above.
patched_generator_may_share_memory = _patch_generator_may_share_memory()


def _default_mode_runs_c():
    """Whether functions compiled in PyTensor's default mode run C code (not under
    Numba, JAX, the Python linker or FAST_COMPILE); True when it cannot tell."""
    from pytensor.compile.mode import get_mode
    from pytensor.link.basic import PerformLinker
    from pytensor.link.jax.linker import JAXLinker
    from pytensor.link.numba.linker import NumbaLinker
    from pytensor.link.vm import VMLinker

    try:
        linker = get_mode(config.mode).linker
    except Exception:
        return True
    if isinstance(linker, (NumbaLinker, JAXLinker, PerformLinker)):
        return False
    return not (isinstance(linker, VMLinker) and not linker.c_thunks)


def _check_compiledir():
    """PyTensor takes any ``base_compiledir``/``compiledir`` and fails only at the first compilation, with a
    traceback, after the data have loaded: try the folder now, when the user chose it."""
    chosen = [key for key in ("base_compiledir", "compiledir") if key in settings.pytensor_flags]
    if not chosen:
        return
    import tempfile

    key = chosen[-1]
    try:
        folder = config.compiledir  # PyTensor creates it here, or raises ValueError
        with tempfile.TemporaryFile(dir=folder):
            pass
    except (OSError, ValueError) as error:
        raise ConfigError(f"{key}={settings.pytensor_flags[key]} (from {settings.sources.get(key)}): PyTensor's "
                          f"compile folder cannot be made or written there ({one_line(error)}): choose a writable "
                          "folder") from None


def _check_blas_ldflags():
    """A ``blas.ldflags`` the C compiler cannot link with (``-lopenblas`` without
    libopenblas-dev, a wrong ``-L`` folder) is a ConfigError now, in one line,
    rather than a CompileError traceback when the first C function is compiled.
    One link of an empty program (0.1-0.6 s), only when the user sets the key
    and the default mode runs C code (Numba, the default, never reads it)."""
    ldflags = settings.pytensor_flags.get("blas__ldflags", "").strip()
    if not ldflags or not config.cxx or not _default_mode_runs_c():
        return
    from pytensor.link.c.cmodule import GCC_compiler

    ok, _, err = GCC_compiler.try_flags(ldflags.split(), output=True)
    if ok:
        return
    lines = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
    reason = next((line for line in lines if "cannot find" in line or "error" in line.lower()), lines[0] if lines
                  else "the link failed")
    raise ConfigError(
        f"blas.ldflags={ldflags} (from {settings.sources.get('blas__ldflags')}) does not link ({one_line(reason)}): "
        "install that BLAS (Debian's OpenBLAS: apt install libopenblas-dev) or fix the flags (.theanorc.example, [blas])"
    )



def sigmoid(x):
    """Logistic sigmoid, element-wise (Theano's ``T.nnet.sigmoid``)."""
    return pytensor.tensor.sigmoid(x)


def softmax(x):
    """Row-wise softmax (Theano's ``T.nnet.softmax``): each row sums to 1."""
    return pytensor.tensor.special.softmax(x, axis=-1)


# --------------------------------------------------------------------------
# device=cuda: PyTensor's JAX back end, with the shared variables on the GPU.
# --------------------------------------------------------------------------

#: The ``jax.Device`` that functions are compiled for (None with device=cpu).
jax_device = None if device == "cpu" else find_gpu(device, settings.sources.get("device", "THEANO_FLAGS"))
if jax_device is not None:
    # so that a pytensor.function(...) without mode= (PyTensor's own helpers,
    # user code) compiles for the GPU too, not for the CPU
    config.mode = jax_mode(jax_device)

_check_compiledir()
_check_blas_ldflags()


def compile_mode():
    """The ``mode`` argument of every ``pytensor.function`` of the package.

    ``None`` with device=cpu: PyTensor's configured mode (its default linker is
    Numba, or whatever ``mode``/``linker`` the user set).  With device=cuda:
    PyTensor's JAX back end, the functions running on the GPU and the shared
    variables (datasets, parameters) kept there between calls -- the same mode
    that is then ``pytensor.config.mode``.
    """
    if device == "cpu":
        return None
    return jax_mode(jax_device)


def static_shapes():
    """True when the compiled functions need shapes known at compile time (the
    JAX back end): :func:`sda.minibatches.minibatch` then selects rows with a
    slice of static length."""
    return device != "cpu"


def _installed_version(distribution):
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def versions():
    """Versions of the software that produced a result, for results files."""
    import numpy

    result = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pytensor": pytensor.__version__,
    }
    for name in ("numba", "jax", "jaxlib"):
        version = _installed_version(name)
        if version is not None:
            result[name] = version
    return result
