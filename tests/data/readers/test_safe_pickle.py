from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from pointdistill.data.readers.safe_pickle import safe_load_pickle
from pointdistill.errors import DataError


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_containers_round_trip_for_every_protocol(tmp_path: Path, protocol: int) -> None:
    value = {
        "train": [(np.arange(12, dtype=np.float32).reshape(4, 3), np.int64(2), 7)],
        "test": [(np.zeros((0, 3), np.float64), np.array([1], np.int32), np.float32(0.5))],
        "meta": ("x", 1.5, None, True, b"raw"),
    }
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    loaded = safe_load_pickle(path)
    np.testing.assert_array_equal(loaded["train"][0][0], value["train"][0][0])
    assert loaded["train"][0][0].dtype == np.float32
    assert loaded["train"][0][1] == 2 and loaded["test"][0][1].dtype == np.int32
    assert loaded["meta"] == value["meta"]


class _RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def test_pickle_calling_os_system_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.dat"
    path.write_bytes(pickle.dumps([[_RunsCommand(f"touch {marker}")], [0]]))
    with pytest.raises(DataError, match="refusing to load (posix|os|nt).system") as caught:
        safe_load_pickle(path)
    assert caught.value.path == str(path)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    b"cbuiltins\neval\n(S'1+1'\ntR.",
    b"cnumpy\nload\n(S'x.npy'\ntR.",
    b"c__builtin__\nbytes\n(I1000\ntR.",
    b"c_codecs\nencode\n(S'x'\nS'rot13'\ntR.",
])
def test_other_callables_are_refused(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(DataError, match="refusing"):
        safe_load_pickle(path)


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "objects.pkl"
    path.write_bytes(pickle.dumps(np.array([1, "a"], dtype=object)))
    with pytest.raises(DataError):
        safe_load_pickle(path)


def test_truncated_and_missing_pickles(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps([np.ones((100, 3))])[:-40])
    with pytest.raises(DataError, match="corrupt or truncated|unsafe or corrupt"):
        safe_load_pickle(path)
    with pytest.raises(DataError, match="file not found"):
        safe_load_pickle(tmp_path / "absent.pkl")
