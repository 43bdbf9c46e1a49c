#!/usr/bin/env python
"""Run many train_sda.py trainings -- seeds, grids, random searches -- on Ray Tune, and summarise them.

    pip install -e ".[sweep]"
    python scripts/sweep.py --dataset ../shared/data/mnist --batch-size 20 --pretraining-epochs 1 \\
        --training-epochs 3 --grid finetune-lr 0.1 0.05 --seeds 2 --output-dir runs/sweep_small

Every flag of train_sda.py sets the base configuration; --grid and --choice vary
them (FLAG without dashes, then the values, each written as after that flag);
--seeds runs every configuration with several seeds.  Each trial is a
:func:`sda.recipes.run_sda` run in ``OUTPUT_DIR/trials/<configuration>/seed-<seed>``;
the table is in ``OUTPUT_DIR/summary.md`` (and ``.csv``, ``sweep.png``).  Run the
same command again to continue an interrupted sweep.  The library is :mod:`sda.sweeps`.
"""
import importlib.util
import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir))

from sda.command_line import DefaultsHelp, Parser, run_guarded  # noqa: E402
from sda.errors import UsageError  # noqa: E402


def train_sda_parser():
    """train_sda.py's own parser: a sweep takes exactly the flags, and the values, that a run takes."""
    spec = importlib.util.spec_from_file_location("train_sda_script", os.path.join(HERE, "train_sda.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    p = module.parser()
    p.prog = "sweep.py"
    return p


def parser():
    # no abbreviations: --seed (train_sda.py's, the first seed) must never be read as --seeds
    p = Parser(prog="sweep.py", allow_abbrev=False, formatter_class=DefaultsHelp,
               description="Train many configurations and seeds of train_sda.py on Ray Tune and summarise them: "
                           "a table per configuration (mean ± std and min-max of validation and test error over "
                           "the seeds), the configuration selected on validation error alone, and a plot.",
               epilog="Every other flag is one of train_sda.py's (python scripts/train_sda.py --help) and sets "
                      "the base configuration of every trial.")
    p.add_argument("--output-dir", default="runs/sweep",
                   help="the sweep's folder: trials/<configuration>/seed-<seed>/ (each trial's results.json, "
                        "model.npz, train.log), summary.md, summary.csv, sweep.png; the same command run again "
                        "continues the sweep there")
    p.add_argument("--grid", nargs="+", action="append", metavar=("FLAG", "VALUE"),
                   help="try every VALUE of train_sda.py's --FLAG, with every value of the other --grid flags "
                        "(e.g. --grid finetune-lr 0.1 0.05 --grid hidden-layers 500,500 1000,1000)")
    p.add_argument("--choice", nargs="+", action="append", metavar=("FLAG", "VALUE"),
                   help="draw one VALUE of --FLAG at random for each of --samples configurations")
    p.add_argument("--samples", type=int, default=1,
                   help="random configurations to draw from the --choice flags (each with every --grid point)")
    p.add_argument("--search-seed", type=int, default=0, help="seed of the --choice draws")
    p.add_argument("--seeds", default="1",
                   help="seeds per configuration: N (--seed, --seed + 1, ..., N of them) or a list (89677,42,7)")
    p.add_argument("--asha", action="store_true",
                   help="stop bad trials early (ASHA, on the best validation error after each finetuning epoch)")
    p.add_argument("--asha-grace-epochs", type=int, default=1,
                   help="finetuning epochs every trial runs before ASHA may stop it")
    p.add_argument("--asha-reduction", type=int, default=4,
                   help="ASHA keeps the best 1/N of the trials at each rung (grace, grace x N, ...)")
    p.add_argument("--max-failures", type=int, default=3,
                   help="restarts of a trial whose worker died (each resumes from the trial's checkpoint)")
    p.add_argument("--address", default=None,
                   help="join the Ray cluster at HOST:PORT (started with `ray start --head`) instead of "
                        "starting a local Ray")
    p.add_argument("--cpus", type=int, default=None,
                   help="CPUs of the local Ray, one per trial (default: all of this machine's)")
    return p


def check_sweep_flags(args):
    for flag, value, least in (("--samples", args.samples, 1), ("--max-failures", args.max_failures, 0),
                               ("--asha-grace-epochs", args.asha_grace_epochs, 1),
                               ("--asha-reduction", args.asha_reduction, 2)):
        if value < least:
            raise UsageError(f"{flag} must be at least {least}, got {value}")
    if args.cpus is not None and args.cpus < 1:
        raise UsageError(f"--cpus must be at least 1, got {args.cpus}")
    if args.cpus is not None and args.address:
        raise UsageError("--cpus sets the size of a local Ray; a cluster (--address) has the CPUs its nodes "
                         "gave `ray start`")


def sweep(args, base_argv, argv):
    from sda.sweeps.run import run_sweep
    from sda.sweeps.space import (check_configurations, check_data, expand, parse_dimension, parse_seeds,
                                  refuse_fixed_base_flags, refuse_flags_given_twice)

    check_sweep_flags(args)
    train = train_sda_parser()
    base = vars(train.parse_args(base_argv))
    refuse_fixed_base_flags(base, vars(train.parse_args([])))
    grid = [parse_dimension(train, "--grid", words) for words in args.grid or []]
    choice = [parse_dimension(train, "--choice", words) for words in args.choice or []]
    refuse_flags_given_twice(base_argv, [*grid, *choice])
    seeds = parse_seeds(args.seeds, base["seed"])
    configurations = expand(base, grid, choice, args.samples, args.search_seed)
    check_configurations(configurations, seeds)
    check_data(configurations)
    run_sweep(configurations, seeds, args.output_dir, command=shlex.join(["python", "scripts/sweep.py", *argv]),
              address=args.address, cpus=args.cpus, max_failures=args.max_failures,
              asha=(args.asha_grace_epochs, args.asha_reduction) if args.asha else None)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args, base_argv = parser().parse_known_args(argv)
    return run_guarded(lambda: sweep(args, base_argv, argv))


if __name__ == "__main__":
    sys.exit(main())
