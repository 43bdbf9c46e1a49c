"""A resumable run: what every training procedure needs besides the training itself.

A :class:`ResumableRun` owns the run's output directory, its checkpoint, the
signal handling that turns Ctrl-C / SIGTERM into a clean stop, the log of the
tutorial's lines, and the clocks of its phases.  A procedure (a *recipe*, see
:mod:`sda.recipes`) registers its stateful parts -- anything with
``state_dict()`` / ``load_state_dict()``: parameters, noise generators, loop
states -- and the checkpoint is simply all of them::

    with ResumableRun(config.output_dir, "sda", config, ...) as run:   # the folder is this run's now
        run.track(params=Parameters(model), noise=model.theano_rng, pretraining=state)
        run.restore(fingerprint)       # with --resume: every part as it was
        ...                            # train, calling run.checkpoint() after each epoch
        run.finish()                   # the results replace the checkpoint

Inside the ``with`` block the run holds its folder's lock (a second run into
the same folder stops at once, naming this one), and SIGINT/SIGTERM ask the
loops to stop.  Leaving the block by :class:`~sda.training.Interrupted` writes a
checkpoint and raises :class:`~sda.errors.RunInterrupted` with the command that
resumes.
"""

import glob
import os
import signal
import sys
import timeit
from contextlib import contextmanager, suppress

from .checkpoint import Checkpointer
from .errors import RunInterrupted, UsageError, UserError
from .files import ensure_writable_dir
from .locks import FolderLock
from .training import Interrupted, StopRequest


class Log:
    """Prints the tutorial's lines on stdout and keeps them for the checkpoint."""

    def __init__(self):
        self.lines = []

    def __call__(self, line):
        print(line, flush=True)
        self.lines.append(line)

    def state_dict(self):
        return {"lines": list(self.lines)}

    def load_state_dict(self, state):
        self.lines = list(state["lines"])


class Stopwatch:
    """Seconds spent in a phase, across interruptions and resumes."""

    def __init__(self):
        self.saved = 0.0
        self.started = None

    def start(self):
        self.started = timeit.default_timer()

    def stop(self):
        self.saved, self.started = self.seconds(), None

    def seconds(self):
        return self.saved + (0.0 if self.started is None else timeit.default_timer() - self.started)

    def state_dict(self):
        return {"seconds": self.seconds()}

    def load_state_dict(self, state):
        self.saved, self.started = float(state["seconds"]), None


def log_time(what, script, seconds):
    """The tutorial's ``... ran for %.2fm`` line, on stderr as in the tutorial."""
    print(f"The {what} code for file {script} ran for {seconds / 60.0:.2f}m", file=sys.stderr, flush=True)


