"""bench/benchmark.py and bench/floor.py end to end on a few steps: the table printed last, the JSON of every figure,
PyTorch timed round-robin through the torch_steps.py protocol (a stand-in interpreter here)."""

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--batch-sizes", "2", "--steps", "3", "--repeats", "2", "--n-examples", "40"]


def benchmark(tmp_path, *args):
    env = {**os.environ, "SDA_DATA": str(tmp_path / "no-data-here")}  # random MNIST-like images
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "benchmark.py"), *QUICK,
                             "--json", str(tmp_path / "bench.json"), *args],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return result, json.loads((tmp_path / "bench.json").read_text())


def test_kernels_table_and_json(tmp_path):
    result, report = benchmark(tmp_path, "--variants", "kernels")
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("targets:")
    assert any(line.split()[:2] == ["kernels", "2"] for line in lines)
    phases = report["raw"]["kernels"]["2"]
    assert set(phases) == {"pretrain_0", "pretrain_1", "pretrain_2", "finetune"}
    for figures in phases.values():
        assert len(figures["all_ms"]) == 2 and figures["median_ms"] > 0
    assert report["summary"]["kernels"]["2"]["projected"]["total_min"] > 0


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is importable: it would be used")
def test_torch_is_timed_round_robin_through_the_serve_protocol(tmp_path):
    # a stand-in for an interpreter with torch: it speaks torch_steps.py --serve's protocol and logs the requests
    log = tmp_path / "requests.txt"
    fake = tmp_path / "fake-python"
    argv = tmp_path / "argv.txt"
    fake.write_text(f'#!/bin/sh\necho "$1" > {argv}\necho "ready 0.0-fake"\n'
                    f'while read line; do echo "$line" >> {log}; echo done; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result, report = benchmark(tmp_path, "--variants", "kernels,torch", "--torch-python", str(fake))
    assert report["config"]["torch"] == "0.0-fake"
    # the child runs torch_steps.py from beside benchmark.py (bench/)
    assert Path(argv.read_text().strip()) == ROOT / "bench" / "torch_steps.py"
    assert (ROOT / "bench" / "torch_steps.py").is_file()
    assert "speedup_vs_torch_here" in report["summary"]["kernels"]["2"]
    assert any(line.split()[:2] == ["torch", "2"] for line in result.stdout.splitlines())
    requests = [line.split() for line in log.read_text().splitlines()]
    # compile and warm-up calls first (a phase each), then the timed runs: every phase, once per repeat
    assert len(requests) == 4 + 4 + 4 * 2
    assert [r[1] for r in requests[-8:]] == ["pretrain_0", "pretrain_1", "pretrain_2", "finetune"] * 2
    assert all(r[0] == "2" and r[3] == "3" for r in requests[-8:])


def test_missing_torch_is_skipped_with_a_note(tmp_path):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is importable here")
    result, report = benchmark(tmp_path, "--variants", "kernels,torch", "--torch-python", str(tmp_path / "nope"))
    assert "torch: not importable" in result.stderr
    assert "torch" not in report["raw"]


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is importable: it would be used")
@pytest.mark.parametrize("answers, message", [(9, "stopped"), (0, "did not start")])
def test_a_torch_child_that_dies_leaves_the_other_figures(tmp_path, answers, message):
    # a stand-in that says ready, answers `answers` requests, then exits (0: it never says ready)
    fake = tmp_path / "fake-python"
    ready = 'echo "ready 0.0-fake"\n' if answers else 'echo "oops"\n'
    fake.write_text(f'#!/bin/sh\n{ready}n=0\nwhile read line; do n=$((n+1)); '
                    f'[ $n -gt {answers} ] && exit 3; echo done; done\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result, report = benchmark(tmp_path, "--variants", "kernels,torch", "--torch-python", str(fake))
    assert message in result.stderr
    assert "torch" not in report["raw"] and report["raw"]["kernels"]["2"]["finetune"]["median_ms"] > 0
    assert result.stdout.strip().splitlines()[-1].startswith("targets:")


# ---------------------------------------------------------------- bench/e2e.py and bench/torch_sda.py: whole runs

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed (the bench extra)")
TINY = ["--n-train", "200", "--hidden-layers", "20,10", "--corruption-levels", "0.1,0.2",
        "--pretraining-epochs", "1", "--training-epochs", "1"]


def e2e(tmp_path, dataset, *args, expect=0):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "e2e.py"), "--dataset", str(dataset),
                             "--json", str(tmp_path / "e2e.json"), *args],
                            capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert result.returncode == expect, result.stderr
    return result, (json.loads((tmp_path / "e2e.json").read_text()) if expect == 0 else None)


