"""One run per output folder: a lock held for the whole run.

The lock is an ``flock`` on a file in the folder, so the operating system
releases it when the process ends, however it ends (``kill -9`` leaves no stale
lock).  The file holds the owner's process id, to name it in the refusal.
"""

import fcntl
import os

from .errors import UsageError

LOCK_NAME = ".sda-run.lock"


class FolderLock:
    """Holds the lock of ``folder`` between :meth:`acquire` and :meth:`release`.

    :param flag: the command-line flag that named the folder, for messages
    """

    def __init__(self, folder, flag="--output-dir"):
        self.folder, self.flag = folder, flag
        self.path = os.path.join(folder, LOCK_NAME)
        self.fd = None

    def acquire(self):
        """Takes the lock at once, or refuses in one line naming the process that holds it."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _owner(fd)
                os.close(fd)
                raise UsageError(f"{self.folder} is in use by another run (process {owner}): wait for it to "
                                 f"finish, or give another {self.flag}") from None
            # the holder before us may have removed the file between our open and our lock: lock the file
            # that is there now, or two runs would each hold a lock on a different file
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False


def holder(folder):
    """The process id (text) of the run holding ``folder``'s lock, else None.  Creates nothing; holds a shared
    lock for an instant when a lock file is there (a run starting at that instant is refused, as if busy)."""
    try:
        fd = os.open(os.path.join(folder, LOCK_NAME), os.O_RDONLY)
    except OSError:  # no lock file: no run (a run removes its lock file when it ends)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _owner(fd)
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _owner(fd):
    return os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
