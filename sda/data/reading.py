"""Reading a data file's bytes without trusting it: regular files only, gzip
inflated a piece at a time and never past a limit, and one line saying why a
file cannot be read."""

import io
import os
import stat
import urllib.error
import zlib

from ..errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

#: DEFLATE's largest possible ratio of output to input (258 bytes from 2 bits):
#: a gzip file of n bytes never inflates to more than this times n.
DEFLATE_MAX_RATIO = 1032

_CHUNK = 1 << 16  # compressed bytes read at a time
_PIECE = 1 << 20  # most bytes inflated at a time: a large read costs no second copy of its size

_FILE_KINDS = (
    (stat.S_ISDIR, "folder"),
    (stat.S_ISFIFO, "named pipe (FIFO)"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def reason(error):
    """A short, one-line reason for an exception."""
    if isinstance(error, urllib.error.HTTPError):
        text = f"HTTP {error.code} {error.reason}"
    elif isinstance(error, urllib.error.URLError):
        text = str(error.reason)
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."


def memory_size():
    """This machine's physical memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _kind(mode):
    return next((name for test, name in _FILE_KINDS if test(mode)), "special file")


def _refuse_unless_regular(path, mode):
    if not stat.S_ISREG(mode):
        raise DataError(f"{path} is a {_kind(mode)}, not a regular file: give a file "
                        "(reading from anything else could block forever or never end)")


def open_regular(path):
    """Open ``path`` for binary reading, but only if it is a regular file.

    A named pipe would block the program until someone writes to it, and a
    device such as /dev/zero never ends: both are refused before they are
    opened for reading.  The file is opened without blocking and checked again,
    in case it was replaced in between.
    """
    try:
        _refuse_unless_regular(path, os.stat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as error:
        raise DataError(f"{path} does not exist: put the file there or give another path") from error
    except OSError as error:
        raise DataError(f"cannot read {path} ({reason(error)}): check the path and its permissions") from error
    try:
        _refuse_unless_regular(path, os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


class Inflater(io.RawIOBase):
    """The bytes of an open file, gunzipped on the fly when it is gzip (told by
    its first bytes, not its name), a piece at a time.

    Nothing is inflated beyond what is read: a reader that knows how much data
    to expect (an IDX header declares it) stops there, and at most
    ``max_ratio`` times the file's size comes out in all, so a small file that
    inflates to gigabytes (a "decompression bomb") costs no memory.  A damaged
    gzip stream raises :class:`DataError` ending with ``hint``.

    ``compressed``: whether the file is gzip; ``stored_size``: its size on
    disk; ``max_output``: the most bytes it may give; ``finished`` (once read
    to the end): whether the gzip stream ended properly (its checksum and
    length then match).  Concatenated gzip members are read as one stream, as
    :mod:`gzip` does.
    """

    def __init__(self, stream, path, hint, max_ratio=DEFLATE_MAX_RATIO):
        super().__init__()
        self._stream = stream
        self.path = path
        self.hint = hint
        self.stored_size = os.fstat(stream.fileno()).st_size
        self.compressed = stream.read(2) == GZIP_MAGIC
        stream.seek(0)
        self.max_ratio = max_ratio
        self.max_output = self.stored_size * max_ratio if self.compressed else self.stored_size
        self.produced = 0
        self._inflate = zlib.decompressobj(wbits=31) if self.compressed else None
        self._input = b""

    def readable(self):
        return True

    @property
    def finished(self):
        return not self.compressed or (self._inflate.eof and not self._more_members())

    def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        if not len(view):  # zlib reads a limit of 0 as no limit
            return 0
        if not self.compressed:
            count = self._stream.readinto(view)
        else:
            count = self._inflate_into(view)
        self.produced += count
        return count

    def read_exactly(self, n):
        """``n`` bytes, or fewer where the data ends."""
        buffer = bytearray(n)
        return bytes(buffer[:self.fill(buffer)])

    def fill(self, buffer):
        """Fill ``buffer`` as far as the data goes; return how many bytes it got."""
        view, got = memoryview(buffer).cast("B"), 0
        while got < len(view):
            count = self.readinto(view[got:])
            if not count:
                break
            got += count
        return got

    def _inflate_into(self, view):
        room = min(len(view), self.max_output + 1 - self.produced, _PIECE)
        while True:
            if self._inflate.eof:
                if not self._more_members():
                    return 0
                self._inflate = zlib.decompressobj(wbits=31)
            if not self._input:
                self._input = self._stream.read(_CHUNK)
                if not self._input:
                    return 0
            try:
                out = self._inflate.decompress(self._input, room)
            except zlib.error as error:
                raise DataError(f"{self.path} is a damaged gzip file ({reason(error)}): {self.hint}") from error
            self._input = self._inflate.unconsumed_tail or self._inflate.unused_data
            if out:
                if self.produced + len(out) > self.max_output:
                    raise DataError(
                        f"{self.path} inflates to more than {self.max_ratio} times its {self.stored_size} bytes: "
                        f"it is damaged or not what it claims to be (a decompression bomb?): {self.hint}")
                view[:len(out)] = out
                return len(out)

    def _more_members(self):
        """After a gzip member: whether another follows (zero bytes of padding are skipped)."""
        while True:
            self._input = self._input.lstrip(b"\0")
            if self._input:
                return True
            self._input = self._stream.read(_CHUNK)
            if not self._input:
                return False
