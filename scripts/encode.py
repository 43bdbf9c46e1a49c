#!/usr/bin/env python
"""Use a trained SdA as a feature extractor: write the hidden representation of a layer
(or, with --predict, class probabilities and labels) for a dataset or for image files.

    python scripts/encode.py runs/sda --dataset data/toy.npz --split all --output features.npz
    python scripts/encode.py runs/sda/model.npz digit.png --predict --output p.npz

Run with --help for every flag.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.command_line import Parser, dataset_help, run_guarded  # noqa: E402
from sda.encode import SPLIT_CHOICES  # noqa: E402


def parser():
    p = Parser(prog="encode.py",
               description="Write the hidden representation of one layer of a trained SdA (model.npz from "
                           "train_sda.py) for a dataset or for image files, or, with --predict, the class "
                           "probabilities and labels.",
               formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="model.npz, or the output directory holding it")
    p.add_argument("images", nargs="*",
                   help="image files to encode instead of a dataset (prepared as MNIST digits were, like "
                        "evaluate.py does; see --raw-images)")
    p.add_argument("--dataset", default=None, help=dataset_help())
    p.add_argument("--split", choices=SPLIT_CHOICES, default="all",
                   help="which set of the dataset (all: train, valid and test, in that order)")
    p.add_argument("--layer", type=int, default=-1,
                   help="hidden layer to write: 0 = first, -1 = top (as Python indexes)")
    p.add_argument("--predict", action="store_true",
                   help="write class probabilities p_y_given_x and labels y_pred instead of a hidden layer")
    p.add_argument("--output", "-o", required=True,
                   help="file to write: .npz (h or p_y_given_x and y_pred, plus y, split, files where known) "
                        "or .npy (h or p_y_given_x alone)")
    p.add_argument("--rescale", action=argparse.BooleanOptionalAction, default=None,
                   help="--rescale: map this dataset's training min..max onto [0, 1]; --no-rescale: no map; "
                        "default: as the training run did (rescaled_from in results.json beside the model)")
    p.add_argument("--raw-images", action="store_true",
                   help="read image files as they are (grey levels / 255, the model's input size), as image "
                        "dataset folders are read, instead of centring them as MNIST digits")
    return p


def main(argv=None):
    from sda.encode import run_encode

    args = parser().parse_args(argv)
    return run_guarded(lambda: run_encode(args.model, args.output, dataset=args.dataset, images=args.images,
                                          split=args.split, layer=args.layer, predict=args.predict,
                                          rescale=args.rescale, raw_images=args.raw_images))


if __name__ == "__main__":
    sys.exit(main())
