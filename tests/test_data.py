"""Tests for sda.data: IDX and pickle reading, the tutorial's split, downloads, bad files."""

import functools
import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from sda import data
from sda.data import (
    DEFAULT_DATA_DIR,
    DEFAULT_MIRRORS,
    MNIST_FILES,
    download,
    download_mnist,
    load_mnist_arrays,
    mirror_list,
    read_idx,
    resolve_dataset,
)
from sda.data import idx
from sda.data.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC
from sda.errors import UsageError

from fakedata import (TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, fails_instead_of_hanging, gzip_bomb,
                      idx_bytes, make_arrays, one_line_error, peak_memory, write_idx, write_mnist)


def md5_table(folder):
    return {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in MNIST_FILES}


one_line_data_error = one_line_error


@pytest.fixture
def arrays():
    return make_arrays()


@pytest.fixture
def mnist_dir(tmp_path, arrays):
    return write_mnist(tmp_path / "mnist", arrays)


@pytest.fixture(autouse=True)
def no_proxy_for_localhost(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("SDA_MNIST_MIRRORS", raising=False)


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x-idx3-ubyte.gz", "x-idx3-ubyte", "raw-but-named.bin"])
def test_read_idx_round_trip(tmp_path, arrays, name):
    images = arrays[TRAIN_IMAGES]
    path = write_idx(tmp_path / name, images)
    got = read_idx(path, magic=IDX_IMAGES_MAGIC)
    assert got.dtype == np.uint8 and got.shape == images.shape
    np.testing.assert_array_equal(got, images)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path, arrays):
    path = write_idx(tmp_path / "labels-no-suffix", arrays[TRAIN_LABELS], compress=True)
    np.testing.assert_array_equal(read_idx(path, magic=IDX_LABELS_MAGIC), arrays[TRAIN_LABELS])


# --------------------------------------------------------------------------
# The tutorial's split from the IDX folder
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_idx_folder_split_and_scaling(mnist_dir, arrays, dtype):
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = load_mnist_arrays(
        mnist_dir, dtype=dtype, download=False
    )
    pixels = arrays[TRAIN_IMAGES].reshape(60, 784)
    expected = (pixels / 255.0).astype(dtype)
    assert train_x.shape == (50, 784) and valid_x.shape == (10, 784) and test_x.shape == (12, 784)
    for x in (train_x, valid_x, test_x):
        assert x.dtype == np.dtype(dtype)
    for y in (train_y, valid_y, test_y):
        assert y.dtype == np.int32
    np.testing.assert_array_equal(train_x, expected[:50])
    np.testing.assert_array_equal(valid_x, expected[50:])
    np.testing.assert_array_equal(test_x, (arrays[TEST_IMAGES].reshape(12, 784) / 255.0).astype(dtype))
    assert train_x[0, 0] == 1.0 and train_x[0, 1] == 0.0
    np.testing.assert_array_equal(train_y, arrays[TRAIN_LABELS][:50])
    np.testing.assert_array_equal(valid_y, arrays[TRAIN_LABELS][50:])
    np.testing.assert_array_equal(test_y, arrays[TEST_LABELS])


def test_n_train_keeps_the_first_examples(mnist_dir):
    full = load_mnist_arrays(mnist_dir, download=False)
    (train_x, train_y), valid, test = load_mnist_arrays(mnist_dir, n_train=7, download=False)
    np.testing.assert_array_equal(train_x, full[0][0][:7])
    np.testing.assert_array_equal(train_y, full[0][1][:7])
    np.testing.assert_array_equal(valid[0], full[1][0])
    np.testing.assert_array_equal(test[1], full[2][1])


@pytest.mark.parametrize("n_train", [0, -1, 51, 2.5, True, "3"])
def test_bad_n_train_is_a_usage_error(mnist_dir, n_train):
    with pytest.raises(UsageError) as info:
        load_mnist_arrays(mnist_dir, n_train=n_train, download=False)
    assert "n_train" in str(info.value) and "\n" not in str(info.value)


def test_bad_dtype_is_a_usage_error(mnist_dir):
    with pytest.raises(UsageError):
        load_mnist_arrays(mnist_dir, dtype="int32", download=False)


