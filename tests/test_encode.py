"""A trained SdA as a feature extractor: scripts/encode.py and sda.encode.run_encode.

One tiny SdA is trained once (in-process, through run_sda) on a generated .npz of
12x10 images; everything else reuses it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sda.data import load_mnist_arrays
from sda.encode import run_encode

from fakedata import make_toy_images

ROOT = Path(__file__).resolve().parent.parent


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward(arrays, x):
    """The SdA's forward pass in plain numpy (float64): every hidden layer, then p(y|x)."""
    hidden, h = [], np.asarray(x, dtype=np.float64)
    i = 0
    while f"hidden_W_{i}" in arrays:
        h = sigmoid(h @ arrays[f"hidden_W_{i}"].astype(np.float64) + arrays[f"hidden_b_{i}"])
        hidden.append(h)
        i += 1
    z = h @ arrays["logistic_W"].astype(np.float64) + arrays["logistic_b"]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return hidden, p / p.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A .npz of 12x10 images in [0, 1] (3-D x, no valid/test: they are carved) and a tiny SdA trained on it."""
    from sda.configs import SdAConfig
    from sda.recipes import run_sda

    folder = tmp_path_factory.mktemp("encode")
    x, y = make_toy_images(90, (12, 10), n_classes=3)
    np.savez(folder / "toy.npz", train_x=x / 255.0, train_y=y)
    np.savez(folder / "toy255.npz", train_x=x, train_y=y)  # the same data in 0..255
    results = run_sda(SdAConfig(dataset=str(folder / "toy.npz"), hidden_layers=[12, 6],
                                corruption_levels=[0.1, 0.2], pretraining_epochs=1, pretrain_lr=0.01,
                                training_epochs=2, batch_size=10, output_dir=str(folder / "run"), progress=False))
    with np.load(folder / "run" / "model.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    return {"folder": folder, "run": folder / "run", "npz": folder / "toy.npz", "results": results,
            "arrays": arrays}


def test_training_recorded_the_image_shape(toy):
    assert toy["results"]["n_ins"] == 120 and toy["results"]["rescaled_from"] is None
    filters = Image.open(toy["run"] / "filters_layer_0.png")
    assert filters.size == (4 * 11 - 1, 4 * 13 - 1)  # 12 filters in 4 x 4 tiles of 12 rows x 10 columns


def test_encode_gives_the_numpy_forward_pass(toy, tmp_path):
    x = np.concatenate([split[0] for split in load_mnist_arrays(toy["npz"], dtype="float64")])
    hidden, _ = forward(toy["arrays"], x)
    for layer in (0, 1, -1):
        out = tmp_path / f"h{layer}.npz"
        arrays = run_encode(toy["run"], out, dataset=toy["npz"], split="all", layer=layer, log=lambda line: None)
        with np.load(out) as saved:
            assert sorted(saved.files) == ["h", "split", "y"]
            np.testing.assert_array_equal(saved["h"], arrays["h"])
            np.testing.assert_allclose(saved["h"], hidden[layer], rtol=1e-4, atol=1e-5)
            assert list(saved["split"]).count("train") == 60 and list(saved["split"][-15:]) == ["test"] * 15
            splits = load_mnist_arrays(toy["npz"])
            np.testing.assert_array_equal(saved["y"], np.concatenate([s[1] for s in splits]))


def test_predict_gives_softmax_probabilities_and_their_argmax(toy, tmp_path):
    _, _, (test_x, _) = load_mnist_arrays(toy["npz"], dtype="float64")
    _, p = forward(toy["arrays"], test_x)
    arrays = run_encode(toy["run"] / "model.npz", tmp_path / "p.npz", dataset=toy["npz"], split="test",
                        predict=True, log=lambda line: None)
    np.testing.assert_allclose(arrays["p_y_given_x"], p, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(arrays["y_pred"], np.argmax(arrays["p_y_given_x"], axis=1))
    run_encode(toy["run"], tmp_path / "p.npy", dataset=toy["npz"], split="test", predict=True, log=lambda l: None)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), arrays["p_y_given_x"])


def test_saved_and_loaded_model_encodes_as_the_in_memory_one(tmp_path):
    from sda import SdA
    from sda.inference import encode, predict_proba
    from sda.model_io import load_model, param_arrays, save_model, set_param_arrays

    sda = SdA(np.random.RandomState(3), n_ins=120, hidden_layers_sizes=[7, 5], n_outs=3,
              corruption_levels=[0.1, 0.1])
    rng = np.random.default_rng(0)
    for name, value in param_arrays(sda).items():  # biases too, so that nothing is left at zero
        set_param_arrays(sda, {**param_arrays(sda), name: rng.normal(0, 0.5, value.shape)})
    save_model(str(tmp_path / "model.npz"), param_arrays(sda))
    loaded = load_model(str(tmp_path))
    x = rng.random((9, 120)).astype("float32")
    for layer in (0, 1):
        np.testing.assert_allclose(loaded.encode(x, layer), encode(sda, x, layer), rtol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(x), predict_proba(sda, x), rtol=1e-6)


def test_encode_follows_the_training_runs_rescale(toy, tmp_path):
    """A model trained with --rescale: encoding raw data applies the recorded min..max by default."""
    run = tmp_path / "run"
    shutil.copytree(toy["run"], run)
    results = json.loads((run / "results.json").read_text())
    results["rescaled_from"] = [0.0, 255.0]
    (run / "results.json").write_text(json.dumps(results))
    raw = toy["folder"] / "toy255.npz"
    quiet = {"log": lambda line: None, "split": "valid"}
    expected = run_encode(toy["run"], tmp_path / "a.npy", dataset=toy["npz"], **quiet)["h"]
    np.testing.assert_allclose(run_encode(run, tmp_path / "b.npy", dataset=raw, **quiet)["h"], expected, rtol=1e-5)
    np.testing.assert_allclose(run_encode(toy["run"], tmp_path / "c.npy", dataset=raw, rescale=True, **quiet)["h"],
                               expected, rtol=1e-5)


def test_encode_script_on_image_files(toy, tmp_path):
    rng = np.random.default_rng(5)
    pixels = [(rng.random((12, 10)) < 0.3).astype(np.uint8) * 255 for _ in range(2)]
    paths = []
    for i, image in enumerate(pixels):
        paths.append(tmp_path / f"img{i}.png")
        Image.fromarray(image).save(paths[-1])
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "encode.py"), str(toy["run"]), *map(str, paths),
                             "--raw-images", "--layer", "0", "--output", str(tmp_path / "h.npz")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "hidden layer 0" in result.stdout and "2 image files" in result.stdout
    with np.load(tmp_path / "h.npz") as saved:
        assert list(saved["files"]) == [str(p) for p in paths]
        hidden, _ = forward(toy["arrays"], np.stack([p.reshape(-1) / 255.0 for p in pixels]))
        np.testing.assert_allclose(saved["h"], hidden[0], rtol=1e-4, atol=1e-5)


def call_main(argv):
    from conftest import load_script

    try:
        return load_script("encode").main([str(a) for a in argv])
    except SystemExit as stop:  # argparse's own errors (one line too: sda.command_line.Parser)
        return stop.code


@pytest.mark.parametrize("args, code, fragments", [
    (["--output", "{tmp}/h.txt"], 2, [".npz", ".npy"]),
    (["--layer", "2", "--output", "{tmp}/h.npy"], 2, ["--layer 2", "2 hidden layers", "12, 6"]),
    (["--layer", "-3", "--output", "{tmp}/h.npy"], 2, ["--layer -3"]),
    (["{tmp}/x.png", "--output", "{tmp}/h.npy"], 2, ["not both"]),
    (["--split", "everything", "--output", "{tmp}/h.npy"], 2, ["--split", "everything"]),
    (["--no-rescale", "--dataset", "{raw}", "--output", "{tmp}/h.npy"], 1, ["0.0 to 255.0", "--rescale"]),
    (["--dataset", "{small}", "--output", "{tmp}/h.npy"], 1, ["16 inputs", "takes 120"]),
    (["--output", "{tmp}/h.npy", "--no-such-flag"], 2, ["unrecognized", "--no-such-flag"]),
])
def test_bad_input_is_one_line(toy, tmp_path, capsys, args, code, fragments):
    np.savez(tmp_path / "small.npz", train_x=np.full((12, 4, 4), 0.5), train_y=np.arange(12) % 3)
    values = {"tmp": tmp_path, "raw": toy["folder"] / "toy255.npz", "small": tmp_path / "small.npz"}
    args = [a.format(**values) for a in args]
    if "--dataset" not in args:
        args += ["--dataset", toy["npz"]]
    assert call_main([toy["run"], *args]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_missing_model_and_images(toy, tmp_path, capsys):
    assert call_main([tmp_path / "nowhere", "--output", tmp_path / "h.npy"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert call_main([toy["run"], tmp_path / "missing.png", "--output", tmp_path / "h.npy"]) == 1
    assert "missing.png does not exist" in capsys.readouterr().err
    Image.fromarray(np.zeros((12, 10), np.uint8)).save(tmp_path / "a.png")
    assert call_main([toy["run"], tmp_path / "a.png", "--output", tmp_path / "h.npy"]) == 1
    assert "not a square image" in capsys.readouterr().err  # a 12x10 model: MNIST-style centring cannot fit
    assert not (tmp_path / "h.npy").exists()


def test_encode_an_image_folder_records_each_rows_file(toy, tmp_path):
    from fakedata import write_image_folder

    root = write_image_folder(tmp_path / "imgs", splits=("train", "test"), n_per_class=3)
    arrays = run_encode(toy["run"], tmp_path / "h.npz", dataset=root, split="train", log=lambda line: None)
    assert len(arrays["files"]) == len(arrays["h"]) == len(arrays["y"]) == 8  # 9 minus the carved validation (9 // 6)
    pixels = np.stack([np.asarray(Image.open(f), dtype=np.float64).reshape(-1) / 255 for f in arrays["files"]])
    hidden, _ = forward(toy["arrays"], pixels)
    np.testing.assert_allclose(arrays["h"], hidden[-1], rtol=1e-4, atol=1e-5)
    assert [int(Path(f).parent.name) for f in arrays["files"]] == list(arrays["y"])


def test_image_files_are_prepared_as_mnist_digits_for_a_square_model(tmp_path):
    from sda import SdA
    from sda.data.preprocess import image_to_mnist
    from sda.model_io import param_arrays, save_model

    sda = SdA(np.random.RandomState(1), n_ins=64, hidden_layers_sizes=[5], n_outs=2, corruption_levels=[0.0])
    save_model(str(tmp_path / "model.npz"), param_arrays(sda))
    image = np.zeros((30, 20), np.uint8)
    image[5:25, 8:12] = 255  # a "1"
    Image.fromarray(image).save(tmp_path / "one.png")
    arrays = run_encode(tmp_path / "model.npz", tmp_path / "h.npy", images=[tmp_path / "one.png"],
                        log=lambda line: None)
    hidden, _ = forward(param_arrays(sda), image_to_mnist(tmp_path / "one.png", 8)[None])
    np.testing.assert_allclose(arrays["h"], hidden[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "h.npy"), arrays["h"])


def snapshot(*roots):
    """Every file under ``roots`` (files or folders) with its bytes, to check nothing was replaced or added."""
    files = {}
    for root in map(Path, roots):
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            files[str(path)] = path.read_bytes()
    return files


@pytest.fixture
def inputs(toy, tmp_path):
    """A copy of the toy run and dataset, an IDX dataset folder and an image dataset folder, to be written over."""
    from fakedata import write_idx_dataset, write_image_folder

    shutil.copytree(toy["run"], tmp_path / "run")
    shutil.copy(toy["npz"], tmp_path / "toycopy.npz")
    (tmp_path / "link.npz").symlink_to(tmp_path / "toycopy.npz")
    (tmp_path / "hard.npz").hardlink_to(tmp_path / "toycopy.npz")
    write_idx_dataset(tmp_path / "idx")
    write_image_folder(tmp_path / "imgs", splits=("train", "test"), n_per_class=3)
    return tmp_path


@pytest.mark.parametrize("model, dataset, output, fragment", [
    ("run", "toycopy.npz", "toycopy.npz", "replace the dataset file"),
    ("run", "toycopy.npz", "link.npz", "replace the dataset file"),  # a symbolic link to the dataset
    ("run", "toycopy.npz", "hard.npz", "replace the dataset file"),  # a hard link: the same file
    ("run", "link.npz", "toycopy.npz", "replace the dataset file"),
    ("run", "toycopy.npz", "run/model.npz", "replace the model file"),
    ("run/model.npz", "toycopy.npz", "run/../run/model.npz", "replace the model file"),
    ("run", "toycopy.npz", "run/checkpoint.npz", "replace the training run's checkpoint.npz"),
    ("run/model.npz", "toycopy.npz", "run/checkpoint.npz", "replace the training run's checkpoint.npz"),
    ("run", "idx", "idx/h.npz", "write into the dataset folder"),
    ("run", "imgs", "imgs/train/0/h.npy", "write into the dataset folder"),
])
def test_output_that_would_replace_an_input_is_refused(inputs, capsys, model, dataset, output, fragment):
    before = snapshot(inputs)
    args = [inputs / model, "--dataset", inputs / dataset, "--split", "test", "--output", inputs / output]
    assert call_main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert fragment in err and "give another --output" in err, err
    assert snapshot(inputs) == before  # byte-identical, and no file (temporary or not) added


def test_encode_script_refuses_to_overwrite_its_dataset(inputs):
    """The reviewer's command, end to end: encode.py run --dataset toycopy.npz -o toycopy.npz."""
    before = snapshot(inputs)
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "encode.py"), "run", "--dataset", "toycopy.npz",
                             "-o", "toycopy.npz"], capture_output=True, text=True, timeout=300, cwd=inputs)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: --output toycopy.npz would replace the dataset file"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert snapshot(inputs) == before


