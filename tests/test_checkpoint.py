"""Checkpoints: a run stopped anywhere and resumed ends bit-identical to one never stopped, on every engine.

Most interruptions are deterministic (``stop_after_minibatches``: stop after exactly N minibatches, in
process); one test kills a real process with SIGKILL, and one stops it with SIGINT / SIGTERM.
"""

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

from sda.checkpoint import CHECKPOINT_NAME, FORMAT_VERSION, Checkpointer, read_checkpoint, write_checkpoint
from sda.configs import DAConfig, SdAConfig
from sda.errors import RunInterrupted, UsageError, UserError
from sda.recipes import run_da, run_sda

ROOT = Path(__file__).resolve().parent.parent
SDA_FLAGS = ["--batch-size", "1", "--n-train", "200", "--hidden-layers", "30,20", "--corruption-levels", "0.1,0.3",
             "--pretraining-epochs", "3", "--pretrain-lr", "0.01", "--training-epochs", "6"]
# 2 layers x 3 epochs x 200 minibatches of pretraining, then up to 6 x 200 of finetuning
SDA_CONFIG = dict(batch_size=1, n_train=200, hidden_layers=[30, 20], corruption_levels=[0.1, 0.3],
                  pretraining_epochs=3, pretrain_lr=0.01, training_epochs=6, progress=False)
DA_CONFIG = dict(batch_size=2, n_train=200, n_hidden=25, training_epochs=4, progress=False)


def sda_config(data, out, **changes):
    return SdAConfig(dataset=str(data), output_dir=str(out), **{**SDA_CONFIG, **changes})


def start(script, data, out, *extra):
    return subprocess.Popen([sys.executable, "-u", str(ROOT / "scripts" / script), "--dataset", str(data),
                             "--output-dir", str(out), *SDA_FLAGS, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process):
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def run_until(data, out, trigger, sig, *extra):
    """Starts a train_sda.py run and sends ``sig`` when it prints a line starting with ``trigger``."""
    process = start("train_sda.py", data, out, *extra)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(trigger):
            process.send_signal(sig)
            break
    rest_out, err = process.communicate(timeout=600)
    return process.returncode, "".join(seen) + rest_out, err


def numbers(results):
    return {k: results[k] for k in ("best_validation_error_percent", "test_error_percent", "best_iter",
                                    "finetune_epochs", "pretraining_costs", "validation_history")}


@pytest.fixture(scope="module")
def baselines(learnable_mnist, tmp_path_factory):
    """Uninterrupted runs, one per engine, made when first asked for."""
    made = {}

    def baseline(engine):
        if engine not in made:
            out = tmp_path_factory.mktemp(f"baseline_{engine}")
            run_sda(sda_config(learnable_mnist, out, engine=engine))
            made[engine] = out
        return made[engine]

    return baseline


def assert_same_as(baseline_dir, out):
    expected, got = numpy.load(baseline_dir / "model.npz"), numpy.load(out / "model.npz")
    for name in expected.files:
        assert numpy.array_equal(expected[name], got[name]), name  # bit-identical
    assert numbers(json.loads((out / "results.json").read_text())) == \
        numbers(json.loads((baseline_dir / "results.json").read_text()))
    assert not (out / CHECKPOINT_NAME).exists()
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]  # no stray temporary file


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["kernels", "compiled", "chunks"])
@pytest.mark.parametrize("stops", [
    [250],          # pretraining layer 0, epoch 1
    [1450],         # finetuning epoch 2
    [700, 600],     # pretraining layer 1, then (counted from the resume) finetuning epoch 1
])
def test_stopped_anywhere_then_resumed_is_bit_identical(baselines, learnable_mnist, tmp_path, engine, stops):
    out = tmp_path / "run"
    for i, n in enumerate(stops):
        with pytest.raises(RunInterrupted) as stopped:
            run_sda(sda_config(learnable_mnist, out, engine=engine, resume=i > 0), stop_after_minibatches=n)
        assert stopped.value.exit_code == 130 and "--resume" in str(stopped.value)
        assert (out / CHECKPOINT_NAME).exists()
    run_sda(sda_config(learnable_mnist, out, engine=engine, resume=True))
    assert_same_as(baselines(engine), out)


