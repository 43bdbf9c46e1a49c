"""Reading a data file's bytes, and saying in one line why that failed."""

import urllib.error
from pathlib import Path

from ..errors import DataError

GZIP_MAGIC = b"\x1f\x8b"


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


def read_bytes(path):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as error:
        raise DataError(f"{path} does not exist: put the file there or give another path") from error
    except OSError as error:
        raise DataError(f"cannot read {path} ({reason(error)}): check the path and its permissions") from error
