"""Datasets beyond MNIST: IDX files of any image size, .npz, folders of images; --rescale;
train_da.py's filters at the data's own image size; bad inputs, one clear line each."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sda.data import SPLIT_SEED, Splits, image_shape_for, load_mnist_arrays, read_image_files
from sda.errors import DataError

from fakedata import (TEST_IMAGES, one_line_error, make_toy_images, write_idx, write_idx_dataset,
                      write_image_folder)

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
    assert results["config"]["rescale"] is True
