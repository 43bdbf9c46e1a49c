"""Checkpoints: everything a run needs to continue bit for bit where it stopped.

A checkpoint is the ``state_dict()`` of every stateful part of a run (the
parameters, the noise generators, the loops' states, the clocks, the log),
gathered under their names.  It is written as one ``checkpoint.npz`` in the
run's output directory: the arrays as ``.npy`` members, everything else as one
JSON document -- no pickle, so loading a checkpoint cannot run code
(``numpy.load(..., allow_pickle=False)``).  It is written atomically
(temporary file, fsync, rename), so a kill at any instant leaves the previous
checkpoint whole.
"""

import hashlib
import json
import os
import zipfile

import numpy

from .errors import UsageError, UserError
from .files import atomic_write, remove_stale_temporaries

CHECKPOINT_NAME = "checkpoint.npz"
#: a run's state when its pretraining ended, in the checkpoint's format: ``--pretrained-from`` starts there
PRETRAINED_NAME = "pretrained.npz"
OLD_CHECKPOINT_NAME = "checkpoint.pkl"  # written by sda 1.0 (a pickle)
FORMAT_VERSION = 2
_STATE_MEMBER = "__state__"
_ARRAY_KEY = "__array__"


NOT_PRETRAINED = "give --pretrained-from the folder of a train_sda.py run whose pretraining ended"


def pretrained_snapshot(run):
    """The ``pretrained.npz`` of ``--pretrained-from RUN`` (a run's folder, or the file itself)."""
    path = run if os.path.isfile(run) else os.path.join(run, PRETRAINED_NAME)
    if not os.path.isfile(path):
        raise UsageError(f"--pretrained-from {run}: there is no {path}: give the --output-dir of a train_sda.py run "
                         f"whose pretraining ended (it keeps its layers there)")
    return path


def pretrained_config(path):
    """The configuration a ``pretrained.npz`` was pretrained with (its result keys and numbers' settings)."""
    state = read_checkpoint(path, NOT_PRETRAINED)
    config = state.get("config") if isinstance(state, dict) else None
    if not isinstance(config, dict):
        raise UserError(f"{path} is not a checkpoint of sda: {NOT_PRETRAINED}")
    return config


def differing_settings(saved, now, ignore=()):
    """The keys, sorted, whose values differ between a saved run's configuration and this run's (a key only one
    of them has differs too), but those in ``ignore``: what a resumed or pretrained-from run must refuse."""
    return sorted(key for key in set(saved) | set(now) if key not in ignore and saved.get(key) != now.get(key))


def data_fingerprint(arrays):
    """A short digest of the training data, so a resumed run refuses other data."""
    digest = hashlib.sha1()
    for array in arrays:
        array = numpy.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.data)
    return digest.hexdigest()[:16]


