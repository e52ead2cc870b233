"""Exact resume with the real DCGLR: N steps + resume N steps == 2N steps, bitwise, on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.config import Config, load_config
from pointdistill.data.base import ArraySplit
from pointdistill.errors import CheckpointError
from pointdistill.training.checkpoint import load_checkpoint
from pointdistill.training.engine import Trainer, resume_config
from tiny_presets import TINY_DCGLR

TINY_RUN = [
    *TINY_DCGLR,
    "encoder.depth=2",
    "encoder.drop_path=0.1",  # model-side randomness must replay too
    "optim.batch_size=4",
    "optim.epochs=3",
    "optim.warmup_epochs=1",
    "train.precision=fp32",
    "train.progress=false",
    "train.tensorboard=false",
    "train.log_every=1",
    "train.checkpoint_every=100",
]


def tiny_config(*overrides: str) -> Config:
    return load_config(None, TINY_RUN + list(overrides))


def split() -> ArraySplit:
    return ArraySplit({"points": np.random.default_rng(0).normal(size=(20, 300, 3)).astype(np.float32)}, origin="toy")


def train(out: Path, *overrides: str, resume: bool = False):
    return Trainer(tiny_config(*overrides), out, resume, split=split()).fit()


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_same_state(a[key], b[key])
        elif isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


@pytest.mark.parametrize("workers", [0, 1])
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path: Path, workers: int) -> None:
    # 20 shapes / batch 4 = 5 steps per epoch: the first part stops mid-epoch, the second crosses an epoch boundary
    run = [f"data.num_workers={workers}"]
    train(tmp_path / "whole", *run, "train.max_steps=8")
    first = train(tmp_path / "split", *run, "train.max_steps=4")
    assert first.stopped_reason == "max_steps" and load_checkpoint(first.checkpoint)["batch_in_epoch"] == 4
    second = train(tmp_path / "split", *run, "train.max_steps=8", resume=True)
    assert second.steps_this_run == 4 and second.steps == 8

    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")
    resumed = load_checkpoint(tmp_path / "split" / "checkpoints" / "last.pt")
    assert_same_state(whole["method"], resumed["method"])
    assert_same_state(whole["optimizer"]["state"], resumed["optimizer"]["state"])
    assert (whole["epoch"], whole["batch_in_epoch"]) == (resumed["epoch"], resumed["batch_in_epoch"]) == (1, 3)

    def losses(folder: Path) -> list[tuple[int, float]]:
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        return [(r["step"], r["loss"]) for r in map(json.loads, lines)]

    assert losses(tmp_path / "whole") == losses(tmp_path / "split")


def test_resume_refuses_another_config_and_names_the_keys(tmp_path: Path) -> None:
    train(tmp_path, "train.max_steps=1")
    with pytest.raises(CheckpointError, match=r"another config.*\n  optim.lr: 0.0005 -> 0.001"):
        train(tmp_path, "train.max_steps=2", "optim.lr=0.001", resume=True)


def rewrite_saved_config(out: Path, edit) -> None:
    """Change the config stored in ``out``'s last checkpoint, as an older or newer version would have written it."""
    path = out / "checkpoints" / "last.pt"
    checkpoint = load_checkpoint(path)
    edit(checkpoint["config"])
    torch.save(checkpoint, path)


def test_resume_accepts_a_run_written_before_a_key_existed(tmp_path: Path) -> None:
    train(tmp_path, "train.max_steps=1")
    rewrite_saved_config(tmp_path, lambda config: config["encoder"].pop("cls_token"))
    train(tmp_path, "train.max_steps=2", resume=True)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 2


def test_resume_refuses_a_saved_key_this_version_does_not_know(tmp_path: Path) -> None:
    train(tmp_path, "train.max_steps=1")
    rewrite_saved_config(tmp_path, lambda config: config["encoder"].update(retired_knob=3))
    with pytest.raises(CheckpointError, match=r"another config.*\n  encoder.retired_knob: 3 -> '<absent>'"):
        train(tmp_path, "train.max_steps=2", resume=True)


def test_resume_reuses_the_saved_config_and_drops_metrics_of_the_killed_tail(tmp_path: Path) -> None:
    train(tmp_path, "train.max_steps=2")
    with open(tmp_path / "metrics.jsonl", "a") as handle:  # lines a killed run wrote after its last checkpoint
        handle.write(json.dumps({"step": 3, "loss": 1.0}) + "\n" + '{"step": 4, "lo')
    config = resume_config(tmp_path)
    assert config.encoder.embed_dim == 32 and config.train.max_steps == 2
    config.train.max_steps = 3
    summary = Trainer(config, tmp_path, resume=True, split=split()).fit()
    assert summary.steps == 3
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path: Path) -> None:
    summary = train(tmp_path, "train.max_steps=1", resume=True)
    assert summary.steps == summary.steps_this_run == 1
