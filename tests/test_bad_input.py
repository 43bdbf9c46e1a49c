"""Every bad input: one clear line on stderr, a non-zero exit (2 usage, 1 runtime), no traceback."""

import gzip
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from conftest import call_main
from fakedata import TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, idx_bytes, make_learnable_arrays, write_idx, write_mnist

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--hidden-layers", "10", "--corruption-levels", "0.1", "--pretraining-epochs", "0", "--training-epochs", "0"]


def train_sda(*args, env=None, cwd=None):
    environment = {**os.environ, "SDA_MNIST_MIRRORS": "http://127.0.0.1:9/", **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "train_sda.py"), *map(str, args)],
                          capture_output=True, text=True, env=environment, timeout=300, cwd=cwd)


def assert_one_line(result, code, *fragments):
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def data(tmp_path):
    return write_mnist(tmp_path / "mnist", make_learnable_arrays(n_train=120, n_test=20))


@pytest.mark.parametrize("flags, fragments", [
    (["--batch-size", "0"], ["--batch-size must be a positive integer"]),
    (["--batch-size", "abc"], ["invalid int value"]),
    (["--finetune-lr", "0"], ["--finetune-lr must be a number > 0"]),
    (["--pretrain-lr", "-0.1"], ["--pretrain-lr must be a number > 0"]),
    (["--finetune-lr-decay", "0"], ["--finetune-lr-decay", "must be in (0, 1]"]),
    (["--finetune-lr-decay", "1.5"], ["--finetune-lr-decay", "must be in (0, 1]"]),
    (["--corruption-levels", "1.0"], ["must be in [0, 1)"]),
    (["--corruption-levels", "-0.1"], ["must be in [0, 1)"]),
    (["--hidden-layers", ""], ["--hidden-layers is empty"]),
    (["--hidden-layers", "100,0", "--corruption-levels", "0.1,0.1"], ["--hidden-layers must be a positive integer"]),
    (["--hidden-layers", "100,100", "--corruption-levels", "0.1"], ["one corruption level per hidden layer"]),
    (["--hidden-layers", "1x0"], ["comma-separated integers"]),
    (["--pretraining-epochs", "-1"], ["--pretraining-epochs must be an integer >= 0"]),
    (["--training-epochs", "-3"], ["--training-epochs must be an integer >= 0"]),
    (["--n-train", "0"], ["--n-train must be a positive integer"]),
])
def test_bad_flags_are_usage_errors(flags, fragments, tmp_path, capsys):
    code, err = call_main("train_sda", ["--output-dir", tmp_path, *flags], capsys)
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_a_bad_flag_through_the_real_script_is_one_line(tmp_path):
    assert_one_line(train_sda("--output-dir", tmp_path, "--batch-size", "0"), 2, "--batch-size must be a positive")


def test_batch_larger_than_the_validation_set(data, tmp_path):
    # 120 training images: 100 for training, 20 for validation
    assert_one_line(train_sda("--dataset", data, "--output-dir", tmp_path, "--batch-size", 50, *QUICK), 2,
                    "larger than the validation set")


def test_output_dir_that_cannot_be_written(data, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert_one_line(train_sda("--dataset", data, "--output-dir", blocker / "out", *QUICK), 2,
                    "cannot be written")


def test_missing_dataset_file(tmp_path):
    assert_one_line(train_sda("--dataset", tmp_path / "nowhere" / "mnist.pkl.gz", "--output-dir", tmp_path), 1,
                    "nowhere")


def test_missing_dataset_folder_and_no_network(tmp_path):
    result = train_sda("--dataset", tmp_path / "empty", "--output-dir", tmp_path / "out", *QUICK)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(tmp_path / "empty") in result.stderr.strip().splitlines()[-1]


def replace_file(folder, name, content):
    (folder / name).write_bytes(content)
    return folder


@pytest.mark.parametrize("damage, fragment", [
    (lambda d: replace_file(d, TRAIN_IMAGES, (d / TRAIN_IMAGES).read_bytes()[:500]), TRAIN_IMAGES),
    (lambda d: replace_file(d, TRAIN_LABELS, b"<html><body>404 Not Found</body></html>"), TRAIN_LABELS),
    (lambda d: replace_file(d, TRAIN_IMAGES, gzip.compress(b"\x00\x00\x08\x07" + bytes(100))), TRAIN_IMAGES),
    (lambda d: write_idx(d / TRAIN_LABELS, numpy.zeros(7, dtype=numpy.uint8)), "holds 7 labels"),
])
def test_damaged_idx_files(data, tmp_path, damage, fragment):
    damage(data)
    assert_one_line(train_sda("--dataset", data, "--output-dir", tmp_path / "out", *QUICK), 1, fragment)


def test_labels_outside_the_classes(data, tmp_path):
    assert_one_line(train_sda("--dataset", data, "--output-dir", tmp_path, "--n-outs", 5, *QUICK), 1,
                    "labels range over", "5 classes")


def test_image_size_differs_from_n_ins(data, tmp_path):
    assert_one_line(train_sda("--dataset", data, "--output-dir", tmp_path, "--n-ins", 100, *QUICK), 1,
                    "784 pixels", "--n-ins is 100")


@pytest.mark.parametrize("content", [
    {"not": "a tuple"},
    ((numpy.zeros((5, 4)), numpy.zeros(5)),),
    tuple((numpy.zeros((5, 4)), numpy.zeros(6)) for _ in range(3)),
])
def test_pickle_of_the_wrong_structure(tmp_path, content):
    path = tmp_path / "mnist.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(content, f, protocol=2)
    assert_one_line(train_sda("--dataset", path, "--output-dir", tmp_path / "out", *QUICK), 1, "mnist.pkl.gz")


def test_unknown_theano_flag_is_one_warning_and_the_run_goes_on(data, tmp_path):
    result = train_sda("--dataset", data, "--output-dir", tmp_path, *QUICK,
                       env={"THEANO_FLAGS": "floatX=float32,frobnicate=1"})
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "frobnicate" in line]
    assert len(warnings) == 1


def test_bad_sda_threads_is_an_error_before_the_run_starts(data, tmp_path):
    assert_one_line(train_sda("--dataset", data, "--output-dir", tmp_path / "out", *QUICK, env={"SDA_THREADS": "4"}),
                    2, "SDA_THREADS must be 1 or 2", "'4'")
    assert not (tmp_path / "out").exists()


def test_invalid_floatx_is_an_error(data, tmp_path):
    assert_one_line(train_sda("--dataset", data, "--output-dir", tmp_path, *QUICK,
                              env={"THEANO_FLAGS": "floatX=float16"}), 2, "floatX=float16")