def _split_arrays(tree, arrays):
    """``tree`` with every NumPy array replaced by a reference into ``arrays``."""
    if isinstance(tree, numpy.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = tree
        return {_ARRAY_KEY: key}
    if isinstance(tree, dict):
        return {str(k): _split_arrays(v, arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_split_arrays(v, arrays) for v in tree]
    if isinstance(tree, numpy.generic):
        return tree.item()
    return tree


def _join_arrays(tree, arrays):
    if isinstance(tree, dict):
        if set(tree) == {_ARRAY_KEY}:
            return arrays[tree[_ARRAY_KEY]]
        return {k: _join_arrays(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join_arrays(v, arrays) for v in tree]
    return tree


def write_checkpoint(path, state):
    """Writes ``state`` (nested dicts and lists of JSON values and NumPy arrays) to ``path``."""
    arrays = {}
    document = json.dumps(_split_arrays(state, arrays))
    arrays[_STATE_MEMBER] = numpy.frombuffer(document.encode("utf-8"), dtype=numpy.uint8)
    with atomic_write(path, "wb") as f:
        numpy.savez(f, **arrays)


def read_checkpoint(path, advice="delete it to start over"):
    """The state written by :func:`write_checkpoint`; one-line :class:`UserError` if damaged."""
    try:
        with numpy.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        document = json.loads(arrays.pop(_STATE_MEMBER).tobytes().decode("utf-8"))
        return _join_arrays(document, arrays)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise UserError(f"{path} is not a readable checkpoint ({type(error).__name__}): {advice}") from None


class Checkpointer:
    """Saves and loads one run's checkpoint.

    :param output_dir: the run's directory
    :param kind: "sda" or "da": a checkpoint of one script is refused by the other
    :param config: the run's configuration as a dict of the keys that change
        the results (a resumed run must have the same)
    :param every: save after every ``every``-th epoch/validation (0: only at interrupts)
    :param defaults: the default of each configuration key: a checkpoint
        written before a key existed ran with its default
    """

    def __init__(self, output_dir, kind, config, every=1, defaults=None):
        self.path = os.path.join(output_dir, CHECKPOINT_NAME)
        self.old_path = os.path.join(output_dir, OLD_CHECKPOINT_NAME)
        self.kind = kind
        self.config = dict(config)
        self.defaults = dict(defaults or {})
        self.every = every
        self._calls = 0

    def exists(self):
        return os.path.exists(self.path)

    def refuse_to_overwrite(self):
        """A fresh run must not destroy an unfinished one's checkpoint."""
        for path in (self.path, self.old_path):
            if os.path.exists(path):
                raise UsageError(
                    f"{path} holds the checkpoint of an unfinished run: add --resume to continue it, "
                    f"or choose another output directory (or delete the file to start over)")

    def load(self, fingerprint, source=None, ignore=()):
        """The saved state of every part, after checking it belongs to this run.

        :param source: read this file (another run's ``pretrained.npz``, for ``--pretrained-from``) instead of
            this run's checkpoint
        :param ignore: configuration keys in which ``source`` may differ from this run (the finetuning's)
        """
        if source is not None:
            return self._check(read_checkpoint(source, NOT_PRETRAINED), source, fingerprint, ignore,
                               "--pretrained-from")
        if not self.exists():
            if os.path.exists(self.old_path):
                raise UsageError(f"--resume: {self.old_path} is a checkpoint of an older sda version (a pickle, "
                                 f"which this version never loads): finish that run with the version that "
                                 f"started it, or delete the file and start over")
            raise UsageError(f"--resume: there is no checkpoint {self.path} to resume from: "
                             f"run without --resume to start, or give the output directory of the run to resume")
        return self._check(read_checkpoint(self.path), self.path, fingerprint, (), "--resume")

    def _check(self, payload, path, fingerprint, ignore, flag):
        resuming = flag == "--resume"
        advice = "delete it to start over" if resuming else NOT_PRETRAINED
        try:
            kind, version, config = payload["kind"], payload["format_version"], payload["config"]
            saved_fingerprint, parts = payload["data_fingerprint"], payload["parts"]
        except (KeyError, TypeError):
            raise UserError(f"{path} is not a checkpoint of sda: {advice}") from None
        if kind != self.kind or version != FORMAT_VERSION:
            raise UsageError(f"{path} is a checkpoint of a {kind} run (format {version}), "
                             f"not of this {self.kind} run (format {FORMAT_VERSION}): "
                             f"{'use another output directory' if resuming else advice}")
        config = {**{k: v for k, v in self.defaults.items() if k not in config}, **config}
        differing = differing_settings(config, self.config, ignore)
        if differing:
            details = ", ".join(f"{k} ({'checkpoint' if resuming else 'pretrained'}: {config.get(k)!r}, "
                                f"now: {self.config.get(k)!r})" for k in differing)
            raise UsageError(f"{flag}: the configuration differs from {'the checkpoint' if resuming else path}'s "
                             f"in {details}: {'resume' if resuming else 'run'} with the flags and settings of "
                             f"{'the original run' if resuming else 'the pretrained run'} (THEANO_FLAGS, --engine, "
                             f"the kernels' arithmetic, the installed versions)"
                             + ("" if resuming else "; only the finetuning's may differ"))
        if saved_fingerprint != fingerprint:
            raise UsageError(f"{flag}: the training data differ from the data {path} was trained on: "
                             f"{'resume' if resuming else 'run'} with its --dataset and --n-train")
        if not isinstance(parts, dict):
            raise UserError(f"{path} is not a checkpoint of sda: {advice}")
        return parts

    def save(self, parts, fingerprint, force=False):
        """Writes the checkpoint every ``every`` calls, or now if ``force``."""
        self._calls += 1
        if not force and (self.every <= 0 or self._calls % self.every):
            return False
        self.save_as(self.path, parts, fingerprint)
        return True

    def save_as(self, path, parts, fingerprint):
        """Writes ``parts`` to ``path`` now, in the checkpoint's format (a snapshot kept beside the results)."""
        write_checkpoint(path, {"kind": self.kind, "format_version": FORMAT_VERSION, "config": self.config,
                                "data_fingerprint": fingerprint, "parts": parts})

    def remove(self):
        """The run finished: its results replace the checkpoint (and the partial checkpoints of a run killed
        while writing one)."""
        if self.exists():
            os.unlink(self.path)
        remove_stale_temporaries(self.path)