@pytest.mark.parametrize("uncompressed", [
    set(MNIST_FILES),  # all four gunzipped
    {TRAIN_IMAGES, TEST_LABELS},  # mixed: two gzipped, two not
])
def test_idx_folder_of_uncompressed_files(tmp_path, arrays, uncompressed, no_download):
    expected = load_mnist_arrays(write_mnist(tmp_path / "gz", arrays), download=False)
    folder = write_mnist(tmp_path / "raw", arrays)
    for name in uncompressed:
        (folder / name).rename(folder / name.removesuffix(".gz"))
        write_idx(folder / name.removesuffix(".gz"), arrays[name])  # really uncompressed
        assert not (folder / name.removesuffix(".gz")).read_bytes().startswith(b"\x1f\x8b")
    for allowed in (False, True):  # found, so nothing is downloaded either way
        got = load_mnist_arrays(folder, download=allowed)
        for (x, y), (x0, y0) in zip(got, expected):
            np.testing.assert_array_equal(x, x0)
            np.testing.assert_array_equal(y, y0)
    assert len(os.listdir(folder)) == 4
    name = sorted(uncompressed)[0].removesuffix(".gz")
    one_line_data_error(lambda: load_mnist_arrays(folder / name), "one of the four MNIST files", folder)


def test_uncompressed_idx_under_a_gz_name_is_read(mnist_dir, arrays):
    write_idx(mnist_dir / TRAIN_LABELS, arrays[TRAIN_LABELS], compress=False)
    np.testing.assert_array_equal(load_mnist_arrays(mnist_dir, download=False)[0][1], arrays[TRAIN_LABELS][:50])


def test_uncompressed_files_without_download_say_what_is_missing(tmp_path, arrays):
    folder = write_mnist(tmp_path / "raw", arrays)
    for name in MNIST_FILES:
        (folder / name).rename(folder / name.removesuffix(".gz"))
    (folder / TEST_IMAGES.removesuffix(".gz")).unlink()
    one_line_data_error(lambda: load_mnist_arrays(folder, download=False), f"lacks {TEST_IMAGES}", "without .gz")


def test_only_the_file_missing_in_both_forms_is_downloaded(server, tmp_path, arrays, monkeypatch):
    root, base = server
    monkeypatch.setattr(download, "MNIST_FILES", md5_table(write_mnist(root / "m1", arrays)))
    monkeypatch.setenv("SDA_MNIST_MIRRORS", f"{base}m1/")
    folder = write_mnist(tmp_path / "raw", arrays)
    for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_LABELS):
        (folder / name).rename(folder / name.removesuffix(".gz"))
    (folder / TEST_IMAGES).unlink()
    load_mnist_arrays(folder)
    assert sorted(os.listdir(folder)) == sorted([TEST_IMAGES] + [n.removesuffix(".gz") for n in
                                                                 (TRAIN_IMAGES, TRAIN_LABELS, TEST_LABELS)])


@pytest.mark.parametrize("content", [b"<!DOCTYPE html><html><body>Not Found</body></html>", b""])
def test_html_page_saved_under_the_uncompressed_name(tmp_path, arrays, content):
    folder = write_mnist(tmp_path / "raw", arrays)
    (folder / TEST_LABELS).unlink()
    path = folder / TEST_LABELS.removesuffix(".gz")
    path.write_bytes(content)
    one_line_data_error(lambda: load_mnist_arrays(folder, download=False), path, "not an IDX file", "delete it")


# --------------------------------------------------------------------------
# The tutorial's mnist.pkl.gz
# --------------------------------------------------------------------------


def pickled_splits(seed=1, sizes=(30, 8, 9)):
    rng = np.random.default_rng(seed)
    return tuple(
        ((rng.integers(0, 256, size=(n, 784)) / 256.0).astype(np.float32), rng.integers(0, 10, size=n))
        for n in sizes
    )


def write_pickle(path, obj):
    payload = pickle.dumps(obj, protocol=2)
    path.write_bytes(gzip.compress(payload, mtime=0) if path.name.endswith(".gz") else payload)
    return path


