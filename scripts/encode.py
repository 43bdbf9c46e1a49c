#!/usr/bin/env python
"""Use a trained SdA as a feature extractor: write the hidden representation of a layer
(or, with --predict, class probabilities and labels) for a dataset or for image files.

    python scripts/encode.py runs/sda --dataset data/toy.npz --split all --output features.npz
    python scripts/encode.py runs/sda/model.npz digit.png --predict --output p.npz

Run with --help for every flag.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.encode import encode_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(encode_main())
