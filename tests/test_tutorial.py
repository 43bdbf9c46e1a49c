"""The tutorial's own loops (``test_SdA``, ``test_dA``) and the production recipes train the same numbers,
and an edit of the tutorial's model is trained as edited, whatever the engine."""

import json
import re

import numpy
import pytest
from conftest import call_main

from sda.configs import DAConfig, SdAConfig
from sda.recipes import run_da, run_sda

SMALL = dict(n_train=120, hidden_layers=[20, 15], corruption_levels=[0.1, 0.3], pretraining_epochs=2,
             pretrain_lr=0.01, training_epochs=3, batch_size=2, progress=False)


def tutorial_lines(text):
    """The lines a learner compares with the tutorial's: pretraining costs, validation and test errors."""
    return [line for line in text.splitlines()
            if re.match(r"(Pre-training layer|epoch \d|     epoch \d|Optimization complete|Training epoch)", line)]


def test_test_SdA_and_run_sda_print_the_same_numbers(learnable_mnist, tmp_path, capsys):
    from sda.tutorial.SdA import test_SdA

    test_SdA(finetune_lr=0.1, pretraining_epochs=2, pretrain_lr=0.01, training_epochs=3, dataset=str(learnable_mnist),
             batch_size=2, hidden_layers_sizes=(20, 15), corruption_levels=(0.1, 0.3), n_train=120)
    expected = tutorial_lines(capsys.readouterr().out)
    for engine in ("compiled", "kernels"):
        run_sda(SdAConfig(dataset=str(learnable_mnist), output_dir=str(tmp_path / engine), engine=engine,
                          eval_batch_size=2, **SMALL))
        got = tutorial_lines(capsys.readouterr().out)
        assert len(expected) == 2 * 2 + 3 + 1 + sum("test error of best" in line for line in expected)
        if engine == "compiled":
            assert got == expected  # the very same functions, loops and numbers
        else:  # the kernels round differently: the same lines to the printed precision but the last digits
            assert [line[:40] for line in got] == [line[:40] for line in expected]


def test_test_dA_and_run_da_draw_the_same_filters(learnable_mnist, tmp_path, capsys):
    from sda.tutorial.dA import test_dA

    test_dA(learning_rate=0.1, training_epochs=2, dataset=str(learnable_mnist), batch_size=20,
            output_folder=str(tmp_path / "tutorial"), n_hidden=100, n_train=120)
    expected = tutorial_lines(capsys.readouterr().out)
    assert len(expected) == 2 * 2
    for engine in ("compiled", "kernels"):
        results = run_da(DAConfig(dataset=str(learnable_mnist), output_folder=str(tmp_path / engine),
                                  training_epochs=2, n_hidden=100, n_train=120, progress=False, engine=engine))
        assert results["engine"] == engine and not results.get("compiled_fallbacks")
        got = tutorial_lines(capsys.readouterr().out)
        if engine == "compiled":  # the very same function and numbers
            assert got == expected
            for name in ("filters_corruption_0.png", "filters_corruption_30.png"):
                assert (tmp_path / "tutorial" / name).read_bytes() == (tmp_path / engine / name).read_bytes()
        else:  # the kernels round differently: the same costs to a few digits, not to the last printed one
            assert [line[:-3] for line in got] == [line[:-3] for line in expected]


def squared_error_cost_updates(self, corruption_level, learning_rate):
    """A learner's edit of dA.get_cost_updates: the squared reconstruction error."""
    from sda.backend import T
    from sda.updates import sgd

    tilde_x = self.get_corrupted_input(self.x, corruption_level)
    z = self.get_reconstructed_input(self.get_hidden_values(tilde_x))
    cost = T.mean(T.sum((self.x - z) ** 2, axis=1))
    return cost, sgd(cost, self.params, learning_rate) + self.theano_rng.updates_for(cost)


def pretraining_costs(text):
    return [line for line in text.splitlines() if line.startswith("Pre-training layer")]


def test_an_edited_tutorial_cost_is_trained_by_the_default_engine(learnable_mnist, tmp_path, capsys, monkeypatch):
    """The issue's case: edit get_cost_updates in sda/tutorial/dA.py, run train_sda.py with its defaults."""
    from sda.tutorial.dA import dA

    monkeypatch.setattr(dA, "get_cost_updates", squared_error_cost_updates)
    flags = ["--dataset", learnable_mnist, "--n-train", 100, "--hidden-layers", "20", "--corruption-levels", "0.2",
             "--pretraining-epochs", 2, "--training-epochs", 1, "--no-progress"]
    code, err = call_main("train_sda", [*flags, "--output-dir", tmp_path / "compiled", "--engine", "compiled"],
                          capsys)
    assert code == 0, err
    code, err = call_main("train_sda", [*flags, "--output-dir", tmp_path / "auto"], capsys)
    assert code == 0, err
    auto = json.loads((tmp_path / "auto" / "results.json").read_text())
    expected = json.loads((tmp_path / "compiled" / "results.json").read_text())
    assert auto["pretraining_costs"] == expected["pretraining_costs"]  # the squared error, not the cross-entropy
    assert auto["compiled_fallbacks"] == ["pretraining layer 0"]
    # and --engine kernels refuses it in one line
    code, err = call_main("train_sda", [*flags, "--output-dir", tmp_path / "kernels", "--engine", "kernels"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--engine kernels" in err and "Traceback" not in err


def test_a_dA_subclass_given_to_run_sda_trains_its_own_cost(learnable_mnist, tmp_path, capsys):
    from sda.tutorial.dA import dA

    class SquaredErrorDA(dA):
        get_cost_updates = squared_error_cost_updates

    config = dict(dataset=str(learnable_mnist), n_train=100, hidden_layers=[20, 10], corruption_levels=[0.2, 0.1],
                  pretraining_epochs=1, training_epochs=1, progress=False)
    auto = run_sda(SdAConfig(output_dir=str(tmp_path / "auto"), **config), dA_class=SquaredErrorDA)
    lines = capsys.readouterr().out.splitlines()
    compiled = run_sda(SdAConfig(output_dir=str(tmp_path / "compiled"), engine="compiled", **config),
                       dA_class=SquaredErrorDA)
    assert auto["pretraining_costs"] == compiled["pretraining_costs"]
    assert auto["compiled_fallbacks"] == ["pretraining layer 0", "pretraining layer 1"]
    assert sum("runs with the compiled engine" in line for line in lines) == 2
    # finetuning is the tutorial's: the kernels train it
    assert "finetuning" not in auto["compiled_fallbacks"]
    numpy.testing.assert_allclose(auto["validation_history"][0]["train_cost"],
                                  compiled["validation_history"][0]["train_cost"], rtol=1e-4)


@pytest.mark.parametrize("engine", ["compiled", "kernels", "chunks"])
def test_each_engine_is_chosen_by_name_and_recorded(learnable_mnist, tmp_path, engine):
    results = run_sda(SdAConfig(dataset=str(learnable_mnist), output_dir=str(tmp_path), engine=engine, n_train=60,
                                hidden_layers=[10], corruption_levels=[0.1], pretraining_epochs=1, training_epochs=1,
                                progress=False))
    assert results["engine"] == engine
