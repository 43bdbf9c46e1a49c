#!/usr/bin/env python
"""Evaluate a trained SdA (model.npz) on the MNIST test set, or classify image files.

    python scripts/evaluate.py runs/sda/model.npz --dataset ../shared/data/mnist
    python scripts/evaluate.py runs/sda/model.npz my_digit.png another.jpg
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.cli import evaluate_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(evaluate_main())
