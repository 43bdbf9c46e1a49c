"""sda.safe_pickle: pickles of NumPy arrays load, and no pickle can run code or have NumPy allocate at will."""

import collections
import io
import os
import pickle

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
    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


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
