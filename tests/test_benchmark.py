"""bench/benchmark.py end to end on a few steps: the table printed last, the JSON of every figure,
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
