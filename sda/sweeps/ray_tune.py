"""Running trials on Ray Tune: a local Ray started in this process or an existing cluster, one CPU per
trial, a lost worker's trial restarted from its checkpoint, ASHA on request, one line per finished trial.

Only this module imports Ray (the ``sweep`` extra); everything before it -- the
search space, the checks, the folders -- runs without it.
"""

import logging
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager

import ray
from ray import tune

from ..errors import UserError
from .trials import METRIC, TIME_ATTR, train_trial

#: Ray puts its sockets at <temp dir>/session_<date>_<time>_<microseconds>_<pid>/sockets/plasma_store, and a
#: socket's path has at most 107 bytes: a longer temp dir makes ray.init fail
RAY_SOCKET_SUFFIX = len("/session_2026-01-01_00-00-00_000000_4194304/sockets/plasma_store")
MAX_SOCKET_PATH = 107


def ray_temp_dir(output_dir):
    """Where a local Ray keeps its session files: ``<output_dir>/ray`` when its sockets' paths fit there,
    else a new temporary folder; returns ``(folder, whether to remove it afterwards)``."""
    inside = os.path.join(os.path.abspath(output_dir), "ray")
    if len(inside.encode()) + RAY_SOCKET_SUFFIX <= MAX_SOCKET_PATH:
        return inside, False
    return tempfile.mkdtemp(prefix="sda-ray-"), True


@contextmanager
def ray_session(output_dir, address=None, cpus=None):
    """Ray for the duration of the block: a local one using ``cpus`` (default: all) CPUs, or the cluster at
    ``address``; shut down afterwards."""
    import sda

    # the workers import the very sda the driver runs, installed or not
    code = os.path.dirname(os.path.dirname(os.path.abspath(sda.__file__)))
    python_path = os.pathsep.join(p for p in (code, os.environ.get("PYTHONPATH")) if p)
    # each trial reserves one CPU, so its kernels run on one thread (the numbers are the same on two)
    common = dict(log_to_driver=False, logging_level=logging.ERROR,
                  runtime_env={"env_vars": {"PYTHONPATH": python_path, "SDA_THREADS": "1"}})
    temp_dir, remove = None, False
    if address:
        check_reachable(address)
        use_the_token_as_ray_start_does()
        try:
            ray.init(address=address, **common)
        except Exception as error:  # ConnectionError, RuntimeError, ValueError...: Ray has many ways to say no
            raise UserError(f"cannot join the Ray cluster at {address} ({str(error).strip().splitlines()[0]}): "
                            f"start it with `ray start --head --port=6379` on the head node") from None
    else:
        temp_dir, remove = ray_temp_dir(output_dir)
        # num_cpus=None: Ray counts the CPUs this process may use (a container's limit, not the host's)
        ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=temp_dir,
                 object_store_memory=128 * 2 ** 20, **common)  # trials pass no data through the object store
    try:
        yield
    finally:
        ray.shutdown()
        if remove:
            shutil.rmtree(temp_dir, ignore_errors=True)