def test_image_files_and_run_files_beside_the_model_are_refused(toy, inputs, capsys):
    Image.fromarray(np.zeros((12, 10), np.uint8)).save(inputs / "a.npy", format="PNG")  # an image with any name
    before = snapshot(inputs)
    assert call_main([inputs / "run", inputs / "a.npy", "--raw-images", "--output", inputs / "a.npy"]) == 2
    assert "replace the image file" in capsys.readouterr().err
    assert call_main([inputs / "run", "--dataset", toy["npz"], "--output", inputs / "run" / "results.json"]) == 2
    assert "must end in .npz" in capsys.readouterr().err
    assert snapshot(inputs) == before


def test_output_in_a_folder_a_run_holds_is_refused(toy, inputs, capsys):
    from sda.locks import LOCK_NAME, FolderLock

    busy = inputs / "busy"
    busy.mkdir()
    (busy / "checkpoint.npz").write_bytes(b"a training run's checkpoint")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); "
                               "from sda.locks import FolderLock; FolderLock(sys.argv[2]).acquire(); "
                               "print('locked', flush=True); time.sleep(120)", str(ROOT), str(busy)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = snapshot(inputs)
        for output in (busy / "checkpoint.npz", busy / "h.npz", busy / "sub" / "h.npy"):
            assert call_main([toy["run"], "--dataset", toy["npz"], "--split", "test", "--output", output]) == 2
            err = capsys.readouterr().err
            assert f"is in {busy}, which a training run is using (process {holder.pid})" in err, err
            assert len(err.strip().splitlines()) == 1
        assert snapshot(inputs) == before
    finally:
        holder.kill()
        holder.wait()
    # the run is gone (a lock file left by a killed run holds no lock): the folder may be written
    assert (busy / LOCK_NAME).exists()
    assert call_main([toy["run"], "--dataset", toy["npz"], "--split", "test", "--output", busy / "h.npz"]) == 0
    with FolderLock(str(busy)):  # and a lock held in this very process counts too
        assert call_main([toy["run"], "--dataset", toy["npz"], "--split", "test", "--output", busy / "g.npz"]) == 2
    assert not (busy / "g.npz").exists()


def test_other_files_beside_the_model_and_the_dataset_are_written(toy, inputs):
    quiet = {"log": lambda line: None, "split": "test"}
    run_encode(inputs / "run", inputs / "run" / "features.npz", dataset=inputs / "toycopy.npz", **quiet)
    run_encode(inputs / "run", inputs / "toycopy-features.npz", dataset=inputs / "toycopy.npz", **quiet)
    run_encode(inputs / "run", inputs / "idx-features.npy", dataset=inputs / "idx", **quiet)
    assert (inputs / "run" / "features.npz").exists() and (inputs / "toycopy-features.npz").exists()
    assert (inputs / "idx-features.npy").exists()
