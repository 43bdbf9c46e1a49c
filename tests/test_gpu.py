"""device=cuda: PyTensor's JAX back end with device-resident shared variables.

Most tests run the JAX path on JAX's CPU device (``sda.backend.jax_on_cpu``,
for tests only), so CI checks it without a GPU: static-shape minibatches, the
datasets and parameters kept as device arrays, the same numbers as the Numba
path.  They skip when JAX is not installed.  The tests marked ``needs_gpu`` run
only where JAX sees a GPU.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sda.backend as backend
from sda import SdA
from sda.backend import T, pytensor
from sda.minibatches import minibatch

ROOT = Path(__file__).resolve().parent.parent
CONFIG_VARIABLES = ("PYTENSOR_FLAGS", "THEANO_FLAGS", "THEANORC", "PYTENSORRC", "JAX_PLATFORMS")


def run_python(tmp_path, code, **variables):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env["HOME"] = str(tmp_path)
    env.update(variables)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def has_gpu():
    try:
        import jax

        return bool(jax.devices("gpu"))
    except (ImportError, RuntimeError):
        return False


needs_gpu = pytest.mark.skipif(not has_gpu(), reason="JAX sees no GPU here")


@pytest.fixture
def jax():
    return pytest.importorskip("jax")


@pytest.fixture
def jax_cpu(jax):
    with backend.jax_on_cpu():
        yield jax


def shared_data(n_rows, n_cols, seed=0):
    rng = np.random.RandomState(seed)
    x = pytensor.shared(rng.rand(n_rows, n_cols).astype(backend.floatX), borrow=True)
    y = pytensor.shared(rng.randint(0, 3, n_rows).astype("int32"), borrow=True)
    return x, y


def small_sda(seed=5):
    return SdA(np.random.RandomState(seed), n_ins=12, hidden_layers_sizes=[9, 7], n_outs=3,
               corruption_levels=[0.1, 0.2])


def values(sda):
    return [np.asarray(p.get_value()) for p in sda.params]


# ---------------------------------------------------------------- the user's device=cuda path


def test_cuda_without_jax_names_what_to_install(tmp_path):
    fake = tmp_path / "nojax"
    fake.mkdir()
    (fake / "jax.py").write_text("raise ImportError('No module named jax')\n")
    result = run_python(tmp_path, "import sda.backend", THEANO_FLAGS="device=cuda",
                        PYTHONPATH=os.pathsep.join([str(fake), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    assert result.returncode != 0 and result.stdout == ""
    error = result.stderr.strip().splitlines()[-1]
    assert error == ("sda.errors.ConfigError: device=cuda (from THEANO_FLAGS) needs JAX with CUDA, which is not "
                     "installed: pip install -e .[gpu] (or use device=cpu)")


def test_cuda_with_cpu_only_jax_refused(tmp_path, jax):
    # never a silent CPU run: JAX itself would fall back to its CPU
    result = run_python(tmp_path, "import sda.backend", THEANO_FLAGS="device=gpu0", JAX_PLATFORMS="cpu")
    assert result.returncode != 0 and result.stdout == ""
    error = result.stderr.strip().splitlines()[-1]
    assert "device=cuda (from THEANO_FLAGS): JAX" in error and "finds no GPU (its devices: cpu)" in error
    assert "pip install -e .[gpu]" in error


def test_cuda_script_exits_nonzero_with_one_line(tmp_path, jax):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env.update(HOME=str(tmp_path), THEANO_FLAGS="device=cuda,floatX=float32", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "scripts/train_sda.py", "--output-dir", str(tmp_path / "out")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install -e .[gpu]" in lines[0], result.stderr


def test_cpu_keeps_numba():
    assert backend.device == "cpu" and backend.compile_mode() is None and not backend.static_shapes()


def test_the_device_mode_is_pytensors_default(jax):
    before = backend.config.mode
    with backend.jax_on_cpu():
        assert backend.config.mode is backend.compile_mode() is not None
        x = pytensor.shared(np.arange(6, dtype=backend.floatX))
        double = pytensor.function([], x * 2, updates=[(x, x + 1)])  # no mode=: the default must be the device's
        np.testing.assert_array_equal(np.asarray(double()), np.arange(6) * 2)
        assert isinstance(x.get_value(borrow=True), jax.Array)
        assert x.get_value(borrow=True).devices() == {backend.jax_device}
    assert backend.config.mode == before and backend.device == "cpu" and backend.jax_device is None
    plain = pytensor.function([], pytensor.shared(np.ones(2)) * 2)
    assert isinstance(plain(), np.ndarray)


# ---------------------------------------------------------------- minibatches of static shape


@pytest.mark.parametrize("batch_size", [1, 3])
def test_minibatch_same_rows_on_both_back_ends(jax, batch_size):
    data = np.arange(30, dtype=backend.floatX).reshape(10, 3)
    index = T.iscalar("index")
    numba_x = pytensor.shared(data.copy())
    numba_fn = pytensor.function([index], minibatch(numba_x, index, batch_size), mode=backend.compile_mode())
    with backend.jax_on_cpu():
        jax_x = pytensor.shared(data.copy())
        jax_fn = pytensor.function([index], minibatch(jax_x, index, batch_size), mode=backend.compile_mode())
    for i in range(10 // batch_size):
        expected = data[i * batch_size:(i + 1) * batch_size]
        np.testing.assert_array_equal(numba_fn(i), expected)
        np.testing.assert_array_equal(np.asarray(jax_fn(i)), expected)


def test_minibatch_constant_index_keeps_a_short_last_batch(jax_cpu):
    x = pytensor.shared(np.arange(20, dtype=backend.floatX).reshape(10, 2))
    fn = pytensor.function([], minibatch(x, 3, 3), mode=backend.compile_mode())
    np.testing.assert_array_equal(np.asarray(fn()), [[18, 19]])


def test_scorer_counts_every_example_with_a_short_last_batch(jax):
    datasets = [shared_data(23, 12, seed) for seed in (1, 2, 3)]
    from sda.inference import error_scorer

    numba_valid = error_scorer(small_sda(), *datasets[1], 5)
    with backend.jax_on_cpu():
        jax_datasets = [shared_data(23, 12, seed) for seed in (1, 2, 3)]
        jax_valid = error_scorer(small_sda(), *jax_datasets[1], 5)
    numba_wrong, jax_wrong = numba_valid(), jax_valid()
    assert len(numba_wrong) == len(jax_wrong) == 23
    np.testing.assert_array_equal(numba_wrong, jax_wrong)


# ---------------------------------------------------------------- device residency


def test_shared_variables_stay_on_the_device(jax_cpu):
    x, y = shared_data(40, 12)
    sda = small_sda()
    pretrain = sda.pretraining_functions(x, 2)[0]
    pretrain(0)
    stored = x.get_value(borrow=True)
    assert isinstance(stored, jax_cpu.Array) and stored.devices() == {backend.jax_device}
    for param in sda.dA_layers[0].params:
        assert isinstance(param.get_value(borrow=True), jax_cpu.Array)
    pretrain(1)
    assert x.get_value(borrow=True) is stored  # not copied again
    train, _, _ = sda.build_finetune_functions([(x, y)] * 3, 2, 0.1)
    train(0)
    assert x.get_value(borrow=True) is stored  # the second function finds it on the device
    assert isinstance(y.get_value(borrow=True), jax_cpu.Array)
    assert all(isinstance(p.get_value(borrow=True), jax_cpu.Array) for p in sda.params)


def test_set_value_moves_to_the_device_again(jax_cpu):
    x, _ = shared_data(40, 12)
    sda = small_sda()
    pretrain = sda.pretraining_functions(x, 2)[0]
    pretrain(0)
    from sda.model_io import param_arrays, set_param_arrays

    set_param_arrays(sda, {k: np.zeros_like(v) for k, v in param_arrays(sda).items()})
    assert isinstance(sda.params[0].get_value(borrow=True), np.ndarray)
    pretrain(0)
    assert isinstance(sda.params[0].get_value(borrow=True), jax_cpu.Array)


# ---------------------------------------------------------------- same numbers as the Numba path


def test_pretraining_matches_numba_without_noise(jax):
    # corruption 0: no random numbers (JAX's generator differs from NumPy's), so the steps must agree
    x, _ = shared_data(30, 12)
    numba_sda = small_sda()
    numba_fns = numba_sda.pretraining_functions(x, 3)
    with backend.jax_on_cpu():
        jax_x, _ = shared_data(30, 12)
        jax_sda = small_sda()
        jax_fns = jax_sda.pretraining_functions(jax_x, 3)
    for layer in range(2):
        for i in range(4):
            a = float(numba_fns[layer](i, corruption=0.0, lr=0.1))
            b = float(jax_fns[layer](i, corruption=0.0, lr=0.1))
            assert b == pytest.approx(a, rel=1e-5)
    for a, b in zip(values(numba_sda), values(jax_sda)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_finetuning_matches_numba(jax):
    datasets = [shared_data(30, 12, seed) for seed in (1, 2, 3)]
    numba_sda = small_sda()
    numba_train, numba_valid, _ = numba_sda.build_finetune_functions(datasets, 3, 0.1)
    with backend.jax_on_cpu():
        jax_datasets = [shared_data(30, 12, seed) for seed in (1, 2, 3)]
        jax_sda = small_sda()
        jax_train, jax_valid, _ = jax_sda.build_finetune_functions(jax_datasets, 3, 0.1)
    for i in [0, 1, 2, 3, 4, 9, 0]:
        assert float(jax_train(i)) == pytest.approx(float(numba_train(i)), rel=1e-5)
    for a, b in zip(values(numba_sda), values(jax_sda)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax_valid(), numba_valid(), rtol=1e-6)  # each minibatch's error rate (JAX: float32)


def test_noise_advances_at_every_call_and_is_seeded(jax_cpu):
    def costs():
        x, _ = shared_data(30, 12)
        fn = small_sda(seed=7).pretraining_functions(x, 30)[0]
        return [float(fn(0, corruption=0.5, lr=0.0)) for _ in range(3)]

    first = costs()
    assert len(set(first)) == 3  # lr=0, same minibatch: only the noise changes
    assert costs() == first  # same seed, same noise


# ---------------------------------------------------------------- many minibatches per call (sda.engines.chunks)


def test_scan_chunks_match_per_minibatch_steps(jax_cpu):
    from sda.engines import chunks as gpu

    datasets = [shared_data(30, 12, seed) for seed in (1, 2, 3)]
    step_sda, chunk_sda = small_sda(), small_sda()
    train, _, _ = step_sda.build_finetune_functions(datasets, 3, 0.1)
    step_pretrain = step_sda.pretraining_functions(datasets[0][0], 3)[0]
    chunk_pretrain = gpu.pretraining_chunk_function(chunk_sda, 0, datasets[0][0], 3)
    chunk_train = gpu.finetune_chunk_function(chunk_sda, *datasets[0], 3, 0.1)

    step_costs = [float(step_pretrain(i, corruption=0.0, lr=0.1)) for i in range(10)]
    run = gpu.chunk_runner(chunk_pretrain, 4, corruption=0.0, lr=0.1)
    np.testing.assert_allclose(run(0, 10), step_costs, rtol=1e-5)

    step_costs = [float(train(i)) for i in range(10)]
    np.testing.assert_allclose(gpu.chunk_runner(chunk_train, 4)(0, 10), step_costs, rtol=1e-5)
    for a, b in zip(values(step_sda), values(chunk_sda)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- a real GPU


@needs_gpu
def test_real_gpu_keeps_everything_on_it(tmp_path):
    code = (
        "import numpy as np, jax, sda.backend as b\n"
        "from sda import SdA\n"
        "x = b.pytensor.shared(np.random.rand(50, 12).astype('float32'), borrow=True)\n"
        "y = b.pytensor.shared(np.zeros(50, dtype='int32'), borrow=True)\n"
        "s = SdA(np.random.RandomState(1), n_ins=12, hidden_layers_sizes=[8], n_outs=3, corruption_levels=[0.2])\n"
        "s.pretraining_functions(x, 1)[0](0)\n"
        "from sda.inference import error_scorer\n"
        "t, _, _ = s.build_finetune_functions([(x, y)] * 3, 1, 0.1)\n"
        "t(0); assert len(error_scorer(s, x, y, 7)()) == 50\n"
        "print(b.device, sorted({d.platform for p in [x, y, *s.params] for d in p.get_value(borrow=True).devices()}))\n"
    )
    result = run_python(tmp_path, code, THEANO_FLAGS="device=cuda,floatX=float32")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cuda", "['gpu']"]


@needs_gpu
def test_real_gpu_is_the_default_of_a_plain_function(tmp_path):
    code = (
        "import numpy as np, jax, sda.backend as b\n"
        "x = b.pytensor.shared(np.ones(4, dtype='float32'))\n"
        "y = b.pytensor.function([], x * 2)()\n"
        "print(b.config.mode is b.compile_mode(),\n"
        "      isinstance(y, jax.Array) and sorted(d.platform for d in y.devices()))\n"
    )
    result = run_python(tmp_path, code, THEANO_FLAGS="device=cuda")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "['gpu']"]
