"""Make the checkout's ``sda`` package importable when pytest is run from anywhere."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from fakedata import make_learnable_arrays, write_mnist  # noqa: E402


@pytest.fixture(scope="session")
def learnable_mnist(tmp_path_factory):
    """A folder of MNIST-format IDX files holding a small learnable problem."""
    return write_mnist(tmp_path_factory.mktemp("learnable") / "mnist", make_learnable_arrays())
