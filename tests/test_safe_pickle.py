"""sda.safe_pickle: pickles of NumPy arrays load, and no pickle can run code or have NumPy allocate at will."""

import collections
import gzip
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sda.safe_pickle import NUMPY_ARRAYS, ForbiddenPickleError, restricted_load


def load(payload, allowed=NUMPY_ARRAYS):
    return restricted_load(io.BytesIO(payload), allowed, encoding="latin1")


SAMPLE = (
    np.arange(12, dtype=np.float32).reshape(3, 4) / 16,
    np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
    np.array(["a", "bc"]),
    np.array([1, "two", None], dtype=object),
    np.zeros((0, 3), dtype=np.float32),
    [np.float32(0.5), np.int64(-3), np.bool_(True)],
    {"bytes": b"\x00\xff", "text": "é", "nested": (1, 2.5, None)},
)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_arrays_and_containers_load_at_every_protocol(protocol):
    got = load(pickle.dumps(SAMPLE, protocol=protocol))
    assert len(got) == len(SAMPLE)
    for a, b in zip(got[:5], SAMPLE[:5]):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert got[1].flags.f_contiguous
    assert [type(v) for v in got[5]] == [np.float32, np.int64, np.bool_] and got[5] == SAMPLE[5]
    assert got[6] == SAMPLE[6]


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_code_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    payload = pickle.dumps([np.zeros(2), {"x": RunsCode(marker)}], protocol=2)
    with pytest.raises(ForbiddenPickleError) as info:
        load(payload)
    assert info.value.name == "posix.system" and "posix.system" in str(info.value)
    assert not marker.exists()
    # the same pickle runs the command when loaded the usual way: the test's pickle is a real attack
    pickle.loads(payload)
    assert marker.exists()


def test_objects_inside_an_object_array_are_refused(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ForbiddenPickleError, match="posix.system"):
        load(pickle.dumps(np.array([RunsCode(marker)], dtype=object), protocol=4))
    assert not marker.exists()


class Reduces:
    """Pickles as ``function(*args)``, then ``__setstate__(state)`` (BUILD) if a state is given."""

    def __init__(self, function, *args, state=None):
        self.function, self.args, self.state = function, args, state

    def __reduce__(self):
        return (self.function, self.args) if self.state is None else (self.function, self.args, self.state)


_NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]


@pytest.mark.parametrize("reduced", [
    Reduces(np.ndarray, (2 ** 40,), "u1"),  # ndarray(shape) would allocate a terabyte
    Reduces(_NUMPY_RECONSTRUCT, np.ndarray, (2 ** 40,), b"b"),
    Reduces(_NUMPY_RECONSTRUCT, np.dtype, (0,), b"b"),  # only arrays are reconstructed
    Reduces(bytes, 2 ** 40),  # bytes(n) would allocate n bytes
])
def test_numpy_cannot_be_made_to_allocate_or_build_other_types(reduced):
    with pytest.raises(pickle.UnpicklingError) as info:
        load(pickle.dumps(reduced, protocol=2))
    assert "\n" not in str(info.value)


