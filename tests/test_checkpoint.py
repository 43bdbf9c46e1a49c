"""Checkpoints: a run killed anywhere and resumed ends bit-identical to one never stopped."""

import errno
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy
import pytest

from sda.checkpoint import Checkpointer
from sda.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
SDA_FLAGS = ["--batch-size", "1", "--n-train", "200", "--hidden-layers", "30,20", "--corruption-levels", "0.1,0.3",
             "--pretraining-epochs", "3", "--pretrain-lr", "0.01", "--training-epochs", "6"]
DA_FLAGS = ["--batch-size", "2", "--n-train", "200", "--n-hidden", "25", "--training-epochs", "4"]


def start(script, data, out, *extra):
    return subprocess.Popen([sys.executable, "-u", str(ROOT / "scripts" / script), "--dataset", str(data),
                             "--output-dir" if script == "train_sda.py" else "--output-folder", str(out),
                             *(SDA_FLAGS if script == "train_sda.py" else DA_FLAGS), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process):
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def run_until(script, data, out, trigger, sig, delay, *extra):
    """Starts a run and sends ``sig`` ``delay`` seconds after a stdout line starting with ``trigger``."""
    process = start(script, data, out, *extra)
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(trigger):
            time.sleep(delay)
            process.send_signal(sig)
            break
    rest_out, err = process.communicate(timeout=600)
    return process.returncode, "".join(seen) + rest_out, err


def numbers(results):
    return {k: results[k] for k in ("best_validation_error_percent", "test_error_percent", "best_iter",
                                    "finetune_epochs", "pretraining_costs", "validation_history")}


@pytest.fixture(scope="module")
def baseline(learnable_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline")
    code, stdout, err = finish(start("train_sda.py", learnable_mnist, out))
    assert code == 0, err
    return out, stdout


def assert_same_as_baseline(baseline_dir, out):
    expected, got = numpy.load(baseline_dir / "model.npz"), numpy.load(out / "model.npz")
    for name in expected.files:
        assert numpy.array_equal(expected[name], got[name]), name  # bit-identical
    assert numbers(json.loads((out / "results.json").read_text())) == \
        numbers(json.loads((baseline_dir / "results.json").read_text()))
    assert not (out / "checkpoint.pkl").exists()


@pytest.mark.parametrize("kills", [
    [("Pre-training layer 0, epoch 0", 0.0)],
    [("Pre-training layer 0, epoch 1", 0.0), ("Pre-training layer 1, epoch 1", 0.0)],
    [("... finetuning the model", 0.05)],
    [("epoch 2, minibatch", 0.0), ("epoch 4, minibatch", 0.03)],
])
def test_sigkill_anywhere_then_resume_is_bit_identical(baseline, learnable_mnist, tmp_path, kills):
    baseline_dir, _ = baseline
    out = tmp_path / "run"
    finished = False
    for i, (trigger, delay) in enumerate(kills):
        extra = ["--resume"] if i else []
        code, stdout, err = run_until("train_sda.py", learnable_mnist, out, trigger, signal.SIGKILL,
                                      delay + random.uniform(0, 0.01), *extra)
        if i and code == 0 and not any(line.startswith(trigger) for line in stdout.splitlines()):
            # The previous kill landed after this trigger's line had been checkpointed (timing on a loaded
            # machine): the resumed run never printed it and finished; what it left is checked below.
            assert "... resuming from" in stdout
            finished = True
            break
        assert code == -signal.SIGKILL, err
        assert (out / "checkpoint.pkl").exists() or trigger.startswith("Pre-training layer 0, epoch 0")
    if not finished:
        resuming = (out / "checkpoint.pkl").exists()  # else killed before the first checkpoint: start again
        code, stdout, err = finish(start("train_sda.py", learnable_mnist, out, *(["--resume"] if resuming else [])))
        assert code == 0, err
        assert ("... resuming from" in stdout) == resuming
    assert_same_as_baseline(baseline_dir, out)


@pytest.mark.parametrize("sig, trigger", [(signal.SIGINT, "Pre-training layer 1, epoch 0"),
                                          (signal.SIGTERM, "epoch 1, minibatch")])
def test_sigint_and_sigterm_checkpoint_and_say_how_to_resume(baseline, learnable_mnist, tmp_path, sig, trigger):
    baseline_dir, _ = baseline
    out = tmp_path / "run"
    code, stdout, err = run_until("train_sda.py", learnable_mnist, out, trigger, sig, 0.01)
    assert code == 128 + sig
    assert (out / "checkpoint.pkl").exists()
    assert err.strip().splitlines()[-1].startswith(f"stopped: {signal.Signals(sig).name} received; checkpoint")
    assert "--resume" in err and "Traceback" not in err
    code, stdout, err = finish(start("train_sda.py", learnable_mnist, out, "--resume"))
    assert code == 0, err
    assert_same_as_baseline(baseline_dir, out)


def test_train_da_interrupted_and_resumed_gives_the_same_filters(learnable_mnist, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    code, _, err = finish(start("train_da.py", learnable_mnist, whole))
    assert code == 0, err
    code, _, err = run_until("train_da.py", learnable_mnist, parts, "Training epoch 1", signal.SIGKILL, 0.0)
    assert code == -signal.SIGKILL
    code, _, err = finish(start("train_da.py", learnable_mnist, parts, "--resume"))
    assert code == 0, err
    for name in ("filters_corruption_0.png", "filters_corruption_30.png"):
        assert (whole / name).read_bytes() == (parts / name).read_bytes()
    runs = [json.loads((d / "results.json").read_text())["runs"] for d in (whole, parts)]
    assert [r["costs"] for r in runs[0]] == [r["costs"] for r in runs[1]]


def test_resume_refuses_a_different_configuration(learnable_mnist, tmp_path):
    out = tmp_path / "run"
    code, _, _ = run_until("train_sda.py", learnable_mnist, out, "Pre-training layer 0, epoch 1", signal.SIGINT, 0)
    assert code == 130
    code, _, err = finish(start("train_sda.py", learnable_mnist, out, "--resume", "--seed", "5",
                                "--finetune-lr", "0.2"))
    assert code == 2
    assert "finetune_lr" in err and "seed" in err and len(err.strip().splitlines()) == 1
    # and a fresh run does not overwrite the unfinished one
    code, _, err = finish(start("train_sda.py", learnable_mnist, out))
    assert code == 2 and "--resume" in err and (out / "checkpoint.pkl").exists()


def test_a_checkpoint_older_than_a_configuration_key_resumes_with_its_default(tmp_path):
    defaults = {"seed": 1, "finetune_lr_decay": 1.0}
    Checkpointer(tmp_path, "sda", {"seed": 7}).save({"step": 3}, "data")  # written before the key existed
    now = Checkpointer(tmp_path, "sda", {"seed": 7, "finetune_lr_decay": 1.0}, defaults=defaults)
    assert now.load("data")["step"] == 3
    other = Checkpointer(tmp_path, "sda", {"seed": 7, "finetune_lr_decay": 0.9}, defaults=defaults)
    with pytest.raises(UserError, match="finetune_lr_decay"):
        other.load("data")


def test_resume_without_a_checkpoint_is_a_usage_error(learnable_mnist, tmp_path):
    code, _, err = finish(start("train_sda.py", learnable_mnist, tmp_path, "--resume"))
    assert code == 2 and "no checkpoint" in err and "Traceback" not in err


def test_diverging_cost_stops_naming_layer_epoch_and_learning_rate(learnable_mnist, tmp_path):
    code, stdout, err = finish(start("train_sda.py", learnable_mnist, tmp_path, "--pretrain-lr", "1e38"))
    assert code == 1
    assert "pretraining layer 0, epoch 0" in err and "learning rate (1e+38)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    checkpointer = Checkpointer(str(tmp_path), "sda", {"seed": 1})
    checkpointer.save({"epoch": 1}, "fp")
    before = (tmp_path / "checkpoint.pkl").read_bytes()

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(UserError, match="no space left on the disk.*intact"):
        checkpointer.save({"epoch": 2, "big": numpy.zeros(1000)}, "fp")
    assert (tmp_path / "checkpoint.pkl").read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.pkl"]  # no temporary file left behind
    assert pickle.loads(before)["epoch"] == 1


def test_a_damaged_checkpoint_is_one_clear_line(tmp_path):
    (tmp_path / "checkpoint.pkl").write_bytes(b"\x80\x05garbage")
    with pytest.raises(UserError, match="not a readable checkpoint"):
        Checkpointer(str(tmp_path), "sda", {}).load("fp")


def test_checkpoint_every_n(tmp_path):
    checkpointer = Checkpointer(str(tmp_path), "sda", {}, every=3)
    written = [checkpointer.save({"i": i}, "fp") for i in range(7)]
    assert written == [False, False, True, False, False, True, False]
