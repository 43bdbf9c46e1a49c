#!/usr/bin/env python
"""Train the tutorial's denoising autoencoder on MNIST, without and with 30% corruption,
and save pictures of its filters.

    python scripts/train_da.py --dataset ../shared/data/mnist

Run with --help for every flag.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.cli import train_da_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(train_da_main())