def test_a_caller_adds_its_own_objects():
    payload = pickle.dumps(collections.OrderedDict(a=np.ones(2)), protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(ForbiddenPickleError, match="collections.OrderedDict"):
        load(payload)
    got = load(payload, {**NUMPY_ARRAYS, "collections.OrderedDict": collections.OrderedDict})
    assert isinstance(got, collections.OrderedDict) and list(got["a"]) == [1.0, 1.0]


def test_persistent_ids_are_refused():
    class Persistent(pickle.Pickler):
        def persistent_id(self, obj):
            return "outside" if obj == "ref" else None

    stream = io.BytesIO()
    Persistent(stream, protocol=2).dump(["ref"])
    with pytest.raises(pickle.UnpicklingError, match="persistent"):
        load(stream.getvalue())


# ---------------------------------------------------------------- nothing larger than the data the pickle carries

_NUMPY_SCALAR = np.float64(0).__reduce__()[0]
GIGABYTE_ITEMS = np.dtype("V1000000000")  # a descriptor only: a gigabyte per item, were anything made of it
OBJECTS = np.dtype("O")


def _array(shape, dtype, data):
    """What NumPy pickles an array as: ``_reconstruct(ndarray, (0,), b'b')``, then its state."""
    return Reduces(_NUMPY_RECONSTRUCT, np.ndarray, (0,), b"b", state=(1, shape, dtype, False, data))


def _integers_marked_as_objects():
    """An int64 array whose dtype's state marks it as holding Python objects (NumPy accepts that
    state): its bytes would be read as pointers."""
    payload = pickle.dumps(np.array([1 << 40]), protocol=2)
    flags_0 = pickle.BININT + b"\xff\xff\xff\xff" + pickle.BININT + b"\xff\xff\xff\xff" + pickle.BININT1 + b"\x00"
    assert payload.count(flags_0) == 1  # the dtype's state ends (..., -1, -1, 0)
    return payload.replace(flags_0, flags_0[:-1] + b"\x3f")  # flags 63, those of dtype('O')


def _memo_index_bomb():
    """LONG_BINPUT 2**28: the C unpickler grows its memo to an array of that many pointers (2 GiB)."""
    return pickle.PROTO + b"\x02" + pickle.NONE + pickle.LONG_BINPUT + (1 << 28).to_bytes(4, "little") + pickle.STOP


def _dumps(obj):
    return pickle.dumps(obj, protocol=2)


#: name -> a pickle of a few hundred bytes at most that, loaded by pickle.load, has NumPy allocate
#: (or read) far more than it carries
BOMBS = {
    # the reviewer's: two scalars of a gigabyte each, with no data (numpy's scalar(dtype) allocates one item)
    "two scalars of a gigabyte": lambda: _dumps([Reduces(_NUMPY_SCALAR, GIGABYTE_ITEMS)] * 2),
    "one scalar of a gigabyte": lambda: _dumps(Reduces(_NUMPY_SCALAR, GIGABYTE_ITEMS)),
    "a gigabyte scalar from 8 bytes": lambda: _dumps(Reduces(_NUMPY_SCALAR, GIGABYTE_ITEMS, b"8 bytes!")),
    "dtype('S8') grown by its state": lambda: _dumps(Reduces(
        _NUMPY_SCALAR, Reduces(np.dtype, "S8", False, True, state=(3, "|", None, None, None, 10 ** 9, 1, 0)),
        b"8 bytes!")),
    "structured dtype": lambda: _dumps(Reduces(_NUMPY_SCALAR, np.dtype([("a", "V500000000"), ("b", "V9")]))),
    "sub-array dtype": lambda: _dumps(Reduces(_NUMPY_SCALAR, np.dtype(("f8", (10 ** 8,))))),
    "array of 10**9 bytes from 8": lambda: _dumps(_array((10 ** 9,), np.dtype("u1"), b"8 bytes!")),
    # an object array's memory is allocated from its shape alone, and NumPy reads past a list that is too short
    "object array of 10**8 items from none": lambda: _dumps(_array((10 ** 8,), OBJECTS, [])),
    "object array of 3 items from 1": lambda: _dumps(_array((3,), OBJECTS, [1])),
    "integers marked as objects": _integers_marked_as_objects,
    "memo index of 2**28": _memo_index_bomb,
}

# Without the checks, these would allocate gigabytes or have NumPy read memory it does not own (and
# crash): they are only loaded in a separate interpreter with a memory limit (below).
OUT_OF_PROCESS = {"object array of 10**8 items from none", "object array of 3 items from 1",
                  "integers marked as objects", "memo index of 2**28"}


def test_the_bombs_are_small():
    assert len(BOMBS["two scalars of a gigabyte"]()) < 200
    assert max(len(make()) for make in BOMBS.values()) < 400


@pytest.fixture
def scalars_never_built(monkeypatch):
    """The scalar bombs must be refused before NumPy's scalar() is called at all (were it called,
    the test fails instead of allocating)."""
    import sda.safe_pickle as safe_pickle

    def never(*args):
        raise AssertionError(f"NumPy was asked to build {args!r}")

    monkeypatch.setattr(safe_pickle, "_NUMPY_SCALAR", never)


@pytest.mark.parametrize("bomb", sorted(set(BOMBS) - OUT_OF_PROCESS))
def test_a_pickle_cannot_have_numpy_allocate_more_than_it_carries(bomb, scalars_never_built):
    with pytest.raises(pickle.UnpicklingError) as info:
        load(BOMBS[bomb]())
    assert "\n" not in str(info.value)


def test_what_the_bomb_checks_refuse_still_loads():
    # the checks refuse the bombs, not what NumPy pickles: scalars and arrays of each kind a pickle may hold
    values = [np.float32(0.5), np.int8(-2), np.uint64(7), np.complex64(1j), np.bool_(False), np.bytes_(b"abc"),
              np.str_("xyz"), np.float64(np.nan), np.array([1.5], dtype=">f8"), np.array([[1, 2]], dtype="<u2"),
              np.array([b"a", b"bcd"]), np.array(["", "é"]), np.array([[None, 1], ["x", (2,)]], dtype=object),
              np.zeros(0, dtype=object), np.empty((0, 4), np.float32)]
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        payload = pickle.dumps(values, protocol=protocol)
        for a, b, c in zip(load(payload), pickle.loads(payload), values):  # as pickle.load rebuilds them
            assert type(a) is type(b) and a.dtype == b.dtype and a.dtype.str == b.dtype.str and a.shape == b.shape
            np.testing.assert_array_equal(a, c)


SUBPROCESS = """
import resource, sys
sys.path.insert(0, {root!r})
from sda.data import load_mnist_arrays
from sda.errors import DataError
load_mnist_arrays({valid!r})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# were a bomb to go off after all, it fails here instead of filling this machine's memory
with open("/proc/self/statm") as statm:
    size = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (size + (512 << 20), resource.getrlimit(resource.RLIMIT_AS)[1]))
for path in {paths!r}:
    try:
        load_mnist_arrays(path)
        print("accepted", path)
    except DataError as error:
        print("refused", error)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)  # kB on Linux
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in kB and /proc are Linux's")
def test_bombs_as_datasets_are_one_line_errors_that_cost_no_memory(tmp_path):
    """Each bomb as mnist.pkl and as mnist.pkl.gz, loaded as a dataset in a fresh interpreter:
    refused with one line, and the peak memory stays where loading a valid pickle left it."""
    valid = tmp_path / "valid.pkl"
    valid.write_bytes(_dumps(((np.zeros((6, 4), np.float32), np.zeros(6, np.int64)),) * 3))
    cases = []
    for i, bomb in enumerate(sorted(BOMBS)):
        payload = BOMBS[bomb]()
        for path, data in ((tmp_path / f"{i}" / "mnist.pkl", payload),
                           (tmp_path / f"{i}" / "mnist.pkl.gz", gzip.compress(payload, mtime=0))):
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            cases.append((bomb, str(path)))
    root = str(Path(__file__).resolve().parent.parent)
    code = SUBPROCESS.format(root=root, valid=str(valid), paths=[path for _, path in cases])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    *outcomes, grown = result.stdout.strip().splitlines()
    assert len(outcomes) == len(cases), result.stdout
    for outcome, (bomb, path) in zip(outcomes, cases):
        if bomb == "memo index of 2**28":  # loads (as None), then is no dataset
            assert outcome == f"refused {path} holds a Python NoneType, not three (x, y) pairs (train, valid, " \
                              "test) like the tutorial's mnist.pkl.gz", outcome
        else:
            assert outcome.startswith(f"refused {path} is not a pickle this program can read (UnpicklingError: it "), \
                outcome
            assert "memory" not in outcome, outcome
    assert int(grown) < 32 << 10, f"the peak memory grew by {grown} kB"


def test_the_reviewers_bomb_through_train_sda_is_one_line(tmp_path, capsys, scalars_never_built):
    from conftest import call_main

    bomb = tmp_path / "bomb.pkl"
    bomb.write_bytes(BOMBS["two scalars of a gigabyte"]())
    code, err = call_main("train_sda", ["--dataset", bomb, "--output-dir", tmp_path / "out", "--no-progress"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {bomb} is not a pickle this program can read") and "V1000000000" in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
