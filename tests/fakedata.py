"""Small MNIST-like data written as real IDX files, for tests that must not need the real MNIST,
files that lie about their size, and the assertions every bad-data test shares."""

import contextlib
import gzip
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from sda.data import MNIST_FILES
from sda.errors import DataError

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILES


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path, array, compress=None):
    raw = idx_bytes(array)
    if compress is None:
        compress = path.name.endswith(".gz")
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    return path


def make_arrays(n_train=60, n_test=12, seed=0):
    """Random pixels and labels: right formats, nothing to learn."""
    rng = np.random.default_rng(seed)
    train_images = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    train_images[0, 0, :2] = (255, 0)  # 255 must map to exactly 1.0
    return {
        TRAIN_IMAGES: train_images,
        TRAIN_LABELS: rng.integers(0, 10, size=n_train, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }


def make_learnable_arrays(n_train=360, n_test=60, n_classes=10, seed=0):
    """Images that can be learned: each class is a fixed random stroke pattern,
    each image a noisy copy of its class's pattern."""
    rng = np.random.default_rng(seed)
    patterns = rng.random((n_classes, 28, 28)) < 0.25

    def draw(n):
        labels = rng.integers(0, n_classes, size=n)
        flips = rng.random((n, 28, 28)) < 0.05
        images = np.where(flips, ~patterns[labels], patterns[labels])
        return (images * 255).astype(np.uint8), labels.astype(np.uint8)

    train_images, train_labels = draw(n_train)
    test_images, test_labels = draw(n_test)
    return {TRAIN_IMAGES: train_images, TRAIN_LABELS: train_labels,
            TEST_IMAGES: test_images, TEST_LABELS: test_labels}


def write_mnist(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return folder


# ---------------------------------------------------------------- datasets beyond MNIST


def make_toy_images(n, shape=(12, 10), n_classes=3, seed=0, flip=0.05):
    """``n`` learnable grey images of ``shape`` (uint8 0/255) and their labels: each
    class a fixed random pattern, each image a noisy copy of its class's pattern."""
    rng = np.random.default_rng(seed)
    patterns = rng.random((n_classes, *shape)) < 0.3
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    flips = rng.random((n, *shape)) < flip
    images = np.where(flips, ~patterns[labels], patterns[labels])
    return (images * 255).astype(np.uint8), labels.astype(np.uint8)


def write_idx_dataset(folder, n_train=48, n_test=12, shape=(12, 10), n_classes=3, seed=0):
    """The four MNIST-named IDX files holding images of any ``shape``."""
    train_x, train_y = make_toy_images(n_train, shape, n_classes, seed)
    test_x, test_y = make_toy_images(n_test, shape, n_classes, seed + 1)
    return write_mnist(folder, {TRAIN_IMAGES: train_x, TRAIN_LABELS: train_y,
                                TEST_IMAGES: test_x, TEST_LABELS: test_y})


def write_image_folder(root, splits=("train",), n_per_class=4, shape=(12, 10), labels=("0", "1", "2"),
                       suffix=".png", seed=0):
    """``root/<split>/<label>/<i><suffix>`` grey images (``suffix`` may be a tuple, used in turn).
    Returns {split: [(label, path, pixels uint8)]}."""
    from PIL import Image

    suffixes = (suffix,) if isinstance(suffix, str) else tuple(suffix)
    rng = np.random.default_rng(seed)
    written = {}
    for split in splits:
        written[split] = []
        for k, label in enumerate(labels):
            folder = root / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n_per_class):
                pixels = (rng.random(shape) < 0.2 + 0.2 * k).astype(np.uint8) * 255
                path = folder / f"{i:03d}{suffixes[i % len(suffixes)]}"
                Image.fromarray(pixels).save(path)
                written[split].append((label, path, pixels))
    return root


def one_line_error(call, *fragments, kind=DataError):
    """Run ``call``; it must raise ``kind`` with a one-line message holding ``fragments``."""
    with pytest.raises(kind) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    for fragment in fragments:
        assert str(fragment) in message, message
    return message


# ---------------------------------------------------------------- special files, files that lie about their size


@contextlib.contextmanager
def fails_instead_of_hanging(seconds=20):
    """A test that would hang (reading a named pipe, say) fails after ``seconds`` instead."""
    def hung(signum, frame):
        raise AssertionError(f"still reading after {seconds} s: the special file was opened for reading")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def gzip_bomb(path, head, n_zeros):
    """A gzip file of ``head`` followed by ``n_zeros`` zero bytes (a multiple of 16 MiB), about
    1000 times smaller: members of 16 MiB of zeros, compressed once and repeated."""
    piece = 1 << 24
    member = gzip.compress(bytes(piece), mtime=0)
    with open(path, "wb") as out:
        out.write(gzip.compress(head, mtime=0))
        for _ in range(n_zeros // piece):
            out.write(member)
    return path


def png_claiming(path, width, height):
    """A valid grey PNG of ``width`` x ``height`` black pixels, written a row at a time: a small file
    that decodes to ``width * height`` bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    deflate, row, body = zlib.compressobj(9), bytes(width + 1), []  # each row: filter byte 0, then pixels
    for _ in range(height):
        body.append(deflate.compress(row))
    body.append(deflate.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(body))
                     + chunk(b"IEND", b""))
    return path


PEAK_SCRIPT = """
import resource, sys
sys.path.insert(0, {root!r})
{imports}
from sda.errors import DataError
try:
    {call}
    print("accepted")
except DataError as error:
    print("refused:", error)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # kB on Linux
"""


def peak_memory(imports, call):
    """Run ``call`` in a fresh interpreter; return (its first output line, its peak memory in bytes)."""
    root = str(Path(__file__).resolve().parent.parent)
    code = PEAK_SCRIPT.format(root=root, imports=imports, call=call)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    outcome, peak = result.stdout.strip().splitlines()
    return outcome, int(peak) * 1024
