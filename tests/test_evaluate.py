"""Using a trained model: model.npz round trip, evaluation, confusion matrix, image files."""

import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from PIL import Image

from sda.errors import DataError
from sda.data.preprocess import image_to_mnist
from sda.evaluate import confusion_matrix, per_class_error_percent

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def trained(learnable_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_sda.py"), "--dataset", str(learnable_mnist),
                             "--output-dir", str(out), "--batch-size", "10", "--hidden-layers", "40",
                             "--corruption-levels", "0.1", "--pretraining-epochs", "1", "--training-epochs", "8"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return out


def test_confusion_matrix_and_per_class_errors():
    m = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    numpy.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    numpy.testing.assert_allclose(per_class_error_percent(m), [50.0, 0.0, 100 / 3])


def test_saved_model_reloads_with_identical_predictions(trained, learnable_mnist):
    from sda.data import load_mnist_arrays
    from sda.model_io import load_model

    sda = load_model(str(trained / "model.npz"))
    assert sda.hidden_layers_sizes == [40] and sda.n_ins == 784 and sda.n_outs == 10
    _, _, (test_x, test_y) = load_mnist_arrays(str(learnable_mnist))
    probabilities = sda.predict_proba(test_x)
    numpy.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    numpy.testing.assert_array_equal(sda.predict(test_x), probabilities.argmax(axis=1))
    # the forward pass by hand, from the arrays in the file
    arrays = numpy.load(trained / "model.npz")
    h = 1 / (1 + numpy.exp(-(test_x @ arrays["hidden_W_0"] + arrays["hidden_b_0"])))
    numpy.testing.assert_allclose(sda.encode(test_x), h, rtol=1e-4, atol=1e-5)


def test_evaluate_reproduces_the_recorded_test_error(trained, learnable_mnist):
    import json

    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(trained / "model.npz"),
                             "--dataset", str(learnable_mnist)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    recorded = json.loads((trained / "results.json").read_text())["test_error_percent"]
    assert result.stdout.splitlines()[0] == "test error %f %%" % recorded
    assert "true\\pred" in result.stdout
    assert Image.open(trained / "confusion_matrix.png").size[0] > 100


def test_classifies_image_files_of_any_size_and_mode(trained, learnable_mnist, tmp_path):
    from sda.data import load_mnist_arrays
    from sda.model_io import load_model

    sda = load_model(str(trained))
    _, _, (test_x, test_y) = load_mnist_arrays(str(learnable_mnist))
    paths = []
    for i in range(4):
        paper = (255 - test_x[i].reshape(28, 28) * 255).astype(numpy.uint8)  # dark ink on white paper, RGB
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(paper).convert("RGB").save(path)
        paths.append(path)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(trained), *map(str, paths)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 4
    expected = sda.predict(numpy.stack([image_to_mnist(p) for p in paths]))
    for line, label in zip(result.stdout.splitlines(), expected):
        assert f": {label} (p=" in line


def test_image_preparation_matches_mnist_conventions(tmp_path):
    big = numpy.full((200, 100), 255, dtype=numpy.uint8)  # white paper
    big[50:150, 40:60] = 0  # a black vertical stroke
    Image.fromarray(big).save(tmp_path / "one.jpg")
    x = image_to_mnist(tmp_path / "one.jpg").reshape(28, 28)
    assert x.max() > 0.9 and x[0].max() == 0 and x[:, 0].max() == 0  # white on black, empty border
    rows, cols = numpy.nonzero(x > 0.5)
    assert rows.max() - rows.min() + 1 <= 20  # scaled into the 20x20 box
    cy = (numpy.arange(28)[:, None] * x).sum() / x.sum()
    assert abs(cy - 13.5) < 1.5  # centred by its centre of mass


def test_bad_model_and_image_files_are_one_line(trained, tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    (tmp_path / "notes.png").write_text("hello")
    for args, fragment in [([str(tmp_path / "missing.npz")], "does not exist"),
                           ([str(tmp_path / "bad.npz")], "not a readable .npz"),
                           ([str(trained), str(tmp_path / "notes.png")], "not an image file")]:
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), *args],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 1 and fragment in result.stderr and "Traceback" not in result.stderr


