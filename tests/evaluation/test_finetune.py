"""Fine-tuning classification: learns an easy task, stays at chance on shuffled labels, never selects on test."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from pointdistill.data.base import ArraySplit, DatasetSource, LazySplit
from pointdistill.errors import ConfigError, DataError
from pointdistill.evaluation.common import parse_options
from pointdistill.evaluation import finetune
from pointdistill.evaluation.finetune import Options
from pointdistill.evaluation.supervised import Clouds, carve_validation, load_clouds, set_drop_path
from pointdistill.models.vit import PointViT

CPU = torch.device("cpu")


SHAPES = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=np.float32)
"""Class c: a Gaussian blob long (std 1) along the axes marked 1, thin (0.15) along the others: rods and discs in
three orientations, separable by shape whatever the scale augmentation."""


def shape_clouds(per_class: int, seed: int, points: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SHAPES)), per_class)
    std = 0.15 + 0.85 * SHAPES[labels][:, None, :]
    return (rng.normal(size=(len(labels), points, 3)) * std).astype(np.float32), labels


def make_source(
    per_class_train: int = 12, per_class_test: int = 12, label_noise: Callable | None = None
) -> DatasetSource:
    """Rods and discs; ``label_noise(labels, num_classes, seed)`` (the conftest's ``balanced_noise``) replaces the
    train labels with ones that carry no shape information."""
    x_train, y_train = shape_clouds(per_class_train, 0)
    x_test, y_test = shape_clouds(per_class_test, 1)
    if label_noise is not None:
        y_train = label_noise(y_train, len(SHAPES), seed=2)
    return DatasetSource(
        "test", Path("<memory>"), ["rod x", "rod y", "rod z", "disc x", "disc y", "disc z"],
        {
            "train": ArraySplit({"points": x_train, "label": y_train}, origin="train"),
            "test": ArraySplit({"points": x_test, "label": y_test}, origin="test"),
        },
    )


FAST = Options(epochs=12, batch_size=16, lr=5e-3, warmup_epochs=1, num_points=64, progress=False, drop_path=None)


def test_learns_an_easy_task_and_reports_every_knob(tiny_encoder) -> None:
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    result = finetune.run(tiny_encoder, make_source(), FAST, CPU)
    assert torch.equal(state, torch.random.get_rng_state()), "a run must not disturb the caller's RNG"
    assert result["protocol"] == "finetune" and result["headline"] == "test_accuracy"
    # last-epoch accuracy of this 12-epoch run: 83-99 % over split seeds 0-5 (chance 16.7 %, shuffled labels < 50 %)
    assert result["test_accuracy"] >= 75.0
    assert result["val_selected_test_accuracy"] is not None
    assert (result["n_train"], result["n_val"], result["n_test"]) == (66, 6, 72)
    assert result["options"]["epochs"] == 12 and result["options"]["seeds"] == [0]
    assert result["precision_used"] in ("fp32", "bf16")
    run = result["runs"][0]
    assert len(run["train_loss"]) == 12 and len(run["val_accuracy"]) == 12
    assert 1 <= run["val_selected_epoch"] <= 12
    assert run["train_loss"][-1] < run["train_loss"][0]


def test_shuffled_labels_stay_near_chance(tiny_encoder, helpers) -> None:
    options = replace(FAST, val_fraction=0.0)  # keeps the noise labels exactly balanced within every class
    result = finetune.run(tiny_encoder, make_source(label_noise=helpers.balanced_noise), options, CPU)
    assert result["test_accuracy"] < 50.0  # chance is 16.7 %; the same run on true labels scores >= 90 %


def test_seeds_and_votes_are_mean_and_std_never_max(tiny_encoder) -> None:
    options = replace(FAST, epochs=2, seeds=(0, 1), vote_repeats=3, vote_passes=2, val_fraction=0.0)
    result = finetune.run(tiny_encoder, make_source(5, 5), options, CPU)
    per_seed = result["test_accuracy_per_seed"]
    assert len(per_seed) == 2
    assert result["test_accuracy"] == pytest.approx(np.mean(per_seed), abs=0.01)
    assert result["test_accuracy_std"] == pytest.approx(np.std(per_seed), abs=0.01)
    assert result["val_selected_test_accuracy"] is None and result["n_val"] == 0
    votes = np.array(result["vote"]["per_seed"])
    assert votes.shape == (2, 3)
    assert result["vote"]["test_accuracy"] == pytest.approx(votes.mean(), abs=0.01)
    assert result["vote"]["test_accuracy_std"] == pytest.approx(votes.std(), abs=0.01)


def test_validation_is_carved_from_train_only() -> None:
    source = make_source()
    options = dict(num_points=64, num_classes=6, sampling="fps", protocol="finetune")
    full = load_clouds(source.split("train"), **options)
    test = load_clouds(source.split("test"), **options)
    train, val = carve_validation(full, 0.2, 0, source.root, "finetune")
    assert set(train.names).isdisjoint(val.names)
    assert set(train.names) | set(val.names) == set(full.names)
    assert set(test.names).isdisjoint(full.names)
    assert np.bincount(val.labels.numpy()).tolist() == [2] * 6, "20% of each class of 12, rounded"


def test_validation_needs_a_class_that_can_spare_a_sample() -> None:
    singletons = Clouds(torch.zeros(3, 4, 3), torch.tensor([0, 1, 2]), ["a", "b", "c"])
    with pytest.raises(DataError, match="no class of the train split.*set val_fraction to 0"):
        carve_validation(singletons, 0.5, 0, "<memory>", "finetune")
    train, val = carve_validation(singletons, 0.0, 0, "<memory>", "finetune")
    assert train is singletons and val is None


@pytest.mark.parametrize("sampling", ["fps", "random"])
def test_resampling_keeps_part_labels_with_their_points(sampling: str) -> None:
    """Clouds of 10 and 40 points brought to 16: each point keeps its own part label (part = rank along x)."""

    def sample(size: int) -> dict:
        x = np.arange(size, dtype=np.float32)
        points = np.stack([x, np.sin(x), np.cos(x)], axis=1)
        return {"points": points, "label": 0, "part": np.arange(size), "name": f"cloud{size}"}

    clouds = load_clouds(LazySplit([10, 40], sample), num_points=16, num_classes=1, sampling=sampling,
                         protocol="partseg", with_parts=True)
    assert clouds.points.shape == (2, 16, 3) and clouds.parts.shape == (2, 16)
    radius = clouds.points.norm(dim=-1).amax(dim=1)
    assert torch.allclose(radius, torch.ones(2)), "clouds are put on the unit sphere"
    for row in range(2):
        order = clouds.parts[row].argsort()
        x = clouds.points[row, order, 0]
        assert bool((x[1:] >= x[:-1]).all()), "sorting by part must sort by x: labels followed their points"
    assert len(set(clouds.parts[1].tolist())) == 16, "a large cloud is subsampled without repeats"


def test_drop_path_rises_linearly_over_the_blocks(tiny_encoder) -> None:
    vit = PointViT(embed_dim=16, depth=3, num_heads=2, group_size=8, patch_embed="light")
    assert set_drop_path(vit, 0.2) == 3
    rates = [block.drop_path1.drop_prob for block in vit.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2])
    assert set_drop_path(tiny_encoder(), 0.2) == 0


def test_bad_input_is_named(tiny_encoder) -> None:
    unlabelled = make_source()
    unlabelled.classes = []
    with pytest.raises(DataError, match="needs class labels"):
        finetune.run(tiny_encoder, unlabelled, FAST, CPU)
    tiny = make_source(per_class_train=1)
    tiny.splits["train"] = ArraySplit({k: v[:2] for k, v in tiny.splits["train"].arrays.items()}, origin="train")
    with pytest.raises(DataError, match="fewer than the 6 classes"):
        finetune.run(tiny_encoder, tiny, FAST, CPU)
    no_label = make_source()
    no_label.splits["train"] = ArraySplit({"points": no_label.splits["train"].arrays["points"]}, origin="train")
    with pytest.raises(DataError, match=r"train\[0\].*'label'"):
        finetune.run(tiny_encoder, no_label, FAST, CPU)
    with pytest.raises(DataError, match="no split 'val'"):
        finetune.run(tiny_encoder, make_source(), replace(FAST, test_split="val"), CPU)
    for bad in (dict(epochs=0), dict(batch_size=1), dict(val_fraction=1.0), dict(seeds=()), dict(sampling="grid"),
                dict(pooling=("cls", "median")), dict(vote_passes=0)):
        with pytest.raises(ConfigError):
            finetune.run(tiny_encoder, make_source(), replace(FAST, **bad), CPU)
    with pytest.raises(ConfigError, match="finetune.num_groups: 64 groups need as many points .*num_points is 20"):
        finetune.run(tiny_encoder, make_source(), replace(FAST, num_points=20, num_groups=64), CPU)


def test_options_parse_from_the_command_line() -> None:
    options = parse_options(Options, ["seeds=[0, 1, 2]", "scale_range=[0.5, 2]", "drop_path=null", "epochs=300"],
                            "evaluate finetune")
    assert options.seeds == (0, 1, 2) and options.scale_range == (0.5, 2.0)
    assert options.drop_path is None and options.epochs == 300
    with pytest.raises(ConfigError, match="unknown config key 'epoch'"):
        parse_options(Options, ["epoch=3"], "evaluate finetune")
