#!/usr/bin/env python
"""Train the tutorial's stacked denoising autoencoder on MNIST.

    python scripts/train_sda.py --dataset ../shared/data/mnist --batch-size 20 \\
        --pretraining-epochs 1 --training-epochs 4

Run with --help for every flag.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.cli import train_sda_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(train_sda_main())
