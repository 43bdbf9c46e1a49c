#!/usr/bin/env python
"""Train the tutorial's denoising autoencoder on MNIST, without and with 30% corruption,
and save pictures of its filters (the tutorial's ``dA.py``) and of its reconstructions of masked digits.

    python scripts/train_da.py --dataset ../shared/data/mnist

The defaults reproduce the tutorial.  The procedure is :func:`sda.recipes.run_da`;
the model is :class:`sda.tutorial.dA.dA`.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.command_line import (RESCALE_HELP, DefaultsHelp, Parser, add_checkpoint_flags,  # noqa: E402
                              add_engine_flag, dataset_help, float_list, resume_command, run_guarded)
from sda.configs import DAConfig  # noqa: E402


def parser():
    d = DAConfig()
    p = Parser(prog="train_da.py",
               description="Train a denoising autoencoder without and with 30 % corruption and save pictures "
                           "of its filters (the Deep Learning Tutorials' dA.py) and of its reconstructions of "
                           "masked test digits.",
               formatter_class=DefaultsHelp)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="SGD learning rate")
    p.add_argument("--training-epochs", type=int, default=d.training_epochs, help="epochs per dA")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="minibatch size")
    p.add_argument("--n-hidden", type=int, default=d.n_hidden, help="hidden units")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of all random numbers")
    p.add_argument("--dataset", default=None, help=dataset_help())
    p.add_argument("--output-folder", default=d.output_folder, help="where the pictures (PNG) go")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training examples")
    p.add_argument("--rescale", action="store_true", help=RESCALE_HELP)
    p.add_argument("--corruption-levels", type=float_list, default=d.corruption_levels,
                   help="train one dA per level, comma-separated")
    add_engine_flag(p, d.engine)
    add_checkpoint_flags(p, "--output-folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of a finished run in --output-folder (else a fresh run there is refused)")
    return p


def main(argv=None):
    from sda.recipes import run_da

    args = parser().parse_args(argv)
    return run_guarded(lambda: run_da(DAConfig(**vars(args)), resume_command=resume_command(argv)))


if __name__ == "__main__":
    sys.exit(main())
