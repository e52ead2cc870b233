"""One training row, measured in this process on a 1-block ViT: FLOPs follow the batch, the clocks restore."""

from __future__ import annotations

import pytest
import torch

import pointdistill.ops.grouping as grouping
import pointdistill.models.vit as vit
from pointdistill.bench.training import GeometryClock, TrainingSettings, measure_training
from tiny_presets import TINY_DCGLR

TINY = (*TINY_DCGLR, "data.synthetic_count=32", "train.precision=fp32")


def test_step_flops_grow_with_the_batch_and_the_batch_is_capped() -> None:
    rows = [measure_training("dcglr-vit-tiny", TrainingSettings(steps=1, warmup=1, batch_cap=cap, device="cpu",
                                                                overrides=TINY))
            for cap in (2, 4)]
    assert [row["batch"] for row in rows] == [2, 4]
    assert rows[1]["gflop_per_step"] == pytest.approx(2 * rows[0]["gflop_per_step"], rel=0.02)
    for row in rows:
        assert row["step_ms"] >= row["compute_ms"] > 0 and row["step_ms"] >= row["data_ms"] > 0
        assert row["data_share"] == pytest.approx(row["data_ms"] / row["step_ms"])
        assert row["shapes_per_s"] == pytest.approx(row["batch"] / (max(row["compute_ms"], row["data_ms"]) / 1e3))


def test_geometry_clock_times_the_outer_call_and_restores_the_functions() -> None:
    before = (grouping.group_patches, grouping.farthest_point_sample, vit.group_patches)
    points = torch.rand(2, 512, 3)
    with GeometryClock(torch.device("cpu")) as clock:
        assert vit.group_patches is not before[2]
        vit.group_patches(points, 32, 8)
    assert clock.seconds > 0 and clock.calls == 1  # FPS and k-NN inside group_patches are not counted again
    assert (grouping.group_patches, grouping.farthest_point_sample, vit.group_patches) == before
