"""Sweeps (scripts/sweep.py, sda.sweeps): the search space is checked before Ray starts, the summary says what
the trials' results say, and trials survive their workers being killed, bit for bit.

The tests that run trials start a real local Ray on tiny data; they skip when Ray Tune (the ``sweep`` extra) is
not installed.  The others need no Ray.
"""

import csv
import importlib.util
import json
import os
import signal
import statistics
from pathlib import Path

import numpy
import pytest
from conftest import call_main, load_script

from sda.errors import UsageError
from sda.sweeps import summary
from sda.sweeps.space import expand, parse_dimension, parse_seeds
from sda.sweeps.summary import Outcome, Row

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray Tune is not installed (pip install -e '.[sweep]')")

TINY = ["--hidden-layers", "20,10", "--corruption-levels", "0.1,0.2", "--batch-size", "10",
        "--pretraining-epochs", "1"]


def train_parser():
    return load_script("sweep").train_sda_parser()


def base_config(*argv):
    return vars(train_parser().parse_args([str(a) for a in argv]))


# ---------------------------------------------------------------- refused before Ray starts


@pytest.mark.parametrize("argv, says", [
    (["--grid", "learning-rate", "0.1", "0.2"], "has no flag --learning-rate"),
    (["--choice", "finetune-lr"], "no value to try"),
    (["--grid", "finetune-lr", "0.1", "fast"], "invalid float value: 'fast'"),
    (["--grid", "--finetune-lr", "0.1"], "expected at least one argument"),
    (["--grid", "seed", "1", "2"], "give the seeds with --seeds"),
    (["--grid", "rescale", "1"], "takes no value"),
    (["--grid", "finetune-lr", "0.1", "0.10"], "is given twice"),
    (["--grid", "hidden-layers", "10", "10,10", "--corruption-levels", "0.1,0.2"],
     "--hidden-layers has 1 sizes but --corruption-levels has 2 levels"),
    (["--finetune-lr", "0.1", "--grid", "finetune-lr", "0.2", "0.3"], "base flag and varied"),
    (["--samples", "3"], "there is none"),
    (["--seeds", "0"], "at least one seed"),
    (["--no-such-flag", "1"], "unrecognized arguments: --no-such-flag 1"),
    (["--resume"], "a sweep run again with the same command continues by itself"),
    (["--training-epochs", "0"], "at least one finetuning epoch"),
    (["--n-train", "5", "--grid", "batch-size", "1", "10"], "--batch-size 10 is larger than the training set (5 "),
    (["--pretrained-from", "nowhere"], "nowhere/pretrained.npz: give the --output-dir of a train_sda.py run"),
])
def test_a_bad_search_space_is_one_line_and_exit_2_before_ray_starts(argv, says, learnable_mnist, tmp_path,
                                                                       monkeypatch, capsys):
    import sda.sweeps.run

    monkeypatch.setattr(sda.sweeps.run, "run_sweep", lambda *a, **k: pytest.fail("the sweep started"))
    code, err = call_main("sweep", ["--dataset", learnable_mnist, "--output-dir", tmp_path / "sweep", *argv],
                          capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "sweep").exists()