@pytest.mark.parametrize("name", ["mnist.pkl.gz", "mnist.pkl"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pickle_is_used_as_stored(tmp_path, name, dtype):
    splits = pickled_splits()
    path = write_pickle(tmp_path / name, splits)
    loaded = load_mnist_arrays(path, dtype=dtype)
    for (x, y), (x0, y0) in zip(loaded, splits):
        assert x.dtype == np.dtype(dtype) and y.dtype == np.int32
        np.testing.assert_array_equal(x, x0.astype(dtype))
        np.testing.assert_array_equal(y, y0)
    (train_x, _), _, _ = load_mnist_arrays(path, n_train=5)
    assert train_x.shape == (5, 784)


class Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 wrote its str (BINSTRING), as in the tutorial's mnist.pkl.gz."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def test_pickle_written_as_python2_and_numpy1_did(tmp_path):
    stream = io.BytesIO()
    Python2Pickler(stream, protocol=2).dump(pickled_splits())
    # NumPy 1 kept _reconstruct in numpy.core.multiarray
    payload = stream.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"cnumpy.core.multiarray\n_reconstruct" in payload and pickle.SHORT_BINSTRING in payload
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(payload, mtime=0))
    for (x, y), (x0, y0) in zip(load_mnist_arrays(path), pickled_splits()):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)


def test_pickle_of_the_newest_protocol(tmp_path):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(pickled_splits(), protocol=pickle.HIGHEST_PROTOCOL)))
    np.testing.assert_array_equal(load_mnist_arrays(path)[2][0], pickled_splits()[2][0])


class RunsCode:
    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


@pytest.mark.parametrize("name", ["mnist.pkl.gz", "mnist.pkl"])
def test_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path, name):
    marker = tmp_path / "ran"
    (train_x, train_y), valid, test = pickled_splits()
    path = write_pickle(tmp_path / name, ((train_x, RunsCode(os.system, f"touch {marker}")), valid, test))
    message = one_line_data_error(lambda: load_mnist_arrays(path), path, "posix.system", "refused")
    assert not marker.exists(), message


def test_pickle_that_would_open_a_file_is_refused(tmp_path):
    path = write_pickle(tmp_path / "mnist.pkl.gz", RunsCode(open, str(tmp_path / "created"), "w"))
    one_line_data_error(lambda: load_mnist_arrays(path), path, "io.open")
    assert not (tmp_path / "created").exists()


# --------------------------------------------------------------------------
# load_data: PyTensor shared variables
# --------------------------------------------------------------------------


def test_load_data_returns_named_shared_variables(mnist_dir):
    from sda.backend import floatX

    datasets = data.load_data(str(mnist_dir), n_train=20, download=False)
    arrays = load_mnist_arrays(mnist_dir, n_train=20, dtype=floatX, download=False)
    assert len(datasets) == 3
    for split, (shared_x, shared_y), (x, y) in zip(("train", "valid", "test"), datasets, arrays):
        assert shared_x.name == f"{split}_set_x" and shared_y.name == f"{split}_set_y"
        value_x, value_y = shared_x.get_value(), shared_y.get_value()
        assert value_x.dtype == np.dtype(floatX) and value_y.dtype == np.int32
        assert shared_y.type.dtype == "int32"
        np.testing.assert_array_equal(value_x, x)
        np.testing.assert_array_equal(value_y, y)
    assert datasets[0][0].get_value().shape == (20, 784)


# --------------------------------------------------------------------------
# Where the data is
# --------------------------------------------------------------------------


