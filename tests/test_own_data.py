"""Datasets beyond MNIST: IDX files of any image size, .npz, folders of images; --rescale;
train_da.py's filters at the data's own image size; image files of every mode; bad inputs, one
clear line each, special files and image bombs among them."""

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sda.data import SPLIT_SEED, Splits, image_shape_for, load_mnist_arrays, npz, read_image_files
from sda.data.preprocess import image_to_mnist

from fakedata import (TEST_IMAGES, fails_instead_of_hanging, make_toy_images, one_line_error, peak_memory,
                      png_claiming, write_idx, write_idx_dataset, write_image_folder)

ROOT = Path(__file__).resolve().parent.parent




def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


# --------------------------------------------------------------------------- IDX files of any size


def test_idx_folder_of_12x10_images(tmp_path):
    folder = write_idx_dataset(tmp_path / "idx", n_train=48, n_test=12, shape=(12, 10))
    splits = load_mnist_arrays(folder, download=False)
    (train_x, train_y), (valid_x, valid_y), (test_x, _) = splits
    assert isinstance(splits, Splits) and splits.image_shape == (12, 10)
    assert train_x.shape == (40, 120) and valid_x.shape == (8, 120) and test_x.shape == (12, 120)
    images, labels = make_toy_images(48, (12, 10), 3, 0)
    np.testing.assert_array_equal(train_x, images[:40].reshape(40, -1) / np.float32(255))
    np.testing.assert_array_equal(valid_y, labels[40:])  # the tutorial's rule: the last sixth validates
    assert splits.label_names is None and splits.sources is None


def test_idx_train_and_test_of_different_sizes(tmp_path):
    folder = write_idx_dataset(tmp_path / "idx", shape=(12, 10))
    write_idx(folder / TEST_IMAGES, make_toy_images(12, (10, 12))[0])
    one_line_error(lambda: load_mnist_arrays(folder, download=False), "12 x 10", "10 x 12", TEST_IMAGES)


def test_load_data_carries_the_image_shape(tmp_path):
    from sda.data import load_data

    datasets = load_data(str(write_idx_dataset(tmp_path / "idx")), download=False)
    assert len(datasets) == 3 and datasets.image_shape == (12, 10) and datasets.rescaled_from is None


def test_image_shape_for():
    assert image_shape_for(120, (12, 10)) == (12, 10)
    assert image_shape_for(784) == (28, 28)
    assert image_shape_for(120) == (1, 120)
    assert image_shape_for(784, (12, 10)) == (28, 28)  # a shape that does not fit is ignored


# --------------------------------------------------------------------------- .npz


