#!/usr/bin/env python
"""The table of a set of finished runs, over their seeds: what scripts/sweep.py prints for its trials, for
runs made by hand (or by several sweeps).

    python scripts/summarize.py results/study/*/
    python scripts/summarize.py runs/seed_*/ --output-dir runs/seeds_summary

Runs that differ only in their seed share a row (mean ± standard deviation, min–max of the best validation
error and of the test error at it, minutes); the columns are the flags, float type included, whose values
differ between rows; the row of lowest mean validation error is marked selected.  No extra is needed.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from sda.command_line import DefaultsHelp, Parser, run_guarded  # noqa: E402


def parser():
    p = Parser(prog="summarize.py", formatter_class=DefaultsHelp,
               description="Mean ± standard deviation and min-max of the validation and test errors of finished "
                           "train_sda.py runs, one row per configuration (the runs that differ only in their "
                           "seed), the configuration of lowest mean validation error marked.")
    p.add_argument("runs", nargs="+", help="output directories of finished runs (each holding a results.json)")
    p.add_argument("--output-dir", default=None,
                   help="also write summary.md, summary.csv and sweep.png there (default: print only)")
    p.add_argument("--title", default="Runs over seeds", help="the title of summary.md")
    return p


def summarize(args):
    from sda.files import ensure_writable_dir
    from sda.sweeps.summary import markdown_table, rows_of_runs, select, selection_sentence, write_summary

    rows = rows_of_runs(args.runs)
    select(rows)
    if args.output_dir:
        ensure_writable_dir(args.output_dir, "--output-dir")
        write_summary(rows, args.output_dir, args.title)
    print(markdown_table(rows))
    print()
    print(selection_sentence(rows))
    return 0


def main(argv=None):
    args = parser().parse_args(argv)
    return run_guarded(lambda: summarize(args))


if __name__ == "__main__":
    sys.exit(main())
