"""A sweep from start to summary: every trial not finished yet runs on Ray Tune, then the table.

Run again with the same command, a sweep continues where it stopped: finished
trials are kept (their ``results.json``), interrupted ones resume from their
checkpoints, failed ones are tried again.  Nothing but the trials' folders
carries over, so a sweep may also grow: more seeds or more values run only the
trials that are new.
"""

import os
import timeit

from ..errors import RunInterrupted, TrainingError
from ..files import ensure_writable_dir, write_json
from ..locks import FolderLock
from .summary import Row, markdown_table, select, selection_sentence, write_summary
from .trials import trials_of


def require_ray():
    """Ray Tune is an optional extra: without it, one line saying how to install it."""
    from ..errors import UsageError

    try:
        import ray.tune  # noqa: F401
    except ImportError:
        raise UsageError("sweeps run on Ray Tune, which is not installed: pip install -e '.[sweep]'") from None


def describe(configurations, seeds, command):
    """``sweep.json``: what the sweep is, for people and for the record."""
    return {"command": command, "seeds": seeds,
            "configurations": [{"varied": {name: value for name, value in c.varied}, "folder": c.folder_name,
                                "settings": c.settings} for c in configurations]}


def run_sweep(configurations, seeds, output_dir, command=None, address=None, cpus=None, asha=None, max_failures=3,
              callbacks=()):
    """Runs every configuration with every seed (those not finished yet) and writes the summary.

    :param configurations: :class:`~sda.sweeps.space.Configuration` s, from :func:`~sda.sweeps.space.expand`
    :param asha: ``(grace epochs, reduction factor)`` to stop bad trials early with ASHA, or None
    :param callbacks: more Ray Tune callbacks (the tests kill a worker from one)
    :returns: the summary's rows; raises :class:`~sda.errors.RunInterrupted` on Ctrl-C and
        :class:`~sda.errors.TrainingError` when a trial failed, after writing the summary
    """
    require_ray()
    output_dir = ensure_writable_dir(output_dir, "--output-dir")
    with FolderLock(output_dir, "--output-dir"):
        start = timeit.default_timer()
        trials = trials_of(configurations, seeds, output_dir)
        write_json(os.path.join(output_dir, "sweep.json"), describe(configurations, seeds, command))
        # a trial ASHA stopped stays stopped under ASHA; without it, it runs on from its checkpoint
        to_run = [t for t in trials if not t.is_finished() and not (asha and t.was_stopped_early())]
        kept = len(trials) - len(to_run)
        print(f"{len(configurations)} configuration{'s' * (len(configurations) != 1)} x {len(seeds)} "
              f"seed{'s' * (len(seeds) != 1)} = {len(trials)} trials in {output_dir}"
              + (f"; {kept} ended before and are kept" if kept else ""), flush=True)
        interrupted = False
        if to_run:
            from .ray_tune import asha_scheduler, run_trials

            for trial in to_run:
                trial.clear_marks()
            scheduler = asha and asha_scheduler(max(c.settings["training_epochs"] for c in configurations), *asha)
            try:
                run_trials(to_run, output_dir, len(trials), kept, address=address, cpus=cpus, scheduler=scheduler,
                           max_failures=max_failures, callbacks=callbacks)
            except KeyboardInterrupt:
                interrupted = True
        rows = [Row(c.varied, [t.outcome() for t in trials if t.configuration is c],
                    os.path.join("trials", c.folder_name)) for c in configurations]
        select(rows)
        write_summary(rows, output_dir, f"Sweep: `{command}`" if command else "Sweep")
        print(f"\n{markdown_table(rows)}\n\n{selection_sentence(rows)}\n"
              f"({(timeit.default_timer() - start) / 60:.1f} min; summary.md, summary.csv and sweep.png in "
              f"{output_dir})", flush=True)
    if interrupted:
        resume = f": {command}" if command else " with the same command"
        raise RunInterrupted(f"SIGINT received; every unfinished trial keeps its last checkpoint. Continue the "
                             f"sweep with{resume}", 130)
    failed = [o for row in rows for o in row.outcomes if o.status == "failed"]
    if failed:
        raise TrainingError(f"{len(failed)} of {len(trials)} trials failed ({failed[0].message}): "
                            f"see failed.json and train.log in their folders; the same command tries them again")
    unfinished = [o for row in rows for o in row.outcomes if o.status == "unfinished"]
    if unfinished:
        raise TrainingError(f"{len(unfinished)} of {len(trials)} trials did not finish: the same command "
                            f"continues them from their checkpoints")
    return rows