def test_load_model_refuses_arrays_of_another_model(tmp_path):
    from sda.model_io import load_model

    numpy.savez(tmp_path / "other.npz", weights=numpy.zeros(3))
    with pytest.raises(DataError, match="not an SdA model"):
        load_model(str(tmp_path / "other.npz"))


def test_load_model_refuses_weights_that_are_not_finite(trained, tmp_path):
    from sda.model_io import load_model

    arrays = dict(numpy.load(trained / "model.npz"))
    arrays["logistic_b"] = numpy.full_like(arrays["logistic_b"], numpy.inf)
    numpy.savez(tmp_path / "edited.npz", **arrays)
    with pytest.raises(DataError, match="logistic_b holds values that are not finite numbers"):
        load_model(str(tmp_path / "edited.npz"))


def test_evaluate_applies_the_training_runs_rescale(learnable_mnist, tmp_path):
    """A model trained with --rescale on raw 0..255 pixels: evaluate.py maps the test set the same way."""
    import json

    from sda.data import load_mnist_arrays

    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_mnist_arrays(str(learnable_mnist))
    raw = tmp_path / "raw.npz"
    numpy.savez(raw, train_x=train_x * 255, train_y=train_y, valid_x=valid_x * 255, valid_y=valid_y,
                test_x=test_x * 255, test_y=test_y)
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_sda.py"), "--dataset", str(raw),
                             "--rescale", "--output-dir", str(out), "--batch-size", "10", "--hidden-layers", "40",
                             "--corruption-levels", "0.1", "--pretraining-epochs", "1", "--training-epochs", "4"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    recorded = json.loads((out / "results.json").read_text())
    assert recorded["rescaled_from"] == [0.0, 255.0]
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(out), "--dataset", str(raw)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "test error %f %%" % recorded["test_error_percent"]


def test_data_outside_0_1_names_what_evaluate_can_do(trained, learnable_mnist, tmp_path, capsys):
    """evaluate.py has no --rescale: for 0..255 data and a model trained without it, the advice must not
    be "pass --rescale" (train_sda.py's advice, which stays as it was)."""
    from conftest import call_main

    from sda.data import load_mnist_arrays

    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_mnist_arrays(str(learnable_mnist))
    raw = tmp_path / "m255.npz"
    numpy.savez(raw, train_x=train_x * 255, train_y=train_y, valid_x=valid_x * 255, valid_y=valid_y,
                test_x=test_x * 255, test_y=test_y)
    code, err = call_main("evaluate", [trained, "--dataset", raw, "--output-dir", tmp_path / "out"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "from 0.0 to 255.0" in err and "expected pixels in [0, 1]" in err, err
    assert "pass --rescale" not in err and "trained without --rescale" in err, err
    assert "divided by 255" in err and "train the model with --rescale" in err, err
    assert not (tmp_path / "out" / "confusion_matrix.png").exists()
    # the data loader's own advice, which train_sda.py shows (its --rescale exists), is unchanged
    with pytest.raises(DataError, match="pass --rescale"):
        load_mnist_arrays(str(raw))
    code, err = call_main("train_sda", ["--dataset", raw, "--output-dir", tmp_path / "train"], capsys)
    assert code == 1 and "pass --rescale" in err, err


def test_a_class_without_test_examples_has_no_error_rate_and_classes_are_named():
    from sda.evaluate import format_confusion

    text = format_confusion(numpy.array([[3, 1], [0, 0]]), label_names=["cat", "dog"])
    lines = text.splitlines()
    assert lines[1].endswith("25.00") and lines[2].endswith("no test example") and "nan" not in text
    assert lines[-1] == "classes: 0 = cat, 1 = dog"
    assert "classes:" not in format_confusion(numpy.array([[1]]))