@contextmanager
def stop_on_signals(stop):
    """Within the block, SIGINT and SIGTERM set ``stop`` (the loops then stop
    after the minibatch in progress) instead of killing the process; a second
    SIGINT interrupts at once."""
    previous = {}

    def handler(signum, frame):
        if stop and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.signal = signal.Signals(signum).name

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: no signal handling, runs are stopped by their caller
            pass
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _identity(path):
    """What changes when a file is written again (atomically, as a new file, or in place); None if absent."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class ResumableRun:
    """One run's output directory, checkpoint, signals, log and clocks.

    :param output_dir: where the run writes (created, and checked writable; removed again if the run fails
        before writing anything there, so that a refused command leaves no empty folder behind)
    :param kind: what kind of run ("sda", "da"): a checkpoint of another kind is refused
    :param result_config: the configuration keys that determine the numbers,
        as a dict (a resumed run must have the same)
    :param defaults: their defaults (a checkpoint written before a key existed)
    :param flag: the command-line flag naming ``output_dir``, for messages
    :param resume: continue from the checkpoint rather than start
    :param checkpoint_every: checkpoint every N calls of :meth:`checkpoint` (0: only when stopped)
    :param resume_command: the command line to print when stopped
    :param stop_after_minibatches: stop (with a checkpoint) after this many minibatches
    :param results: the files of a finished run: a fresh run refuses to replace them unless ``overwrite``
    :param outputs: glob patterns of the other files a finished run writes (pictures): with ``overwrite``, those
        of the old run that the new one did not write again (a layer the new one does not have, say) are removed
        when it finishes, so that none is left beside the new results; until then nothing of the old run is lost
    """

    def __init__(self, output_dir, kind, result_config, defaults=None, flag="--output-dir", resume=False,
                 checkpoint_every=1, resume_command=None, stop_after_minibatches=None, results=("results.json",),
                 overwrite=False, outputs=()):
        self._created_output_dir = not os.path.isdir(output_dir)
        self.output_dir = ensure_writable_dir(output_dir, flag)
        self.flag = flag
        self.lock = FolderLock(self.output_dir, flag)
        self.checkpointer = Checkpointer(self.output_dir, kind, result_config, every=checkpoint_every,
                                         defaults=defaults)
        self.resume, self.results, self.overwrite = resume, results, overwrite
        self.outputs = (*results, *outputs)
        self._old_outputs = {}  # path -> its identity, of a finished run being overwritten
        self.resume_command = resume_command
        self.stop = StopRequest(after_minibatches=stop_after_minibatches)
        self.log = Log()
        self.parts = {"log": self.log}
        self.fingerprint = None

    def clock(self, name):
        """A :class:`Stopwatch` for phase ``name``, saved with the checkpoint."""
        return self.track(**{f"clock_{name}": Stopwatch()})

    def track(self, **parts):
        """Registers stateful parts under names; returns the last one given."""
        self.parts.update(parts)
        return list(parts.values())[-1]

    def restore(self, fingerprint, check=None, source=None, ignore=()):
        """With ``resume``, loads every tracked part from the checkpoint (checked
        against the configuration and ``fingerprint``, a digest of the training
        data); returns whether it did.

        :param check: called after loading; a ValueError from it (a loop position this run cannot have
            reached, in a checkpoint edited by hand) refuses the checkpoint as one that does not fit
        :param source: without ``resume``, start from this snapshot of another run instead (see
            :meth:`snapshot`), whose configuration may differ from this run's in the keys ``ignore``
        """
        self.fingerprint = fingerprint
        if self.resume:
            source, ignore = None, ()
        elif source is None:
            return False
        path = source or self.checkpointer.path
        advice = "delete it to start over" if source is None else "run without --pretrained-from"
        saved = self.checkpointer.load(fingerprint, source=source, ignore=ignore)
        missing = sorted(set(self.parts) - set(saved))
        if missing:
            raise UserError(f"{path} lacks {', '.join(missing)}: {advice}")
        for name, part in self.parts.items():
            try:
                part.load_state_dict(saved[name])
            except (KeyError, TypeError, ValueError, AttributeError) as error:  # a checkpoint edited by hand
                raise UserError(f"{path} does not fit this run ({name}: {error}): {advice}") from None
        if check is not None:
            try:
                check()
            except ValueError as error:
                raise UserError(f"{path} does not fit this run ({error}): {advice}") from None
        return True

    def snapshot(self, name):
        """Writes every tracked part as they are now to ``name`` in the output directory, in the checkpoint's
        format, to keep (a later run may start from it: :meth:`restore` with ``source``)."""
        self.checkpointer.save_as(os.path.join(self.output_dir, name), {n: part.state_dict()
                                                                        for n, part in self.parts.items()},
                                  self.fingerprint)

    def checkpoint(self, force=False):
        """Saves every tracked part (every ``checkpoint_every`` calls, or now if ``force``)."""
        self.checkpointer.save({name: part.state_dict() for name, part in self.parts.items()}, self.fingerprint,
                               force=force)

    def finish(self):
        """The run is complete: its results replace the checkpoint (and the overwritten run's other files)."""
        self.checkpointer.remove()
        for path, identity in self._old_outputs.items():
            if _identity(path) == identity:  # not written again by this run
                os.unlink(path)

    def _refuse_to_replace_a_finished_run(self):
        finished = [name for name in self.results if os.path.exists(os.path.join(self.output_dir, name))]
        if finished and not self.overwrite:
            raise UsageError(f"{self.output_dir} holds a finished run ({', '.join(finished)}): add --overwrite to "
                             f"replace it, or give another {self.flag}")
        if finished:
            self._old_outputs = {path: _identity(path) for pattern in self.outputs
                                 for path in glob.glob(os.path.join(glob.escape(self.output_dir), pattern))}

    def __enter__(self):
        self.lock.acquire()
        try:
            if not self.resume:
                self.checkpointer.refuse_to_overwrite()
                self._refuse_to_replace_a_finished_run()
            self._signals = stop_on_signals(self.stop)
            self._signals.__enter__()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self._signals.__exit__(exc_type, exc, tb)
            if exc_type is not None and issubclass(exc_type, Interrupted):
                self._stopped()
        finally:
            self.lock.release()
            if exc_type is not None and self._created_output_dir:
                with suppress(OSError):  # not empty: keep it
                    os.rmdir(self.output_dir)
        return False

    def _stopped(self):
        """A checkpoint, then the one-line :class:`RunInterrupted` saying how to resume."""
        self.checkpoint(force=True)
        how = f": {self.resume_command}" if self.resume_command else " with --resume and the same flags"
        reason = self.stop.signal or "SIGINT"
        exit_code = 128 + getattr(signal, reason, signal.SIGINT)
        what = ("the requested number of minibatches trained" if reason == StopRequest.BUDGET_SPENT
                else f"{reason} received")
        raise RunInterrupted(f"{what}; checkpoint written to {self.checkpointer.path}. Resume with{how}",
                             exit_code) from None
