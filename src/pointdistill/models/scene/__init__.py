"""Scene backbone: a serialised point transformer (PTv3 / Sonata encoder) in pure PyTorch, one code path for CPU
and GPU. See :mod:`pointdistill.models.scene.ptv3` for the architecture."""

from pointdistill.models.scene.attention import PatchAttention, PatchLayout, patch_layout
from pointdistill.models.scene.config import (
    SCENE_PRESETS,
    ResolvedSceneEncoder,
    SceneEncoderConfig,
    build_scene_encoder,
    resolve_scene_config,
)
from pointdistill.models.scene.pooling import GridPooling, unpool
from pointdistill.models.scene.ptv3 import SceneBlock, SceneEncoder
from pointdistill.models.scene.pyramid import ScenePyramid
from pointdistill.models.scene.serialization import ORDERS, hilbert_code, serialize, z_order_code
from pointdistill.models.scene.sparse_conv import NeighbourTable, SubMConv3d, neighbour_table
from pointdistill.models.scene.structure import SceneLevel

__all__ = [
    "ORDERS",
    "SCENE_PRESETS",
    "GridPooling",
    "NeighbourTable",
    "PatchAttention",
    "PatchLayout",
    "ResolvedSceneEncoder",
    "SceneBlock",
    "SceneEncoder",
    "SceneEncoderConfig",
    "SceneLevel",
    "ScenePyramid",
    "SubMConv3d",
    "build_scene_encoder",
    "hilbert_code",
    "neighbour_table",
    "patch_layout",
    "resolve_scene_config",
    "serialize",
    "unpool",
    "z_order_code",
]