def load_bench(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_e2e_without_torch_times_ours_alone(tmp_path, learnable_mnist):
    # an interpreter that cannot import torch: a note, then ours alone, as in --ours-only
    result, report = e2e(tmp_path, learnable_mnist, *TINY, "--pairs", "1", "--no-warm-up",
                         "--torch-python", str(tmp_path / "no-python-here"))
    assert "cannot import torch; timing ours only" in result.stderr
    assert report["config"]["sides"] == ["ours"] and "ratios" not in report
    (run,), = report["runs"]
    assert run["wall_s"] > 0 and run["peak_rss_mb"] > 50 and run["engine"] == "kernels"
    assert run["best_validation_error_percent"] is not None and run["floatX"] == "float32"
    assert result.stdout.strip().splitlines()[-1].startswith("median ours wall:")


def test_e2e_ours_only_runs_the_given_checkout(tmp_path, learnable_mnist):
    result, report = e2e(tmp_path, learnable_mnist, *TINY, "--pairs", "1", "--no-warm-up", "--ours-only",
                         "--ours-checkout", str(ROOT), "--floatx", "float64")
    assert report["config"]["sides"] == ["ours"] and report["runs"][0][0]["floatX"] == "float64"


def fake_checkout(root, name, seconds, order):
    """A checkout whose scripts/train_sda.py sleeps, notes its turn in ``order`` and writes a results.json."""
    script = root / name / "scripts" / "train_sda.py"
    script.parent.mkdir(parents=True)
    script.write_text(
        "import json, os, sys, time\n"
        f"open({str(order)!r}, 'a').write({name!r} + ' ' + ' '.join(sys.argv[1:]) + '\\n')\n"
        f"time.sleep({seconds})\n"
        "out = sys.argv[sys.argv.index('--output-dir') + 1]\n"
        "os.makedirs(out)\n"
        "floatx = os.environ['PYTENSOR_FLAGS'].split('floatX=')[-1]\n"
        "json.dump({'pretraining_minutes': 0.001, 'finetuning_minutes': 0.002, 'floatX': floatx,\n"
        "           'best_validation_error_percent': 2.0, 'test_error_percent': 2.5, 'engine': 'kernels'},\n"
        "          open(os.path.join(out, 'results.json'), 'w'))\n")
    return root / name


def test_e2e_alternates_the_sides_and_reports_the_median_ratio(tmp_path, learnable_mnist):
    order = tmp_path / "order.txt"
    new, old = fake_checkout(tmp_path, "new", 0.2, order), fake_checkout(tmp_path, "old", 0.6, order)
    result, report = e2e(tmp_path, learnable_mnist, "--ours-checkout", str(new), "--baseline-checkout", str(old),
                         "--pairs", "3", "--batch-size", "20", "--n-train", "5000")
    turns = [line.split()[0] for line in order.read_text().splitlines()]
    assert turns == ["new", "old"] + ["new", "old"] * 3  # the warm-up, then alternating
    lines = order.read_text().splitlines()
    assert "--n-train 100 " in lines[0] and "--hidden-layers 10,10,10" in lines[0]  # the warm-up is tiny
    assert all("--batch-size 20 --n-train 5000" in line and "--no-progress" in line for line in lines[2:])
    assert report["config"]["sides"] == ["ours", "baseline"] and len(report["ratios"]) == 3
    assert all(r > 1.5 for r in report["ratios"])  # 0.6 s against 0.2 s, plus Python's start on both
    assert report["median_ratio"] == sorted(report["ratios"])[1]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("median baseline/ours:") and "2.00/2.50" in result.stdout


def test_e2e_runs_the_baseline_with_its_own_interpreter(tmp_path, learnable_mnist):
    # an older checkout may need its own environment (b364ad0's kernels need scipy-openblas32)
    order, marker = tmp_path / "order.txt", tmp_path / "baseline-python-used.txt"
    new, old = fake_checkout(tmp_path, "new", 0.0, order), fake_checkout(tmp_path, "old", 0.0, order)
    interpreter = tmp_path / "baseline-python"
    interpreter.write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\nexec {sys.executable} \"$@\"\n")
    interpreter.chmod(0o755)
    e2e(tmp_path, learnable_mnist, "--ours-checkout", str(new), "--baseline-checkout", str(old),
        "--baseline-python", str(interpreter), "--pairs", "2")
    used = marker.read_text().splitlines()
    assert len(used) == 3 and all(str(old) in line and str(new) not in line for line in used)  # warm-up + 2


