"""Checkpoint files: atomic writes, safe loading, RNG capture, config comparison, step-numbered copies."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.config import load_config
from pointdistill.errors import CheckpointError
from pointdistill.training import checkpoint as ckpt


def minimal(step: int = 3) -> dict:
    return {"format": ckpt.FORMAT, "version": ckpt.VERSION, "config": {}, "step": step, "method": {}, "encoder": {}}


class NotAllowed:
    """A class that weights_only loading must refuse to rebuild."""


def test_atomic_save_round_trip_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "last.pt"
    state = minimal() | {"method": {"w": torch.arange(6.0).view(2, 3)}, "betas": (0.9, 0.999), "note": None}
    ckpt.atomic_save(state, path)
    loaded = ckpt.load_checkpoint(path)
    assert torch.equal(loaded["method"]["w"], state["method"]["w"]) and loaded["betas"] == (0.9, 0.999)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_interrupted_write_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.pt"
    ckpt.atomic_save(minimal(step=1), path)
    before = path.read_bytes()

    def crash(obj: object, handle: object) -> None:
        handle.write(b"PK\x03\x04 half a zip")  # type: ignore[attr-defined]
        raise OSError("No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(OSError, match="No space"):
        ckpt.atomic_save(minimal(step=2), path)
    assert path.read_bytes() == before and ckpt.load_checkpoint(path)["step"] == 1
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such checkpoint"),
        (b"PK\x03\x04 truncated", r"not a pointdistill checkpoint \(a damaged or truncated PyTorch archive\)"),
        (bytes(range(256)) * 8, r"not a pointdistill checkpoint \(not a PyTorch checkpoint file at all\)"),
        (b"", r"not a pointdistill checkpoint \(the file is empty\)"),
        ({"step": 1}, "not a pointdistill checkpoint"),
        ("pickle", r"not a pointdistill checkpoint \(it holds Python objects besides tensors, such as .*NotAllowed"),
        (minimal() | {"version": 99}, "newer"),
        ({"format": ckpt.FORMAT, "version": 1, "step": 1}, "lacks config"),
    ],
)
def test_bad_checkpoints_raise_checkpoint_error(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "pickle":
        torch.save({"format": ckpt.FORMAT, "payload": NotAllowed()}, path)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=message) as caught:
        ckpt.load_checkpoint(path)
    assert "weights_only" not in str(caught.value)  # torch's advice to unpickle anyway is wrong for such a file


def test_rng_capture_survives_weights_only_and_restores_every_generator(tmp_path: Path) -> None:
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    np.random.normal()  # leaves a cached gaussian in numpy's legacy state
    path = tmp_path / "rng.pt"
    ckpt.atomic_save(minimal() | {"rng": ckpt.capture_rng()}, path)
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], np.random.normal())
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    ckpt.restore_rng(ckpt.load_checkpoint(path)["rng"])
    got = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], np.random.normal())
    assert torch.equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert got[2] == expected[2] and got[3] == expected[3]


def test_config_differences_ignore_run_control_keys() -> None:
    saved = load_config(None, ["train.max_steps=10", "optim.lr=0.001"]).to_dict()
    run_control = ["train.max_steps=99", "train.max_minutes=5", "data.num_workers=3", "online_eval.enabled=true"]
    same = load_config(None, ["optim.lr=0.001", *run_control]).to_dict()
    other = load_config(None, ["optim.lr=0.002", "encoder.depth=4", "dcglr.global_scale=[0.5, 1.0]"]).to_dict()
    assert ckpt.config_differences(saved, same) == []
    assert ckpt.config_differences(saved, other) == [
        "dcglr.global_scale: [0.7, 1.0] -> [0.5, 1.0]",
        "encoder.depth: None -> 4",
        "optim.lr: 0.001 -> 0.002",
    ]


def test_step_copies_are_pruned_to_keep(tmp_path: Path) -> None:
    for step in (10, 20, 30):
        ckpt.atomic_save(minimal(step), tmp_path / ckpt.LAST)
        ckpt.keep_step_copy(tmp_path, step, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "step_00000020.pt", "step_00000030.pt"]
    assert ckpt.load_checkpoint(tmp_path / "step_00000020.pt")["step"] == 20
    assert ckpt.keep_step_copy(tmp_path, 40, keep=0) is None


def test_pickle_payload_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"format": ckpt.FORMAT, "x": Exploit()}, protocol=2))
    with pytest.raises(CheckpointError):
        ckpt.load_checkpoint(path)
    assert not marker.exists()


class ForeignDict(dict):
    """A dict subclass: its items arrive by SETITEMS, which the inert placeholder cannot take."""


def test_foreign_objects_become_placeholders_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": {"act": torch.nn.GELU, "n": [1, "a"]}}, path)
    with pytest.raises(CheckpointError, match="holds Python objects besides tensors"):
        ckpt.read_checkpoint(path)
    data = ckpt.read_checkpoint(path, foreign_objects=True)
    assert torch.equal(data["state_dict"]["w"], torch.ones(2)) and data["hyper_parameters"]["n"] == [1, "a"]
    assert data["hyper_parameters"]["act"] is ckpt.ForeignObject
    torch.save({"hyper_parameters": ForeignDict(a=1)}, path)
    with pytest.raises(CheckpointError, match="cannot be rebuilt without running their code") as caught:
        ckpt.read_checkpoint(path, foreign_objects=True)
    assert "weights_only" not in str(caught.value)
