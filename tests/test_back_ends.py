"""Every compilation mode and linker that ``.theanorc.example`` documents trains the dA, or is refused in one
line: the C back end (``linker=c``, ``mode=C``) runs as PyTensor's ``cvm`` and draws the same noise as the
default Numba back end, so it trains the same numbers within float rounding.

The real path (THEANO_FLAGS read once, when PyTensor is imported) is checked through subprocesses running
``scripts/train_sda.py`` on a tiny model; the other modes and linkers in this process, on a tiny dA.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sda.errors import ConfigError
from sda.flags import resolve_settings, warning_lines

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / ".theanorc.example").read_text()

#: The values .theanorc.example documents (its "mode" and "linker" comments).
DOCUMENTED_MODES = ("Mode", "FAST_RUN", "FAST_COMPILE", "DebugMode", "DEBUG_MODE", "NanGuardMode", "NUMBA", "C")
DOCUMENTED_LINKERS = ("auto", "numba", "cvm", "c|py", "c", "py", "vm")


def settings_for(tmp_path, flags):
    """resolve_settings with only ``flags`` as THEANO_FLAGS (no config files)."""
    return resolve_settings({"HOME": str(tmp_path), "THEANORC": "", "PYTENSORRC": "", "THEANO_FLAGS": flags})


def test_the_documented_values_are_the_ones_tested():
    mode_line = next(line for line in EXAMPLE.splitlines() if line.startswith("# Compilation mode:"))
    linker_line = next(line for line in EXAMPLE.splitlines() if line.startswith("# Linker:"))
    for mode in DOCUMENTED_MODES:
        assert mode in mode_line or mode in EXAMPLE, mode
    for linker in DOCUMENTED_LINKERS:
        assert f" {linker}" in linker_line, linker


# ---------------------------------------------------------------- resolve_settings: what runs instead


@pytest.mark.parametrize(
    "flags, mode, linker, n_notes",
    [
        ("linker=c", None, "cvm", 1),
        ("mode=C", "CVM", None, 1),
        ("mode=C,linker=c", "CVM", "cvm", 2),
        ("mode=FAST_RUN,linker=c", "FAST_RUN", "cvm", 1),
    ],
)
def test_c_back_end_runs_as_cvm_and_says_so(tmp_path, flags, mode, linker, n_notes):
    settings = settings_for(tmp_path, flags)
    assert settings.pytensor_flags.get("mode") == mode
    assert settings.pytensor_flags.get("linker") == linker
    lines = warning_lines(settings)
    assert len(lines) == n_notes
    assert all(line.startswith("sda: ") and "\n" not in line for line in lines)
    assert any("runs as linker=cvm" in line or "runs as mode=CVM" in line for line in lines)
    assert settings.as_dict()["translations"] == lines


@pytest.mark.parametrize("linker", ["py", "c|py", "vm", "c|py_nogc", "vm_nogc", "cvm_nogc"])
def test_fast_run_with_other_linkers_runs_as_mode_with_fast_run_rewrites(tmp_path, linker):
    settings = settings_for(tmp_path, f"mode=FAST_RUN,linker={linker},optimizer=o1")
    assert settings.pytensor_flags["mode"] == "Mode"
    assert settings.pytensor_flags["linker"] == linker
    assert settings.pytensor_flags["optimizer"] == "fast_run"
    assert warning_lines(settings) == [
        f"sda: mode=FAST_RUN with linker={linker} runs as mode=Mode,optimizer=fast_run "
        "(PyTensor's FAST_RUN mode only knows the linkers auto, numba and cvm)"
    ]


@pytest.mark.parametrize("flags", ["mode=FAST_RUN", "mode=FAST_RUN,linker=cvm", "mode=FAST_RUN,linker=numba",
                                   "linker=cvm", "linker=py", "mode=NUMBA", "mode=CVM", "mode=FAST_COMPILE"])
def test_values_pytensor_runs_are_left_alone(tmp_path, flags):
    settings = settings_for(tmp_path, flags)
    expected = dict(entry.split("=") for entry in flags.split(","))
    assert {k: v for k, v in settings.pytensor_flags.items() if k != "floatX"} == expected
    assert settings.translations == ()


@pytest.mark.parametrize("flags", ["mode=JAX", "mode=PYTORCH", "mode=MLX", "linker=jax"])
def test_foreign_back_ends_refused_on_the_cpu_in_one_line(tmp_path, flags):
    with pytest.raises(ConfigError) as info:
        settings_for(tmp_path, flags)
    message = str(info.value)
    assert message.startswith(f"{flags} (from THEANO_FLAGS) is not supported with device=cpu")
    assert "\n" not in message


# ---------------------------------------------------------------- in this process: a tiny dA per back end


def train_tiny_da(mode=None, linker=None, steps=3):
    """Costs and final weights of ``steps`` pretraining steps of a tiny dA compiled under ``mode``/``linker``."""
    from sda.backend import T, config, floatX, pytensor
    from sda.tutorial.dA import dA

    data = np.random.default_rng(0).random((steps, 2, 6)).astype(floatX)
    x = T.matrix("x")
    da = dA(np.random.RandomState(5), input=x, n_visible=6, n_hidden=3)
    cost, updates = da.get_cost_updates(corruption_level=0.3, learning_rate=0.1)
    flags = {} if linker is None else {"linker": linker}
    with config.change_flags(**flags):
        f = pytensor.function([x], cost, updates=updates, mode=mode)
    costs = [float(f(batch)) for batch in data]
    return np.array(costs), da.W.get_value(), da.noise_rng.get_value().bit_generator.state


@pytest.fixture(scope="module")
def numba_reference():
    return train_tiny_da()


def assert_same_training(result, reference):
    costs, W, state = result
    np.testing.assert_allclose(costs, reference[0], rtol=1e-5)
    np.testing.assert_allclose(W, reference[1], rtol=1e-5, atol=1e-6)
    assert state == reference[2]  # the generator advanced exactly as on Numba


@pytest.mark.parametrize("mode", [m for m in DOCUMENTED_MODES if m not in ("Mode", "C")] + ["CVM"])
def test_documented_modes_train_like_numba(mode, numba_reference, tmp_path):
    flags = resolve_settings({"HOME": str(tmp_path), "THEANORC": "", "PYTENSORRC": "",
                              "THEANO_FLAGS": f"mode={mode}"}).pytensor_flags
    assert_same_training(train_tiny_da(mode=flags["mode"]), numba_reference)


@pytest.mark.parametrize("linker", [linker for linker in DOCUMENTED_LINKERS if linker != "c"])
def test_documented_linkers_train_like_numba(linker, numba_reference):
    assert_same_training(train_tiny_da(mode="Mode", linker=linker), numba_reference)


def test_the_plain_c_linker_still_cannot_hold_the_generator():
    """Why linker=c runs as cvm: if PyTensor's whole-graph C linker learns to hold a NumPy Generator, this
    fails, and the translation in sda.flags.translate_back_end can go."""
    with pytest.raises(NotImplementedError, match="cannot produce C code"):
        train_tiny_da(mode="C")


# ---------------------------------------------------------------- the real path: THEANO_FLAGS in a subprocess


def run_train_sda(dataset, out, flags):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "THEANO_FLAGS")}
    env.update(THEANORC="", PYTENSORRC="", THEANO_FLAGS=flags)  # no config files; the compile cache is kept
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_sda.py"), "--n-train", "100", "--hidden-layers", "10",
         "--corruption-levels", "0.1", "--pretraining-epochs", "1", "--training-epochs", "1",
         "--engine", "compiled", "--dataset", str(dataset), "--output-dir", str(out)],
        capture_output=True, text=True, env=env, timeout=900,
    )
    return result


@pytest.fixture(scope="module")
def default_run(learnable_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("numba")
    result = run_train_sda(learnable_mnist, out, "")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("flags", ["linker=c", "mode=C"])
def test_c_back_end_trains_the_same_numbers_as_numba(flags, learnable_mnist, default_run, tmp_path):
    result = run_train_sda(learnable_mnist, tmp_path, flags)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("sda:")]
    assert len(notes) == 1 and "runs as" in notes[0] and "cvm" in notes[0].lower()

    c_results = json.loads((tmp_path / "results.json").read_text())
    numba_results = json.loads((default_run / "results.json").read_text())
    np.testing.assert_allclose(c_results["pretraining_costs"], numba_results["pretraining_costs"], rtol=1e-6)
    assert c_results["best_validation_error_percent"] == numba_results["best_validation_error_percent"]
    assert c_results["test_error_percent"] == numba_results["test_error_percent"]
    c_model, numba_model = np.load(tmp_path / "model.npz"), np.load(default_run / "model.npz")
    for name in numba_model.files:
        np.testing.assert_allclose(c_model[name], numba_model[name], rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("flags", ["mode=JAX", "linker=jax"])
def test_foreign_back_end_refused_by_the_script_in_one_line(flags, learnable_mnist, tmp_path):
    result = run_train_sda(learnable_mnist, tmp_path, flags)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "is not supported with device=cpu" in result.stderr


def test_the_debugmode_fix_is_still_needed():
    """sda.backend makes PyTensor's generator type answer may_share_memory for arrays (DebugMode asked it and
    got AttributeError).  If this fails, PyTensor fixed it: remove _patch_generator_may_share_memory."""
    from sda import backend
    from pytensor.tensor.random.type import AbstractRandomGeneratorType

    assert backend.patched_generator_may_share_memory
    generator = np.random.default_rng(0)
    assert not AbstractRandomGeneratorType.may_share_memory(np.zeros(1), generator)
    assert AbstractRandomGeneratorType.may_share_memory(generator, generator)
    assert not AbstractRandomGeneratorType.may_share_memory(generator, np.random.default_rng(0))


def import_backend(flags):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "THEANO_FLAGS")}
    env.update(THEANORC="", PYTENSORRC="", THEANO_FLAGS=flags)
    return subprocess.run([sys.executable, "-c", "import sda.backend"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("back_end", ["linker=cvm", "linker=c", "mode=C", "mode=DebugMode"])
def test_blas_ldflags_that_do_not_link_are_refused_in_one_line(back_end):
    result = import_backend(f"{back_end},blas.ldflags=-lsda_no_such_blas")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("sda.errors.ConfigError: blas.ldflags=-lsda_no_such_blas (from THEANO_FLAGS) does not "
                           "link (")
    assert "sda_no_such_blas" in last and "apt install libopenblas-dev" in last


def test_blas_ldflags_that_link_are_accepted():
    result = import_backend("linker=cvm,blas.ldflags=-lm")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("back_end", ["linker=auto", "mode=NUMBA", "mode=FAST_COMPILE", "linker=py"])
def test_blas_ldflags_are_not_checked_where_no_c_code_runs(back_end):
    result = import_backend(f"{back_end},blas.ldflags=-lsda_no_such_blas")
    assert result.returncode == 0, result.stderr