@pytest.mark.parametrize("args, message", [
    (["--baseline-python", "python3"], "give --baseline-checkout too"),
    (["--hidden-layers", "20,10"], "2 hidden layers but 3 corruption levels"),
    (["--pairs", "0"], "--pairs must be at least 1"),
    (["--torch-threads", "0"], "--torch-threads must be at least 1"),
    (["--ours-only", "--baseline-checkout", "."], "exclude each other"),
    (["--ours-checkout", "/nowhere"], "has no scripts/train_sda.py"),
    (["--pretraining-epochs", "x"], "invalid int value"),
])
def test_e2e_bad_input_is_one_line(tmp_path, learnable_mnist, args, message):
    result, _ = e2e(tmp_path, learnable_mnist, *args, expect=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_e2e_warm_up_is_tiny_and_keeps_what_the_kernels_are_compiled_for():
    warm = load_bench("e2e").warm_up_settings({"batch_size": 20, "n_train": None, "pretraining_epochs": 15,
                                               "training_epochs": 1000, "hidden_layers": [1000, 500],
                                               "corruption_levels": [0.1, 0.2]})
    assert warm == {"batch_size": 20, "n_train": 100, "pretraining_epochs": 1, "training_epochs": 1,
                    "hidden_layers": [10, 10], "corruption_levels": [0.1, 0.2]}


@needs_torch
def test_e2e_against_torch_prints_the_ratio(tmp_path, learnable_mnist):
    result, report = e2e(tmp_path, learnable_mnist, *TINY, "--pairs", "1", "--no-warm-up", "--batch-size", "5",
                         "--torch-threads", "1")
    assert report["config"]["sides"] == ["ours", "torch"] and report["config"]["torch"]
    (ours, torch), = report["runs"]
    assert torch["cache_layer_inputs"] is False and torch["threads"] == 1 and torch["floatX"] == "float32"
    for run in (ours, torch):
        assert run["wall_s"] > 0 and run["peak_rss_mb"] > 50 and run["best_validation_error_percent"] is not None
    assert report["ratios"] == [torch["wall_s"] / ours["wall_s"]]
    assert result.stdout.strip().splitlines()[-1].startswith("median torch/ours:")
    assert "recomputed at every minibatch" in result.stdout


@needs_torch
def test_torch_sda_defaults_are_train_sda_defaults():
    from sda.configs import SdAConfig

    defaults = load_bench("torch_sda").DEFAULTS
    assert defaults == {k: getattr(SdAConfig(), k) for k in defaults}


@needs_torch
def test_torch_sda_reads_the_data_as_sda_does(learnable_mnist):
    import numpy

    from sda.data import load_mnist_arrays

    theirs = load_bench("torch_sda").load_mnist(str(learnable_mnist), 100, numpy.float32)
    ours = load_mnist_arrays(learnable_mnist, n_train=100, download=False)
    for (x, y), (our_x, our_y) in zip(theirs, ours):
        assert x.dtype == our_x.dtype and numpy.array_equal(x, our_x) and numpy.array_equal(y, our_y)


@needs_torch
@pytest.mark.parametrize("cache", [[], ["--cache-layer-inputs"]])
def test_torch_sda_trains(learnable_mnist, cache):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "torch_sda.py"), "--dataset", str(learnable_mnist),
                             "--hidden-layers", "20,10", "--corruption-levels", "0.1,0.2", "--pretraining-epochs",
                             "3", "--pretrain-lr", "0.01", "--training-epochs", "3", "--batch-size", "5", *cache],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert any(line.startswith("Pre-training layer 1, epoch 2, cost") for line in lines)
    report = json.loads(lines[-1])
    assert report["cache_layer_inputs"] == bool(cache)
    for costs in report["pretraining_costs"] + [report["finetune_costs"]]:
        assert costs[-1] < costs[0]  # the costs fall
    assert report["best_validation_error_percent"] < 50  # ten classes: chance is 90 %
    assert report["peak_rss_mb"] > 0 and report["pretraining_minutes"] > 0


@needs_torch
def test_torch_sda_bad_input_is_one_line(learnable_mnist):
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "torch_sda.py"), "--dataset", str(learnable_mnist),
                             "--n-train", "100000"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--n-train 100000" in result.stderr


def test_floor_table_and_json(tmp_path):
    env = {**os.environ, "SDA_DATA": str(tmp_path / "no-data-here")}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "floor.py"), "--steps", "4", "--repeats", "2",
                             "--json", str(tmp_path / "floor.json")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "random data" in result.stdout
    rows = json.loads((tmp_path / "floor.json").read_text())["rows"]
    assert [(row["phase"], row["threads"]) for row in rows] == [
        (phase, n) for phase in ("pretrain_0", "pretrain_1", "pretrain_2", "finetune") for n in (1, 2)]
    for row in rows:
        assert row["step_ms"] > 0 and row["floor_ms"] > 0 and row["reads_only_ms"] > 0
    printed = [line.split() for line in result.stdout.splitlines()[2:]]
    assert [(words[0], int(words[1])) for words in printed] == [(row["phase"], row["threads"]) for row in rows]
