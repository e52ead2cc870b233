"""Encoders behind one interface (:class:`PointEncoder`): 3D-ViT, DGCNN, PointNet, PCT, and their building blocks."""

from pointdistill.models.base import POOLINGS, EncoderOutput, PointEncoder, pooled_features
from pointdistill.models.blocks import (
    Attention,
    Block,
    CrossAttention,
    CrossAttentionBlock,
    DropPath,
    Mlp,
    init_token,
)
from pointdistill.models.config import EncoderConfig
from pointdistill.models.dgcnn import DGCNN, feature_knn
from pointdistill.models.patch_embed import PATCH_EMBEDS, MiniPointNet, build_patch_embed
from pointdistill.models.pct import PCT
from pointdistill.models.pointnet import PointNet
from pointdistill.models.registry import ENCODERS, build_encoder
from pointdistill.models.vit import VIT_PRESETS, PointViT

__all__ = [
    "DGCNN",
    "ENCODERS",
    "PATCH_EMBEDS",
    "PCT",
    "POOLINGS",
    "VIT_PRESETS",
    "Attention",
    "Block",
    "CrossAttention",
    "CrossAttentionBlock",
    "DropPath",
    "EncoderConfig",
    "EncoderOutput",
    "MiniPointNet",
    "Mlp",
    "PointEncoder",
    "PointNet",
    "PointViT",
    "build_encoder",
    "build_patch_embed",
    "feature_knn",
    "init_token",
    "pooled_features",
]
