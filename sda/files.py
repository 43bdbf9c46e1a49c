"""Writing files so that a crash, a kill or a full disk never leaves a half-written one."""

import contextlib
import errno
import os
import tempfile

from .errors import UsageError, UserError


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# files get the permissions any other program's would (mkstemp's are 0600)
_FILE_MODE = 0o666 & ~_umask()


def cannot_write(path, error):
    """The one-line :class:`UserError` for an ``OSError`` raised while writing ``path``."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"no space left on the disk while writing {path}: free some space; "
                         f"the previous copy of the file, if any, is intact")
    return UserError(f"cannot write {path} ({error.strerror or error}): check that its folder exists and is "
                     f"writable; the previous copy of the file, if any, is intact")


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success flush, fsync and rename
    it over ``path``.  On any failure the temporary file is removed and the old
    ``path``, if any, is left as it was; an ``OSError`` becomes one line naming ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
        os.fchmod(fd, _FILE_MODE)
    except OSError as error:
        raise cannot_write(path, error) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        _remove_quietly(tmp)
        raise cannot_write(path, error) from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def remove_stale_temporaries(path):
    """Remove the temporary files :func:`atomic_write` left beside ``path`` when a process writing it was killed
    (SIGKILL, power loss: no ``finally`` ran).  Only for a path no other process is writing."""
    directory, name = os.path.split(os.path.abspath(path))
    with contextlib.suppress(OSError):
        for entry in os.listdir(directory):
            if entry.startswith("." + name + ".") and entry.endswith(".tmp"):
                _remove_quietly(os.path.join(directory, entry))


def _remove_quietly(path):
    with contextlib.suppress(OSError):
        os.unlink(path)


def ensure_writable_dir(path, flag):
    """Creates ``path`` if needed and checks that files can be written there,
    before hours of training are spent."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UsageError(f"{flag} {path} cannot be written ({error.strerror}): choose another directory") from None
    return path


def write_json(path, data):
    """Writes ``data`` as indented JSON, atomically."""
    import json

    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=2, default=float)
        f.write("\n")
