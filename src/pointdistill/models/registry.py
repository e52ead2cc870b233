"""Build any encoder from the ``encoder`` config section; bad names and sizes raise ConfigError listing the choices."""

from __future__ import annotations

from typing import Callable

from pointdistill.errors import ConfigError
from pointdistill.models.base import PointEncoder
from pointdistill.models.common import BLOCK_NORMS, NORMS
from pointdistill.models.config import EncoderConfig
from pointdistill.models.dgcnn import DGCNN
from pointdistill.models.patch_embed import PATCH_EMBEDS
from pointdistill.models.pct import PCT
from pointdistill.models.pointnet import PointNet
from pointdistill.models.vit import VIT_PRESETS, PointViT


def _build_vit(cfg: EncoderConfig) -> PointViT:
    if cfg.preset not in VIT_PRESETS:
        raise ConfigError(f"encoder.preset: unknown vit preset {cfg.preset!r}; choose from {', '.join(VIT_PRESETS)}")
    preset = VIT_PRESETS[cfg.preset]
    embed_dim = cfg.embed_dim if cfg.embed_dim is not None else preset.embed_dim
    depth = cfg.depth if cfg.depth is not None else preset.depth
    num_heads = cfg.num_heads if cfg.num_heads is not None else preset.num_heads
    patch_embed = cfg.patch_embed if cfg.patch_embed is not None else preset.patch_embed
    if patch_embed not in PATCH_EMBEDS:
        raise ConfigError(f"encoder.patch_embed: unknown {patch_embed!r}; choose from {', '.join(PATCH_EMBEDS)}")
    for key, value in (("embed_dim", embed_dim), ("depth", depth), ("num_heads", num_heads)):
        if value < 1:
            raise ConfigError(f"encoder.{key}: must be >= 1, got {value}")
    if embed_dim % num_heads:
        raise ConfigError(f"encoder.embed_dim: {embed_dim} is not divisible by encoder.num_heads={num_heads}")
    if cfg.points_per_group < 1 or cfg.group_size < 1:
        raise ConfigError("encoder.points_per_group and encoder.group_size must be >= 1")
    if not 0.0 <= cfg.drop_path < 1.0:
        raise ConfigError(f"encoder.drop_path: must be in [0, 1), got {cfg.drop_path}")
    if cfg.block_norm not in BLOCK_NORMS:
        raise ConfigError(f"encoder.block_norm: unknown {cfg.block_norm!r}; choose from {', '.join(BLOCK_NORMS)}")
    return PointViT(
        embed_dim,
        depth,
        num_heads,
        mlp_ratio=cfg.mlp_ratio,
        drop_path=cfg.drop_path,
        drop_path_uniform=cfg.drop_path_uniform,
        group_size=cfg.group_size,
        points_per_group=cfg.points_per_group,
        patch_embed=patch_embed,
        norm=cfg.norm,
        hidden_norm=cfg.hidden_norm,
        block_norm=cfg.block_norm,
        bias=cfg.bias,
        cls_token=cfg.cls_token,
    )


def _build_dgcnn(cfg: EncoderConfig) -> DGCNN:
    if cfg.k < 1:
        raise ConfigError(f"encoder.k: must be >= 1, got {cfg.k}")
    return DGCNN(k=cfg.k, out_dim=cfg.out_dim, norm=cfg.norm)


def _build_pointnet(cfg: EncoderConfig) -> PointNet:
    return PointNet(out_dim=cfg.out_dim, norm=cfg.norm)


def _build_pct(cfg: EncoderConfig) -> PCT:
    if cfg.group_size < 1:
        raise ConfigError(f"encoder.group_size: must be >= 1, got {cfg.group_size}")
    return PCT(group_size=cfg.group_size, out_dim=cfg.out_dim, norm=cfg.norm)


ENCODERS: dict[str, Callable[[EncoderConfig], PointEncoder]] = {
    "vit": _build_vit,
    "dgcnn": _build_dgcnn,
    "pointnet": _build_pointnet,
    "pct": _build_pct,
}


def build_encoder(cfg: EncoderConfig) -> PointEncoder:
    """The encoder named by ``cfg.name``; ``cfg.preset`` sizes the ViT and is ignored by the others."""
    if cfg.name not in ENCODERS:
        raise ConfigError(f"encoder.name: unknown encoder {cfg.name!r}; choose from {', '.join(ENCODERS)}")
    if cfg.norm not in NORMS:
        raise ConfigError(f"encoder.norm: unknown norm {cfg.norm!r}; choose from {', '.join(NORMS)}")
    if cfg.out_dim < 1:
        raise ConfigError(f"encoder.out_dim: must be >= 1, got {cfg.out_dim}")
    return ENCODERS[cfg.name](cfg)
