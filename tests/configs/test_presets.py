"""Every shipped preset: what its YAML (and its comment) says is what loads and what gets built, and a training step
on a tiny batch gives a finite loss."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterator

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from pointdistill.config import Config, available_presets, load_config
from pointdistill.methods import METHODS, build_method
from pointdistill.methods.base import StepInfo
from pointdistill.models import DGCNN, PCT, PointNet, PointViT


@dataclass(frozen=True)
class Expected:
    """What a preset's comment promises about its encoder: class, token and pooled-feature widths, the length of
    its stack of layers (attribute, count) and its parameter count in millions (None where the comment is silent)."""

    encoder: type[nn.Module]
    token_dim: int
    feature_dim: int
    layers: tuple[str, int] | None = None
    heads: int | None = None
    million_parameters: float | None = None


EXPECTED = {
    "dcglr-demo": Expected(PointViT, 192, 192, ("blocks", 6), heads=3),
    "dcglr-dgcnn": Expected(DGCNN, 1024, 2048),
    "dcglr-paper": Expected(PointViT, 384, 384, ("blocks", 12), heads=6, million_parameters=21.8),
    "dcglr-pct": Expected(PCT, 1024, 2048, ("attention", 4)),
    "dcglr-pointnet": Expected(PointNet, 1024, 1024),
    "dcglr-vit-b": Expected(PointViT, 768, 768, ("blocks", 12), heads=12, million_parameters=85.8),
    "dcglr-vit-s": Expected(PointViT, 384, 384, ("blocks", 12), heads=6, million_parameters=21.8),
    "dcglr-vit-tiny": Expected(PointViT, 192, 192, ("blocks", 6), heads=3),
}
for _size, _expected in (
    ("tiny", Expected(PointViT, 192, 192, ("blocks", 6), heads=3)),
    ("s", Expected(PointViT, 384, 384, ("blocks", 12), heads=6, million_parameters=21.8)),
    ("b", Expected(PointViT, 768, 768, ("blocks", 12), heads=12, million_parameters=85.8)),
):
    for _variant in ("asymdsd", "asymdsd-cls", "asymdsd-mpm"):
        # AsymDSD's encoder (no bias, RMSNorm, its own patch embedding) has another parameter count than the
        # shared ViT's; the preset comments state none.
        EXPECTED[f"{_variant}-vit-{_size}"] = dataclasses.replace(_expected, million_parameters=None)


@dataclass(frozen=True)
class AsymDSDExpected:
    """What an AsymDSD preset's comment promises: mode, predictor width and heads, prototypes, masks per crop."""

    mode: str
    predictor: tuple[int, int] | None
    out_dim: int
    num_masks: int
    num_global: int


PAPER_PREDICTORS = {"s": (192, 3), "b": (384, 6)}
ASYMDSD = {
    **{f"asymdsd-vit-{size}": AsymDSDExpected("cls_mask", pred, 4096, 4, 2) for size, pred in PAPER_PREDICTORS.items()},
    **{f"asymdsd-mpm-vit-{size}": AsymDSDExpected("mask", pred, 4096, 8, 1) for size, pred in PAPER_PREDICTORS.items()},
    **{f"asymdsd-cls-vit-{size}": AsymDSDExpected("cls", None, 4096, 4, 2) for size in PAPER_PREDICTORS},
    "asymdsd-vit-tiny": AsymDSDExpected("cls_mask", (96, 3), 1024, 4, 2),
    "asymdsd-mpm-vit-tiny": AsymDSDExpected("mask", (96, 3), 1024, 8, 1),
    "asymdsd-cls-vit-tiny": AsymDSDExpected("cls", None, 1024, 4, 2),
}

STEPPED = [name for name in EXPECTED if not name.endswith("-b") and not name.startswith("asymdsd")] + [
    name for name in ASYMDSD if name.endswith("-tiny")
]
"""Presets whose training step runs here: ViT-B (86M parameters, ~8 s a step on CPU) runs the same code as ViT-S,
so it is only built and checked; the AsymDSD S presets run the code of their tiny versions."""

TINY = {
    "dcglr": ["data.num_points=128", "dcglr.global_points=128", "dcglr.local_points=32", "dcglr.num_local=2"],
    "asymdsd": ["data.num_points=128", "asymdsd.global_points=128", "asymdsd.local_points=32", "asymdsd.num_masks=2"],
}
"""Inputs small enough for a CPU step of every preset (a few crops of 128 and 32 points); the networks keep their
preset sizes."""


def yaml_settings(name: str) -> dict[str, Any]:
    """The preset file's settings merged over those it inherits, read straight from the package files."""
    data = yaml.safe_load((resources.files("pointdistill.configs") / f"{name}.yaml").read_text()) or {}
    parent = data.pop("inherit", None)
    merged = yaml_settings(parent) if parent else {}
    for section, values in data.items():
        merged[section] = {**merged.get(section, {}), **values} if isinstance(values, dict) else values
    return merged