def test_resolve_dataset_order(tmp_path, monkeypatch):
    monkeypatch.delenv("SDA_DATA", raising=False)
    assert resolve_dataset() == DEFAULT_DATA_DIR
    assert DEFAULT_DATA_DIR == Path(data.__file__).resolve().parents[2] / "data"
    monkeypatch.setenv("SDA_DATA", str(tmp_path / "from-env"))
    assert resolve_dataset() == tmp_path / "from-env"
    assert resolve_dataset(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_dataset(str(tmp_path / "explicit")) == tmp_path / "explicit"
    monkeypatch.setenv("SDA_DATA", "  ")
    assert resolve_dataset() == DEFAULT_DATA_DIR


def test_mirror_list(monkeypatch):
    assert mirror_list() == DEFAULT_MIRRORS
    monkeypatch.setenv("SDA_MNIST_MIRRORS", " http://a.example/m/, https://b.example/x\n file:///srv/mnist ")
    assert mirror_list() == ("http://a.example/m/", "https://b.example/x", "file:///srv/mnist")
    assert mirror_list("http://c.example/ http://d.example/") == ("http://c.example/", "http://d.example/")
    assert mirror_list(["http://e.example/"]) == ("http://e.example/",)
    monkeypatch.setenv("SDA_MNIST_MIRRORS", "")
    assert mirror_list() == DEFAULT_MIRRORS
    monkeypatch.setenv("SDA_MNIST_MIRRORS", "not-a-url")
    with pytest.raises(UsageError, match="SDA_MNIST_MIRRORS"):
        mirror_list()


# --------------------------------------------------------------------------
# Downloads from a local HTTP server
# --------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (root folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"


def test_download_fetches_the_files(server, tmp_path, arrays):
    root, base = server
    files = md5_table(write_mnist(root / "m1", arrays))
    lines = []
    dest = tmp_path / "new" / "dest"
    written = download_mnist(dest, mirrors=[base + "m1"], files=files, timeout=5, log=lines.append)
    assert sorted(written) == sorted(dest / name for name in MNIST_FILES)
    for name in MNIST_FILES:
        assert (dest / name).read_bytes() == (root / "m1" / name).read_bytes()
    assert sorted(os.listdir(dest)) == sorted(MNIST_FILES)
    assert lines and all("\n" not in line for line in lines)
    # present files are not downloaded again
    assert download_mnist(dest, mirrors=[base + "m1"], files=files, timeout=5, log=lines.append) == []


def test_md5_mismatch_falls_back_to_the_next_mirror(server, tmp_path, arrays):
    root, base = server
    files = md5_table(write_mnist(root / "m2", arrays))
    write_mnist(root / "m1", arrays)
    (root / "m1" / TRAIN_LABELS).write_bytes(b"<html>not found</html>")
    lines = []
    download_mnist(tmp_path / "dest", mirrors=[base + "m1/", base + "m2/"], files=files, timeout=5, log=lines.append)
    assert (tmp_path / "dest" / TRAIN_LABELS).read_bytes() == (root / "m2" / TRAIN_LABELS).read_bytes()
    assert any("md5" in line and TRAIN_LABELS in line for line in lines)


def test_every_mirror_failing_is_one_data_error_and_leaves_no_file(server, tmp_path, arrays):
    root, base = server
    files = md5_table(write_mnist(root / "m1", arrays))
    (root / "m1" / TEST_IMAGES).write_bytes(b"damaged")
    dest = tmp_path / "dest"
    message = one_line_data_error(
        lambda: download_mnist(
            dest, mirrors=[closed_port_url(), base + "nothing-here/", base + "m1/"], files=files, timeout=5,
            log=lambda line: None,
        ),
        TEST_IMAGES, "every mirror failed", str(dest), TRAIN_IMAGES, "md5",
    )
    assert "HTTP 404" not in message  # the last reason only
    assert TEST_IMAGES not in os.listdir(dest)
    assert not [name for name in os.listdir(dest) if name.startswith(".")]


def test_write_failure_leaves_no_partial_file(server, tmp_path, arrays, monkeypatch):
    root, base = server
    files = md5_table(write_mnist(root / "m1", arrays))

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(download.os, "fsync", failing_fsync)
    dest = tmp_path / "dest"
    one_line_data_error(
        lambda: download_mnist(dest, mirrors=[base + "m1"], files=files, timeout=5, log=lambda line: None),
        "No space left on device", str(dest),
    )
    assert os.listdir(dest) == []


@pytest.mark.parametrize("given", ["argument", "SDA_DATA"])
def test_loading_a_missing_folder_downloads_into_it(server, tmp_path, arrays, monkeypatch, capsys, given):
    root, base = server
    files = md5_table(write_mnist(root / "m1", arrays))
    monkeypatch.setattr(download, "MNIST_FILES", files)
    monkeypatch.setenv("SDA_MNIST_MIRRORS", f"{closed_port_url()},{base}m1/")
    dest = tmp_path / "not-yet"  # a name without an extension, in an existing folder
    if given == "SDA_DATA":
        monkeypatch.setenv("SDA_DATA", str(dest))
    (train_x, _), _, (test_x, _) = load_mnist_arrays(dest if given == "argument" else None)
    assert train_x.shape == (50, 784) and test_x.shape == (12, 784)
    assert "downloading" in capsys.readouterr().err
    # a folder lacking only some files gets only those
    (dest / TEST_LABELS).unlink()
    load_mnist_arrays(dest)
    assert sorted(os.listdir(dest)) == sorted(MNIST_FILES)


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test, instead of downloading, if anything tries to download."""
    def never(*args, **kwargs):
        raise AssertionError(f"download_mnist{args} was called")

    monkeypatch.setattr(idx, "download_mnist", never)
    monkeypatch.setattr(download, "_fetch", never)


def mistyped_paths(tmp_path):
    """name -> (a path that does not exist, the folder it must not create) for mistyped --dataset paths."""
    images = tmp_path / "toy_images"
    (images / "train" / "line").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("hello")
    return {
        "suffix typo": tmp_path / "toy.npzz",
        "missing pickle": tmp_path / "mnist.pkl.gz",
        "missing npz": tmp_path / "mnist.npz",
        "missing image in an image dataset": images / "train" / "line" / "001.png",
        "folder with a dot": tmp_path / "mnist.v2",
        "mistyped parent": tmp_path / "dta" / "mnist",
        "parent is a file": tmp_path / "notes.txt" / "mnist",
    }


@pytest.mark.parametrize("case", ["suffix typo", "missing pickle", "missing npz", "missing image in an image dataset",
                                  "folder with a dot", "mistyped parent", "parent is a file"])
@pytest.mark.parametrize("download_allowed", [True, False])
def test_a_mistyped_path_is_refused_and_nothing_created(tmp_path, case, download_allowed, no_download):
    path = mistyped_paths(tmp_path)[case]
    before = sorted(tmp_path.rglob("*"))
    message = one_line_data_error(lambda: load_mnist_arrays(path, download=download_allowed), path, "does not exist",
                                  "check the path")
    assert sorted(tmp_path.rglob("*")) == before, message  # no folder created, nothing downloaded
    if case == "mistyped parent":
        assert f"nor does {path.parent}" in message and f"create {path.parent}" in message


def test_a_mistyped_path_through_train_sda_is_one_line(tmp_path, capsys, no_download):
    from conftest import call_main

    code, err = call_main("train_sda", ["--dataset", tmp_path / "toy.npzz", "--output-dir", tmp_path / "out",
                                        "--no-progress"], capsys)
    assert code == 1 and err == f"error: {tmp_path / 'toy.npzz'} does not exist: check the path (MNIST is downloaded " \
                                "only into a folder whose name has no extension, such as data/mnist)\n", err
    assert not (tmp_path / "toy.npzz").exists()


def test_an_existing_folder_with_a_dot_gets_the_download(server, tmp_path, arrays, monkeypatch):
    root, base = server
    monkeypatch.setattr(download, "MNIST_FILES", md5_table(write_mnist(root / "m1", arrays)))
    monkeypatch.setenv("SDA_MNIST_MIRRORS", f"{base}m1/")
    dest = tmp_path / "mnist.v2"
    dest.mkdir()  # created by the user: a folder, whatever its name
    assert len(load_mnist_arrays(dest)[0][0]) == 50


# --------------------------------------------------------------------------
# Bad inputs: each one a one-line DataError
# --------------------------------------------------------------------------


def test_truncated_gzip(mnist_dir):
    path = mnist_dir / TRAIN_IMAGES
    path.write_bytes(path.read_bytes()[:-100])
    one_line_data_error(lambda: load_mnist_arrays(mnist_dir, download=False), path, "truncated", "delete it")


def test_corrupt_gzip(mnist_dir):
    path = mnist_dir / TEST_IMAGES
    blob = bytearray(path.read_bytes())
    blob[30:60] = b"\xff" * 30
    path.write_bytes(bytes(blob))
    one_line_data_error(lambda: load_mnist_arrays(mnist_dir, download=False), path, "gzip")


@pytest.mark.parametrize("content", [b"<!DOCTYPE html><html><body>Not Found</body></html>", b""])
def test_html_page_saved_as_gz(mnist_dir, content):
    path = mnist_dir / TRAIN_LABELS
    path.write_bytes(content)
    one_line_data_error(lambda: load_mnist_arrays(mnist_dir, download=False), path, "delete it",
                        "not a gzip file" if content else "is empty")


def test_wrong_magic(mnist_dir, arrays):
    path = write_idx(mnist_dir / TEST_IMAGES, arrays[TEST_LABELS])  # a labels file under the images name
    one_line_data_error(lambda: load_mnist_arrays(mnist_dir, download=False), path, "2049", "2051")


def test_not_idx_at_all(tmp_path):
    path = tmp_path / "junk.idx"
    path.write_bytes(b"hello world")
    one_line_data_error(lambda: read_idx(path), path, "not an IDX file")


def test_declared_size_does_not_match(mnist_dir, arrays):
    path = mnist_dir / TRAIN_IMAGES
    path.write_bytes(gzip.compress(idx_bytes(arrays[TRAIN_IMAGES])[:-28], mtime=0))
    one_line_data_error(lambda: load_mnist_arrays(mnist_dir, download=False), path, "60 x 28 x 28", "truncated")


def test_image_and_label_counts_differ(mnist_dir, arrays):
    write_idx(mnist_dir / TRAIN_LABELS, arrays[TRAIN_LABELS][:59])
    one_line_data_error(
        lambda: load_mnist_arrays(mnist_dir, download=False), "60 images", "59 labels", TRAIN_LABELS
    )


def test_too_few_training_images(tmp_path):
    folder = write_mnist(tmp_path / "tiny", make_arrays(n_train=5, n_test=2))
    one_line_data_error(lambda: load_mnist_arrays(folder, download=False), "only 5 training images")


def test_missing_files_without_download(mnist_dir, tmp_path):
    (mnist_dir / TEST_LABELS).unlink()
    (mnist_dir / TRAIN_IMAGES).unlink()
    one_line_data_error(lambda: load_mnist_arrays(mnist_dir, download=False), TEST_LABELS, TRAIN_IMAGES, mnist_dir)
    missing = tmp_path / "nowhere"
    one_line_data_error(lambda: load_mnist_arrays(missing, download=False), "does not exist", missing)
    assert not missing.exists()


def test_missing_named_file(tmp_path):
    one_line_data_error(lambda: load_mnist_arrays(tmp_path / "mnist.pkl.gz"), "mnist.pkl.gz")
    one_line_data_error(lambda: load_mnist_arrays(tmp_path / "mnist.npz"), "does not exist")


def test_single_idx_file_instead_of_folder(mnist_dir):
    one_line_data_error(lambda: load_mnist_arrays(mnist_dir / TRAIN_IMAGES), "folder", mnist_dir)


def _ragged():
    (x, y), valid, test = pickled_splits()
    return ([list(row) for row in x[:3]] + [[0.5]], y[:4]), valid, test


def _replace(split, x=None, y=None):
    splits = list(pickled_splits())
    old_x, old_y = splits[split]
    splits[split] = (old_x if x is None else x, old_y if y is None else y)
    return tuple(splits)


BAD_PICKLES = {
    "two pairs": lambda: pickled_splits()[:2],
    "a dict": lambda: {"train": 1},
    "a triple instead of a pair": lambda: (pickled_splits()[0] + (1,),) + pickled_splits()[1:],
    "ragged x": _ragged,
    "1-D x": lambda: _replace(1, x=np.zeros(8, dtype=np.float32)),
    "x above 1": lambda: _replace(0, x=np.full((30, 784), 255.0, dtype=np.float32)),
    "x NaN": lambda: _replace(2, x=np.full((9, 784), np.nan, dtype=np.float32)),
    "negative label": lambda: _replace(2, y=-np.ones(9, dtype=np.int64)),
    "fractional label": lambda: _replace(1, y=np.full(8, 0.5)),
    "text label": lambda: _replace(1, y=np.array(["a"] * 8)),
    "count mismatch": lambda: _replace(0, y=np.zeros(29, dtype=np.int64)),
    "empty split": lambda: _replace(2, x=np.zeros((0, 784), dtype=np.float32), y=np.zeros(0, dtype=np.int64)),
    "different widths": lambda: _replace(2, x=np.zeros((9, 10), dtype=np.float32)),
}


@pytest.mark.parametrize("case", sorted(BAD_PICKLES))
def test_wrong_structure_pickle(tmp_path, case):
    path = write_pickle(tmp_path / "mnist.pkl.gz", BAD_PICKLES[case]())
    one_line_data_error(lambda: load_mnist_arrays(path), path)


@pytest.mark.parametrize(
    "content",
    [b"<html>error</html>", b"garbage that is not a pickle", gzip.compress(b"not a pickle either")],
)
def test_unreadable_pickle(tmp_path, content):
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(content)
    one_line_data_error(lambda: load_mnist_arrays(path), path)


def test_truncated_pickle(tmp_path):
    path = write_pickle(tmp_path / "mnist.pkl.gz", pickled_splits())
    path.write_bytes(path.read_bytes()[:5000])
    one_line_data_error(lambda: load_mnist_arrays(path), path, "truncated")


def test_idx_file_with_no_images(tmp_path):
    folder = write_mnist(tmp_path / "mnist", make_arrays())
    write_idx(folder / TEST_IMAGES, np.zeros((0, 28, 28)))
    write_idx(folder / TEST_LABELS, np.zeros(0))
    one_line_data_error(lambda: load_mnist_arrays(folder, download=False), TEST_IMAGES, "no images")


@pytest.mark.parametrize("shape", [(60, 0, 0), (60, 28, 0)])
def test_idx_images_of_no_pixel(tmp_path, shape):
    folder = write_mnist(tmp_path / "mnist", make_arrays())
    write_idx(folder / TRAIN_IMAGES, np.zeros(shape))
    one_line_data_error(lambda: load_mnist_arrays(folder, download=False), TRAIN_IMAGES, f"{shape[1]} x {shape[2]}",
                        "at least 1 x 1")


def test_pickle_of_examples_without_values(tmp_path):
    path = write_pickle(tmp_path / "mnist.pkl.gz", _replace(0, x=np.zeros((30, 0), dtype=np.float32)))
    one_line_data_error(lambda: load_mnist_arrays(path), path, "no values", "at least one value")


# --------------------------------------------------------------------------
# Files that are not what they claim: special files, decompression bombs
# --------------------------------------------------------------------------


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
@pytest.mark.parametrize("name", [TRAIN_LABELS, "mnist.pkl.gz", "mnist.pkl", "d.npz"])
def test_a_special_file_is_refused_without_being_read(tmp_path, mnist_dir, special, name):
    in_idx_folder = name in MNIST_FILES
    target = (mnist_dir if in_idx_folder else tmp_path) / name
    target.unlink(missing_ok=True)
    if special == "fifo":
        os.mkfifo(target)  # opened for reading, it would block until someone writes to it
        kind = "named pipe (FIFO)"
    else:
        if not os.path.exists(special):
            pytest.skip(f"no {special} here")
        target.symlink_to(special)  # a device never ends: reading it would fill the memory
        kind = "character device"
    with fails_instead_of_hanging():
        one_line_data_error(lambda: load_mnist_arrays(mnist_dir if in_idx_folder else target, download=False),
                            target, kind, "not a regular file")


def test_idx_gzip_that_inflates_past_its_declared_size(tmp_path):
    path = gzip_bomb(tmp_path / "x-idx3-ubyte.gz", IDX_HEADER_10, 1 << 28)
    assert path.stat().st_size < 1 << 20
    one_line_data_error(lambda: read_idx(path), path, "holds more than", "10 x 28 x 28 = 7840 bytes")


def test_idx_declaring_more_than_its_compressed_bytes_can_hold(tmp_path):
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(struct.pack(">BBBBIII", 0, 0, 8, 3, 60000, 280, 280) + bytes(1000), mtime=0))
    one_line_data_error(lambda: read_idx(path), path, "60000 x 280 x 280", "more than its", "compressed bytes")


def test_idx_declaring_more_than_the_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "memory_size", lambda: 1000)
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", np.zeros((2, 28, 28)))
    one_line_data_error(lambda: read_idx(path), path, "1568 bytes", "1000 bytes of memory")


def test_idx_with_a_damaged_gzip_end(tmp_path, arrays):
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", arrays[TRAIN_IMAGES])
    whole = path.read_bytes()
    path.write_bytes(whole[:12])  # the gzip header only
    one_line_data_error(lambda: read_idx(path), path, "truncated gzip")
    path.write_bytes(whole)
    path.write_bytes(path.read_bytes()[:-4])  # its length field is missing: the data itself is complete
    one_line_data_error(lambda: read_idx(path), path, "truncated gzip")
    blob = bytearray(write_idx(path, arrays[TRAIN_IMAGES]).read_bytes())
    blob[-8] ^= 0xFF  # a wrong checksum
    path.write_bytes(bytes(blob))
    one_line_data_error(lambda: read_idx(path), path, "damaged gzip")


def test_idx_of_concatenated_gzip_members(tmp_path, arrays):
    raw = idx_bytes(arrays[TRAIN_LABELS])
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(raw[:10], mtime=0) + gzip.compress(raw[10:], mtime=0) + bytes(8))
    np.testing.assert_array_equal(read_idx(path), arrays[TRAIN_LABELS])


def test_pickle_that_inflates_too_far(tmp_path):
    path = gzip_bomb(tmp_path / "mnist.pkl.gz", PICKLE_OF_ONE_GIB, 1 << 28)
    one_line_data_error(lambda: load_mnist_arrays(path), path, "inflates to more than 64 times")


IDX_HEADER_10 = struct.pack(">BBBBIII", 0, 0, 8, 3, 10, 28, 28)  # 10 images of 28 x 28: 7840 bytes
PICKLE_OF_ONE_GIB = pickle.PROTO + b"\x04" + pickle.BINBYTES8 + struct.pack("<Q", 1 << 30)  # then the bytes


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in kB on Linux")
@pytest.mark.parametrize("kind", ["idx", "pickle"])
def test_a_gzip_bomb_costs_no_memory(tmp_path, arrays, kind):
    if kind == "idx":
        bomb = gzip_bomb(tmp_path / "bomb-idx3-ubyte.gz", IDX_HEADER_10, 1 << 30)
        valid = write_idx(tmp_path / "valid-idx3-ubyte.gz", arrays[TEST_IMAGES][:10])
        imports, call, accepted = "from sda.data import read_idx", "read_idx({!r})", 7840
    else:
        bomb = gzip_bomb(tmp_path / "mnist.pkl.gz", PICKLE_OF_ONE_GIB, 1 << 30)
        (tmp_path / "valid").mkdir()
        valid = write_pickle(tmp_path / "valid" / "mnist.pkl.gz", pickled_splits())
        imports, call = "from sda.data import load_mnist_arrays", "load_mnist_arrays({!r})"
        accepted = 64 * bomb.stat().st_size  # what the pickle may inflate to
    assert bomb.stat().st_size < 2 << 20  # a gigabyte, compressed a thousand times
    outcome, baseline = peak_memory(imports, call.format(str(valid)))
    assert outcome == "accepted"
    outcome, peak = peak_memory(imports, call.format(str(bomb)))
    assert outcome.startswith("refused:")
    assert peak - baseline < 2 * accepted + (16 << 20), (peak, baseline)


# --------------------------------------------------------------------------
# The real MNIST (only where SDA_DATA points at it)
# --------------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("SDA_DATA"), reason="set SDA_DATA to the real MNIST files to run this test")
def test_real_mnist():
    splits = load_mnist_arrays(download=False)
    shapes = [(x.shape, y.shape) for x, y in splits]
    assert shapes == [((50000, 784), (50000,)), ((10000, 784), (10000,)), ((10000, 784), (10000,))]
    for x, y in splits:
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert set(np.unique(y).tolist()) == set(range(10))
