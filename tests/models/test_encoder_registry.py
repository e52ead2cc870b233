"""build_encoder: names, presets, overrides and clear errors."""

from __future__ import annotations

import pytest
import torch

from pointdistill.errors import ConfigError
from pointdistill.models import DGCNN, ENCODERS, PCT, EncoderConfig, PointNet, PointViT, build_encoder, pooled_features


@pytest.mark.parametrize(("name", "cls"), [("vit", PointViT), ("dgcnn", DGCNN), ("pointnet", PointNet), ("pct", PCT)])
def test_every_name_builds_its_encoder(name: str, cls: type) -> None:
    assert isinstance(build_encoder(EncoderConfig(name=name)), cls)


def test_registry_lists_the_four_backbones() -> None:
    assert set(ENCODERS) == {"vit", "dgcnn", "pointnet", "pct"}


def test_overrides_replace_preset_values() -> None:
    model = build_encoder(EncoderConfig(preset="s", embed_dim=64, depth=2, num_heads=4, patch_embed="light"))
    assert (model.token_dim, len(model.blocks), model.blocks[0].attn.num_heads) == (64, 2, 4)
    assert model.patch_embed.local[0].out_features == 64
    assert build_encoder(EncoderConfig(name="dgcnn", k=7, out_dim=32)).feature_dim == 64


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (EncoderConfig(name="resnet"), "vit, dgcnn, pointnet, pct"),
        (EncoderConfig(preset="xl"), "tiny, s, b"),
        (EncoderConfig(patch_embed="conv"), "standard, light"),
        (EncoderConfig(embed_dim=100, num_heads=3), "divisible"),
        (EncoderConfig(norm="group"), "layer, batch"),
        (EncoderConfig(name="dgcnn", k=0), "encoder.k"),
        (EncoderConfig(drop_path=1.0), "drop_path"),
    ],
)
def test_bad_config_raises_config_error(cfg: EncoderConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_encoder(cfg)


@pytest.mark.parametrize("name", ["vit", "pointnet"])
def test_pooled_features_work_for_any_encoder(name: str) -> None:
    model = build_encoder(EncoderConfig(name=name)).eval()
    out = model(torch.randn(2, 256, 3))
    extra = model.token_dim if out.cls is not None else 0
    assert pooled_features(out).shape == (2, 2 * model.token_dim + extra)