def test_sigkill_then_resume_is_bit_identical(baselines, learnable_mnist, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_until(learnable_mnist, out, "Pre-training layer 1, epoch 0", signal.SIGKILL)
    assert code == -signal.SIGKILL, err
    assert (out / CHECKPOINT_NAME).exists()  # the kill came after at least one checkpoint
    code, stdout, err = finish(start("train_sda.py", learnable_mnist, out, "--resume"))
    assert code == 0, err
    assert "... resuming from" in stdout
    assert_same_as(baselines("kernels"), out)


@pytest.mark.parametrize("sig, trigger", [(signal.SIGINT, "Pre-training layer 1, epoch 0"),
                                          (signal.SIGTERM, "epoch 1, minibatch")])
def test_sigint_and_sigterm_checkpoint_and_say_how_to_resume(baselines, learnable_mnist, tmp_path, sig, trigger):
    out = tmp_path / "run"
    code, stdout, err = run_until(learnable_mnist, out, trigger, sig)
    assert code == 128 + sig
    assert (out / CHECKPOINT_NAME).exists()
    assert err.strip().splitlines()[-1].startswith(f"stopped: {signal.Signals(sig).name} received; checkpoint")
    assert "--resume" in err and "Traceback" not in err
    code, stdout, err = finish(start("train_sda.py", learnable_mnist, out, "--resume"))
    assert code == 0, err
    assert_same_as(baselines("kernels"), out)


def test_train_da_stopped_and_resumed_gives_the_same_filters(learnable_mnist, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run_da(DAConfig(dataset=str(learnable_mnist), output_folder=str(whole), **DA_CONFIG))
    # 100 minibatches an epoch: stop in the second epoch of the first dA, then in the first of the second
    with pytest.raises(RunInterrupted):
        run_da(DAConfig(dataset=str(learnable_mnist), output_folder=str(parts), **DA_CONFIG),
               stop_after_minibatches=150)
    with pytest.raises(RunInterrupted):
        run_da(DAConfig(dataset=str(learnable_mnist), output_folder=str(parts), resume=True, **DA_CONFIG),
               stop_after_minibatches=300)
    run_da(DAConfig(dataset=str(learnable_mnist), output_folder=str(parts), resume=True, **DA_CONFIG))
    for name in ("filters_corruption_0.png", "filters_corruption_30.png"):
        assert (whole / name).read_bytes() == (parts / name).read_bytes()
    runs = [json.loads((d / "results.json").read_text())["runs"] for d in (whole, parts)]
    assert [r["costs"] for r in runs[0]] == [r["costs"] for r in runs[1]]


def test_resume_refuses_a_different_configuration(learnable_mnist, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        run_sda(sda_config(learnable_mnist, out), stop_after_minibatches=300)
    with pytest.raises(UsageError) as refused:
        run_sda(sda_config(learnable_mnist, out, resume=True, seed=5, finetune_lr=0.2))
    assert "finetune_lr" in str(refused.value) and "seed" in str(refused.value)
    # and a fresh run does not overwrite the unfinished one
    with pytest.raises(UsageError, match="--resume"):
        run_sda(sda_config(learnable_mnist, out))
    assert (out / CHECKPOINT_NAME).exists()


def test_a_checkpoint_older_than_a_configuration_key_resumes_with_its_default(tmp_path):
    defaults = {"seed": 1, "finetune_lr_decay": 1.0}
    Checkpointer(tmp_path, "sda", {"seed": 7}).save({"step": 3}, "data")  # written before the key existed
    now = Checkpointer(tmp_path, "sda", {"seed": 7, "finetune_lr_decay": 1.0}, defaults=defaults)
    assert now.load("data")["step"] == 3
    other = Checkpointer(tmp_path, "sda", {"seed": 7, "finetune_lr_decay": 0.9}, defaults=defaults)
    with pytest.raises(UserError, match="finetune_lr_decay"):
        other.load("data")


def test_resume_without_a_checkpoint_is_a_usage_error(learnable_mnist, tmp_path):
    with pytest.raises(UsageError, match="no checkpoint"):
        run_sda(sda_config(learnable_mnist, tmp_path / "typo", resume=True))
    assert not (tmp_path / "typo").exists()  # the mistyped folder is not left behind, empty
    (tmp_path / "mine").mkdir()
    with pytest.raises(UsageError, match="no checkpoint"):
        run_sda(sda_config(learnable_mnist, tmp_path / "mine", resume=True))
    assert (tmp_path / "mine").is_dir()  # a folder the user made stays


def test_diverging_cost_stops_naming_layer_epoch_and_learning_rate(learnable_mnist, tmp_path):
    code, stdout, err = finish(start("train_sda.py", learnable_mnist, tmp_path, "--pretrain-lr", "1e38"))
    assert code == 1
    assert "pretraining layer 0, epoch 0" in err and "learning rate (1e+38)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_checkpoint_round_trip_keeps_arrays_numbers_and_generator_states(tmp_path):
    state = {"params": {"W": numpy.arange(6, dtype="float32").reshape(2, 3)}, "loss": float("inf"),
             "noise": numpy.random.default_rng(5).bit_generator.state, "lines": ["a", "b"], "nested": [[1, 2.5]]}
    write_checkpoint(tmp_path / "c.npz", state)
    back = read_checkpoint(tmp_path / "c.npz")
    assert back["params"]["W"].dtype == numpy.float32
    numpy.testing.assert_array_equal(back["params"]["W"], state["params"]["W"])
    assert back["noise"] == state["noise"] and back["loss"] == float("inf") and back["nested"] == [[1, 2.5]]


def test_a_checkpoint_holds_no_pickle(tmp_path):
    write_checkpoint(tmp_path / "c.npz", {"W": numpy.zeros(3), "n": 1})
    with numpy.load(tmp_path / "c.npz", allow_pickle=False) as npz:  # would raise on an object array
        assert all(npz[name].dtype != object for name in npz.files)


def test_an_old_pickle_checkpoint_is_refused_without_being_loaded(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "checkpoint.pkl").write_bytes(pickle.dumps({"kind": "sda", "x": Evil()}))
    checkpointer = Checkpointer(str(tmp_path), "sda", {})
    with pytest.raises(UsageError, match="older sda version"):
        checkpointer.load("fp")
    with pytest.raises(UsageError, match="unfinished run"):
        checkpointer.refuse_to_overwrite()
    assert not marker.exists()


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    checkpointer = Checkpointer(str(tmp_path), "sda", {"seed": 1})
    checkpointer.save({"epoch": 1}, "fp")
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(UserError, match="no space left on the disk.*intact"):
        checkpointer.save({"epoch": 2, "big": numpy.zeros(1000)}, "fp")
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    assert os.listdir(tmp_path) == [CHECKPOINT_NAME]  # no temporary file left behind
    assert checkpointer.load("fp")["epoch"] == 1


def test_a_damaged_checkpoint_is_one_clear_line(tmp_path):
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(UserError, match="not a readable checkpoint"):
        Checkpointer(str(tmp_path), "sda", {}).load("fp")


def test_a_checkpoint_without_its_data_fingerprint_is_one_clear_line(tmp_path):
    write_checkpoint(tmp_path / CHECKPOINT_NAME, {"kind": "sda", "format_version": FORMAT_VERSION, "config": {}, "parts": {}})
    with pytest.raises(UserError, match="is not a checkpoint of sda: delete it to start over"):
        Checkpointer(str(tmp_path), "sda", {}).load("fp")


def test_a_checkpoint_whose_arrays_do_not_fit_the_model_is_one_clear_line(learnable_mnist, tmp_path):
    # edited by hand (or written by another program): a weight of the wrong shape must not reach PyTensor
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        run_sda(sda_config(learnable_mnist, out), stop_after_minibatches=300)
    state = read_checkpoint(out / CHECKPOINT_NAME)
    parameters = next(part for part in state["parts"].values()
                      if isinstance(part, dict) and "hidden_W_0" in part)
    parameters["hidden_W_0"] = numpy.zeros((7, 3), parameters["hidden_W_0"].dtype)
    write_checkpoint(out / CHECKPOINT_NAME, state)
    with pytest.raises(UserError) as refused:
        run_sda(sda_config(learnable_mnist, out, resume=True))
    message = str(refused.value)
    assert "does not fit this run" in message and "hidden_W_0 has shape (7, 3)" in message
    assert "delete it to start over" in message and "\n" not in message


def _edit_nan_weight(parts):
    parameters = next(part for part in parts.values() if isinstance(part, dict) and "hidden_W_0" in part)
    parameters["hidden_W_0"] = numpy.full_like(parameters["hidden_W_0"], numpy.nan)


def _edit_layer_past_the_last(parts):
    parts["pretraining"]["layer"] = 7


def _edit_epoch_past_the_last(parts):
    parts["pretraining"]["progress"]["epoch"] = 99


def _edit_finetuning_minibatch(parts):
    parts["finetuning"]["minibatch"] = -1


@pytest.mark.parametrize("edit, expected", [
    (_edit_nan_weight, "hidden_W_0 holds values that are not finite numbers"),
    (_edit_layer_past_the_last, "pretraining: layer 7 is not one of 0..2"),
    (_edit_epoch_past_the_last, "pretraining layer 0: epoch 99 is not one of 0..3"),
    (_edit_finetuning_minibatch, "finetuning: minibatch -1 is not one of 0.."),
])
def test_a_checkpoint_edited_into_a_state_training_never_reaches_is_one_clear_line(learnable_mnist, tmp_path,
                                                                                    edit, expected):
    # NaN weights were reported as a diverged training; a pretraining layer past the last one skipped pretraining
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        run_sda(sda_config(learnable_mnist, out), stop_after_minibatches=30)
    state = read_checkpoint(out / CHECKPOINT_NAME)
    edit(state["parts"])
    write_checkpoint(out / CHECKPOINT_NAME, state)
    with pytest.raises(UserError) as refused:
        run_sda(sda_config(learnable_mnist, out, resume=True))
    message = str(refused.value)
    assert "does not fit this run" in message and expected in message
    assert "delete it to start over" in message and "\n" not in message


# ---------------------------------------------------------------- --pretrained-from


def test_finetuning_from_another_runs_pretrained_layers_gives_the_numbers_of_a_full_run(learnable_mnist, tmp_path,
                                                                                         capsys):
    """A run with other finetuning flags leaves its layers in pretrained.npz; finetuning them with these flags
    gives, bit for bit, what pretraining again would have."""
    full = run_sda(sda_config(learnable_mnist, tmp_path / "full", finetune_lr=0.05, training_epochs=4))
    run_sda(sda_config(learnable_mnist, tmp_path / "other", finetune_lr=0.2, training_epochs=2))
    capsys.readouterr()
    again = run_sda(sda_config(learnable_mnist, tmp_path / "again", finetune_lr=0.05, training_epochs=4,
                               pretrained_from=str(tmp_path / "other")))
    printed = capsys.readouterr().out
    for key in ("validation_history", "pretraining_costs", "test_error_percent", "best_iter"):
        assert again[key] == full[key], key
    with numpy.load(tmp_path / "full" / "model.npz") as a, numpy.load(tmp_path / "again" / "model.npz") as b:
        assert sorted(a.files) == sorted(b.files) and all(numpy.array_equal(a[k], b[k]) for k in a.files)
    assert "Pre-training layer 1, epoch 2, cost" in printed and "... pretrained layers from" in printed
    assert again["config"]["pretrained_from"] == str(tmp_path / "other")
    assert (tmp_path / "again" / "pretrained.npz").exists()  # its own, for another finetuning


def test_a_pretrained_run_of_other_pretraining_flags_is_one_line(learnable_mnist, tmp_path):
    run_sda(sda_config(learnable_mnist, tmp_path / "other", training_epochs=1))
    for changes, says in [(dict(seed=3), "seed (pretrained: 89677, now: 3)"),
                          (dict(pretrain_lr=0.02), "pretrain_lr (pretrained: 0.01, now: 0.02)"),
                          (dict(n_train=100), "n_train (pretrained: 200, now: 100)")]:
        with pytest.raises(UsageError) as refused:
            run_sda(sda_config(learnable_mnist, tmp_path / "new", pretrained_from=str(tmp_path / "other"),
                               **changes))
        assert says in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(UsageError, match="there is no .*pretrained.npz: give the --output-dir of a train_sda.py"):
        run_sda(sda_config(learnable_mnist, tmp_path / "new", pretrained_from=str(tmp_path / "nothing")))
    with pytest.raises(UserError, match="not a readable checkpoint .*: give --pretrained-from the folder"):
        run_sda(sda_config(learnable_mnist, tmp_path / "new", pretrained_from=str(tmp_path / "other" / "model.npz")))
    assert not (tmp_path / "new").exists()  # a refused command leaves no empty folder behind


def test_a_checkpoint_of_a_run_still_pretraining_is_no_pretrained_run(learnable_mnist, tmp_path):
    with pytest.raises(RunInterrupted):
        run_sda(sda_config(learnable_mnist, tmp_path / "stopped"), stop_after_minibatches=300)
    with pytest.raises(UserError, match="it holds no run as its pretraining ended"):
        run_sda(sda_config(learnable_mnist, tmp_path / "new",
                           pretrained_from=str(tmp_path / "stopped" / CHECKPOINT_NAME)))


def test_checkpoint_every_n(tmp_path):
    checkpointer = Checkpointer(str(tmp_path), "sda", {}, every=3)
    written = [checkpointer.save({"i": i}, "fp") for i in range(7)]
    assert written == [False, False, True, False, False, True, False]


def test_a_finished_run_removes_the_partial_checkpoints_of_a_killed_writer(tmp_path):
    # a SIGKILL while a checkpoint is written leaves atomic_write's temporary file; the run that resumes and
    # finishes removes it with the checkpoint, and nothing else
    checkpointer = Checkpointer(str(tmp_path), "sda", {})
    checkpointer.save({"i": 1}, "fp")
    stale = tmp_path / f".{CHECKPOINT_NAME}.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    kept = [tmp_path / "results.json", tmp_path / ".model.npz.abc.tmp"]
    for path in kept:
        path.write_text("{}")
    checkpointer.remove()
    assert sorted(os.listdir(tmp_path)) == sorted(path.name for path in kept)


def test_resume_refuses_other_settings_that_determine_the_numbers(learnable_mnist, tmp_path, monkeypatch):
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        run_sda(sda_config(learnable_mnist, out, batch_size=2), stop_after_minibatches=50)
    monkeypatch.setattr("sda.engines.blas.FUSED_FLOAT32", False)  # an edit of the kernels' arithmetic
    monkeypatch.setattr("sda.backend.versions", lambda: {"numba": "0.0"})
    with pytest.raises(UsageError) as refused:
        run_sda(sda_config(learnable_mnist, out, batch_size=2, resume=True))
    message = str(refused.value)
    assert "kernel_arithmetic" in message and "versions" in message and "\n" not in message