def test_npz_with_every_split_is_used_as_stored(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {f"{s}_x": rng.random((n, 6)) for s, n in (("train", 20), ("valid", 5), ("test", 7))}
    arrays.update({f"{s}_y": rng.integers(0, 4, n) for s, n in (("train", 20), ("valid", 5), ("test", 7))})
    arrays["train_y"] = arrays["train_y"].astype(float)  # whole-number floats are labels too
    splits = load_mnist_arrays(save_npz(tmp_path / "d.npz", **arrays), dtype="float64")
    for (x, y), name in zip(splits, ("train", "valid", "test")):
        np.testing.assert_array_equal(x, arrays[f"{name}_x"])
        np.testing.assert_array_equal(y, arrays[f"{name}_y"])
        assert y.dtype == np.int32
    assert splits.image_shape is None  # flat x: the shape is unknown


def test_npz_without_valid_and_test_carves_them_with_a_fixed_shuffle(tmp_path):
    x, y = make_toy_images(60, (12, 10))
    path = save_npz(tmp_path / "d.npz", train_x=x / 255.0, train_y=y)
    splits = load_mnist_arrays(path, dtype="float64")
    assert [len(p[0]) for p in splits] == [40, 10, 10]  # n // 6 each for validation and test
    assert splits.image_shape == (12, 10)  # 3-D x: (examples, rows, cols)
    order = np.random.RandomState(SPLIT_SEED).permutation(60)
    expected = [np.sort(order[20:]), np.sort(order[:10]), np.sort(order[10:20])]
    for (got_x, got_y), rows in zip(splits, expected):
        np.testing.assert_array_equal(got_x, x[rows].reshape(len(rows), -1) / 255.0)
        np.testing.assert_array_equal(got_y, y[rows])
    again = load_mnist_arrays(path, dtype="float64")
    np.testing.assert_array_equal(again[1][0], splits[1][0])


def test_npz_with_only_test_missing(tmp_path):
    x, y = make_toy_images(36, (4, 4))
    path = save_npz(tmp_path / "d.npz", train_x=x / 255.0, train_y=y, valid_x=x[:3] / 255.0, valid_y=y[:3],
                    label_names=np.array(["a", "b", "c"]))
    splits = load_mnist_arrays(path)
    assert [len(p[0]) for p in splits] == [30, 3, 6]
    assert splits.label_names == ("a", "b", "c")


def test_rescale_maps_the_training_range_and_applies_it_to_every_set(tmp_path):
    train_x = np.array([[-1.0, 3.0], [1.0, 0.0]] * 6)
    path = save_npz(tmp_path / "d.npz", train_x=train_x, train_y=np.zeros(12, int),
                    valid_x=np.array([[1.0, 5.0]]), valid_y=[0], test_x=np.array([[-3.0, 2.0]]), test_y=[1])
    one_line_error(lambda: load_mnist_arrays(path), "train x", "-1.0 to 3.0", "[0, 1]", "--rescale")
    splits = load_mnist_arrays(path, dtype="float64", rescale=True)
    np.testing.assert_allclose(splits[0][0][:2], [[0.0, 1.0], [0.5, 0.25]])
    np.testing.assert_allclose(splits[1][0], [[0.5, 1.0]])  # 5 -> 1.5, clipped
    np.testing.assert_allclose(splits[2][0], [[0.0, 0.75]])
    assert splits.rescaled_from == (-1.0, 3.0)
    fixed = load_mnist_arrays(path, dtype="float64", rescale=(-1.0, 7.0))
    np.testing.assert_allclose(fixed[1][0], [[0.25, 0.75]])


# --------------------------------------------------------------------------- folders of images


def test_image_folder_png_and_jpg(tmp_path):
    root = write_image_folder(tmp_path / "imgs", splits=("train", "valid", "test"), n_per_class=4,
                              labels=("0", "1", "7"), suffix=(".png", ".jpg"))
    splits = load_mnist_arrays(root, dtype="float64")
    assert splits.image_shape == (12, 10) and splits.label_names is None
    assert [len(p[0]) for p in splits] == [12, 12, 12]
    assert sorted(set(splits[0][1])) == [0, 1, 7]  # integer folder names are the labels
    for (x, y), files in zip(splits, splits.sources):
        assert len(files) == len(x)
        for row, label, name in zip(x, y, files):
            name = Path(name)
            assert int(name.parent.name) == label
            pixels = np.asarray(Image.open(name).convert("L"), dtype=np.float64) / 255
            np.testing.assert_array_equal(row, pixels.reshape(-1))
            if name.suffix == ".png":  # lossless: exactly the pixels written
                written = (np.asarray(Image.open(name)) / 255).reshape(-1)
                np.testing.assert_array_equal(row, written)
    valid_files = [Path(f) for f in splits.sources[1]]
    assert valid_files == sorted(valid_files, key=lambda p: (p.parent.name, p.name))  # folder order
    train_labels = list(splits[0][1])
    assert train_labels != sorted(train_labels)  # training examples are shuffled (fixed seed)


def test_image_folder_names_are_mapped_in_sorted_order_and_splits_carved(tmp_path):
    root = write_image_folder(tmp_path / "imgs", splits=("train",), n_per_class=6, labels=("dog", "cat", "emu"))
    splits = load_mnist_arrays(root)
    assert splits.label_names == ("cat", "dog", "emu")
    assert [len(p[0]) for p in splits] == [12, 3, 3]
    for (_, y), files in zip(splits, splits.sources):
        assert [splits.label_names[label] for label in y] == [Path(f).parent.name for f in files]


@pytest.mark.parametrize("where", ["same split", "different splits"])
def test_label_folders_of_one_number_are_refused(tmp_path, where):
    root = write_image_folder(tmp_path / "imgs", splits=("train", "test"), n_per_class=2, labels=("0", "1", "2"))
    if where == "same split":
        write_image_folder(tmp_path / "imgs", splits=("train",), n_per_class=2, labels=("01",))
        first, second = root / "train" / "01", root / "train" / "1"
    else:
        (root / "test" / "1").rename(root / "test" / "001")
        first, second = root / "test" / "001", root / "train" / "1"
    message = one_line_error(lambda: load_mnist_arrays(root), f"{first} and {second} are both label 1",
                             "merge them", "rename one")
    assert message.count(str(root)) == 2


def test_a_label_past_int32_is_refused(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n_per_class=2, labels=("0", "1", "99999999999"))
    one_line_error(lambda: load_mnist_arrays(root), root / "train" / "99999999999", "number the label folders from 0")


def test_read_image_files(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n_per_class=1, labels=("a",))
    x, shape = read_image_files([root / "train" / "a" / "000.png"])
    assert shape == (12, 10) and x.shape == (1, 120) and x.dtype == np.float32


# --------------------------------------------------------------------------- bad inputs


def ragged_folder(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n_per_class=2)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "train" / "1" / "odd.png")
    return root, ("train/0/000.png", "10x12", "odd.png", "8x8", "same size")


