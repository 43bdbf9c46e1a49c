"""Writing files so that a crash, a kill or a full disk never leaves a half-written one."""

import contextlib
import errno
import os
import tempfile

from .errors import UsageError, UserError


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success flush, fsync and rename
    it over ``path``.  On any failure the temporary file is removed and the old
    ``path``, if any, is left as it was."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        _remove_quietly(tmp)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UserError(f"no space left on the disk while writing {path}: free some space; "
                            f"the previous copy of the file, if any, is intact") from None
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise


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