def check_reachable(address, timeout=10.0):
    """Refuse a HOST:PORT that nothing answers on, in one line: ``ray.init(address=...)`` itself retries such an
    address for ever, logging a warning every half minute.  Other forms (``auto``, ``ray://...``) go to Ray."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or "/" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:  # refused, timed out, unknown host
        raise UserError(f"cannot join the Ray cluster at {address}: nothing answers there ({error.strerror or error}); "
                        "start it with `ray start --head --port=6379` on the head node, or check HOST:PORT") from None


def use_the_token_as_ray_start_does():
    """Ray (2.60) turns token authentication on for ``ray start`` and for a local ``ray.init()`` when a token
    exists (``~/.ray/auth_token``, or ``RAY_AUTH_TOKEN``), but not for a driver given an address, which the
    cluster then refuses: do as ``ray start`` does (an explicit ``RAY_AUTH_MODE`` is respected)."""
    from ray._private.authentication import authentication_token_setup

    logging.getLogger(authentication_token_setup.__name__).setLevel(logging.ERROR)  # "token auth is on": yes
    authentication_token_setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def last_line(text):
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown error"


class ProgressLines(tune.Callback):
    """A line per trial that ends (finished, stopped early, failed) or is restarted; marks the trial's folder."""

    def __init__(self, trials, total, done_before):
        self.trials = {trial.folder: trial for trial in trials}
        self.total, self.done = total, done_before

    def _trial(self, tune_trial):
        return self.trials[tune_trial.config["trial"]["folder"]]

    def _line(self, trial, what):
        self.done += 1
        print(f"[{self.done}/{self.total}] {trial.label}: {what}", flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        ours, result = self._trial(trial), trial.last_result
        restarts = f" (restarted {trial.num_failures}x)" if trial.num_failures else ""
        if result.get("finished"):
            self._line(ours, f"validation {result[METRIC]:.2f} %, test {result['test_error_percent']:.2f} %, "
                             f"{result['minutes']:.1f} min{restarts}")
        elif "failed" in result:
            ours.mark_failed(result["failed"])
            self._line(ours, f"failed: {result['failed']}")
        else:
            ours.mark_stopped_early(result)
            self._line(ours, f"stopped early by ASHA after finetuning epoch {result.get(TIME_ATTR)} "
                             f"(best validation {result.get(METRIC, float('nan')):.2f} %){restarts}")

    def on_trial_recover(self, iteration, trials, trial, **info):
        print(f"      {self._trial(trial).label}: attempt {trial.num_failures} failed "
                   f"({last_line(trial.get_error())}): restarting it from its last checkpoint", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        message = f"{last_line(trial.get_error())} (after {trial.num_failures} attempts)"
        ours = self._trial(trial)
        ours.mark_failed(message)
        self._line(ours, f"failed: {message}")


def asha_scheduler(max_epochs, grace_epochs, reduction_factor):
    """ASHA (Li et al. 2020) on the best validation error so far, by finetuning epoch: at each rung (grace,
    grace x factor, ...) a trial continues only if it is in the best 1/factor of the trials that reached it."""
    from ray.tune.schedulers import ASHAScheduler

    # stop_last_trials=False: a trial reaching its last epoch finishes (writes its results) rather than stop there
    return ASHAScheduler(time_attr=TIME_ATTR, metric=METRIC, mode="min", max_t=max(max_epochs, grace_epochs),
                         grace_period=grace_epochs, reduction_factor=reduction_factor, stop_last_trials=False)


def run_trials(trials, output_dir, total, done_before, address=None, cpus=None, scheduler=None, max_failures=3,
               callbacks=()):
    """Runs ``trials`` (:class:`~sda.sweeps.trials.Trial`) on Ray Tune, one CPU each.

    Ray Tune's own records go to ``<output_dir>/tune`` (replaced at each run: the
    trials' folders hold what counts), a local Ray's session files to
    ``<output_dir>/ray``.  A trial whose worker dies is started again up to
    ``max_failures`` times; it resumes from its checkpoint.
    """
    output_dir = os.path.abspath(output_dir)
    shutil.rmtree(os.path.join(output_dir, "tune"), ignore_errors=True)
    # Ray Tune's own progress tables would drown the lines of ProgressLines; its result loggers would copy
    # what the trials' folders hold (and TensorBoard's imports torch where installed); Ctrl-C raises
    # KeyboardInterrupt at once (the trials' checkpoints are what a re-run continues from, not Tune's state)
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"

    def dir_name(tune_trial):
        folder = tune_trial.config["trial"]["folder"]
        return f"{os.path.basename(os.path.dirname(folder))}_{os.path.basename(folder)}"

    with ray_session(output_dir, address, cpus):
        tuner = tune.Tuner(
            tune.with_resources(train_trial, {"cpu": 1}),
            param_space={"trial": tune.grid_search([trial.spec() for trial in trials])},
            tune_config=tune.TuneConfig(scheduler=scheduler, trial_name_creator=dir_name,
                                        trial_dirname_creator=dir_name),
            run_config=tune.RunConfig(name="tune", storage_path=output_dir, verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=max_failures),
                                      callbacks=[ProgressLines(trials, total, done_before), *callbacks]))
        tuner.fit()
