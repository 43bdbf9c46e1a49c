"""One trial of a sweep: a configuration and a seed, trained by :func:`~sda.recipes.run_sda` in a folder of its own.

The folder is named by the configuration and the seed, the same every time the
sweep's command is run, so the folder *is* the trial's state::

    trials/<configuration>/seed-<seed>/
        results.json, model.npz, pictures   finished (run_sda's own output)
        checkpoint.npz                      under way or interrupted: the next attempt resumes from it
        stopped_early.json                  ASHA stopped it (the sweep writes this)
        failed.json                         it failed; the next run of the sweep tries again (the sweep writes this)
        train.log                           the tutorial's lines of every attempt

A restarted trial -- its worker process died, its node was lost, the whole
sweep was stopped -- finds its checkpoint there and resumes it, and so ends
bit-identical to a trial never interrupted (the project's checkpoints are exact).
"""

import json
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from ..checkpoint import CHECKPOINT_NAME
from ..files import write_json
from .space import Configuration
from .summary import Outcome, outcome_of_results

RESULTS_NAME = "results.json"
STOPPED_NAME = "stopped_early.json"
FAILED_NAME = "failed.json"
LOG_NAME = "train.log"

#: what every report to Ray Tune holds; ASHA ranks trials on the best validation error so far
METRIC = "best_validation_error_percent"
TIME_ATTR = "finetune_epoch"


@dataclass
class Trial:
    configuration: Configuration
    seed: int
    folder: str  # absolute: trials run in Ray's own working folders

    @property
    def label(self):
        return f"{self.configuration.label} seed {self.seed}"

    def path(self, name):
        return os.path.join(self.folder, name)

    def is_finished(self):
        return os.path.exists(self.path(RESULTS_NAME))

    def was_stopped_early(self):
        return os.path.exists(self.path(STOPPED_NAME))

    def spec(self):
        """What the trainable is given (through Ray Tune's ``param_space``): plain values only."""
        return {"folder": self.folder, "config": {**self.configuration.settings, "seed": self.seed}}

    def mark_stopped_early(self, result):
        write_json(self.path(STOPPED_NAME), {"stopped_after_finetuning_epoch": result.get(TIME_ATTR),
                                             METRIC: result.get(METRIC)})

    def mark_failed(self, message):
        write_json(self.path(FAILED_NAME), {"error": message})

    def clear_marks(self):
        """Before another attempt: it is neither failed nor stopped any more."""
        for name in (STOPPED_NAME, FAILED_NAME):
            if os.path.exists(self.path(name)):
                os.unlink(self.path(name))

    def outcome(self):
        """What the folder says of the trial, for the summary."""
        if self.is_finished():
            with open(self.path(RESULTS_NAME)) as f:
                results = json.load(f)
            return outcome_of_results(results)
        for name, status in ((STOPPED_NAME, "stopped early"), (FAILED_NAME, "failed")):
            if os.path.exists(self.path(name)):
                with open(self.path(name)) as f:
                    return Outcome(self.seed, status, message=json.load(f).get("error"))
        return Outcome(self.seed, "unfinished")


def trials_of(configurations, seeds, output_dir):
    """Every configuration with every seed, in that order, each with its folder."""
    root = os.path.join(os.path.abspath(output_dir), "trials")
    return [Trial(c, seed, os.path.join(root, c.folder_name, f"seed-{seed}")) for c in configurations
            for seed in seeds]


def validation_metrics(state):
    """A report after a finetuning validation (``state``: the :class:`~sda.training.EarlyStoppingState`)."""
    last = state.history[-1]
    return {TIME_ATTR: last["epoch"], "validation_error_percent": 100.0 * last["validation_error"],
            METRIC: 100.0 * state.best_validation_loss, "test_error_percent": 100.0 * state.test_score}


def final_metrics(results):
    """The last report of a finished trial, from its ``results.json``."""
    return {TIME_ATTR: results["finetune_epochs"], METRIC: results["best_validation_error_percent"],
            "test_error_percent": results["test_error_percent"],
            "minutes": results["pretraining_minutes"] + results["finetuning_minutes"], "finished": True}


def train_trial(params):
    """Ray Tune's trainable: trains ``params["trial"]`` (a :meth:`Trial.spec`) with ``run_sda``, reporting the
    validation error after every finetuning epoch.

    The trial's checkpoint decides where it starts: none, from the beginning;
    one, from there (a restart after a lost worker, or the sweep run again).
    A mistake the user can fix (:class:`~sda.errors.UserError`, e.g. a
    diverging cost) ends the trial with a ``failed`` report rather than an
    exception, since retrying it would fail the same way.
    """
    from ray import tune

    from ..configs import SdAConfig
    from ..errors import UserError
    from ..recipes import run_sda

    spec = params["trial"]
    folder = spec["folder"]
    os.makedirs(folder, exist_ok=True)
    if os.path.exists(os.path.join(folder, RESULTS_NAME)) and not os.path.exists(
            os.path.join(folder, CHECKPOINT_NAME)):
        # finished by an attempt that died before it could report
        with open(os.path.join(folder, RESULTS_NAME)) as f:
            tune.report(final_metrics(json.load(f)))
        return
    config = SdAConfig(**spec["config"], output_dir=folder, progress=False,
                       resume=os.path.exists(os.path.join(folder, CHECKPOINT_NAME)))
    # the tutorial's lines go to the trial's log, not to the sweep's terminal
    with open(os.path.join(folder, LOG_NAME), "a", buffering=1) as log, redirect_stdout(log), redirect_stderr(log):
        try:
            results = run_sda(config, script="sweep.py",
                              on_validation=lambda state: tune.report(validation_metrics(state)))
        except UserError as error:
            print(f"{error.prefix}: {error}")
            tune.report({TIME_ATTR: 0, METRIC: float("inf"), "failed": str(error)})
            return
    tune.report(final_metrics(results))
