#!/usr/bin/env python
"""Train the tutorial's stacked denoising autoencoder on MNIST (the tutorial's ``SdA.py``).

    python scripts/train_sda.py                                   # the tutorial's run
    python scripts/train_sda.py --dataset ../shared/data/mnist --batch-size 20 \\
        --pretraining-epochs 1 --training-epochs 4                # a few minutes

The defaults reproduce the tutorial.  The procedure is :func:`sda.recipes.run_sda`;
the model is :class:`sda.tutorial.SdA.SdA`.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.command_line import (RESCALE_HELP, DefaultsHelp, Parser, add_checkpoint_flags,  # noqa: E402
                              add_engine_flag, dataset_help, float_list, int_list, resume_command, run_guarded)
from sda.configs import SdAConfig  # noqa: E402


def parser():
    d = SdAConfig()
    p = Parser(prog="train_sda.py",
               description="Pretrain a stacked denoising autoencoder layer by layer, then finetune it "
                           "with early stopping (the Deep Learning Tutorials' SdA.py).",
               formatter_class=DefaultsHelp)
    p.add_argument("--finetune-lr", type=float, default=d.finetune_lr, help="finetuning learning rate")
    p.add_argument("--finetune-lr-decay", type=float, default=d.finetune_lr_decay,
                   help="multiply the finetuning learning rate by this after every epoch (1: constant, the tutorial)")
    p.add_argument("--pretraining-epochs", type=int, default=d.pretraining_epochs, help="epochs per layer")
    p.add_argument("--pretrain-lr", type=float, default=d.pretrain_lr, help="pretraining learning rate")
    p.add_argument("--training-epochs", type=int, default=d.training_epochs,
                   help="most finetuning epochs (early stopping usually ends sooner)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="minibatch size")
    p.add_argument("--hidden-layers", type=int_list, default=d.hidden_layers,
                   help="hidden layer sizes, comma-separated")
    p.add_argument("--corruption-levels", type=float_list, default=d.corruption_levels,
                   help="one masking-noise level per layer, comma-separated")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of all random numbers")
    p.add_argument("--dataset", default=None, help=dataset_help())
    p.add_argument("--output-dir", default=d.output_dir, help="where results.json and model.npz go")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training examples")
    p.add_argument("--rescale", action="store_true", help=RESCALE_HELP)
    p.add_argument("--n-ins", type=int, default=None, help="input size (default: the data's)")
    p.add_argument("--n-outs", type=int, default=None, help="number of classes (default: largest label + 1)")
    add_engine_flag(p, d.engine)
    p.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size,
                   help="minibatch size of validation and test (speed only; results do not change)")
    p.add_argument("--pretrained-from", metavar="RUN", default=None,
                   help="skip pretraining: start from the layers a finished pretraining left in RUN/pretrained.npz "
                        "(a train_sda.py run with the same flags but for the finetuning's: --finetune-lr, "
                        "--finetune-lr-decay, --training-epochs); the same numbers as pretraining again")
    add_checkpoint_flags(p, "--output-dir")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of a finished run in --output-dir (else a fresh run there is refused)")
    return p


def main(argv=None):
    from sda.recipes import run_sda

    args = parser().parse_args(argv)
    return run_guarded(lambda: run_sda(SdAConfig(**vars(args)), resume_command=resume_command(argv)))


if __name__ == "__main__":
    sys.exit(main())
