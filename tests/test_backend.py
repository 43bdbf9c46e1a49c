"""sda.flags and sda.backend: THEANO_FLAGS / .theanorc translated into PyTensor's configuration.

The parsing and merging functions (sda.flags) are pure and tested in-process; a handful of
subprocess tests check that the settings really reach ``pytensor.config``
(PyTensor reads its flags once, at import, so that needs a fresh interpreter).
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sda.backend as backend
from sda.errors import ConfigError, UsageError
from sda.flags import (
    PYTENSOR_KEYS,
    THEANO_ONLY_KEYS,
    Settings,
    classify_key,
    format_pytensor_flags,
    parse_theano_flags,
    read_theanorc,
    resolve_settings,
    warning_lines,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG_VARIABLES = ("PYTENSOR_FLAGS", "THEANO_FLAGS", "THEANORC", "PYTENSORRC")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir()
    return path


def environ(home, **variables):
    return {"HOME": str(home), "USER": "alice", **variables}


# ---------------------------------------------------------------- parse_theano_flags


def test_parse_flags_basic_and_spellings():
    flags = parse_theano_flags("floatX=float32, device=cpu ,blas.ldflags=-lopenblas,gcc__cxxflags=-O3")
    assert flags == {
        "floatX": "float32",
        "device": "cpu",
        "blas.ldflags": "-lopenblas",
        "gcc__cxxflags": "-O3",
    }


def test_parse_flags_quotes_empty_values_and_last_wins():
    flags = parse_theano_flags('blas.ldflags="-L/opt/a,b -lopenblas",floatX=float64,floatX=float32,cxx=,,')
    assert flags == {"blas.ldflags": "-L/opt/a,b -lopenblas", "floatX": "float32", "cxx": ""}
    assert parse_theano_flags("") == {}
    assert parse_theano_flags("  ") == {}


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("floatX", "THEANO_FLAGS entry 'floatX' has no value"),
        ("device=cpu,floatX", "entry 'floatX' has no value"),
        ("=float32", "has no key"),
        ('floatX="float32', "cannot be parsed"),
    ],
)
def test_parse_flags_malformed(text, fragment):
    with pytest.raises(ConfigError) as info:
        parse_theano_flags(text)
    message = str(info.value)
    assert fragment in message and "key=value" in message and "\n" not in message
    assert isinstance(info.value, UsageError)


def test_parse_flags_names_its_source():
    with pytest.raises(ConfigError, match="^PYTENSOR_FLAGS entry"):
        parse_theano_flags("oops", "PYTENSOR_FLAGS")


# ---------------------------------------------------------------- read_theanorc


def test_read_theanorc_sections_case_and_interpolation(tmp_path):
    rc = write(
        tmp_path / "rc",
        "[global]\nfloatX = float64\nDevice = cpu\nbase_compiledir = /tmp/%(USER)s/pt\n"
        "[blas]\nldflags = -lopenblas\n[dnn.conv]\nalgo_fwd = small\n",
    )
    assert read_theanorc([rc], {"USER": "bob"}) == {
        "floatX": "float64",
        "Device": "cpu",
        "base_compiledir": "/tmp/bob/pt",
        "blas.ldflags": "-lopenblas",
        "dnn.conv.algo_fwd": "small",
    }


def test_read_theanorc_later_file_wins_missing_skipped(tmp_path):
    a = write(tmp_path / "a", "[global]\nfloatX = float64\nmode = FAST_RUN\n")
    b = write(tmp_path / "b", "[global]\nfloatX = float32\n")
    assert read_theanorc([a, tmp_path / "missing", b]) == {"floatX": "float32", "mode": "FAST_RUN"}
    assert read_theanorc(tmp_path / "missing") == {}


def test_read_theanorc_bad_percent_kept_raw(tmp_path):
    rc = write(tmp_path / "rc", "[gcc]\ncxxflags = -DX=50%\n")
    assert read_theanorc([rc]) == {"gcc.cxxflags": "-DX=50%"}


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("floatX = float32\n", "not a valid INI file"),
        ("[global]\nfloatX\n", "not a valid INI file"),
        (b"[global]\nfloatX = \xff\n", "cannot read config file"),
        (None, "cannot read config file"),  # a directory
    ],
)
def test_read_theanorc_malformed(tmp_path, content, fragment):
    rc = tmp_path / ".theanorc"
    if content is None:
        rc.mkdir()
    elif isinstance(content, bytes):
        rc.write_bytes(content)
    else:
        rc.write_text(content)
    with pytest.raises(ConfigError) as info:
        read_theanorc([rc])
    message = str(info.value)
    assert fragment in message and str(rc) in message and "\n" not in message


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "key, expected",
    [
        ("floatX", ("pytensor", "floatX")),
        ("floatx", ("pytensor", "floatX")),
        ("blas.ldflags", ("pytensor", "blas__ldflags")),
        ("blas__ldflags", ("pytensor", "blas__ldflags")),
        ("gcc.cxxflags", ("pytensor", "gcc__cxxflags")),
        ("debugmode.patience", ("pytensor", "DebugMode__patience")),
        ("warn.ignore_bug_before", ("pytensor", "warn__ignore_bug_before")),
        ("device", ("device", "device")),
        ("lib.cnmem", ("ignored", "lib.cnmem")),
        ("gpuarray.preallocate", ("ignored", "gpuarray.preallocate")),
        ("dnn.enabled", ("ignored", "dnn.enabled")),
        ("dnn.conv.algo_fwd", ("ignored", "dnn.conv.algo_fwd")),
        ("nvcc.fastmath", ("ignored", "nvcc.fastmath")),
        ("force_device", ("ignored", "force_device")),
        ("init_gpu_device", ("ignored", "init_gpu_device")),
        ("print_active_device", ("ignored", "print_active_device")),
        ("contexts", ("ignored", "contexts")),
        ("compute_test_value", ("ignored", "compute_test_value")),
        ("foo", ("unknown", "foo")),
        ("blas.foo", ("unknown", "blas.foo")),
    ],
)
def test_classify_key(key, expected):
    assert classify_key(key) == expected


def test_known_keys_match_pytensor_config():
    """The static key list is exactly what this PyTensor registers (no drift)."""
    assert PYTENSOR_KEYS == set(backend.config._config_var_dict)
    lowered = {key.lower() for key in PYTENSOR_KEYS}
    assert not lowered & {key.lower() for key in THEANO_ONLY_KEYS}
    assert len(lowered) == len(PYTENSOR_KEYS)  # case-insensitive matching is unambiguous


# ---------------------------------------------------------------- resolve_settings


def test_defaults(home):
    settings = resolve_settings(environ(home))
    assert settings == Settings(
        floatX="float32",
        device="cpu",
        pytensor_flags={"floatX": "float32"},
        sources={"floatX": "default", "device": "default"},
    )
    assert warning_lines(settings) == []


def test_precedence_key_by_key(home, tmp_path):
    theanorc = write(
        home / ".theanorc",
        "[global]\nfloatX = float64\nmode = FAST_COMPILE\nlinker = py\noptimizer = fast_run\n"
        "[blas]\nldflags = -lblas\n",
    )
    pytensorrc = write(home / ".pytensorrc", "[global]\nlinker = cvm\noptimizer = merge\n")
    settings = resolve_settings(
        environ(
            home,
            THEANO_FLAGS="optimizer=fast_compile,floatX=float64,exception_verbosity=high",
            PYTENSOR_FLAGS="floatX=float32",
        )
    )
    assert settings.floatX == "float32"
    assert settings.pytensor_flags == {
        "floatX": "float32",
        "mode": "FAST_COMPILE",
        "linker": "cvm",
        "optimizer": "fast_compile",
        "blas__ldflags": "-lblas",
        "exception_verbosity": "high",
    }
    assert settings.sources == {
        "floatX": "PYTENSOR_FLAGS",
        "mode": str(theanorc),
        "linker": str(pytensorrc),
        "optimizer": "THEANO_FLAGS",
        "blas__ldflags": str(theanorc),
        "exception_verbosity": "THEANO_FLAGS",
        "device": "default",
    }


def test_theanorc_variable_list_right_wins_and_replaces_home_file(home, tmp_path):
    write(home / ".theanorc", "[global]\nmode = FAST_COMPILE\n")
    a = write(tmp_path / "a", "[global]\nfloatX = float32\nlinker = py\n")
    b = write(tmp_path / "b", "[global]\nfloatX = float64\n")
    missing = tmp_path / "missing"
    settings = resolve_settings(environ(home, THEANORC=os.pathsep.join(map(str, [a, missing, b]))))
    assert settings.pytensor_flags == {"floatX": "float64", "linker": "py"}
    assert settings.missing_files == (str(missing),)
    assert warning_lines(settings) == [f"sda: config files named by THEANORC/PYTENSORRC not found: {missing}"]


def test_theanorc_tilde_uses_given_home(home):
    write(home / "my.rc", "[global]\nfloatX = float64\n")
    assert resolve_settings(environ(home, THEANORC="~/my.rc")).floatX == "float64"


def test_keys_in_file_and_flags_mix_spellings(home):
    write(home / ".theanorc", "[BLAS]\nLDFLAGS = -lblas\n")
    settings = resolve_settings(environ(home, THEANO_FLAGS="FloatX=Float64"))
    assert settings.pytensor_flags == {"blas__ldflags": "-lblas", "floatX": "float64"}


def test_ignored_and_unknown_keys_reported_once(home):
    write(home / ".theanorc", "[global]\nfoo = 1\n[lib]\ncnmem = 0.8\n")
    settings = resolve_settings(
        environ(home, THEANO_FLAGS="lib.cnmem=1,gpuarray.preallocate=0.9,foo=2,bar=3,nvcc.flags=-g")
    )
    assert settings.ignored_keys == ("lib.cnmem", "gpuarray.preallocate", "nvcc.flags")
    assert settings.unknown_keys == ("foo", "bar")
    assert settings.pytensor_flags == {"floatX": "float32"}
    assert warning_lines(settings) == [
        "sda: Theano-only keys have no meaning in PyTensor, ignored: lib.cnmem, gpuarray.preallocate, nvcc.flags",
        "sda: THEANO_FLAGS/.theanorc keys not understood, ignored: foo, bar",
    ]


@pytest.mark.parametrize("value", ["float16", "foo", "int32", ""])
def test_invalid_floatx(home, value):
    with pytest.raises(ConfigError) as info:
        resolve_settings(environ(home, THEANO_FLAGS=f"floatX={value}"))
    assert str(info.value).startswith(f"floatX={value} is not supported: use float32 or float64 (THEANO_FLAGS")


def test_invalid_floatx_names_the_file(home):
    rc = write(home / ".theanorc", "[global]\nfloatX = float16\n")
    with pytest.raises(ConfigError, match=f"found in {rc}"):
        resolve_settings(environ(home))


@pytest.mark.parametrize(
    "name, device",
    [("cuda", "cuda"), ("cuda0", "cuda"), ("gpu", "cuda"), ("GPU0", "cuda"), ("cuda1", "cuda1"),
     ("gpu3", "cuda3")],
)
def test_gpu_device_names(home, name, device):
    # resolving is pure: whether JAX sees a GPU is checked when sda.backend is imported (tests/test_gpu.py)
    settings = resolve_settings(environ(home, THEANO_FLAGS=f"device={name}"))
    assert settings.device == device and settings.sources["device"] == "THEANO_FLAGS"
    assert "device" not in settings.pytensor_flags


def test_gpu_device_says_which_cpu_back_end_settings_it_leaves_unused(home):
    # device=cuda compiles with the JAX back end whatever mode/linker say: a .theanorc written for the CPU
    # (mode=C, linker=cvm) gets one note per setting instead of being replaced silently
    write(home / ".theanorc", "[global]\nmode = C\nlinker = cvm\n")
    settings = resolve_settings(environ(home, THEANO_FLAGS="device=cuda"))
    assert settings.translations == (
        f"sda: mode=C (from {home / '.theanorc'}) is not used with device=cuda: every function compiles for the "
        "GPU with PyTensor's JAX back end (docs/gpu.md); it applies with device=cpu",
        f"sda: linker=cvm (from {home / '.theanorc'}) is not used with device=cuda: every function compiles for "
        "the GPU with PyTensor's JAX back end (docs/gpu.md); it applies with device=cpu",
    )
    # nothing to say when they already name what runs, and the CPU's C translation does not apply
    (home / ".theanorc").unlink()
    for flags in ("device=cuda,mode=FAST_RUN,linker=auto", "device=cuda,mode=JAX,linker=jax", "device=cuda,linker=c"):
        translations = resolve_settings(environ(home, THEANO_FLAGS=flags)).translations
        assert translations == (() if "linker=c" not in flags else (
            "sda: linker=c (from THEANO_FLAGS) is not used with device=cuda: every function compiles for the GPU "
            "with PyTensor's JAX back end (docs/gpu.md); it applies with device=cpu",))


def test_opencl_refused(home):
    with pytest.raises(ConfigError, match="device=opencl0:0 .*OpenCL is not supported: use device=cuda or device=cpu"):
        resolve_settings(environ(home, THEANO_FLAGS="device=opencl0:0"))


@pytest.mark.parametrize("name", ["tpu", "", "cpu0"])
def test_unknown_device_refused(home, name):
    with pytest.raises(ConfigError, match="is not a known device: use device=cpu or device=cuda"):
        resolve_settings(environ(home, THEANO_FLAGS=f"device={name}"))


def test_device_cpu_from_any_source(home):
    write(home / ".theanorc", "[global]\ndevice = cuda\n")
    settings = resolve_settings(environ(home, PYTENSOR_FLAGS="device= CPU "))
    assert settings.device == "cpu" and settings.sources["device"] == "PYTENSOR_FLAGS"
    assert "device" not in settings.pytensor_flags


def test_modes(home):
    assert resolve_settings(environ(home, THEANO_FLAGS="mode=DEBUG_MODE")).pytensor_flags["mode"] == "DebugMode"
    assert resolve_settings(environ(home, THEANO_FLAGS="mode=FAST_RUN")).pytensor_flags["mode"] == "FAST_RUN"
    with pytest.raises(ConfigError, match="mode=PROFILE_MODE no longer exists"):
        resolve_settings(environ(home, THEANO_FLAGS="mode=PROFILE_MODE"))


def test_errors_from_files_surface(home):
    write(home / ".theanorc", "floatX = float32\n")
    with pytest.raises(ConfigError, match="not a valid INI file"):
        resolve_settings(environ(home))


def test_example_file_is_valid_and_documents_known_keys(home):
    example = ROOT / ".theanorc.example"
    settings = resolve_settings(environ(home, THEANORC=str(example)))
    assert (settings.floatX, settings.device) == ("float32", "cpu")
    assert settings.unknown_keys == () and settings.ignored_keys == ()
    # Every commented-out key is one PyTensor knows.
    uncommented = "".join(
        line[1:] if line.startswith("#") and " = " in line and not line.startswith("# ") else line
        for line in example.read_text().splitlines(keepends=True)
    )
    rc = write(home / "uncommented", uncommented)
    keys = read_theanorc([rc])
    assert len(keys) > 15
    assert {key: classify_key(key)[0] for key in keys} == {
        key: "device" if key == "device" else "pytensor" for key in keys
    }


# ---------------------------------------------------------------- handing over to PyTensor


def test_format_round_trips_through_pytensors_parser():
    from pytensor.configparser import parse_config_string

    flags = {
        "floatX": "float32",
        "blas__ldflags": "-L/opt/a,b -lopenblas",
        "gcc__cxxflags": 'a "quoted" #not-a-comment \\ back',
        "cxx": "",
        "base_compiledir": "/tmp/it's",
    }
    assert parse_config_string(format_pytensor_flags(flags)) == flags
    assert format_pytensor_flags({"floatX": "float64", "mode": "FAST_RUN"}) == "floatX=float64,mode=FAST_RUN"


def test_module_exports():
    assert backend.floatX in ("float32", "float64")
    assert backend.config.floatX == backend.floatX
    assert backend.device == "cpu"
    assert backend.compile_mode() is None
    assert backend.T is backend.pytensor.tensor
    assert isinstance(backend.settings, Settings)
    assert backend.settings.as_dict()["floatX"] == backend.floatX
    versions = backend.versions()
    assert {"python", "numpy", "pytensor", "numba"} <= set(versions)
    assert versions["pytensor"] == backend.pytensor.__version__


def test_softmax_is_row_wise_and_sigmoid():
    T = backend.T
    x = T.matrix("x")
    mode = backend.pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile")
    f = backend.pytensor.function([x], [backend.softmax(x), backend.sigmoid(x)], mode=mode)
    data = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=backend.config.floatX)
    soft, sig = f(data)
    np.testing.assert_allclose(soft.sum(axis=1), [1.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(soft[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-data)), rtol=1e-6)


# ---------------------------------------------------------------- real imports (subprocesses)

PRINT = "import sda.backend as b; print(b.floatX, b.device, b.config.floatX)"


def run_python(home, code=PRINT, **variables):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env["HOME"] = str(home)
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def sda_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("sda:")]


@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_real_theano_flags_reach_pytensor(home, floatx):
    result = run_python(home, THEANO_FLAGS=f"floatX={floatx},device=cpu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [floatx, "cpu", floatx]
    assert result.stderr == ""


def test_flags_alone_import_no_pytensor(home):
    # sda.flags must be usable before PyTensor reads its flags, once, at its import
    result = run_python(home, "import sys, sda.flags; print(sorted(m for m in ('pytensor', 'jax', 'sda.backend') "
                              "if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_real_cpu_leaves_pytensors_default_mode(home):
    result = run_python(home, PRINT + "; print(b.config.mode, b.compile_mode())", THEANO_FLAGS="mode=FAST_COMPILE")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["float32", "cpu", "float32", "FAST_COMPILE", "None"]


def test_real_default_is_float32_and_children_do_not_inherit_it(home):
    result = run_python(home, PRINT + "; import os; print(os.environ.get('PYTENSOR_FLAGS', 'unset'))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["float32", "cpu", "float32", "unset"]


def test_real_theanorc_variable(home, tmp_path):
    rc = write(tmp_path / "conf" / "theano.rc", "[global]\nfloatX = float64\n[blas]\nldflags = -lfoo\n")
    result = run_python(home, PRINT + "; print(b.config.blas__ldflags)", THEANORC=str(rc))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["float64", "cpu", "float64", "-lfoo"]


def test_real_home_theanorc_and_pytensor_flags_win(home):
    write(home / ".theanorc", "[global]\nfloatX = float64\ndevice = cpu\n")
    result = run_python(home)
    assert result.stdout.split() == ["float64", "cpu", "float64"], result.stderr
    result = run_python(home, THEANO_FLAGS="floatX=float64", PYTENSOR_FLAGS="floatX=float32")
    assert result.stdout.split() == ["float32", "cpu", "float32"], result.stderr


def test_real_gpu_device_without_gpu_fails_with_one_line(home):
    # JAX_PLATFORMS=cpu: no GPU for JAX even on a machine with one (or no JAX at all)
    result = run_python(home, THEANO_FLAGS="device=cuda", JAX_PLATFORMS="cpu")
    assert result.returncode != 0 and result.stdout == ""
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("sda.errors.ConfigError: device=cuda (from THEANO_FLAGS")
    assert "pip install -e .[gpu]" in error


def test_real_unknown_and_ignored_keys_warn_once(home):
    result = run_python(home, THEANO_FLAGS="floatX=float64,foo=1,lib.cnmem=0.5,dnn.enabled=False")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["float64", "cpu", "float64"]
    assert sda_lines(result.stderr) == [
        "sda: Theano-only keys have no meaning in PyTensor, ignored: lib.cnmem, dnn.enabled",
        "sda: THEANO_FLAGS/.theanorc keys not understood, ignored: foo",
    ]
    assert "does not recognise" not in result.stderr  # nothing unknown reached PyTensor


def test_real_invalid_floatx(home):
    result = run_python(home, THEANO_FLAGS="floatX=foo")
    assert result.returncode != 0
    assert "ConfigError: floatX=foo is not supported: use float32 or float64" in result.stderr


def test_real_value_rejected_by_pytensor_is_a_config_error(home):
    result = run_python(home, THEANO_FLAGS="traceback.limit=x")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sda.errors.ConfigError: PyTensor rejected traceback__limit=x (from THEANO_FLAGS)")


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_real_unwritable_compile_folder_is_a_config_error_at_import(home, tmp_path, where):
    # PyTensor itself accepts it and fails at the first compilation, after the data have loaded
    write(tmp_path / "afile", "")
    folder = tmp_path / "afile" if where == "a file" else tmp_path / "afile" / "deeper"
    result = run_python(home, THEANO_FLAGS=f"base_compiledir={folder}")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"sda.errors.ConfigError: base_compiledir={folder} (from THEANO_FLAGS): PyTensor's "
                           "compile folder cannot be made or written there")


def test_real_pytensor_imported_first(home):
    code = "import pytensor; " + PRINT + "; print(b.config.optimizer)"
    result = run_python(home, code, THEANO_FLAGS="floatX=float64,optimizer=fast_compile")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["float64", "cpu", "float64", "o4"]
    assert sda_lines(result.stderr) == [
        "sda: pytensor was imported before sda.backend, so these settings could not be applied: "
        "optimizer (import sda before pytensor)"
    ]
    result = run_python(home, "import pytensor; " + PRINT)  # the float32 default is applied at run time
    assert result.stdout.split() == ["float32", "cpu", "float32"], result.stderr
