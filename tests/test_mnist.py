"""One short run on the real MNIST (needs the official files; CI points SDA_DATA at them)."""

import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("SDA_DATA"),
                                reason="set SDA_DATA to a folder holding the four MNIST files to run this test")


def test_short_sda_run_on_real_mnist_gets_under_5_percent(tmp_path):
    from sda.configs import SdAConfig
    from sda.recipes import run_sda

    # the tutorial's network, batch 20, 1 pretraining epoch per layer, 4 finetuning epochs
    config = SdAConfig(batch_size=20, pretraining_epochs=1, training_epochs=4, output_dir=str(tmp_path))
    results = run_sda(config)
    assert results["n_train_examples"] == 50000
    assert results["finetune_epochs"] == 4
    assert results["test_error_percent"] < 5.0
    assert (tmp_path / "model.npz").exists()