def non_image_folder(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n_per_class=2)
    (root / "train" / "2" / "notes.txt").write_text("hello")
    return root, ("notes.txt", "not an image file")


def fake_png_folder(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n_per_class=2)
    (root / "train" / "2" / "broken.png").write_bytes(b"not a png at all")
    return root, ("broken.png", "Pillow")


def loose_file_folder(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n_per_class=2)
    Image.fromarray(np.zeros((12, 10), np.uint8)).save(root / "train" / "stray.png")
    return root, ("stray.png", "folder named after its label")


def unknown_split_folder(tmp_path):
    root = write_image_folder(tmp_path / "imgs", splits=("train", "validation"), n_per_class=2)
    return root, ("validation", "train/, valid/")


def no_train_folder(tmp_path):
    root = tmp_path / "imgs"
    write_image_folder(tmp_path / "tmp", n_per_class=2).joinpath("train").rename(root)
    return root, ("no train/ folder", "train/<label>")


def npz_case(_fragments, **arrays):
    def make(tmp_path):
        return save_npz(tmp_path / "d.npz", **arrays), _fragments
    return make


X = np.full((12, 4), 0.5)
Y = np.arange(12) % 3

BAD_DATA = {
    "ragged image folder": ragged_folder,
    "non-image file": non_image_folder,
    "unreadable .png": fake_png_folder,
    "image outside a label folder": loose_file_folder,
    "unknown split folder": unknown_split_folder,
    "label folders without train/": no_train_folder,
    "npz rows != labels": npz_case(train_x=X, train_y=Y[:11], _fragments=("train_x has 12 rows", "11 labels")),
    "npz labels 1.5": npz_case(train_x=X, train_y=np.where(Y == 1, 1.5, Y),
                               _fragments=("labels include 1.5", "whole numbers")),
    "npz string labels": npz_case(train_x=X, train_y=np.array(["a", "b", "c"] * 4),
                                  _fragments=("labels are", "'a'", "whole numbers", "label_names")),
    "npz negative labels": npz_case(train_x=X, train_y=Y - 1, _fragments=("-1", "from 0 up")),
    "npz x outside [0, 1]": npz_case(train_x=X * 4, train_y=Y, _fragments=("2.0", "[0, 1]", "--rescale")),
    "npz x not numbers": npz_case(train_x=np.array([["a"] * 4] * 12), train_y=Y, _fragments=("train_x", "numbers")),
    "npz without train_y": npz_case(train_x=X, _fragments=("lacks train_y",)),
    "npz valid_x without valid_y": npz_case(train_x=X, train_y=Y, valid_x=X,
                                            _fragments=("valid_x but not valid_y",)),
    "npz unknown array": npz_case(train_x=X, train_y=Y, val_x=X, _fragments=("val_x", "does not read")),
    "npz splits of different shapes": npz_case(train_x=X, train_y=Y, test_x=X[:, :3], test_y=Y,
                                               _fragments=("(4,)", "(3,)", "same example shape")),
    "npz too small to carve": npz_case(train_x=X[:5], train_y=Y[:5], _fragments=("5 training examples", "6")),
    "npz label_names too short": npz_case(train_x=X, train_y=Y, label_names=np.array(["a", "b"]),
                                          _fragments=("up to 2", "2 names")),
    "npz x of no column": npz_case(train_x=X[:, :0], train_y=Y, _fragments=("train_x", "(12, 0)", "at least one")),
    "npz images of no pixel": npz_case(train_x=np.zeros((12, 3, 0)), train_y=Y,
                                       _fragments=("train_x", "(12, 3, 0)", "at least one")),
    "npz empty train set": npz_case(train_x=X[:0], train_y=Y[:0], _fragments=("train_x", "no example")),
    "npz empty valid set": npz_case(train_x=X, train_y=Y, valid_x=X[:0], valid_y=Y[:0],
                                    _fragments=("valid_x", "no example", "leave out valid_x and valid_y")),
    "npz empty test set": npz_case(train_x=X, train_y=Y, test_x=X[:0], test_y=Y[:0],
                                   _fragments=("test_x", "no example", "leave out test_x and test_y")),
}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_one_data_error(case, tmp_path):
    path, fragments = BAD_DATA[case](tmp_path)
    one_line_error(lambda: load_mnist_arrays(path), *fragments)


