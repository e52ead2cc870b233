"""Config section ``encoder``: which backbone and its size. ``None`` means "take the preset's value"."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EncoderConfig:
    name: str = "vit"
    preset: str = "tiny"
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float = 4.0
    drop_path: float = 0.1
    group_size: int = 32
    points_per_group: int = 16
    patch_embed: str | None = None
    k: int = 20
    out_dim: int = 1024
