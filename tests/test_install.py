"""The install that CI tests is the one the README gives, and it installs what the locks say.

* the README's two commands at the top install from the hashed locks, and ``.ci/run`` runs the second one;
* every package in the locks is pinned with its hashes, the main lock is the test lock less the test tools;
* ``setup.py``'s bounds admit the locked versions, and bound every dependency from below and above;
* the packages installed here are the locked ones (on the platform the locks were made for).
"""

import ast
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK, TEST_LOCK = ROOT / "requirements.lock", ROOT / "requirements-test.lock"


def readme_commands():
    """The commands of the README's first two ``bash`` blocks (the main job, the tests)."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [block.strip() for block in blocks[:2]]


def read_lock(path):
    """``{canonical name: (version, [hashes])}`` of a pip-compile lock with hashes."""
    text = path.read_text()
    entries = {}
    for block in re.split(r"\n(?=\S)", text):
        first = block.split("\n", 1)[0]
        if first.startswith("#") or not first.strip():
            continue
        match = re.match(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", first)
        assert match, f"{path.name}: not an exact pin: {first!r}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        entries[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return entries


def setup_requirements():
    """``(install_requires, extras_require)`` as written in setup.py (read, not run)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    keywords = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords
                if keyword.arg in ("install_requires", "extras_require")}
    return keywords["install_requires"], keywords["extras_require"]


def test_readme_commands_install_from_the_locks():
    main, tests = readme_commands()
    setup = "python3 -m venv .venv && . .venv/bin/activate && pip install --require-hashes -r {} && pip install --no-deps -e ."
    assert main == setup.format("requirements.lock") + " && python scripts/train_sda.py"
    assert tests == setup.format("requirements-test.lock") + " && pytest"


def test_ci_runs_the_readme_test_command():
    _, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [line for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == tests
    assert "SDA_DATA" in ci  # the real MNIST beside the checkout, when CI has it


def test_every_locked_package_is_pinned_with_hashes():
    for path in (LOCK, TEST_LOCK):
        entries = read_lock(path)
        assert len(entries) > 20
        for name, (version, hashes) in entries.items():
            assert hashes, f"{path.name}: {name}=={version} has no hash"


def test_main_lock_is_the_test_lock_less_the_test_tools():
    main, tests = read_lock(LOCK), read_lock(TEST_LOCK)
    assert {name: entry for name, entry in tests.items() if name in main} == main
    # ray: the sweep extra, tested by CI; nbclient and ipykernel: the test extra's, to run the notebooks
    assert {"pytest", "jax", "jaxlib", "ray", "nbclient", "ipykernel"} <= set(tests) - set(main)
    assert {"pytensor", "numba", "numpy", "setuptools"} <= set(main)  # setuptools: PyTensor's C back end imports it


def test_setup_bounds_every_dependency_and_admits_the_locked_versions():
    install_requires, extras = setup_requirements()
    assert {"test", "gpu", "bench", "sweep", "notebooks"} <= set(extras)
    locked = read_lock(TEST_LOCK)
    for line in install_requires + [line for name in extras for line in extras[name]]:
        requirement = Requirement(line)
        operators = {spec.operator for spec in requirement.specifier}
        assert operators == {"=="} or {">=", "<"} <= operators, f"setup.py: {line} needs a lower and an upper bound"
        name = canonicalize_name(requirement.name)
        if line in install_requires or line in extras["test"] or line in extras["sweep"]:
            assert name in locked, f"{line} is not in {TEST_LOCK.name}"
        if name in locked:
            assert requirement.specifier.contains(Version(locked[name][0])), (
                f"setup.py's {line} excludes the locked {name}=={locked[name][0]}"
            )


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11) or sys.platform != "linux" or platform.machine() != "x86_64",
    reason="the locks are for Linux x86-64 and Python 3.11",
)
def test_installed_packages_are_the_locked_ones():
    """What the tests run on is what the locks give a fresh machine.  Fails after an upgrade by hand: see the
    README's "Moving to newer versions"."""
    different = {}
    for name, (version, _) in read_lock(TEST_LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or Version(installed) != Version(version):
            different[name] = f"locked {version}, installed {installed}"
    assert not different, different