def leaves(settings: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in settings.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def lookup(config: Config, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


SCENE_PRESETS = [name for name in available_presets() if name.startswith(("scene-", "dos-"))]
"""The scene-backbone presets set data and encoder only (tests/models/scene checks them); the DOS presets on top of
them are checked here (below) and by tests/methods/test_dos.py."""

DOS = {"dos-tiny": ("scene-tiny", "tiny"), "dos-sonata": ("scene-sonata", "sonata")}


def test_dos_presets_name_their_method_backbone_and_paper_values() -> None:
    assert sorted(DOS) == sorted(name for name in available_presets() if name.startswith("dos-"))
    for name, (parent, preset) in DOS.items():
        data = yaml.safe_load(resources.files("pointdistill.configs").joinpath(f"{name}.yaml").read_text())
        assert data["inherit"] == parent
        config = load_config(name)
        assert config.method == "dos" and config.scene_encoder.preset == preset
        assert config.dos.zipf_alpha == 1.3 and config.dos.loss_level == 2
    paper = load_config("dos-sonata").dos
    assert (paper.num_prototypes, paper.head_hidden_dim, paper.head_bottleneck_dim) == (1024, 4096, 256)
    assert (paper.max_points, paper.mask_ratio, paper.mask_cell, paper.match_radius) == (65536, 0.7, 0.4, 0.32)


def test_every_shipped_preset_is_described_here() -> None:
    assert sorted(EXPECTED) == [name for name in available_presets() if name not in SCENE_PRESETS]
    assert sorted(ASYMDSD) == [name for name in available_presets() if name.startswith("asymdsd")]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_shipped_preset_loads(name: str) -> None:
    """Every key its YAML sets (after inheritance) has that value, and the method it names has a config section."""
    config = load_config(name)
    settings = dict(leaves(yaml_settings(name)))
    assert settings, f"{name} sets nothing"
    for key, value in settings.items():
        loaded = lookup(config, key)
        loaded = list(loaded) if isinstance(loaded, tuple) else loaded
        assert loaded == (pytest.approx(value) if isinstance(value, float) else value), key
    assert config.method in METHODS
    assert dataclasses.is_dataclass(getattr(config, config.method, None)), f"no '{config.method}' config section"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_preset_builds_the_encoder_and_method_it_describes(name: str) -> None:
    config = load_config(name)
    expected = EXPECTED[name]
    with torch.device("meta"):
        method = build_method(config)
    encoder = method.student.encoder
    heads = [method.student.head] if config.method == "dcglr" else [
        head for head in method.student.children() if head is not encoder
    ]
    assert type(encoder) is expected.encoder and encoder.token_dim == expected.token_dim
    assert all(encoder.feature_dim == expected.feature_dim == head.mlp[0].in_features for head in heads)
    if expected.layers is not None:
        attribute, count = expected.layers
        assert len(getattr(encoder, attribute)) == count
    if expected.heads is not None:
        assert encoder.blocks[0].attn.num_heads == expected.heads
    if expected.million_parameters is not None:
        count = sum(p.numel() for p in encoder.parameters())
        assert abs(count / 1e6 - expected.million_parameters) < 0.1, count
    section = config.section(config.method)
    assert all(head.out_dim == section.out_dim for head in heads)
    if config.method == "dcglr":
        assert any("BatchNorm" in type(m).__name__ for m in heads[0].modules()) == config.dcglr.head_use_bn
    else:
        check_asymdsd(name, method)
    student, teacher = method.student.parameters(), list(method.teacher.parameters())
    assert [p.shape for p in student] == [p.shape for p in teacher]
    assert not any(p.requires_grad for p in teacher)
    cloud = np.random.default_rng(0).normal(size=(2000, 3))
    views = method.view_transform()({"points": cloud}, np.random.default_rng(1))
    assert views["global"].shape == (section.num_global, section.global_points, 3)
    if section.num_local:
        assert views["local"].shape == (section.num_local, section.local_points, 3)
    assert views["points"].shape == (config.data.num_points, 3)


def check_asymdsd(name: str, method: nn.Module) -> None:
    """The mode, predictor, heads and masks the preset's comment describes."""
    expected, cfg = ASYMDSD[name], method.cfg
    assert (cfg.mode, cfg.out_dim, cfg.num_masks, cfg.num_global) == (
        expected.mode, expected.out_dim, expected.num_masks, expected.num_global
    )
    if expected.predictor is None:
        assert method.predictor is None and method.student.patch_head is None
    else:
        assert (method.predictor.embed.out_features, method.predictor.blocks[0].attn.num_heads) == expected.predictor
        assert len(method.predictor.blocks) == 6
    assert (method.student.cls_head is None) == (expected.mode == "mask")


@pytest.mark.parametrize("name", STEPPED)
def test_a_training_step_on_a_tiny_batch_gives_a_finite_loss(name: str) -> None:
    torch.manual_seed(0)
    method = build_method(load_config(name, TINY[load_config(name).method])).train()
    transform = method.view_transform()
    rng = np.random.default_rng(0)
    views = [transform({"points": rng.normal(size=(300, 3))}, np.random.default_rng(i)) for i in range(2)]
    batch = {key: torch.from_numpy(np.stack([v[key] for v in views])) for key in views[0]}
    loss, logs = method.training_step(batch, StepInfo(step=0, total_steps=10, steps_per_epoch=5))
    assert loss.dim() == 0 and math.isfinite(loss.item()) and loss.item() > 0
    assert all(math.isfinite(value) for value in logs.values()), logs
    loss.backward()
    grads = [p.grad for p in method.student.encoder.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads), "the loss must reach the encoder"
    assert all(p.grad is None for p in method.teacher.parameters())
