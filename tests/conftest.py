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


def load_script(name):
    """A script of scripts/ as a module, so its ``main(argv)`` can run in this process."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call_main(script, argv, capsys):
    """``(exit code, stderr)`` of ``scripts/<script>.py``'s ``main(argv)`` run in this process."""
    try:
        code = load_script(script).main([str(a) for a in argv])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    return code, capsys.readouterr().err
