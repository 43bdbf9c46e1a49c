"""Both scripts end to end, as a user runs them: a subprocess on small data, then their files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def run_script(name, *args, env=None, check=True):
    full_env = {**os.environ, **(env or {})}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)],
                            capture_output=True, text=True, env=full_env, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_train_sda_end_to_end(learnable_mnist, tmp_path):
    out = tmp_path / "run"
    result = run_script("train_sda.py", "--dataset", learnable_mnist, "--batch-size", 10,
                        "--hidden-layers", "40,30", "--corruption-levels", "0.1,0.2",
                        "--pretraining-epochs", 2, "--pretrain-lr", 0.01, "--training-epochs", 6,
                        "--output-dir", out)
    lines = result.stdout.splitlines()
    assert "Pre-training layer 0, epoch 0, cost" in result.stdout
    assert "Pre-training layer 1, epoch 1, cost" in result.stdout
    assert any(line.startswith("epoch 1, minibatch 30/30, validation error") for line in lines)
    assert any("test error of best model" in line for line in lines)
    assert lines[-1].startswith("Optimization complete with best validation score of")
    assert "The pretraining code for file train_sda.py ran for" in result.stderr
    assert "The training code for file train_sda.py ran for" in result.stderr

    results = json.loads((out / "results.json").read_text())
    for key in ("best_validation_error_percent", "test_error_percent", "best_iter", "finetune_epochs",
                "pretraining_minutes", "finetuning_minutes", "config", "floatX", "device", "versions"):
        assert key in results
    assert results["finetune_epochs"] == 6
    assert results["config"]["hidden_layers"] == [40, 30]
    assert results["test_error_percent"] < 30  # ten noisy patterns: easy to learn
    assert "pytensor" in results["versions"]
    assert results["engine"] == "kernels" and results["kernel_arithmetic"]["float32_fma"] is True

    for name in ("learning_curves.png", "filters_layer_0.png", "filters_layer_1.png"):
        assert Image.open(out / name).size[0] > 100
    model = numpy.load(out / "model.npz")
    assert sorted(model.files) == ["hidden_W_0", "hidden_W_1", "hidden_b_0", "hidden_b_1",
                                   "logistic_W", "logistic_b"]
    assert model["hidden_W_0"].shape == (784, 40) and model["logistic_W"].shape == (30, 10)


def test_train_da_end_to_end(learnable_mnist, tmp_path):
    out = tmp_path / "plots"
    result = run_script("train_da.py", "--dataset", learnable_mnist, "--training-epochs", 2,
                        "--n-hidden", 100, "--output-folder", out)
    assert result.stdout.count("Training epoch 0, cost") == 2
    assert "The no corruption code for file train_da.py ran for" in result.stderr
    assert "The 30% corruption code for file train_da.py ran for" in result.stderr
    for name in ("filters_corruption_0.png", "filters_corruption_30.png"):
        image = Image.open(out / name)
        assert image.size == (10 * 29 - 1, 10 * 29 - 1) and image.mode == "L"
    # one test digit of each class: as it is, masked, and as the dA reconstructs it
    rows = {}
    for percent in (0, 30):
        image = Image.open(out / f"reconstructions_corruption_{percent}.png")
        assert image.size == (10 * 29 - 1, 3 * 29 - 1) and image.mode == "L"
        rows[percent] = [numpy.asarray(image)[r * 29:r * 29 + 28] for r in range(3)]
    assert numpy.array_equal(rows[0][0], rows[30][0])  # the same digits
    assert numpy.array_equal(rows[0][1], rows[0][0])  # no corruption: nothing masked
    assert 0 < numpy.count_nonzero(rows[30][1]) < numpy.count_nonzero(rows[30][0])
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [r["reconstructions"] for r in runs] == ["reconstructions_corruption_0.png",
                                                    "reconstructions_corruption_30.png"]


@pytest.mark.parametrize("args, fragment", [
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--hidden-layers", "10,10", "--corruption-levels", "0.1"], "one corruption level per hidden layer"),
    (["--corruption-levels", "0.1,0.2,1.5"], "must be in [0, 1)"),
    (["--finetune-lr", "-1"], "--finetune-lr must be a number > 0"),
    (["--dataset", "/nonexistent/mnist.pkl.gz"], "/nonexistent/mnist.pkl.gz"),
])
def test_train_sda_bad_input_is_one_line(args, fragment, tmp_path):
    result = run_script("train_sda.py", *args, "--output-dir", tmp_path / "out", check=False)
    assert result.returncode in (1, 2)
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_gpu_device_is_refused_not_silently_run_on_cpu(tmp_path):
    result = run_script("train_sda.py", "--output-dir", tmp_path, env={"THEANO_FLAGS": "device=cuda"}, check=False)
    assert result.returncode == 2
    assert "device=cuda" in result.stderr and "Traceback" not in result.stderr


# every engine's runner (the kernels return their costs as an array, the compiled functions as a list)
@pytest.mark.parametrize("engine", ["kernels", "compiled"])
def test_progress_bar_on_request_goes_to_stderr_and_leaves_stdout_alone(learnable_mnist, tmp_path, engine):
    result = run_script("train_da.py", "--dataset", learnable_mnist, "--training-epochs", 1, "--n-hidden", 20,
                        "--corruption-levels", "0.3", "--output-folder", tmp_path, "--progress", "--engine", engine)
    assert "mb/s" in result.stderr or "it/s" in result.stderr or "cost " in result.stderr
    assert result.stdout.splitlines()[0].startswith("Training epoch 0, cost ")
    quiet = run_script("train_da.py", "--dataset", learnable_mnist, "--training-epochs", 1, "--n-hidden", 20,
                       "--corruption-levels", "0.3", "--output-folder", tmp_path / "q", "--engine", engine)
    assert "cost " not in quiet.stderr  # not a terminal: no bar unless asked
    sda = run_script("train_sda.py", "--dataset", learnable_mnist, "--n-train", 100, "--hidden-layers", 20,
                     "--corruption-levels", "0.3", "--pretraining-epochs", 1, "--training-epochs", 1,
                     "--output-dir", tmp_path / "sda", "--progress", "--engine", engine)
    assert "mb/s" in sda.stderr and "Traceback" not in sda.stderr
    assert sda.stdout.count("Pre-training layer 0, epoch 0, cost ") == 1


# the kernels draw the very noise the compiled functions draw; the scan chunks draw theirs
# in another order (and JAX's generator differs), so they are compared without noise; the decaying rate
# reaches every engine
@pytest.mark.parametrize("engine, corruption", [("compiled", "0.2"), ("chunks", "0.0")])
def test_every_engine_trains_the_same_run_end_to_end(learnable_mnist, tmp_path, engine, corruption):
    flags = ["--dataset", learnable_mnist, "--batch-size", 5, "--hidden-layers", "30", "--corruption-levels", corruption,
             "--pretraining-epochs", 2, "--training-epochs", 3, "--n-train", 150, "--finetune-lr-decay", 0.5]
    run_script("train_sda.py", *flags, "--output-dir", tmp_path / "kernels", "--engine", "kernels")
    run_script("train_sda.py", *flags, "--output-dir", tmp_path / engine, "--engine", engine)
    a = numpy.load(tmp_path / "kernels" / "model.npz")
    b = numpy.load(tmp_path / engine / "model.npz")
    for name in a.files:
        numpy.testing.assert_allclose(a[name], b[name], rtol=1e-3, atol=1e-4, err_msg=name)
