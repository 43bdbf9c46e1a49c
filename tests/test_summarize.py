"""scripts/summarize.py: the table over seeds of runs made by hand, from their results.json."""

import json

import pytest

from test_scripts import run_script

TINY = ("--batch-size", 10, "--hidden-layers", "20", "--corruption-levels", "0.1", "--pretraining-epochs", 1,
        "--training-epochs", 2)


@pytest.fixture(scope="module")
def runs(learnable_mnist, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    made = {}
    for name, seed, floatx in (("a", 1, "float32"), ("b", 2, "float32"), ("c", 1, "float64")):
        run_script("train_sda.py", "--dataset", learnable_mnist, *TINY, "--seed", seed, "--output-dir", root / name,
                   env={"THEANO_FLAGS": f"floatX={floatx}"})
        made[name] = json.loads((root / name / "results.json").read_text())
    return root, made


def test_runs_differing_in_seed_share_a_row_and_float_types_do_not(runs, tmp_path):
    root, made = runs
    result = run_script("summarize.py", root / "a", root / "b", root / "c", "--output-dir", tmp_path / "summary")
    lines = result.stdout.splitlines()
    assert lines[0].split("|")[2].strip() == "floatX"
    rows = {cells[2]: cells for cells in ([c.strip() for c in line.split("|")] for line in lines[2:4])}
    assert set(rows) == {"float32", "float64"}
    validation = [made[n]["best_validation_error_percent"] for n in "ab"]
    test = [made[n]["test_error_percent"] for n in "ab"]
    assert rows["float32"][3] == "2" and rows["float64"][3] == "1"
    assert rows["float32"][4].startswith(f"{sum(validation) / 2:.2f} ± ")
    assert rows["float32"][5] == f"{min(validation):.2f}–{max(validation):.2f}"
    assert rows["float32"][7] == f"{min(test):.2f}–{max(test):.2f}"
    assert rows["float64"][4] == f"{made['c']['best_validation_error_percent']:.2f}"
    assert "Selected on validation error alone: floatX=" in result.stdout
    for name in ("summary.md", "summary.csv", "sweep.png"):
        assert (tmp_path / "summary" / name).stat().st_size > 0


def test_a_folder_without_results_is_refused_in_one_line(runs, tmp_path):
    root, _ = runs
    result = run_script("summarize.py", root / "a", tmp_path, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "holds no results.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_file_given_as_a_run_is_refused_in_one_line(runs):
    root, _ = runs
    result = run_script("summarize.py", root / "a", root / "a" / "results.json", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "holds no results.json" in result.stderr


@pytest.mark.parametrize("twice", ["the same folder", "a copy"])
def test_a_run_counted_twice_is_refused_rather_than_taken_for_two_seeds(runs, tmp_path, twice):
    import shutil

    root, _ = runs
    again = root / "a" / "." if twice == "the same folder" else shutil.copytree(root / "a", tmp_path / "copy")
    result = run_script("summarize.py", root / "a", root / "b", again, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    if twice == "the same folder":
        assert "is given twice: give each run once" in result.stderr
    else:
        assert "are the same configuration with the same seed (1): a seed counts once" in result.stderr


def test_an_output_folder_that_cannot_be_written_is_one_line(runs, tmp_path):
    root, _ = runs
    (tmp_path / "a_file").write_text("")
    result = run_script("summarize.py", root / "a", "--output-dir", tmp_path / "a_file" / "summary", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "--output-dir" in result.stderr
    assert "cannot be written" in result.stderr
