"""Part segmentation: the standard mIoU rules on hand-computed cases, exact upsampling, and a short training run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pointdistill.data.base import ArraySplit, DatasetSource
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import parse_options
from pointdistill.evaluation import partseg
from pointdistill.evaluation.heads import PartSegmenter, interpolate_features
from pointdistill.evaluation.partseg import (
    Options,
    default_blocks,
    miou,
    part_table,
    restrict_predictions,
    shape_ious,
)
from pointdistill.models.vit import PointViT

CPU = torch.device("cpu")
SEG_CLASSES = {"rod": [0, 1], "disc": [2, 3, 4]}


def part_clouds(per_class: int, seed: int, points: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rods along x split at x = 0 into parts 0/1; discs in the xz plane cut along z into parts 2/3/4."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], per_class)
    std = np.where(labels[:, None, None] == 0, [1.0, 0.15, 0.15], [1.0, 0.15, 1.0])
    clouds = (rng.normal(size=(len(labels), points, 3)) * std).astype(np.float32)
    rod_parts = (clouds[..., 0] > 0).astype(np.int64)
    disc_parts = 2 + np.digitize(clouds[..., 2], [-0.4, 0.4])
    return clouds, labels, np.where(labels[:, None] == 0, rod_parts, disc_parts)


def make_source(per_class: int = 12) -> DatasetSource:
    splits = {}
    for name, seed in (("train", 0), ("test", 1)):
        points, labels, parts = part_clouds(per_class, seed)
        splits[name] = ArraySplit({"points": points, "label": labels, "part": parts}, origin=name)
    return DatasetSource("test", Path("<memory>"), list(SEG_CLASSES), splits, info={"seg_classes": SEG_CLASSES})


FAST = Options(
    epochs=12, batch_size=4, lr=1e-2, warmup_epochs=1, num_points=64, label_dim=8, propagation_dims=(32,),
    head_hidden=(32, 16), progress=False, drop_path=None, val_fraction=0.25,
)
TABLE = torch.tensor([[True, True, True, False, False], [False, False, False, True, True]])
"""Category 0 owns parts 0-2, category 1 parts 3-4."""


def test_depth_to_blocks() -> None:
    assert default_blocks(12) == (3, 7, 11)
    assert default_blocks(6) == (1, 3, 5)
    assert default_blocks(4) == (0, 2, 3)
    assert default_blocks(1) == (0,)
    for depth in range(1, 30):
        blocks = default_blocks(depth)
        assert blocks[-1] == depth - 1 and list(blocks) == sorted(set(blocks))


def test_shape_iou_by_hand_including_absent_parts() -> None:
    target = torch.tensor([[0, 0, 1, 1], [0, 0, 0, 0], [3, 3, 3, 4]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 0, 0, 0], [3, 3, 3, 3]])
    category = torch.tensor([0, 0, 1])
    ious = shape_ious(pred, target, category, TABLE)
    # shape 0: part 0 -> 1/2, part 1 -> 2/3, part 2 absent in both -> 1
    # shape 1: part 0 -> 1, parts 1 and 2 absent in both -> 1
    # shape 2: part 3 -> 3/4, part 4 predicted nowhere -> 0
    expected = torch.tensor([(0.5 + 2 / 3 + 1) / 3, 1.0, 0.375])
    assert torch.allclose(ious, expected)
    cls, inst, per_category = miou(ious, category, 2)
    assert inst == pytest.approx(float(expected.mean()))
    assert per_category == pytest.approx([float(expected[:2].mean()), 0.375])
    assert cls == pytest.approx((float(expected[:2].mean()) + 0.375) / 2)
    _, _, with_absent = miou(ious, category, 3)
    assert with_absent[2] is None, "a category without test shapes is left out of Cls. mIoU"


def test_predictions_are_restricted_to_the_category_parts() -> None:
    logits = torch.zeros(2, 3, 5)
    logits[..., 4] = 10.0  # part 4 wins everywhere, but belongs to category 1 only
    logits[..., 1] = 5.0
    pred = restrict_predictions(logits, torch.tensor([0, 1]), TABLE)
    assert pred.tolist() == [[1, 1, 1], [4, 4, 4]]


def test_interpolation_is_exact_at_the_centres_and_convex_elsewhere() -> None:
    generator = torch.Generator().manual_seed(0)
    centers = torch.rand(2, 10, 3, generator=generator)
    features = torch.randn(2, 10, 7, generator=generator)
    assert torch.equal(interpolate_features(centers, centers, features), features)
    query = torch.rand(2, 50, 3, generator=generator)
    constant = torch.full((2, 10, 4), 3.5)
    assert torch.allclose(interpolate_features(query, centers, constant), constant[:, :1].expand(-1, 50, -1))
    # Hand-computed: centres at distance 1, 2, 3 from the query get weights 1, 1/4, 1/9 (normalised).
    line = torch.tensor([[[1.0, 0, 0], [-2.0, 0, 0], [0, 3.0, 0], [10.0, 0, 0]]])
    values = torch.tensor([[[1.0], [2.0], [3.0], [100.0]]])
    weights = torch.tensor([1.0, 1 / 4, 1 / 9])
    expected = (weights * torch.tensor([1.0, 2.0, 3.0])).sum() / weights.sum()
    assert interpolate_features(torch.zeros(1, 1, 3), line, values).item() == pytest.approx(expected.item())


def test_per_point_tokens_skip_interpolation(tiny_encoder) -> None:
    encoder = tiny_encoder(per_point=True)
    model = PartSegmenter(encoder, [1, 3], [16, 16], 2, 5, label_dim=4, propagation_dims=(8,), hidden=(8,)).eval()
    logits = model(torch.randn(3, 20, 3), torch.tensor([0, 1, 1]))
    assert logits.shape == (3, 20, 5) and torch.isfinite(logits).all()


def test_part_table_from_seg_classes() -> None:
    table = part_table(make_source())
    assert table.shape == (2, 5)
    assert table[0].nonzero().flatten().tolist() == [0, 1]
    assert table[1].nonzero().flatten().tolist() == [2, 3, 4]


def test_short_run_gives_finite_miou_and_selects_on_validation(tiny_encoder) -> None:
    result = partseg.run(lambda: tiny_encoder(groups=16), make_source(), FAST, CPU)
    assert result["protocol"] == "partseg" and result["headline"] == "test_inst_miou"
    for key in ("test_inst_miou", "test_cls_miou", "val_selected_test_inst_miou", "val_selected_test_cls_miou"):
        assert 0.0 <= result[key] <= 100.0, key
    assert result["test_inst_miou"] > 55.0, "the parts are a simple function of position (untrained: ~20)"
    assert result["blocks"] == [0, 2, 3]  # depth 4: the last block of each third
    assert (result["n_train"], result["n_val"], result["n_test"]) == (18, 6, 24)
    assert (result["num_categories"], result["num_parts"]) == (2, 5)
    run = result["runs"][0]
    assert set(run["test_per_category_miou"]) == {"rod", "disc"}
    assert 1 <= run["val_selected_epoch"] <= FAST.epochs
    assert result["options"]["propagation_dims"] == [32]


def test_runs_with_the_real_vit_and_its_drop_path() -> None:
    def factory() -> PointViT:
        return PointViT(embed_dim=16, depth=2, num_heads=2, group_size=8, points_per_group=8, patch_embed="light")

    options = replace(FAST, epochs=1, drop_path=0.1)
    result = partseg.run(factory, make_source(4), options, CPU)
    assert result["blocks"] == [0, 1] and result["runs"][0]["drop_path_blocks"] == 2
    assert np.isfinite(result["test_inst_miou"])


def test_bad_input_is_named(tiny_encoder) -> None:
    no_table = make_source()
    no_table.info = {}
    with pytest.raises(DataError, match="seg_classes"):
        partseg.run(tiny_encoder, no_table, FAST, CPU)
    source = make_source()
    arrays = dict(source.splits["train"].arrays)
    del arrays["part"]
    source.splits["train"] = ArraySplit(arrays, origin="train")
    with pytest.raises(DataError, match=r"train\[0\].*'part'"):
        partseg.run(tiny_encoder, source, FAST, CPU)
    source = make_source()
    arrays = dict(source.splits["train"].arrays)
    arrays["part"] = arrays["part"][:, :10]
    source.splits["train"] = ArraySplit(arrays, origin="train")
    with pytest.raises(DataError, match="10 labels for 64 points"):
        partseg.run(tiny_encoder, source, FAST, CPU)
    source = make_source()
    arrays = dict(source.splits["test"].arrays)
    arrays["part"] = arrays["part"].copy()
    arrays["part"][0, 5] = 4  # a disc part on a rod
    source.splits["test"] = ArraySplit(arrays, origin="test")
    with pytest.raises(DataError, match=r"test\[0\].*part id 4"):
        partseg.run(tiny_encoder, source, FAST, CPU)
    with pytest.raises(ConfigError, match="blocks"):
        partseg.run(tiny_encoder, make_source(), replace(FAST, blocks=(7,)), CPU)
    with pytest.raises(ConfigError, match="never uses test"):
        partseg.run(tiny_encoder, make_source(), replace(FAST, val_split="test"), CPU)
    with pytest.raises(ConfigError, match="partseg.epochs"):
        partseg.run(tiny_encoder, make_source(), replace(FAST, epochs=0), CPU)
    with pytest.raises(ConfigError, match="partseg.num_groups: 64 groups need as many points"):
        partseg.run(tiny_encoder, make_source(), replace(FAST, num_points=20, num_groups=64), CPU)


def test_options_parse_from_the_command_line() -> None:
    options = parse_options(Options, ["blocks=[3, 7, 11]", "num_groups=128", "val_split=val"], "evaluate partseg")
    assert options.blocks == (3, 7, 11) and options.num_groups == 128 and options.val_split == "val"
