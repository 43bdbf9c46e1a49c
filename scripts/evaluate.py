#!/usr/bin/env python
"""Evaluate a trained SdA (model.npz) on the MNIST test set, or classify image files.

    python scripts/evaluate.py runs/sda/model.npz --dataset ../shared/data/mnist
    python scripts/evaluate.py runs/sda/model.npz my_digit.png another.jpg
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.command_line import DefaultsHelp, Parser, dataset_help, run_guarded  # noqa: E402


def parser():
    p = Parser(prog="evaluate.py",
               description="Evaluate a model.npz written by train_sda.py on the MNIST test set (test error, "
                           "per-class errors, confusion matrix), or classify image files.",
               formatter_class=DefaultsHelp)
    p.add_argument("model", help="model.npz, or the output directory holding it")
    p.add_argument("images", nargs="*", help="image files to classify (any size or mode)")
    p.add_argument("--dataset", default=None, help=dataset_help())
    p.add_argument("--output-dir", default=None, help="where confusion_matrix.png goes (default: beside the model)")
    return p


def main(argv=None):
    from sda.evaluate import run_evaluate

    args = parser().parse_args(argv)
    return run_guarded(lambda: run_evaluate(args.model, args.dataset, args.images, args.output_dir))


if __name__ == "__main__":
    sys.exit(main())
