"""Files and folders a user can trust: one run per output folder, no finished run replaced by accident,
no figure reported that was not measured, every output problem one line, sizes checked before allocating."""

import errno
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from conftest import call_main

from sda.configs import SdAConfig
from sda.errors import RunInterrupted, UsageError, UserError
from sda.locks import LOCK_NAME, FolderLock
from sda.recipes import run_sda

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(n_train=60, hidden_layers=[10], corruption_levels=[0.1], pretraining_epochs=1, training_epochs=1,
            progress=False)


def tiny(data, out, **changes):
    return SdAConfig(dataset=str(data), output_dir=str(out), **{**TINY, **changes})


def test_a_second_run_into_a_folder_in_use_stops_at_once_naming_the_first(learnable_mnist, tmp_path):
    with FolderLock(str(tmp_path)):
        with pytest.raises(UsageError, match=rf"in use by another run \(process {os.getpid()}\)"):
            run_sda(tiny(learnable_mnist, tmp_path))
    assert not (tmp_path / "results.json").exists()
    run_sda(tiny(learnable_mnist, tmp_path))  # free again
    assert not (tmp_path / LOCK_NAME).exists()


def test_two_real_processes_cannot_both_run_in_one_folder(learnable_mnist, tmp_path):
    script = str(ROOT / "scripts" / "train_sda.py")
    flags = ["--dataset", str(learnable_mnist), "--output-dir", str(tmp_path), "--n-train", "200",
             "--hidden-layers", "30", "--corruption-levels", "0.1", "--pretraining-epochs", "50",
             "--training-epochs", "1", "--no-progress"]
    first = subprocess.Popen([sys.executable, "-u", script, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        for line in first.stdout:
            if line.startswith("Pre-training layer 0, epoch 0"):
                break
        second = subprocess.run([sys.executable, script, *flags], capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        assert f"in use by another run (process {first.pid})" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # kill -9 leaves no stale lock: the folder can be taken, and the killed run resumed
    with FolderLock(str(tmp_path)):
        pass


def test_a_lock_held_by_a_killed_process_is_free(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                               f"from sda.locks import FolderLock; FolderLock({str(tmp_path)!r}).acquire(); "
                               f"print('held', flush=True); import time; time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UsageError, match=str(holder.pid)):
        FolderLock(str(tmp_path)).acquire()
    holder.kill()
    holder.wait()
    FolderLock(str(tmp_path)).acquire().release()


def test_a_finished_run_is_replaced_only_when_asked(learnable_mnist, tmp_path):
    run_sda(tiny(learnable_mnist, tmp_path))
    before = (tmp_path / "model.npz").read_bytes()
    with pytest.raises(UsageError, match="finished run.*--overwrite"):
        run_sda(tiny(learnable_mnist, tmp_path, seed=5))
    assert (tmp_path / "model.npz").read_bytes() == before
    run_sda(tiny(learnable_mnist, tmp_path, seed=5, overwrite=True))
    assert (tmp_path / "model.npz").read_bytes() != before


def test_an_overwritten_run_leaves_no_picture_of_the_old_one(learnable_mnist, tmp_path):
    run_sda(tiny(learnable_mnist, tmp_path, hidden_layers=[20, 10], corruption_levels=[0.1, 0.2]))
    (tmp_path / "notes.txt").write_text("mine")
    assert (tmp_path / "filters_layer_1.png").exists()
    run_sda(tiny(learnable_mnist, tmp_path, hidden_layers=[20], corruption_levels=[0.1], overwrite=True))
    assert not (tmp_path / "filters_layer_1.png").exists()  # the old run's second layer
    assert (tmp_path / "filters_layer_0.png").exists() and (tmp_path / "learning_curves.png").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"  # not a file of a run


def test_an_overwriting_run_that_fails_loses_nothing_of_the_old_one(learnable_mnist, tmp_path):
    run_sda(tiny(learnable_mnist, tmp_path))
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    with pytest.raises(RunInterrupted):
        run_sda(tiny(learnable_mnist, tmp_path, seed=5, overwrite=True), stop_after_minibatches=3)
    assert all((tmp_path / name).read_bytes() == data for name, data in before.items())


def test_a_run_that_never_validated_reports_no_error(learnable_mnist, tmp_path, capsys):
    results = run_sda(tiny(learnable_mnist, tmp_path, pretraining_epochs=0, training_epochs=0))
    assert results["test_error_percent"] is None and results["best_validation_error_percent"] is None
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test_error_percent"] is None
    assert "no error is reported" in capsys.readouterr().out


def test_results_equal_what_evaluate_reports(learnable_mnist, tmp_path):
    from sda.evaluate import run_evaluate

    results = run_sda(tiny(learnable_mnist, tmp_path, training_epochs=2))
    report = run_evaluate(str(tmp_path), dataset=str(learnable_mnist), log=lambda line: None)
    assert report["test_error_percent"] == pytest.approx(results["test_error_percent"], abs=1e-9)


@pytest.mark.parametrize("flags, fragment", [
    (["--seed", "-1"], "--seed must be a whole number from 0 to 4294967295"),
    (["--seed", str(2 ** 32)], "--seed must be a whole number"),
])
def test_seeds_out_of_range_are_one_line(flags, fragment, tmp_path, capsys):
    code, err = call_main("train_sda", ["--output-dir", tmp_path, *flags], capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_a_model_too_large_for_memory_is_refused_with_the_estimate(learnable_mnist, tmp_path):
    with pytest.raises(UsageError, match=r"would need about [\d.,]+ GiB of memory.*--hidden-layers"):
        run_sda(tiny(learnable_mnist, tmp_path, hidden_layers=[100_000_000]))


def test_a_dA_too_large_for_memory_is_refused_with_the_estimate(learnable_mnist, tmp_path, capsys):
    code, err = call_main("train_da", ["--dataset", learnable_mnist, "--output-folder", tmp_path,
                                       "--n-hidden", 100_000_000], capsys)
    assert code == 2 and "--n-hidden" in err and "GiB" in err and len(err.strip().splitlines()) == 1


def test_evaluate_checks_its_output_folder_before_evaluating(learnable_mnist, tmp_path, capsys):
    run_sda(tiny(learnable_mnist, tmp_path / "run"))
    capsys.readouterr()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, err = call_main("evaluate", [tmp_path / "run", "--dataset", learnable_mnist,
                                       "--output-dir", blocker / "out"], capsys)
    assert code == 2 and "cannot be written" in err and len(err.strip().splitlines()) == 1
    code, err = call_main("evaluate", [tmp_path / "run", "--dataset", learnable_mnist,
                                       "--output-dir", tmp_path / "new" / "folder"], capsys)
    assert code == 0, err
    assert (tmp_path / "new" / "folder" / "confusion_matrix.png").exists()


def test_evaluate_refuses_more_classes_than_the_model_has(tmp_path, capsys):
    from fakedata import TEST_LABELS, make_learnable_arrays, write_mnist
    from sda.model_io import param_arrays, save_model
    from sda.tutorial.SdA import SdA

    model = SdA(numpy.random.RandomState(1), n_ins=784, hidden_layers_sizes=[5], n_outs=3, corruption_levels=[0.1])
    save_model(str(tmp_path / "model.npz"), param_arrays(model))
    arrays = make_learnable_arrays(n_train=60, n_test=20)
    arrays[TEST_LABELS][:] = 7
    data = write_mnist(tmp_path / "mnist", arrays)
    code, err = call_main("evaluate", [tmp_path / "model.npz", "--dataset", data], capsys)
    assert code == 1 and "3 classes" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_writing_into_a_vanished_folder_is_one_line_naming_the_file(tmp_path):
    from sda.files import atomic_write

    with pytest.raises(UserError, match="cannot write .*gone.*results.json"):
        with atomic_write(str(tmp_path / "gone" / "results.json"), "w") as f:
            f.write("{}")


def test_a_full_disk_while_writing_pictures_is_one_line(tmp_path, monkeypatch):
    from sda.pictures import save_filters

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(UserError, match="no space left.*filters.png"):
        save_filters(numpy.random.rand(784, 4), str(tmp_path / "filters.png"), tile_shape=(2, 2))
    assert os.listdir(tmp_path) == []  # nothing half-written


def test_output_files_are_readable_as_other_files_are(learnable_mnist, tmp_path):
    run_sda(tiny(learnable_mnist, tmp_path))
    umask = os.umask(0)
    os.umask(umask)
    for name in ("results.json", "model.npz", "learning_curves.png", "filters_layer_0.png"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask, name