def test_a_sweep_from_pretrained_layers_varies_only_the_finetuning_and_keeps_their_seed(learnable_mnist, tmp_path,
                                                                                         monkeypatch, capsys):
    import sda.sweeps.run

    monkeypatch.setattr(sda.sweeps.run, "run_sweep", lambda *a, **k: pytest.fail("the sweep started"))
    assert call_main("train_sda", ["--dataset", learnable_mnist, "--output-dir", tmp_path / "pretrained", *TINY],
                     capsys)[0] == 0
    sweep = ["--dataset", learnable_mnist, "--output-dir", tmp_path / "sweep", *TINY,
             "--pretrained-from", tmp_path / "pretrained"]
    for argv, says in [(["--seeds", "2"], "was pretrained with seed 89677, not 89678"),
                       (["--grid", "pretrain-lr", "0.001", "0.2"], "configuration pretrain-lr=0.2: --pretrained-from")]:
        code, err = call_main("sweep", [*sweep, *argv], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and says in err, err


def test_missing_data_is_one_line_before_ray_starts(tmp_path, monkeypatch, capsys):
    import sda.sweeps.run

    monkeypatch.setattr(sda.sweeps.run, "run_sweep", lambda *a, **k: pytest.fail("the sweep started"))
    (tmp_path / "empty.npz").write_bytes(b"not a zip")
    code, err = call_main("sweep", ["--dataset", tmp_path / "empty.npz", "--output-dir", tmp_path / "s"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "empty.npz" in err


def test_a_cluster_address_nothing_answers_on_is_one_line_not_a_hang(learnable_mnist, tmp_path, capsys):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as free:  # a port nothing listens on once closed
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    code, err = call_main("sweep", ["--dataset", learnable_mnist, "--output-dir", tmp_path / "sweep",
                                    "--address", f"127.0.0.1:{port}", *TINY], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert f"cannot join the Ray cluster at 127.0.0.1:{port}: nothing answers there" in err


# ---------------------------------------------------------------- the search space


def test_grid_choice_and_samples_expand_in_a_fixed_order(learnable_mnist):
    parser = train_parser()
    base = base_config("--dataset", learnable_mnist)
    grid = [parse_dimension(parser, "--grid", ["finetune-lr", "0.1", "0.05"]),
            parse_dimension(parser, "--grid", ["corruption-levels", "0.1,0.2,0.3", "0.2,0.3,0.4"])]
    choice = [parse_dimension(parser, "--choice", ["pretrain-lr", "0.001", "0.01", "0.1"])]
    configurations = expand(base, grid, choice, samples=2, search_seed=0)
    again = expand(base, grid, choice, samples=2, search_seed=0)
    assert [c.folder_name for c in configurations] == [c.folder_name for c in again]  # the same every run
    assert 2 < len(configurations) <= 8  # 2 x 2 grid points x 2 draws, a repeated draw left out
    assert len({c.folder_name for c in configurations}) == len(configurations)
    first = configurations[0]
    assert first.varied[:2] == (("finetune-lr", 0.1), ("corruption-levels", [0.1, 0.2, 0.3]))
    assert first.settings["corruption_levels"] == [0.1, 0.2, 0.3]
    assert first.folder_name.startswith("finetune-lr=0.1_corruption-levels=0.1,0.2,0.3_pretrain-lr=")
    assert os.path.isabs(first.settings["dataset"])
    # other base flags: other configurations (a sweep run again with other flags reuses no trial)
    other = expand(base_config("--dataset", learnable_mnist, "--batch-size", "20"), grid, choice, 2, 0)
    assert not {c.folder_name for c in other} & {c.folder_name for c in configurations}


def test_seeds_are_a_count_from_the_base_seed_or_a_list():
    assert parse_seeds("3", 89677) == [89677, 89678, 89679]
    assert parse_seeds("42,7,1234", 89677) == [42, 7, 1234]
    for bad in ("0", "1,1", "x", "-1,2"):
        with pytest.raises(UsageError):
            parse_seeds(bad, 89677)


# ---------------------------------------------------------------- the summary, on made-up outcomes


def made_up_rows():
    def finished(seed, validation, test, minutes=10.0):
        return Outcome(seed, "finished", validation, test, minutes, [(1, validation + 1.0), (2, validation)])

    return [
        Row((("finetune-lr", 0.1),), [finished(1, 1.40, 1.20), finished(2, 1.44, 1.22)], "trials/a"),
        # the best test error, but not the best validation error: never selected
        Row((("finetune-lr", 0.05),), [finished(1, 1.30, 1.50), finished(2, 1.34, 1.60),
                                       Outcome(3, "stopped early"), Outcome(4, "failed", message="diverged")],
            "trials/b"),
        Row((("finetune-lr", 0.2),), [Outcome(1, "unfinished")], "trials/c"),
    ]


def test_the_configuration_is_selected_on_validation_error_only():
    rows = made_up_rows()
    assert summary.select(rows) is rows[1]
    assert [row.selected for row in rows] == [False, True, False]
    assert "finetune-lr=0.05" in summary.selection_sentence(rows)


def test_nothing_is_selected_when_no_trial_finished_or_none_validated():
    unfinished = [Row((), [Outcome(1, "unfinished")], "trials/a")]
    assert summary.select(unfinished) is None
    assert summary.selection_sentence(unfinished) == "No configuration finished a trial: nothing to select."
    never_validated = [Row((), [Outcome(1, "finished", None, None, 1.0, [])], "trials/a")]  # --training-epochs 0
    assert summary.select(never_validated) is None
    assert "No finished trial has a validation error" in summary.selection_sentence(never_validated)


def test_the_markdown_table_gives_mean_std_and_range_per_configuration():
    rows = made_up_rows()
    summary.select(rows)
    lines = summary.markdown_table(rows).splitlines()
    assert lines[0] == ("|  | finetune-lr | seeds | validation error (%) | min–max | test error (%) | min–max "
                        "| minutes |")
    mean, std = statistics.mean([1.30, 1.34]), statistics.stdev([1.30, 1.34])
    assert lines[3] == (f"| **selected** | 0.05 | 2 (1 stopped early, 1 failed) | {mean:.2f} ± {std:.2f} | "
                        f"1.30–1.34 | 1.55 ± 0.07 | 1.50–1.60 | 10.0 |")
    assert lines[4] == "|  | 0.2 | 0 (1 unfinished) | — | — | — | — | — |"


def test_the_csv_has_the_numbers_unrounded(tmp_path):
    rows = made_up_rows()
    summary.select(rows)
    table = list(csv.DictReader(summary.csv_text(rows).splitlines()))
    assert [r["finetune-lr"] for r in table] == ["0.1", "0.05", "0.2"]
    assert float(table[0]["validation_mean"]) == pytest.approx(1.42)
    assert float(table[0]["test_std"]) == pytest.approx(statistics.stdev([1.20, 1.22]))
    assert table[1]["selected"] == "1" and table[1]["stopped_early"] == "1" and table[1]["failed"] == "1"
    assert table[2]["validation_mean"] == "" and table[2]["unfinished"] == "1"
    summary.write_summary(rows, tmp_path, "Sweep")
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "summary.csv").read_text() == summary.csv_text(rows)


# ---------------------------------------------------------------- real sweeps on a local Ray


def read_results(folder):
    return json.loads((folder / "results.json").read_text())


@needs_ray
def test_a_2x2_grid_with_2_seeds_gives_the_expected_table(learnable_mnist, tmp_path, monkeypatch, capsys):
    out = tmp_path / "sweep"
    argv = ["--dataset", learnable_mnist, *TINY, "--training-epochs", "2", "--grid", "finetune-lr", "0.1", "0.05",
            "--grid", "pretrain-lr", "0.01", "0.1", "--seeds", "2", "--cpus", "2", "--output-dir", out]
    assert load_script("sweep").main([str(a) for a in argv]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("4 configurations x 2 seeds = 8 trials in")
    progress = [line for line in printed if line.startswith("[")]
    assert sorted(line.split("]")[0] for line in progress) == sorted(f"[{i}/8" for i in range(1, 9))
    assert all(": validation " in line and " %, test " in line for line in progress)
    assert sum(line.startswith("| **selected** |") for line in printed) == 1
    table = list(csv.DictReader((out / "summary.csv").open()))
    assert [(r["finetune-lr"], r["pretrain-lr"]) for r in table] == [
        ("0.1", "0.01"), ("0.1", "0.1"), ("0.05", "0.01"), ("0.05", "0.1")]
    for row in table:
        trials = [out / row["folder"] / f"seed-{seed}" for seed in (89677, 89678)]
        results = [read_results(t) for t in trials]
        for result in results:
            assert result["config"]["finetune_lr"] == float(row["finetune-lr"])
            assert result["config"]["pretrain_lr"] == float(row["pretrain-lr"])
        validation = [r["best_validation_error_percent"] for r in results]
        test = [r["test_error_percent"] for r in results]
        assert row["seeds"] == "2" and row["failed"] == row["stopped_early"] == row["unfinished"] == "0"
        assert float(row["validation_mean"]) == pytest.approx(statistics.mean(validation))
        assert float(row["validation_std"]) == pytest.approx(statistics.stdev(validation))
        assert (float(row["test_min"]), float(row["test_max"])) == (min(test), max(test))
    best = min(table, key=lambda r: float(r["validation_mean"]))
    assert [r["selected"] for r in table].count("1") == 1 and best["selected"] == "1"
    markdown = (out / "summary.md").read_text()
    assert markdown.count("**selected**") == 1 and "Selected on validation error alone" in markdown
    assert (out / "sweep.png").exists()

    # the same command again: everything is kept, Ray is not even started
    import sda.sweeps.ray_tune

    monkeypatch.setattr(sda.sweeps.ray_tune, "run_trials", lambda *a, **k: pytest.fail("trials ran again"))
    before = (out / "summary.csv").read_text()
    code, err = call_main("sweep", argv, capsys)
    assert code == 0, err
    assert (out / "summary.csv").read_text() == before


@needs_ray
def test_a_sweep_of_finetuning_rates_from_one_pretraining_gives_the_numbers_of_full_runs(learnable_mnist, tmp_path,
                                                                                          capsys):
    common = ["--dataset", learnable_mnist, *TINY, "--training-epochs", "2"]
    assert call_main("train_sda", [*common, "--finetune-lr", "0.3", "--output-dir", tmp_path / "pretrained"],
                     capsys)[0] == 0
    assert call_main("train_sda", [*common, "--finetune-lr", "0.05", "--output-dir", tmp_path / "full"],
                     capsys)[0] == 0
    out = tmp_path / "sweep"
    argv = [*common, "--pretrained-from", tmp_path / "pretrained", "--grid", "finetune-lr", "0.1", "0.05",
            "--cpus", "2", "--output-dir", out]
    assert load_script("sweep").main([str(a) for a in argv]) == 0
    table = {r["finetune-lr"]: r for r in csv.DictReader((out / "summary.csv").open())}
    trial = out / table["0.05"]["folder"] / "seed-89677"
    full = read_results(tmp_path / "full")
    assert read_results(trial)["validation_history"] == full["validation_history"]
    with numpy.load(trial / "model.npz") as a, numpy.load(tmp_path / "full" / "model.npz") as b:
        assert all(numpy.array_equal(a[k], b[k]) for k in b.files)
    assert "Pre-training layer 0, epoch 0" in (trial / "train.log").read_text()


@needs_ray
def test_a_trial_whose_worker_is_killed_is_restarted_and_ends_bit_identical(learnable_mnist, tmp_path, capsys):
    from ray import tune

    from sda.recipes import run_sda
    from sda.sweeps.run import run_sweep
    from sda.sweeps.trials import trials_of

    class KillTheWorkerAtItsFirstValidation(tune.Callback):
        """Kills the trial's worker process (SIGKILL) when its first validation arrives.  The worker is then
        waiting in Tune's report, after its checkpoint: the same point on every run."""

        killed = None

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if self.killed is None:
                self.killed = result["pid"]
                os.kill(result["pid"], signal.SIGKILL)

    configurations = expand(base_config("--dataset", learnable_mnist, *TINY, "--pretrain-lr", "0.01",
                                         "--training-epochs", "3"))
    killer = KillTheWorkerAtItsFirstValidation()
    run_sweep(configurations, [7], tmp_path / "sweep", cpus=1, callbacks=[killer])
    assert killer.killed
    out = capsys.readouterr().out
    assert "attempt 1 failed" in out and "restarted 1x" in out, out
    (trial,) = trials_of(configurations, [7], tmp_path / "sweep")
    folder = Path(trial.folder)
    assert "... resuming from" in (folder / "train.log").read_text()

    alone = tmp_path / "alone"
    run_sda(configurations[0].run_config(7, str(alone)))  # the same run, never interrupted, no Ray
    expected, got = numpy.load(alone / "model.npz"), numpy.load(folder / "model.npz")
    assert expected.files == got.files
    for name in expected.files:
        assert numpy.array_equal(expected[name], got[name]), name  # bit-identical
    keys = ("best_validation_error_percent", "test_error_percent", "best_iter", "finetune_epochs",
            "pretraining_costs", "validation_history")
    assert {k: read_results(folder)[k] for k in keys} == {k: read_results(alone)[k] for k in keys}


@needs_ray
def test_asha_stops_trials_only_before_their_last_epoch_and_a_rerun_keeps_them_stopped(learnable_mnist, tmp_path,
                                                                                      monkeypatch, capsys):
    out = tmp_path / "sweep"
    argv = [str(a) for a in ["--dataset", learnable_mnist, *TINY, "--training-epochs", "3", "--grid", "finetune-lr",
                             "0.1", "0.001", "0.0001", "--asha", "--asha-reduction", "2", "--cpus", "2",
                             "--output-dir", out]]
    assert load_script("sweep").main(argv) == 0
    table = list(csv.DictReader((out / "summary.csv").open()))
    for row in table:
        folder = out / row["folder"] / "seed-89677"
        finished, stopped = (folder / "results.json").exists(), (folder / "stopped_early.json").exists()
        assert finished != stopped
        assert (row["seeds"], row["stopped_early"]) == (str(int(finished)), str(int(stopped)))
        if stopped:  # ASHA decides at rungs before the last epoch; a trial reaching it finishes
            assert json.loads((folder / "stopped_early.json").read_text())["stopped_after_finetuning_epoch"] < 3
            assert (folder / "checkpoint.npz").exists()  # run without --asha, it would continue from there
    capsys.readouterr()

    import sda.sweeps.ray_tune

    monkeypatch.setattr(sda.sweeps.ray_tune, "run_trials", lambda *a, **k: pytest.fail("trials ran again"))
    assert load_script("sweep").main(argv) == 0  # under --asha, stopped trials stay stopped
    assert "3 ended before and are kept" in capsys.readouterr().out
