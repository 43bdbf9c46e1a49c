"""Evaluating a trained SdA: test error, per-class errors, confusion matrix, and
classifying image files the way MNIST digits were prepared."""

import os

import numpy

from .data.preprocess import image_to_mnist
from .errors import DataError, ValuesOutOfRange


def confusion_matrix(labels, predictions, n_classes):
    """``m[i, j]`` = how many examples of class ``i`` were predicted as ``j``."""
    matrix = numpy.zeros((n_classes, n_classes), dtype=numpy.int64)
    numpy.add.at(matrix, (numpy.asarray(labels), numpy.asarray(predictions)), 1)
    return matrix


def per_class_error_percent(matrix):
    """Error rate of each true class, in percent (NaN for a class with no example)."""
    totals = matrix.sum(axis=1)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * (totals - numpy.diag(matrix)) / totals


def format_confusion(matrix, label_names=None):
    """The confusion matrix as a text table (rows: true class, columns: predicted; a class with no test
    example has no error rate), followed by what each class number means when ``label_names`` are given."""
    n = len(matrix)
    width = max(5, len(str(matrix.max())) + 1)
    lines = ["true\\pred" + "".join(f"{j:>{width}}" for j in range(n)) + "   error %"]
    for i, (row, error) in enumerate(zip(matrix, per_class_error_percent(matrix))):
        rate = "no test example" if numpy.isnan(error) else f"{error:7.2f}"
        lines.append(f"{i:>9}" + "".join(f"{v:>{width}}" for v in row) + f"   {rate}")
    if label_names:
        lines.append("classes: " + ", ".join(f"{i} = {name}" for i, name in enumerate(label_names)))
    return "\n".join(lines)


def save_confusion_png(matrix, path, title="Confusion matrix"):
    from .plots import plot_confusion

    plot_confusion(matrix, path, title)
    return path


def evaluate_model(sda, test_x, test_y):
    """Test error, confusion matrix and per-class errors of ``sda`` on a set."""
    predictions = sda.predict(test_x)
    matrix = confusion_matrix(test_y, predictions, sda.n_outs)
    return {"test_error_percent": float(100.0 * numpy.mean(predictions != test_y)),
            "per_class_error_percent": per_class_error_percent(matrix).tolist(),
            "confusion_matrix": matrix.tolist()}


def classify_images(sda, paths):
    """``[(path, predicted class, class probabilities)]`` for image files."""
    side = int(round(sda.n_ins ** 0.5))
    if side * side != sda.n_ins:
        raise DataError(f"the model takes {sda.n_ins} inputs, not a square image: it cannot classify image files")
    x = numpy.stack([image_to_mnist(p, side) for p in paths])
    probabilities = sda.predict_proba(x)
    return [(os.fspath(p), int(numpy.argmax(row)), row) for p, row in zip(paths, probabilities)]


def run_evaluate(model_path, dataset=None, images=(), output_dir=None, log=print):
    """``scripts/evaluate.py``: classify ``images`` if given, else report the
    test error, per-class errors and confusion matrix (text and PNG)."""
    from .model_io import load_model, training_label_names, training_rescale

    sda = load_model(model_path)
    label_names = training_label_names(model_path, sda.n_outs)
    if images:
        for path, label, probabilities in classify_images(sda, images):
            named = f"{label_names[label]} (class {label}, " if label_names else f"{label} ("
            log(f"{path}: {named}p={probabilities[label]:.3f})")
        return None

    from .data import load_mnist_arrays
    from .files import ensure_writable_dir

    # checked before the evaluation, so that its work is not lost to an unwritable folder
    output_dir = ensure_writable_dir(
        output_dir or (model_path if os.path.isdir(model_path) else os.path.dirname(model_path) or "."),
        "--output-dir")
    # the test set mapped onto [0, 1] as the training run mapped its data (--rescale)
    try:
        _, _, (test_x, test_y) = load_mnist_arrays(dataset, rescale=training_rescale(model_path))
    except ValuesOutOfRange as error:  # evaluate.py maps data only as the training run did: no --rescale here
        raise DataError(f"{error.where} holds values from {error.low} to {error.high}, expected pixels in [0, 1], "
                        "and the model was trained without --rescale (no rescaled_from in the results.json beside it): give the data scaled "
                        "into [0, 1] as the model was trained (e.g. divided by 255), or train the model with "
                        "--rescale on data like this") from None
    if test_x.shape[1] != sda.n_ins:
        raise DataError(f"the test images have {test_x.shape[1]} pixels but the model takes {sda.n_ins}: "
                        f"give the dataset the model was trained on")
    if test_y.size and int(test_y.max()) >= sda.n_outs:
        raise DataError(f"the test labels go up to {int(test_y.max())} but the model has {sda.n_outs} classes "
                        f"(0..{sda.n_outs - 1}): give the dataset the model was trained on")
    report = evaluate_model(sda, test_x, test_y)
    matrix = numpy.array(report["confusion_matrix"])
    log("test error %f %%" % report["test_error_percent"])
    log(format_confusion(matrix, label_names))
    png = save_confusion_png(matrix, os.path.join(output_dir, "confusion_matrix.png"),
                             f"Test error {report['test_error_percent']:.2f} %")
    log(f"confusion matrix written to {png}")
    return report
