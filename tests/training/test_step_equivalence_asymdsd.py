"""One AsymDSD optimiser step is the same however its global batch is split (accumulation, two processes).

Masks, drop-path and crops follow the sample (keyed draws, per-sample worker streams) and both centres are step
statistics, so the step equals one big batch. KoLeo is the one term that couples the samples of a micro-batch (each
sample's nearest neighbour is sought within its process's micro-batch, as in the reference), so these runs set its
weight to 0; everything else is the full method, drop-path on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.config import load_config
from pointdistill.data.base import ArraySplit
from pointdistill.training import distributed as dist_utils
from pointdistill.training.engine import Trainer

SETTINGS = [
    "method=asymdsd",
    "data.num_points=256",
    "data.num_workers=0",
    "encoder.name=vit",
    "encoder.embed_dim=32",
    "encoder.depth=2",
    "encoder.num_heads=2",
    "encoder.drop_path=0.2",
    "encoder.group_size=16",
    "encoder.points_per_group=8",
    "asymdsd.global_points=256",
    "asymdsd.local_points=64",
    "asymdsd.num_local=2",
    "asymdsd.num_masks=2",
    "asymdsd.predictor_dim=16",
    "asymdsd.predictor_depth=2",
    "asymdsd.predictor_heads=2",
    "asymdsd.out_dim=24",
    "asymdsd.head_hidden_dim=32",
    "asymdsd.head_bottleneck_dim=8",
    "asymdsd.koleo_weight=0",
    "train.precision=fp32",
    "train.progress=false",
    "train.tensorboard=false",
    "train.log_every=1",
    "train.max_steps=2",
    "train.schedule_steps=4",
    "optim.warmup_epochs=0.5",
    "optim.lr=0.003",
    "optim.freeze_last_layer_epochs=0",
]


def shapes() -> ArraySplit:
    return ArraySplit({"points": np.random.default_rng(0).normal(size=(32, 300, 3)).astype(np.float32)}, origin="toy")


def train(out: Path, *overrides: str) -> dict[str, torch.Tensor]:
    trainer = Trainer(load_config(None, SETTINGS + list(overrides)), out, split=shapes())
    trainer.fit()
    return trainer.method.state_dict()


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)


def test_accumulation_equals_one_large_batch(tmp_path: Path) -> None:
    big = train(tmp_path / "big", "optim.batch_size=8")
    split = train(tmp_path / "acc", "optim.batch_size=4", "optim.accumulate=2")
    assert big["cls_centering.center"].abs().max() > 1e-3 and big["patch_centering.center"].abs().max() > 1e-3
    assert_same(big, split)



def _worker(rank: int, out: str) -> None:
    torch.save(train(Path(out) / "ddp", "optim.batch_size=4"), Path(out) / f"rank{rank}.pt")


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path: Path) -> None:
    dist_utils.spawn_local(_worker, 2, str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), f"ranks differ at {key}"
    assert_same(train(tmp_path / "single", "optim.batch_size=8"), ranks[0])
