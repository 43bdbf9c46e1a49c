"""Command lines of the scripts: flags in, a configuration out, one clear line for a user's mistake.

Importing this module does not import PyTensor, so ``--help`` is instant and a
bad ``THEANO_FLAGS`` is reported like any other mistake.
"""

import argparse
import os
import shlex
import sys

from .errors import UserError


def int_list(text):
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 1000,1000,1000, got {text!r}")


def float_list(text):
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0.1,0.2,0.3, got {text!r}")


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where the help already says what an unset flag does."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (argparse adds the whole usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def dataset_help():
    return ("a directory holding the four MNIST IDX .gz files (MNIST's, or your own images of any size in that "
            "layout), the tutorial's mnist.pkl.gz, a .npz (train_x, train_y[, valid_x, valid_y, test_x, test_y]) "
            "or a directory of images as train/<label>/*.png [valid/, test/] "
            "(default: $SDA_DATA, else data/; MNIST downloaded when missing and a network exists)")


RESCALE_HELP = ("map the inputs linearly so that the training set's smallest value is 0 and its largest 1 "
                "(the same map, clipped, for validation and test); without it inputs outside [0, 1] are refused")


def sda_parser():
    from .experiment import SdAConfig

    d = SdAConfig()
    p = Parser(
        prog="train_sda.py",
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
    p.add_argument("--engine", choices=["auto", "kernels", "compiled", "chunks"], default=d.engine,
                   help="kernels: fast Numba kernels, many minibatches per call (CPU); compiled: the tutorial's "
                        "compiled functions, one call per minibatch (same model and noise); chunks: a compiled "
                        "scan over many minibatches per call (for GPUs); auto: kernels on the CPU, chunks on a GPU")
    p.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size,
                   help="minibatch size of validation and test (speed only; results do not change)")
    add_checkpoint_flags(p, "--output-dir")
    return p


def da_parser():
    from .experiment import DAConfig

    d = DAConfig()
    p = Parser(
        prog="train_da.py",
        description="Train a denoising autoencoder without and with 30%% corruption and save pictures "
                    "of its filters (the Deep Learning Tutorials' dA.py).",
        formatter_class=DefaultsHelp)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="SGD learning rate")
    p.add_argument("--training-epochs", type=int, default=d.training_epochs, help="epochs per dA")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="minibatch size")
    p.add_argument("--n-hidden", type=int, default=d.n_hidden, help="hidden units")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of all random numbers")
    p.add_argument("--dataset", default=None, help=dataset_help())
    p.add_argument("--output-folder", default=d.output_folder, help="where the filter PNGs go")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training examples")
    p.add_argument("--rescale", action="store_true", help=RESCALE_HELP)
    p.add_argument("--corruption-levels", type=float_list, default=d.corruption_levels,
                   help="train one dA per level, comma-separated")
    add_checkpoint_flags(p, "--output-folder")
    return p


def add_checkpoint_flags(p, output_flag):
    p.add_argument("--resume", action="store_true",
                   help=f"continue the interrupted run whose checkpoint is in {output_flag} (same flags)")
    p.add_argument("--checkpoint-every", type=int, default=1,
                   help="write a checkpoint every N epochs / validations (0: only when interrupted)")
    p.add_argument("--progress", action="store_true", default=None,
                   help="show a progress bar on stderr even when it is not a terminal")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def resume_command(argv):
    """The command line that resumes this run, for the message printed at an interrupt."""
    argv = list(sys.argv[1:] if argv is None else argv)
    script = os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else "scripts/train_sda.py"
    return " ".join(shlex.quote(a) for a in ["python", script, *argv] + ([] if "--resume" in argv else ["--resume"]))


def run_guarded(work):
    """Runs ``work()``; a :class:`UserError` becomes one line on stderr and its exit code."""
    try:
        work()
    except UserError as error:
        print(f"{error.prefix}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


def train_sda_main(argv=None):
    from .experiment import SdAConfig, run_sda

    args = sda_parser().parse_args(argv)
    return run_guarded(lambda: run_sda(SdAConfig(**vars(args)), resume_command=resume_command(argv)))


def train_da_main(argv=None):
    from .experiment import DAConfig, run_da

    args = da_parser().parse_args(argv)
    return run_guarded(lambda: run_da(DAConfig(**vars(args)), resume_command=resume_command(argv)))


def evaluate_parser():
    p = Parser(prog="evaluate.py",
               description="Evaluate a model.npz written by train_sda.py on the MNIST test set (test error, "
                           "per-class errors, confusion matrix), or classify image files.",
               formatter_class=DefaultsHelp)
    p.add_argument("model", help="model.npz, or the output directory holding it")
    p.add_argument("images", nargs="*", help="image files to classify (any size or mode)")
    p.add_argument("--dataset", default=None, help=dataset_help())
    p.add_argument("--output-dir", default=None, help="where confusion_matrix.png goes (default: beside the model)")
    return p


def evaluate_main(argv=None):
    from .evaluate import run_evaluate

    args = evaluate_parser().parse_args(argv)
    return run_guarded(lambda: run_evaluate(args.model, args.dataset, args.images, args.output_dir))
