"""THEANO_FLAGS, ``.theanorc`` and PYTENSOR_FLAGS: read, merged and checked, with
no PyTensor (it reads its own flags once, at import, so they must be settled
before :mod:`sda.backend` imports it).

Theano users chose the float type and the device with ``THEANO_FLAGS`` and a
``.theanorc`` file.  PyTensor reads neither: it reads ``PYTENSOR_FLAGS`` and
``~/.pytensorrc`` (or the files named by ``PYTENSORRC``).
:func:`resolve_settings`:

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
     sda uses float32** (PyTensor's own default, and Theano's, is float64: over
     4 seeds of the tutorial's run the two give errors that cannot be told
     apart, and float32 is about twice as fast; README, "The seed study").
   * ``device``: ``cpu`` (the default: PyTensor's Numba back end) or a GPU,
     ``cuda``/``cuda0``/``gpu``/``gpu0`` (``cudaN``/``gpuN``: the N-th GPU):
     every function is then compiled by PyTensor's JAX back end for that GPU
     (``pip install -e .[gpu]``; see :mod:`sda.jax_device` and docs/gpu.md).
   * keys PyTensor knows are passed on (``mode``, ``linker``, ``optimizer``,
     ``blas__ldflags``, ``base_compiledir``, ``openmp``, ...); Theano's
     ``mode=DEBUG_MODE`` becomes ``DebugMode``;
   * the C back end: ``linker=c`` and ``mode=C`` (PyTensor's whole-graph C
     linker, which needs C code for every variable, and the dA's noise
     generator, a NumPy ``Generator``, has none) run as ``linker=cvm`` and
     ``mode=CVM``: every op that has C code runs in C, the noise is drawn by
     NumPy as on the default back end (the same seeds give the same noise).
     ``mode=FAST_RUN`` with a linker PyTensor's FAST_RUN does not know
     (``py``, ``c|py``, ``vm``, ...) runs as ``mode=Mode,optimizer=fast_run``.
     Each such translation is reported in one line (:func:`warning_lines`);
   * ``mode``/``linker`` JAX, PYTORCH, MLX are refused with device=cpu (sda
     compiles for JAX with ``device=cuda``);
   * Theano-only keys that mean nothing now (``lib.cnmem``, ``gpuarray.*``,
     ``dnn.*``, ``nvcc.*``, ``force_device``, ...) are ignored with one warning
     line (:func:`warning_lines`); keys nobody knows are ignored with another.

Every configuration problem raises :class:`~sda.errors.ConfigError` with one
line saying what is wrong and what to do.  Nothing here changes the process:
the functions read files and ``environ`` and return values.
"""

import configparser
import dataclasses
import os
import re
import shlex

from sda.errors import ConfigError

