"""The four official MNIST files: where they come from, and downloading them so that
only complete files with the right md5 sum are ever left behind."""

import contextlib
import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import DataError, UsageError
from .reading import reason

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"

#: The four official MNIST files and their md5 sums.
MNIST_FILES = {
    TRAIN_IMAGES: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    TRAIN_LABELS: "d53e105ee54ea40749a09fcbcd1e9432",
    TEST_IMAGES: "9fb629c4189551a2d022fa330f9573f3",
    TEST_LABELS: "ec29112dd5afa0611ce80d1b7f02629c",
}


def idx_names(name):
    """The names one of the four MNIST files may have in a folder: its official (gzipped) one and,
    for the file uncompressed, that name without ``.gz``."""
    return name, name.removesuffix(".gz")


#: The names of the four MNIST files, gzipped and uncompressed.
MNIST_NAMES = frozenset(n for name in MNIST_FILES for n in idx_names(name))


def idx_path(folder, name):
    """Where ``folder`` holds the MNIST file ``name`` (e.g. :data:`TRAIN_IMAGES`): under its
    official, gzipped name, else uncompressed without ``.gz``; None where it has neither."""
    for candidate in idx_names(name):
        if (Path(folder) / candidate).exists():
            return Path(folder) / candidate
    return None


#: Base URLs that serve the four files, tried in order (``SDA_MNIST_MIRRORS``
#: replaces them: base URLs separated by commas or white space).
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)


def mirror_list(mirrors=None):
    """Return the base URLs to download from, as a tuple.

    ``mirrors`` (a sequence of URLs, or one string of URLs separated by commas
    or white space), else the environment variable ``SDA_MNIST_MIRRORS``
    (same syntax), else :data:`DEFAULT_MIRRORS`.
    """
    source = "the mirrors argument"
    if mirrors is None:
        mirrors, source = os.environ.get("SDA_MNIST_MIRRORS", ""), "SDA_MNIST_MIRRORS"
        if not mirrors.strip():
            return DEFAULT_MIRRORS
    if isinstance(mirrors, str):
        mirrors = re.split(r"[\s,]+", mirrors.strip())
    mirrors = tuple(url for url in mirrors if url)
    if not mirrors:
        raise UsageError(f"{source} names no mirror: give base URLs such as {DEFAULT_MIRRORS[0]}")
    for url in mirrors:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https", "ftp", "file") or not (parts.netloc or parts.scheme == "file"):
            raise UsageError(
                f"{source}: {url!r} is not a URL: give base URLs (http://, https://, ftp:// or file://) "
                "separated by commas or spaces"
            )
    return mirrors


def _log_to_stderr(message):
    print(message, file=sys.stderr, flush=True)


def download_mnist(dest_dir, mirrors=None, files=None, timeout=30, log=None):
    """Download the MNIST files missing from ``dest_dir``; return the paths written.

    :param dest_dir: folder to put the files in (created if needed)
    :param mirrors: base URLs tried in order (see :func:`mirror_list`)
    :param files: dict file name -> md5 sum (default :data:`MNIST_FILES`)
    :param timeout: seconds a stalled connection is waited for
    :param log: function given one line per step (default: print to stderr)

    A file already present is left alone (also uncompressed, under its name
    without ``.gz``), even if its md5 sum is wrong: the
    readers check it and tell the user to delete it if it is damaged.  A file
    whose md5 sum is wrong is tried from the next mirror.  A file is written
    under its real name only once complete (temporary file, fsync, rename), so
    an interrupted download never leaves a partial file behind.
    """
    dest_dir = Path(dest_dir)
    files = MNIST_FILES if files is None else files
    mirrors = mirror_list(mirrors)
    log = _log_to_stderr if log is None else log
    _make_folder(dest_dir)
    written = []
    for name, md5 in files.items():
        target = dest_dir / name
        if idx_path(dest_dir, name) is not None:
            continue
        data = _fetch_verified(name, md5, mirrors, timeout, log, dest_dir, files)
        _write_atomically(target, data)
        log(f"saved {target}")
        written.append(target)
    return written


def _make_folder(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"cannot create the data folder {folder} ({reason(error)}): create it or choose another"
        ) from error


def _fetch_verified(name, md5, mirrors, timeout, log, dest_dir, files):
    """Return the bytes of ``name`` from the first mirror that serves it with the right md5."""
    last = "no mirror"
    for i, base in enumerate(mirrors):
        url = base if base.endswith("/") else base + "/"
        url += name
        then = "trying the next mirror" if i + 1 < len(mirrors) else "no mirror left"
        log(f"downloading {url}")
        try:
            data = _fetch(url, timeout)
        except (OSError, http.client.HTTPException, ValueError) as error:
            last = f"{url}: {reason(error)}"
            log(f"could not download {url} ({reason(error)}); {then}")
            continue
        got = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if got == md5:
            return data
        last = f"{url}: md5 {got}, expected {md5}"
        log(f"{url} has md5 {got}, expected {md5} (damaged or a different file); {then}")
    raise DataError(
        f"could not download {name}: every mirror failed (last: {last}); "
        f"put the official files ({', '.join(files)}) into {dest_dir} by hand, "
        "or set SDA_MNIST_MIRRORS to base URLs that serve them"
    )


def _fetch(url, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": "sda-pytensor (urllib)"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def _write_atomically(target, data):
    """Write ``data`` to ``target`` so that ``target`` is either absent or complete."""
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private (0600)
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise DataError(
                f"cannot write {target} ({reason(error)}): check that {target.parent} is writable and has free space"
            ) from error
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder):
    """Make the rename durable (best effort; not possible on every system)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
