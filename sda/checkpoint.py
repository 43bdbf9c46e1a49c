"""Checkpoints: everything a run needs to continue bit for bit where it stopped.

A checkpoint is one pickle file, ``checkpoint.pkl`` in the run's output
directory, written atomically (temporary file, fsync, rename), so a kill at any
instant leaves the previous checkpoint whole.  It holds plain data only:
parameter arrays, generator states, the loops' state objects as dicts, the
configuration and the log so far.
"""

import hashlib
import os
import pickle
import signal
from contextlib import contextmanager

import numpy

from .errors import UsageError, UserError
from .files import atomic_write
from .training import StopRequest

CHECKPOINT_NAME = "checkpoint.pkl"
FORMAT_VERSION = 1


def data_fingerprint(arrays):
    """A short digest of the training data, so a resumed run refuses other data."""
    digest = hashlib.sha1()
    for array in arrays:
        array = numpy.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.data)
    return digest.hexdigest()[:16]


class Checkpointer:
    """Saves and loads one run's checkpoint.

    :param output_dir: the run's directory
    :param kind: "sda" or "da": a checkpoint of one script is refused by the other
    :param config: the run's configuration as a dict of the keys that change
        the results (a resumed run must have the same)
    :param every: save after every ``every``-th epoch/validation (0: only at
        interrupts)
    :param resume_command: what to tell the user to type to resume
    :param defaults: the default of each configuration key: a checkpoint
        written before a key existed ran with its default
    """

    def __init__(self, output_dir, kind, config, every=1, resume_command=None, defaults=None):
        self.path = os.path.join(output_dir, CHECKPOINT_NAME)
        self.kind = kind
        self.config = dict(config)
        self.defaults = dict(defaults or {})
        self.every = every
        self.resume_command = resume_command
        self._calls = 0

    def exists(self):
        return os.path.exists(self.path)

    def refuse_to_overwrite(self):
        """A fresh run must not destroy an unfinished one's checkpoint."""
        if self.exists():
            raise UsageError(
                f"{self.path} holds the checkpoint of an unfinished run: add --resume to continue it, "
                f"or choose another output directory (or delete the file to start over)")

    def load(self, fingerprint):
        """The saved payload, after checking it belongs to this run."""
        if not self.exists():
            raise UsageError(f"--resume: there is no checkpoint {self.path} to resume from: "
                             f"run without --resume to start, or give the output directory of the run to resume")
        try:
            with open(self.path, "rb") as f:
                payload = pickle.load(f)
            kind, version, config = payload["kind"], payload["format_version"], payload["config"]
        except Exception as error:  # any damage: truncation, another file's bytes
            raise UserError(f"{self.path} is not a readable checkpoint ({type(error).__name__}): "
                            f"delete it to start over") from None
        if kind != self.kind or version != FORMAT_VERSION:
            raise UsageError(f"{self.path} is a checkpoint of a {kind} run (format {version}), "
                             f"not of this {self.kind} run: use another output directory")
        config = {**{k: v for k, v in self.defaults.items() if k not in config}, **config}
        differing = sorted(k for k in set(config) | set(self.config) if config.get(k) != self.config.get(k))
        if differing:
            details = ", ".join(f"{k} (checkpoint: {config.get(k)!r}, now: {self.config.get(k)!r})"
                                for k in differing)
            raise UsageError(f"--resume: the configuration differs from the checkpoint's in {details}: "
                             f"resume with the original flags")
        if payload["data_fingerprint"] != fingerprint:
            raise UsageError("--resume: the training data differ from the data the checkpoint was trained on: "
                             "resume with the original --dataset and --n-train")
        return payload

    def save(self, payload, fingerprint, force=False):
        """Writes the checkpoint every ``every`` calls, or now if ``force``."""
        self._calls += 1
        if not force and (self.every <= 0 or self._calls % self.every):
            return False
        payload = {"kind": self.kind, "format_version": FORMAT_VERSION, "config": self.config,
                   "data_fingerprint": fingerprint, **payload}
        with atomic_write(self.path, "wb") as f:
            pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        return True

    def remove(self):
        """The run finished: its results replace the checkpoint."""
        if self.exists():
            os.unlink(self.path)


@contextmanager
def stop_on_signals():
    """Within the block, SIGINT and SIGTERM set the yielded :class:`StopRequest`
    (the loops then stop after the minibatch in progress) instead of killing
    the process; a second SIGINT interrupts at once."""
    stop = StopRequest()
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
