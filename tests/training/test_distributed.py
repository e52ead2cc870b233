"""Data-parallel training on 2 CPU processes (gloo): collectives, identical ranks, equivalence to one process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pointdistill.config import load_config
from pointdistill.data.base import ArraySplit
from pointdistill.methods import build_method
from pointdistill.training import distributed as dist_utils
from pointdistill.training.checkpoint import load_checkpoint
from pointdistill.training.engine import Trainer
from tiny_presets import TINY_DCGLR

# Drop-path and the half-resolution copies' random FPS starts are drawn per sample, so 2 x 4 shapes over two
# processes must give the same update as 8 shapes in one.
TINY_RUN = [
    *TINY_DCGLR,
    "dcglr.num_half_res=2",
    "encoder.depth=2",
    "optim.epochs=2",
    "optim.warmup_epochs=0.5",
    "optim.lr=0.005",
    "optim.freeze_last_layer_epochs=0",
    "train.precision=fp32",
    "train.progress=false",
    "train.tensorboard=false",
    "train.log_every=1",
    "train.max_steps=3",
    "data.num_workers=0",
]



def shapes() -> ArraySplit:
    return ArraySplit({"points": np.random.default_rng(0).normal(size=(32, 300, 3)).astype(np.float32)}, origin="toy")


def check_collectives(rank: int) -> dict:
    """Averaged gradients (absent = zeros, absent everywhere = None), rank-0 parameters and buffers everywhere."""
    torch.manual_seed(rank)  # different initial weights on purpose
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    dist_utils.broadcast_module(model)
    params = list(model.parameters())
    params[0].grad = torch.full_like(params[0], float(rank + 1))  # 1 and 2 -> mean 1.5
    if rank == 1:
        params[1].grad = torch.full_like(params[1], 4.0)  # absent on rank 0 -> counts as 0 -> mean 2
    model[1].running_mean.fill_(rank + 10.0)
    dist_utils.all_reduce_gradients(params)
    dist_utils.broadcast_module(model, buffers_only=True)
    return {
        "state": model.state_dict(),
        "grads": [None if p.grad is None else p.grad.clone() for p in params],
        "mean": dist_utils.all_reduce_mean(torch.tensor([float(rank)])),
        "is_main": dist_utils.is_main(),
    }


def worker(rank: int, out: str) -> None:
    result = {"collectives": check_collectives(rank)}
    trainer = Trainer(load_config(None, TINY_RUN + ["optim.batch_size=4"]), Path(out) / "ddp", split=shapes())
    result["steps"] = trainer.fit().steps
    result["method"] = trainer.method.state_dict()
    torch.save(result, Path(out) / f"rank{rank}.pt")


@pytest.mark.slow
def test_two_processes_stay_identical_and_match_one_process(tmp_path: Path) -> None:
    dist_utils.spawn_local(worker, 2, str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))

    c0, c1 = r0["collectives"], r1["collectives"]
    for key in c0["state"]:
        assert torch.equal(c0["state"][key], c1["state"][key]), key
    assert c0["state"]["1.running_mean"].tolist() == [10.0, 10.0]
    for g0, g1, expected in zip(c0["grads"], c1["grads"], (1.5, 2.0, None, None)):
        if expected is None:
            assert g0 is None and g1 is None
        else:
            assert torch.all(g0 == expected) and torch.equal(g0, g1)
    assert c0["mean"].item() == c1["mean"].item() == 0.5
    assert c0["is_main"] and not c1["is_main"]

    assert r0["steps"] == r1["steps"] == 3
    for key in r0["method"]:
        assert torch.equal(r0["method"][key], r1["method"][key]), f"ranks differ at {key}"
    saved = load_checkpoint(tmp_path / "ddp" / "checkpoints" / "last.pt")
    assert saved["world_size"] == 2

    single = Trainer(load_config(None, TINY_RUN + ["optim.batch_size=8"]), tmp_path / "single", split=shapes())
    single.fit()
    reference = single.method.state_dict()
    for key, value in reference.items():
        torch.testing.assert_close(r0["method"][key], value, rtol=1e-4, atol=2e-5, msg=key)
        assert torch.equal(saved["method"][key], r0["method"][key]), key
    torch.manual_seed(0)
    initial = build_method(load_config(None, TINY_RUN)).state_dict()
    moved = max((reference[k] - initial[k]).abs().max().item() for k in reference if k.startswith("student."))
    assert moved > 5e-3  # the comparison above is not between untrained copies
