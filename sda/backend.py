"""The one module of :mod:`sda` that imports PyTensor.

Theano users chose the float type and the device with ``THEANO_FLAGS`` and a
``.theanorc`` file.  PyTensor reads neither: it reads ``PYTENSOR_FLAGS`` and
``~/.pytensorrc`` (or the files named by ``PYTENSORRC``), once, when it is
imported.  This module therefore, *before* importing PyTensor:

1. reads the settings from, lowest precedence first (a later source wins key by
   key):

   * the Theano config files: ``THEANORC`` (a list separated by ``os.pathsep``;
     files on the right win) or else ``~/.theanorc``;
   * the PyTensor config files: ``PYTENSORRC`` or else ``~/.pytensorrc``;
   * ``THEANO_FLAGS`` (``key=value,key=value``; keys as ``section.key`` or
     ``section__key``);
   * ``PYTENSOR_FLAGS`` (the explicit PyTensor variable wins).

   Config files are INI files: keys of ``[global]`` are plain (``floatX``,
   ``device``, ``mode``, ``linker``, ...), a key of another section is
   ``section__key`` (``[blas] ldflags`` is PyTensor's ``blas__ldflags``, Theano's
   ``blas.ldflags``).  Key names are matched case-insensitively.

2. checks them:

   * ``floatX`` must be ``float32`` or ``float64``.  **When no source sets it,
     sda uses float32** (the tutorials' speed choice; PyTensor's own default is
     float64).
   * ``device``: ``cpu`` (the default: PyTensor's Numba back end) or a GPU,
     ``cuda``/``cuda0``/``gpu``/``gpu0`` (``cudaN``/``gpuN``: the N-th GPU):
     every function is then compiled by PyTensor's JAX back end for that GPU
     (``pip install -e .[gpu]``).  Without JAX, or when JAX sees no GPU, importing
     this module raises :class:`~sda.errors.ConfigError` (never a silent CPU
     run).  See :func:`_select_device`, :func:`compile_mode` and docs/gpu.md.
   * keys PyTensor knows are passed on (``mode``, ``linker``, ``optimizer``,
     ``blas__ldflags``, ``base_compiledir``, ``openmp``, ...); Theano's
     ``mode=DEBUG_MODE`` becomes ``DebugMode``; values PyTensor rejects become a
     ConfigError naming the key;
   * Theano-only keys that mean nothing now (``lib.cnmem``, ``gpuarray.*``,
     ``dnn.*``, ``nvcc.*``, ``force_device``, ...) are ignored with one warning
     line; keys nobody knows are ignored with another warning line.

3. writes the merged PyTensor keys to ``os.environ["PYTENSOR_FLAGS"]`` while it
   imports PyTensor, then restores the variable (child processes resolve their
   own settings).  If PyTensor had
   already been imported by someone else, the settings are applied through
   ``pytensor.config`` where that is possible, with one warning about the rest.

Every configuration problem raises :class:`~sda.errors.ConfigError` with one
line saying what is wrong and what to do.  Warnings are single lines on stderr
starting with ``sda:``.

Exports: ``pytensor``, ``T`` (``pytensor.tensor``), ``config``
(``pytensor.config``), ``floatX``, ``device`` (``'cpu'``), ``settings``
(:class:`Settings`), :func:`sigmoid`, :func:`softmax`, :func:`compile_mode`,
:func:`static_shapes`, :func:`versions`.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import platform
import re
import shlex
import sys
from collections.abc import Iterable, Mapping

from sda.errors import ConfigError, UserError

__all__ = [
    "pytensor",
    "T",
    "config",
    "floatX",
    "device",
    "settings",
    "Settings",
    "sigmoid",
    "softmax",
    "compile_mode",
    "static_shapes",
    "versions",
    "parse_theano_flags",
    "read_theanorc",
    "resolve_settings",
    "format_pytensor_flags",
    "warning_lines",
]

#: floatX when no source sets it (PyTensor's own default is float64).
DEFAULT_FLOATX = "float32"
SUPPORTED_FLOATX = ("float32", "float64")
DEFAULT_DEVICE = "cpu"

#: Every configuration key of PyTensor 3.0.7 (``pytensor.config``), in its
#: ``section__key`` spelling.  Written out so that it can be used before PyTensor
#: is imported; ``tests/test_backend.py`` checks it against ``pytensor.config``.
PYTENSOR_KEYS = frozenset(
    {
        "DebugMode__check_c",
        "DebugMode__check_finite",
        "DebugMode__check_preallocated_output",
        "DebugMode__check_preallocated_output_ndim",
        "DebugMode__check_py",
        "DebugMode__check_strides",
        "DebugMode__patience",
        "DebugMode__warn_input_not_reused",
        "NanGuardMode__action",
        "NanGuardMode__big_is_error",
        "NanGuardMode__inf_is_error",
        "NanGuardMode__nan_is_error",
        "allow_gc",
        "base_compiledir",
        "blas__check_openmp",
        "blas__ldflags",
        "cast_policy",
        "check_input",
        "check_stack_trace",
        "cmodule__age_thresh_use",
        "cmodule__compilation_warning",
        "cmodule__debug",
        "cmodule__preload_cache",
        "cmodule__remove_gxx_opt",
        "cmodule__warn_no_version",
        "compile__timeout",
        "compile__wait",
        "compiledir",
        "compiledir_format",
        "compiler_verbose",
        "cxx",
        "cycle_detection",
        "exception_verbosity",
        "floatX",
        "gcc__cxxflags",
        "gcc_version_str",
        "lib__amdlibm",
        "linker",
        "mode",
        "nocleanup",
        "numba__cache",
        "numba__fastmath",
        "on_opt_error",
        "on_shape_error",
        "on_unused_input",
        "openmp",
        "openmp_elemwise_minsize",
        "optdb__max_use_ratio",
        "optdb__position_cutoff",
        "optimizer",
        "optimizer_excluding",
        "optimizer_including",
        "optimizer_requiring",
        "optimizer_verbose",
        "optimizer_verbose_ignore",
        "print_global_stats",
        "profile",
        "profile_memory",
        "profile_optimizer",
        "profiling__debugprint",
        "profiling__destination",
        "profiling__ignore_first_call",
        "profiling__min_memory_size",
        "profiling__min_peak_memory",
        "profiling__n_apply",
        "profiling__n_ops",
        "profiling__output_line_width",
        "profiling__time_thunks",
        "scan__allow_gc",
        "scan__allow_output_prealloc",
        "tensor__cmp_sloppy",
        "tensor__insert_inplace_optimizer_validate_nb",
        "traceback__compile_limit",
        "traceback__limit",
        "unpickle_function",
        "vm__lazy",
        "warn__ignore_bug_before",
        "warn_float64",
    }
)

#: Theano keys (``section__key`` spelling) that have no meaning in PyTensor.
THEANO_ONLY_KEYS = frozenset(
    {
        "init_gpu_device",
        "force_device",
        "print_active_device",
        "contexts",
        "assert_no_cpu_op",
        "enable_initial_driver_test",
        "home",
        "int_division",
        "deterministic",
        "compute_test_value",
        "compute_test_value_opt",
        "print_test_value",
        "pickle_test_value",
        "reoptimize_unpickled_function",
        "debugprint",
        "time_seq_optimizer",
        "time_eq_optimizer",
        "lib__cnmem",
        "op__set_flops",
        "conv__assert_shape",
        "tensor__local_elemwise_fusion",
        "cmodule__mac_framework_link",
        "scan__debug",
    }
)
#: Whole Theano sections with no meaning in PyTensor (GPU back ends, old warnings).
THEANO_ONLY_SECTIONS = (
    "gpuarray",
    "gpu",
    "gpuelemwise",
    "dnn",
    "nvcc",
    "cuda",
    "magma",
    "ctc",
    "pycuda",
    "lib__cnmem",
    "warn",
    "experimental",
    "numpy",
    "metaopt",
    "unittests",
)

_KNOWN_BY_LOWER = {key.lower(): key for key in PYTENSOR_KEYS}
_THEANO_ONLY_LOWER = frozenset(key.lower() for key in THEANO_ONLY_KEYS)
_THEANO_ONLY_PREFIXES = tuple(section.lower() + "__" for section in THEANO_ONLY_SECTIONS)

#: Theano values that PyTensor spells differently.
_MODE_ALIASES = {"DEBUG_MODE": "DebugMode", "DebugMode": "DebugMode"}
_REMOVED_MODES = ("ProfileMode", "PROFILE_MODE")

_GPU_DEVICE = re.compile(r"^(?:cuda|gpu)(\d*)$")
_OPENCL_DEVICE = re.compile(r"^opencl\d+:\d+$")

#: What to install for device=cuda (the ``gpu`` extra of setup.py: JAX with CUDA).
GPU_INSTALL_HINT = "pip install -e .[gpu]"

#: Variables ConfigParser may interpolate in config files (as Theano and PyTensor do).
_INTERPOLATION_VARS = ("USER", "LSCRATCH", "TMPDIR", "TEMP", "TMP")
_DEFAULTS_SECTION = "\x00sda-interpolation-defaults"

_FLAGS_HELP = "write key=value pairs separated by commas, e.g. floatX=float32,device=cpu"


@dataclasses.dataclass(frozen=True)
class Settings:
    """The resolved configuration (treat the dicts as read-only).

    ``pytensor_flags``: the keys passed to PyTensor (``section__key`` spelling),
    ``floatX`` included.  ``sources``: where each setting came from (a file path,
    ``THEANO_FLAGS``, ``PYTENSOR_FLAGS`` or ``default``), for every key of
    ``pytensor_flags`` and for ``device``.  ``ignored_keys``: Theano-only keys
    that mean nothing in PyTensor; ``unknown_keys``: keys nobody knows (both as
    the user wrote them).  ``missing_files``: files named by THEANORC or
    PYTENSORRC that do not exist.
    """

    floatX: str
    device: str
    pytensor_flags: dict = dataclasses.field(hash=False)
    ignored_keys: tuple = ()
    unknown_keys: tuple = ()
    sources: dict = dataclasses.field(default_factory=dict, hash=False)
    missing_files: tuple = ()

    def as_dict(self):
        """A JSON-ready copy, for results files."""
        return {
            "floatX": self.floatX,
            "device": self.device,
            "pytensor_flags": dict(self.pytensor_flags),
            "ignored_keys": list(self.ignored_keys),
            "unknown_keys": list(self.unknown_keys),
            "sources": dict(self.sources),
            "missing_files": list(self.missing_files),
        }


# --------------------------------------------------------------------------
# Pure functions: parsing, classification, merging.  No PyTensor here.
# --------------------------------------------------------------------------


def _one_line(text):
    return " ".join(str(text).split())


def parse_theano_flags(text, source="THEANO_FLAGS"):
    """Parse ``key=value,key=value`` (Theano's and PyTensor's syntax).

    Returns ``{key: value}`` with the keys as written (stripped; later entries
    win).  Values may be quoted (``blas__ldflags="-L/opt/x -lopenblas"``); as in
    Theano/PyTensor, an unquoted ``#`` starts a comment.  An entry with no ``=``
    or no key raises :class:`ConfigError` naming ``source``.
    """
    flags = {}
    if not text or not text.strip():
        return flags
    splitter = shlex.shlex(text, posix=True)
    splitter.whitespace = ","
    splitter.whitespace_split = True
    try:
        entries = list(splitter)
    except ValueError as exc:
        raise ConfigError(f"{source} cannot be parsed ({_one_line(exc)}): {_FLAGS_HELP}") from None
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        if "=" not in entry:
            raise ConfigError(f"{source} entry '{entry}' has no value: {_FLAGS_HELP}")
        key, value = entry.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"{source} entry '{entry}' has no key: {_FLAGS_HELP}")
        flags.pop(key, None)  # keep the order of the last occurrence
        flags[key] = value.strip()
    return flags


def _interpolation_defaults(environ):
    home = environ.get("HOME", "")
    values = {name: environ.get(name, "") for name in _INTERPOLATION_VARS}
    if not values["USER"]:
        values["USER"] = os.path.basename(home.rstrip("/")) if home else ""
    values["PID"] = str(os.getpid())
    return values


def read_theanorc(paths, environ=None):
    """Read Theano/PyTensor INI config files; files later in ``paths`` win.

    Returns ``{key: value}``: keys of ``[global]`` as written, keys of another
    section as ``section.key`` (Theano's spelling).  ``%(USER)s``-style
    interpolation works as in Theano (USER, LSCRATCH, TMPDIR, TEMP, TMP, PID,
    taken from ``environ``, default ``os.environ``).  Missing files are skipped;
    an unreadable or malformed file raises :class:`ConfigError` naming it.
    """
    if environ is None:
        environ = os.environ
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    result = {}
    for path in paths:
        path = os.fspath(path)
        if not os.path.exists(path):
            continue
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else _one_line(exc)
            raise ConfigError(f"cannot read config file {path}: {reason}; fix or remove it") from None
        # Keys are listed from a parser without the interpolation variables (they
        # would show up in every section); values come from one with them.
        raw = configparser.RawConfigParser(default_section=_DEFAULTS_SECTION, strict=False)
        cooked = configparser.ConfigParser(default_section=_DEFAULTS_SECTION, strict=False)
        for parser in (raw, cooked):
            parser.optionxform = str  # keep the case; keys are matched case-insensitively later
        variables = _interpolation_defaults(environ)
        variables.update({name.lower(): value for name, value in variables.items()})
        cooked.read_dict({_DEFAULTS_SECTION: {k: v.replace("%", "%%") for k, v in variables.items()}})
        for parser in (raw, cooked):
            try:
                parser.read_string(text, source=path)
            except configparser.Error as exc:
                raise ConfigError(
                    f"config file {path} is not a valid INI file ({_one_line(exc)}): "
                    "use a [global] section with 'key = value' lines"
                ) from None
        for section in raw.sections():
            for key in raw.options(section):
                try:
                    value = cooked.get(section, key)
                except configparser.InterpolationError:
                    value = raw.get(section, key)
                if value is None:  # "key" without "=" only parses with allow_no_value
                    value = ""
                name = key if section == "global" else f"{section}.{key}"
                result.pop(name, None)
                result[name] = value.strip()
    return result


def normalise_key(key):
    """``section.key`` (Theano) -> ``section__key`` (PyTensor)."""
    return key.strip().replace(".", "__")


def classify_key(key):
    """Return ``(kind, name)`` for a user key.

    kind is ``"pytensor"`` (name: PyTensor's spelling), ``"device"``,
    ``"ignored"`` (Theano-only) or ``"unknown"`` (name: the key as written).
    """
    lowered = normalise_key(key).lower()
    if lowered == "device":
        return "device", "device"
    if lowered in _KNOWN_BY_LOWER:
        return "pytensor", _KNOWN_BY_LOWER[lowered]
    if lowered in _THEANO_ONLY_LOWER or lowered.startswith(_THEANO_ONLY_PREFIXES):
        return "ignored", key
    return "unknown", key


def _expand_user(path, environ):
    if path == "~" or path.startswith("~/") or path.startswith("~" + os.sep):
        home = environ.get("HOME")
        if home:
            return home + path[1:]
    return os.path.expanduser(path)


def _config_paths(environ, variable, default):
    value = environ.get(variable)
    if value is None:
        return [_expand_user(default, environ)], False
    return [_expand_user(p, environ) for p in value.split(os.pathsep) if p], True


def _check_floatx(value, source):
    name = value.strip().lower()
    if name not in SUPPORTED_FLOATX:
        raise ConfigError(
            f"floatX={value} is not supported: use float32 or float64 "
            f"(THEANO_FLAGS or .theanorc; found in {source})"
        )
    return name


def _check_mode(value, source):
    if value in _REMOVED_MODES:
        raise ConfigError(
            f"mode={value} no longer exists in PyTensor (from {source}): "
            "use mode=FAST_RUN, and profile=True for profiling"
        )
    return _MODE_ALIASES.get(value, value)


def _select_device(name, source="THEANO_FLAGS or .theanorc"):
    """The one place that decides what a ``device`` value means.

    Returns the normalised device: ``'cpu'``, or ``'cuda'`` (the first GPU) /
    ``'cudaN'`` (the N-th, N >= 1) for Theano's GPU names ``cuda``, ``cuda0``,
    ``gpu``, ``gpu0``, ``cuda1``, ``gpu1``, ...  Other names (``opencl0:0``,
    ...) raise :class:`ConfigError`.  Pure: whether a GPU is really there is
    checked when the module is imported (:func:`_jax_gpu`), never by falling
    back to the CPU.
    """
    value = name.strip().lower()
    if value == "cpu":
        return "cpu"
    gpu = _GPU_DEVICE.match(value)
    if gpu:
        number = int(gpu.group(1) or 0)
        return "cuda" if number == 0 else f"cuda{number}"
    if _OPENCL_DEVICE.match(value):
        raise ConfigError(f"device={name} (from {source}): OpenCL is not supported: use device=cuda or device=cpu")
    raise ConfigError(f"device={name} (from {source}) is not a known device: use device=cpu or device=cuda")


def resolve_settings(environ):
    """Merge every configuration source of ``environ`` into a :class:`Settings`.

    Precedence, lowest first: THEANORC files (or ~/.theanorc), PYTENSORRC files
    (or ~/.pytensorrc), THEANO_FLAGS, PYTENSOR_FLAGS.  Reads files but changes
    nothing.  Raises :class:`ConfigError` on any bad value.
    """
    entries = []  # (key as written, value, source), lowest precedence first
    missing = []
    for variable, default in (("THEANORC", "~/.theanorc"), ("PYTENSORRC", "~/.pytensorrc")):
        paths, explicit = _config_paths(environ, variable, default)
        for path in paths:
            if not os.path.exists(path):
                if explicit:
                    missing.append(path)
                continue
            for key, value in read_theanorc([path], environ).items():
                entries.append((key, value, path))
    for variable in ("THEANO_FLAGS", "PYTENSOR_FLAGS"):
        for key, value in parse_theano_flags(environ.get(variable, ""), variable).items():
            entries.append((key, value, variable))

    flags, sources = {}, {}
    device_value, device_source = DEFAULT_DEVICE, "default"
    ignored, unknown = [], []
    for key, value, source in entries:
        kind, name = classify_key(key)
        if kind == "pytensor":
            flags.pop(name, None)
            flags[name] = value
            sources[name] = source
        elif kind == "device":
            device_value, device_source = value, source
        elif kind == "ignored":
            if key not in ignored:
                ignored.append(key)
        elif key not in unknown:
            unknown.append(key)

    if "floatX" in flags:
        flags["floatX"] = _check_floatx(flags["floatX"], sources["floatX"])
    else:
        flags["floatX"] = DEFAULT_FLOATX
        sources["floatX"] = "default"
    if "mode" in flags:
        flags["mode"] = _check_mode(flags["mode"], sources["mode"])
    device_name = _select_device(device_value, device_source)
    sources["device"] = device_source

    return Settings(
        floatX=flags["floatX"],
        device=device_name,
        pytensor_flags=flags,
        ignored_keys=tuple(ignored),
        unknown_keys=tuple(unknown),
        sources=sources,
        missing_files=tuple(missing),
    )


_NEEDS_QUOTES = re.compile(r"""[,"'\\#\s]""")


def format_pytensor_flags(flags):
    """``{key: value}`` -> a ``PYTENSOR_FLAGS`` string that PyTensor parses back."""
    parts = []
    for key, value in flags.items():
        value = str(value)
        if value == "" or _NEEDS_QUOTES.search(value):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={value}")
    return ",".join(parts)


def warning_lines(settings):
    """The one-line warnings that ``settings`` deserve (may be empty)."""
    lines = []
    if settings.missing_files:
        lines.append("sda: config files named by THEANORC/PYTENSORRC not found: "
                     + ", ".join(settings.missing_files))
    if settings.ignored_keys:
        lines.append("sda: Theano-only keys have no meaning in PyTensor, ignored: "
                     + ", ".join(settings.ignored_keys))
    if settings.unknown_keys:
        lines.append("sda: THEANO_FLAGS/.theanorc keys not understood, ignored: "
                     + ", ".join(settings.unknown_keys))
    return lines


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
            f"{_one_line(exc)}"
        )
    return ConfigError(
        f"PyTensor could not start with these settings ({type(exc).__name__}: {_one_line(exc)}): "
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


def sigmoid(x):
    """Logistic sigmoid, element-wise (Theano's ``T.nnet.sigmoid``)."""
    return pytensor.tensor.sigmoid(x)


def softmax(x):
    """Row-wise softmax (Theano's ``T.nnet.softmax``): each row sums to 1."""
    return pytensor.tensor.special.softmax(x, axis=-1)


# --------------------------------------------------------------------------
# device=cuda: PyTensor's JAX back end, with the shared variables on the GPU.
# --------------------------------------------------------------------------


def _gpu_index(name):
    return 0 if name == "cuda" else int(name[len("cuda"):])


def _jax_gpu(name, source):
    """The ``jax.Device`` for ``device=name`` (``'cuda'``, ``'cuda1'``, ...), or a
    one-line :class:`ConfigError` naming what to install.

    JAX falls back to its CPU back end without a word when it finds no GPU, so
    this asks for the GPU platform explicitly.
    """
    try:
        import jax
    except ImportError:
        raise ConfigError(
            f"device={name} (from {source}) needs JAX with CUDA, which is not installed: "
            f"{GPU_INSTALL_HINT} (or use device=cpu)"
        ) from None
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        gpus = []
    if not gpus:
        try:
            found = ", ".join(sorted({d.platform for d in jax.devices()}))
        except RuntimeError:
            found = "none"
        raise ConfigError(
            f"device={name} (from {source}): JAX {jax.__version__} finds no GPU (its devices: {found}); "
            f"install JAX with CUDA and check the NVIDIA driver: {GPU_INSTALL_HINT} (or use device=cpu)"
        )
    number = _gpu_index(name)
    if number >= len(gpus):
        raise ConfigError(
            f"device={name} (from {source}): JAX finds {len(gpus)} GPU(s): use device=cuda0"
            + (f" to cuda{len(gpus) - 1}" if len(gpus) > 1 else "")
        )
    return gpus[number]


#: The ``jax.Device`` that functions are compiled for (None with device=cpu).
jax_device = None if device == "cpu" else _jax_gpu(device, settings.sources.get("device", "THEANO_FLAGS"))
_jax_modes = {}


def _device_linker_class(target):
    """PyTensor's ``JAXLinker`` that keeps the shared variables on ``target``.

    PyTensor's JAX linker hands each shared variable's storage to the jitted
    function as it finds it.  A NumPy array there is copied to the device on
    *every* call (the whole dataset for each minibatch!).  This linker replaces
    it, on the first call, by a device array in the shared variable's own
    storage cell, so ``get_value(borrow=True)`` then returns a ``jax.Array`` and
    later calls copy nothing.  Updates write the jitted function's outputs (device
    arrays) back into those cells, so the parameters stay on the device as well.
    A later ``set_value`` (a NumPy array) is moved again on the next call.
    """
    import jax
    import numpy
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.link.jax.linker import JAXLinker

    device_put = jax.device_put

    def strong(leaf):
        # a strongly typed device array: JAX compiles again when an input's
        # weak_type changes, as the generator state's scalars did after one call
        return device_put(numpy.asarray(leaf), target)

    def create_thunk_inputs(self, storage_map):
        thunk_inputs = JAXLinker.create_thunk_inputs(self, storage_map)
        cells = []
        for position, (variable, cell) in enumerate(zip(self.fgraph.inputs, thunk_inputs)):
            if isinstance(variable, SharedVariable):
                cells.append((position, cell))
                if isinstance(cell[0], dict):  # a noise generator's state, made a JAX pytree above
                    cell[0] = jax.tree_util.tree_map(strong, cell[0])
        self._shared_cells = tuple(cells)
        return thunk_inputs

    def jit_compile(self, fn):
        compiled = JAXLinker.jit_compile(self, fn)
        shared_cells = self._shared_cells
        ndarray = numpy.ndarray

        def call(*args):
            for position, cell in shared_cells:
                if isinstance(args[position], ndarray):
                    cell[0] = device_put(args[position], target)
                    args = args[:position] + (cell[0],) + args[position + 1:]
            return compiled(*args)

        return call

    return type("DeviceJAXLinker", (JAXLinker,), {
        "create_thunk_inputs": create_thunk_inputs, "jit_compile": jit_compile, "target": target})


#: Warnings of PyTensor's JAX back end that say nothing wrong about this package:
#: it copies each shared noise generator into the compiled function (which then
#: advances the copy: the noise is fresh at every call); it drops the broadcast
#: asserts of the graph; it sums float32 in float32 (JAX without x64) where the
#: graph asks for a float64 accumulator (int32 for int64).
_JAX_NOISE = (
    r"The RandomType SharedVariables .* will not be used in the compiled JAX graph",
    r"Skipping Assert\{",
    r"Explicitly requested dtype (float|int)64 requested in astype is not available",
)


def _jax_mode(target):
    """PyTensor's ``JAX`` mode (its rewrites) with the device-resident linker."""
    key = (target.platform, target.id)
    if key not in _jax_modes:
        import warnings

        from pytensor.compile.mode import JAX, Mode

        for message in _JAX_NOISE:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)

        _jax_modes[key] = Mode(linker=_device_linker_class(target)(), optimizer=JAX.provided_optimizer)
    return _jax_modes[key]


def compile_mode():
    """The ``mode`` argument of every ``pytensor.function`` of the package.

    ``None`` with device=cpu: PyTensor's configured mode (its default linker is
    Numba, or whatever ``mode``/``linker`` the user set).  With device=cuda:
    PyTensor's JAX back end, the functions running on the GPU and the shared
    variables (datasets, parameters) kept there between calls.
    """
    if device == "cpu":
        return None
    return _jax_mode(jax_device)


def static_shapes():
    """True when the compiled functions need shapes known at compile time (the
    JAX back end): :func:`sda.minibatches.minibatch` then selects rows with a
    slice of static length."""
    return device != "cpu"


class jax_on_cpu:
    """For tests only: compile with the JAX back end on JAX's CPU device.

    ``with jax_on_cpu(): ...`` makes :func:`compile_mode` and
    :func:`static_shapes` act as with device=cuda, on a machine without a GPU
    (``device`` reads ``'jax-cpu'`` inside).  Users cannot select this: their
    device=cuda refuses a CPU-only JAX.
    """

    def __enter__(self):
        import jax

        global device, jax_device
        self._saved = device, jax_device
        device, jax_device = "jax-cpu", jax.devices("cpu")[0]
        return self

    def __exit__(self, *exc_info):
        global device, jax_device
        device, jax_device = self._saved
        return False


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
    for name in ("numba", "scipy-openblas32", "jax", "jaxlib"):
        version = _installed_version(name)
        if version is not None:
            result[name] = version
    return result