def test_npz_of_python_objects_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, train_x=X, train_y=np.array([1, None] * 6, dtype=object))
    one_line_error(lambda: load_mnist_arrays(path), "train_y", "Python objects")


def test_not_an_npz(tmp_path):
    path = tmp_path / "d.npz"
    path.write_text("hello")
    one_line_error(lambda: load_mnist_arrays(path), str(path), "not a readable .npz")


@pytest.mark.parametrize("case", ["ragged image folder", "npz x outside [0, 1]", "npz string labels"])
def test_bad_data_through_train_sda_main_is_one_line(case, tmp_path, capsys):
    from conftest import call_main

    path, fragments = BAD_DATA[case](tmp_path)
    code, err = call_main("train_sda", ["--dataset", path, "--output-dir", tmp_path / "out", "--hidden-layers", "4",
                                        "--corruption-levels", "0.1", "--no-progress"], capsys)
    assert code == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err


def test_bad_data_through_the_scripts_has_no_traceback(tmp_path):
    path, _ = ragged_folder(tmp_path)
    for script in ("train_sda.py", "train_da.py"):
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--dataset", str(path),
                                 "--output-dir" if script == "train_sda.py" else "--output-folder",
                                 str(tmp_path / script)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "odd.png" in result.stderr and "same size" in result.stderr


def npz_with_lying_header(path, declared_shape):
    """A .npz whose train_x header declares ``declared_shape`` but holds 12 x 4 float64 values."""
    np.savez(path, train_x=X, train_y=Y)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    header = np.lib.format.header_data_from_array_1_0(X)
    header["shape"] = declared_shape
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    members["train_x.npy"] = stream.getvalue() + X.tobytes()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_npz_declaring_more_than_it_holds_is_refused_before_reading(tmp_path):
    path = npz_with_lying_header(tmp_path / "d.npz", (2 ** 20, 2 ** 20))  # 8 TiB
    one_line_error(lambda: load_mnist_arrays(path), path, "train_x.npy", "(1048576, 1048576)", "holds 384 bytes")


def test_npz_declaring_more_than_the_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(npz, "memory_size", lambda: 100)
    path = save_npz(tmp_path / "d.npz", train_x=X, train_y=Y)
    one_line_error(lambda: load_mnist_arrays(path), path, "declares 480 bytes", "100 bytes of memory")


# --------------------------------------------------------------------------- image files: modes, special files, bombs


def grey_of(path):
    x, shape = read_image_files([path], dtype="float64")
    return x.reshape(shape)


def saved(tmp_path, image, name, **options):
    path = tmp_path / name
    image.save(path, **options)
    return path


def palette_image(transparency=None):
    image = Image.fromarray(np.array([[0, 1, 2]], dtype=np.uint8), mode="P")
    image.putpalette([255, 0, 0, 0, 0, 0, 255, 255, 255])  # 0 red, 1 black, 2 white
    if transparency is not None:
        image.info["transparency"] = transparency
    return image