__all__ = [
    "DEFAULT_FLOATX",
    "PYTENSOR_KEYS",
    "THEANO_ONLY_KEYS",
    "THEANO_ONLY_SECTIONS",
    "Settings",
    "classify_key",
    "translate_back_end",
    "format_pytensor_flags",
    "normalise_key",
    "one_line",
    "parse_theano_flags",
    "read_theanorc",
    "resolve_settings",
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
#: Back ends of PyTensor that sda does not run on the CPU (device=cuda compiles for JAX).
_FOREIGN_MODES = ("JAX", "PYTORCH", "MLX")
_FOREIGN_LINKERS = ("jax", "pytorch", "mlx")
#: The linkers for which PyTensor 3.0.7's ``get_mode("FAST_RUN")`` has a mode (its
#: "vm" entry is a tuple by mistake, so vm is not among them).
_FAST_RUN_LINKERS = ("auto", "numba", "cvm")

#: What device=cuda compiles with anyway (the JAX back end), so a setting that says so needs no note.
_GPU_MODES = ("FAST_RUN", "JAX")
_GPU_LINKERS = ("auto", "jax")

_GPU_DEVICE = re.compile(r"^(?:cuda|gpu)(\d*)$")
_OPENCL_DEVICE = re.compile(r"^opencl\d+:\d+$")

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
    PYTENSORRC that do not exist.  ``translations``: one line for each
    setting that runs differently from what was written (``linker=c`` as
    ``cvm``, ...: :func:`translate_back_end`).
    """

    floatX: str
    device: str
    pytensor_flags: dict = dataclasses.field(hash=False)
    ignored_keys: tuple = ()
    unknown_keys: tuple = ()
    sources: dict = dataclasses.field(default_factory=dict, hash=False)
    missing_files: tuple = ()
    #: one line per setting sda runs differently from what was written (:func:`translate_back_end`)
    translations: tuple = ()

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
            "translations": list(self.translations),
        }


def one_line(text):
    """``text`` on one line, its runs of white space made single spaces."""
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
        raise ConfigError(f"{source} cannot be parsed ({one_line(exc)}): {_FLAGS_HELP}") from None
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
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
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
                    f"config file {path} is not a valid INI file ({one_line(exc)}): "
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


def translate_back_end(flags, sources, device="cpu"):
    """Make the ``mode`` and ``linker`` of ``flags`` ones that run sda's functions.

    Changes ``flags`` (and ``sources``) in place and returns the one-line notes
    saying what runs instead of what was written:

    * ``linker=c`` -> ``linker=cvm`` and ``mode=C`` -> ``mode=CVM``.  PyTensor's
      ``c`` linker compiles the whole graph into one C module, so every variable
      needs C code; the dA's noise comes from a shared NumPy ``Generator``
      (``RandomGeneratorType``), which has none, and compiling its pretraining
      function raised ``NotImplementedError: Type of uniform_rv... cannot
      produce C code``.  ``cvm`` is PyTensor's C back end op by op: every op with
      C code runs in C, the draw runs NumPy's ``Generator.uniform`` as on the
      default Numba back end, so the same seeds give the same noise.
    * ``mode=FAST_RUN`` with a linker other than auto/numba/cvm -> ``mode=Mode``
      and ``optimizer=fast_run`` (PyTensor 3.0.7's FAST_RUN looks its linker up
      in a table holding only those: KeyError for py, c|py, ...; a tuple for vm).
      ``Mode`` is PyTensor's "config.linker with config.optimizer".
    * with ``device=cpu``, ``mode`` JAX/PYTORCH/MLX and ``linker`` jax/pytorch/mlx
      raise :class:`ConfigError` (sda's functions on the CPU compile for Numba or
      C; its JAX path is ``device=cuda``, which keeps the noise generator's state
      and uses static shapes).
    * with ``device=cuda``, every function compiles for PyTensor's JAX back end
      on the GPU, so a ``mode`` other than FAST_RUN/JAX or a ``linker`` other
      than auto/jax (a .theanorc's ``mode=C``, a ``linker=cvm`` ...) is left
      unused, and said so in a note rather than silently.
    """
    notes = []
    mode, linker = flags.get("mode"), flags.get("linker")
    if device != "cpu":
        for key, value, runs_on_gpu in (("mode", mode, _GPU_MODES), ("linker", linker, _GPU_LINKERS)):
            if value is not None and value not in runs_on_gpu:
                notes.append(
                    f"sda: {key}={value} (from {sources[key]}) is not used with device={device}: every function "
                    "compiles for the GPU with PyTensor's JAX back end (docs/gpu.md); it applies with device=cpu"
                )
        return notes
    if mode is not None and mode.upper() in _FOREIGN_MODES:
        raise ConfigError(
            f"mode={mode} (from {sources['mode']}) is not supported with device=cpu: sda compiles for JAX "
            "with device=cuda (docs/gpu.md); on the CPU use mode=Mode (Numba, the default), NUMBA, CVM or C"
        )
    if linker in _FOREIGN_LINKERS:
        raise ConfigError(
            f"linker={linker} (from {sources['linker']}) is not supported with device=cpu: sda compiles for "
            "JAX with device=cuda (docs/gpu.md); on the CPU use linker=auto (Numba, the default), cvm or c"
        )
    why = ("PyTensor's whole-graph C linker cannot hold the dA's NumPy noise generator; cvm runs every other op "
           "in C and draws the same noise as the default back end")
    if linker == "c":
        flags["linker"] = linker = "cvm"
        notes.append(f"sda: linker=c (from {sources['linker']}) runs as linker=cvm: {why}")
    if mode == "C":
        flags["mode"] = mode = "CVM"
        notes.append(f"sda: mode=C (from {sources['mode']}) runs as mode=CVM: {why}")
    if mode == "FAST_RUN" and linker is not None and linker not in _FAST_RUN_LINKERS:
        flags["mode"] = "Mode"
        flags["optimizer"] = "fast_run"
        sources["optimizer"] = sources["mode"]
        notes.append(
            f"sda: mode=FAST_RUN with linker={linker} runs as mode=Mode,optimizer=fast_run "
            "(PyTensor's FAST_RUN mode only knows the linkers auto, numba and cvm)"
        )
    return notes


def _select_device(name, source="THEANO_FLAGS or .theanorc"):
    """The one place that decides what a ``device`` value means.

    Returns the normalised device: ``'cpu'``, or ``'cuda'`` (the first GPU) /
    ``'cudaN'`` (the N-th, N >= 1) for Theano's GPU names ``cuda``, ``cuda0``,
    ``gpu``, ``gpu0``, ``cuda1``, ``gpu1``, ...  Other names (``opencl0:0``,
    ...) raise :class:`ConfigError`.  Pure: whether a GPU is really there is
    checked when :mod:`sda.backend` is imported
    (:func:`sda.jax_device.find_gpu`), never by falling back to the CPU.
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
    translations = translate_back_end(flags, sources, device_name)

    return Settings(
        floatX=flags["floatX"],
        device=device_name,
        pytensor_flags=flags,
        ignored_keys=tuple(ignored),
        unknown_keys=tuple(unknown),
        sources=sources,
        missing_files=tuple(missing),
        translations=tuple(translations),
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
    lines.extend(settings.translations)
    return lines
