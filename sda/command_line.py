"""What the scripts' command lines share: one-line argparse errors, flag types and
help texts, the resume command, and running a command so that a user's mistake
is one line and an exit code, never a traceback.

Each script builds its own parser (``scripts/*.py``); no library module imports
this one.  Importing it does not import PyTensor, so ``--help`` is instant and a
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


def add_engine_flag(p, default):
    p.add_argument("--engine", default=default,
                   help="how training steps run: kernels (fast Numba kernels, CPU, the same bits on every x86-64 "
                        "CPU; checked against the model's graph before each phase), compiled (the tutorial's "
                        "compiled functions, one call per minibatch), chunks (a compiled scan over many "
                        "minibatches per call, for GPUs); auto: kernels on the CPU (the compiled engine for a "
                        "phase the kernels do not compute), chunks on a GPU")


def add_checkpoint_flags(p, output_flag):
    p.add_argument("--resume", action="store_true",
                   help=f"continue the interrupted run whose checkpoint is in {output_flag} (same flags)")
    p.add_argument("--checkpoint-every", type=int, default=1,
                   help="write a checkpoint every N epochs / validations (0: only when interrupted)")
    # default=None on both: unset means "a bar when stderr is a terminal" (store_false would otherwise claim True)
    p.add_argument("--progress", action="store_true", default=None,
                   help="show a progress bar on stderr even when it is not a terminal (default: a bar only when "
                        "stderr is a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                   help="never show a progress bar")


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
