"""The notebooks run from the first cell to the last on the real MNIST, as "Run all" runs them, showing every
picture; and they are committed without outputs, so that nothing in them is left over from another run."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# the pictures each notebook shows; a cell that fails or stops showing its picture changes the count
PICTURES = {"dA.ipynb": 12, "SdA.ipynb": 4}


def read(name):
    nbformat = pytest.importorskip("nbformat", reason="reading the notebooks needs nbformat: pip install -e '.[test]'")
    return nbformat, nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_notebook_is_valid_and_committed_without_outputs(name):
    nbformat, notebook = read(name)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]


def test_every_notebook_is_tested():
    assert sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")) == sorted(PICTURES)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SDA_DATA"),
                    reason="set SDA_DATA to a folder holding the four MNIST files to run the notebooks")
@pytest.mark.parametrize("name", sorted(PICTURES))
def test_notebook_runs_end_to_end_on_real_mnist(name, tmp_path, monkeypatch):
    _, notebook = read(name)
    nbclient = pytest.importorskip("nbclient", reason="running the notebooks needs nbclient: pip install -e '.[test]'")
    pytest.importorskip("ipykernel", reason="running the notebooks needs ipykernel: pip install -e '.[test]'")
    # the kernel imports this checkout's sda, as the tests do
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # "python3" is ipykernel's kernel, started with the Python running the tests; the runs write under tmp_path
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=1200,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # a failing cell raises

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert sum("image/png" in output.get("data", {}) for output in outputs) == PICTURES[name]
    text = "".join(output.get("text", "") for output in outputs)
    if name == "dA.ipynb":
        assert (tmp_path / "runs" / "dA" / "reconstructions_corruption_50.png").exists()
        # the squared-error dA: the kernels notice the other cost and say which engine trains it
        assert "pretraining layer 0 runs with the compiled engine" in text
    else:
        assert "Optimization complete with best validation score" in text
        assert (tmp_path / "runs" / "pretraining_or_not.png").exists()