def test_grey_and_bilevel_images(tmp_path):
    np.testing.assert_array_equal(grey_of(saved(tmp_path, Image.fromarray(np.array([[0, 51, 255]], np.uint8)),
                                                "l.png")), [[0, 0.2, 1]])
    bilevel = Image.fromarray(np.array([[False, True, True]]))
    assert bilevel.mode == "1"
    np.testing.assert_array_equal(grey_of(saved(tmp_path, bilevel, "one.png")), [[0, 1, 1]])


def test_colour_is_its_luma(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [51, 51, 51]]], np.uint8)
    np.testing.assert_allclose(grey_of(saved(tmp_path, Image.fromarray(rgb), "rgb.png")),
                               [[0.299, 0.587, 0.114, 0.2]], rtol=1e-12)
    assert grey_of(saved(tmp_path, Image.fromarray(rgb), "rgb.png"))[0, 3] == 0.2  # grey as RGB reads exactly
    for name in ("p.png", "p.gif", "p.bmp"):
        np.testing.assert_allclose(grey_of(saved(tmp_path, palette_image(), name)), [[0.299, 0, 1]], rtol=1e-12)
    cmyk = Image.new("CMYK", (4, 1))
    for i, ink in enumerate([(0, 0, 0, 0), (0, 0, 0, 255), (255, 0, 0, 0), (0, 0, 0, 51)]):
        cmyk.putpixel((i, 0), ink)  # white paper, black, cyan = green + blue, 20 % black
    np.testing.assert_allclose(grey_of(saved(tmp_path, cmyk, "cmyk.tif")), [[1, 0, 0.587 + 0.114, 0.8]],
                               rtol=1e-12)


def test_transparency_reads_as_the_white_background(tmp_path):
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [255, 255, 255, 0], [0, 0, 0, 51], [255, 0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(grey_of(saved(tmp_path, Image.fromarray(rgba), "rgba.png")),
                               [[1, 0, 1, 0.8, 0.299]], rtol=1e-12)
    la = Image.fromarray(np.array([[[0, 0], [0, 255], [102, 255], [0, 51]]], np.uint8), mode="LA")
    np.testing.assert_allclose(grey_of(saved(tmp_path, la, "la.png")), [[1, 0, 0.4, 0.8]], rtol=1e-12)
    # a palette whose black is transparent: a black digit drawn on a transparent page reads as white
    for name in ("pt.png", "pt.gif"):
        np.testing.assert_allclose(grey_of(saved(tmp_path, palette_image(transparency=1), name,
                                                 transparency=1)), [[0.299, 1, 1]], rtol=1e-12)
    grey_with_key = Image.fromarray(np.array([[0, 7, 255]], np.uint8))
    np.testing.assert_array_equal(grey_of(saved(tmp_path, grey_with_key, "lt.png", transparency=7)), [[0, 1, 1]])


def test_deep_images_keep_their_depth(tmp_path):
    sixteen = Image.fromarray(np.array([[0, 32768, 65535]], np.uint16))
    assert sixteen.mode == "I;16"  # Pillow's 8-bit conversion would clip 32768 to white
    np.testing.assert_allclose(grey_of(saved(tmp_path, sixteen, "16.png")), [[0, 32768 / 65535, 1]], rtol=1e-12)
    pgm = tmp_path / "16.pgm"
    pgm.write_bytes(b"P5\n3 1\n65535\n" + np.array([0, 1000, 65535], ">u2").tobytes())
    assert Image.open(pgm).mode == "I"
    np.testing.assert_allclose(grey_of(pgm), [[0, 1000 / 65535, 1]], rtol=1e-12)
    integers = Image.fromarray(np.array([[0, 2 ** 30, 2 ** 31 - 1]], np.int32))
    assert integers.mode == "I"
    np.testing.assert_allclose(grey_of(saved(tmp_path, integers, "32.tif")), [[0, 2 ** 30 / (2 ** 31 - 1), 1]],
                               rtol=1e-12)
    floats = Image.fromarray(np.array([[0, 0.25, 1]], np.float32))
    np.testing.assert_array_equal(grey_of(saved(tmp_path, floats, "f.tif")), [[0, 0.25, 1]])


@pytest.mark.parametrize("levels, fragment", [
    (np.array([[0, -5, 7]], np.int32), "integer levels"),
    (np.array([[0, 2, 1]], np.float32), "floating-point levels"),
    (np.array([[0, np.nan, 1]], np.float32), "floating-point levels"),
])
def test_levels_outside_black_to_white_are_refused(tmp_path, levels, fragment):
    path = saved(tmp_path, Image.fromarray(levels), "out.tif")
    one_line_error(lambda: grey_of(path), path, fragment, "outside the range from black to white")


def test_a_transparent_digit_is_prepared_as_a_digit(tmp_path):
    ink = np.zeros((40, 30, 4), np.uint8)
    ink[8:32, 12:18, 3] = 255  # an opaque black stroke on a transparent page
    x = image_to_mnist(saved(tmp_path, Image.fromarray(ink), "one.png")).reshape(28, 28)
    assert x.max() > 0.9 and x[0].max() == 0 and x[:, 0].max() == 0  # white on black, like MNIST


def test_an_image_that_claims_too_many_pixels_is_refused_before_decoding(tmp_path):
    bomb = png_claiming(tmp_path / "bomb.png", 13000, 13000)
    assert bomb.stat().st_size < 1 << 20
    one_line_error(lambda: read_image_files([bomb]), bomb, "13000x13000", "shrink it")
    one_line_error(lambda: image_to_mnist(bomb), bomb, "13000x13000")


def test_image_sizes_are_compared_before_decoding(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n_per_class=2)
    png_claiming(root / "train" / "1" / "huge.png", 8000, 8000)  # within the limit, but not the others' size
    one_line_error(lambda: load_mnist_arrays(root), "huge.png", "8000x8000", "same size")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in kB on Linux")
def test_an_image_bomb_costs_no_memory(tmp_path):
    bomb = png_claiming(tmp_path / "bomb.png", 13000, 13000)  # 169 million pixels
    small = png_claiming(tmp_path / "small.png", 10, 10)
    outcome, baseline = peak_memory("from sda.data import read_image_files", f"read_image_files([{str(small)!r}])")
    assert outcome == "accepted"
    outcome, peak = peak_memory("from sda.data import read_image_files", f"read_image_files([{str(bomb)!r}])")
    assert outcome.startswith("refused:") and "13000x13000" in outcome
    assert peak - baseline < 16 << 20, (peak, baseline)


@pytest.mark.parametrize("where", ["folder", "file", "mnist"])
def test_a_fifo_named_like_an_image_is_refused_without_being_read(tmp_path, where):
    root = write_image_folder(tmp_path / "imgs", n_per_class=2)
    fifo = root / "train" / "1" / "fifo.png"
    os.mkfifo(fifo)
    call = {"folder": lambda: load_mnist_arrays(root), "file": lambda: read_image_files([fifo]),
            "mnist": lambda: image_to_mnist(fifo)}[where]
    with fails_instead_of_hanging():
        one_line_error(call, fifo, "named pipe (FIFO)", "not a regular file")


# --------------------------------------------------------------------------- train_da.py on other image sizes


def test_train_da_tiles_filters_at_the_data_image_size(tmp_path):
    from sda.configs import DAConfig
    from sda.recipes import run_da

    x, y = make_toy_images(40, (12, 10))
    path = save_npz(tmp_path / "d.npz", train_x=x, train_y=y)  # 0..255: needs --rescale
    results = run_da(DAConfig(dataset=str(path), rescale=True, n_hidden=4, training_epochs=1, batch_size=10,
                              corruption_levels=[0.3], output_folder=str(tmp_path / "out"), progress=False))
    image = Image.open(tmp_path / "out" / results["runs"][0]["filters"])
    assert image.size == (2 * 11 - 1, 2 * 13 - 1)  # 2 x 2 tiles of 12 rows x 10 columns, 1 pixel apart
    reconstructions = Image.open(tmp_path / "out" / results["runs"][0]["reconstructions"])
    width, height = reconstructions.size
    assert height == 3 * 13 - 1 and width % 11 == 10  # three rows of test images at the data's size
    assert results["config"]["rescale"] is True
