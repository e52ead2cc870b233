"""The teacher encoder of an official AsymDSD checkpoint (github ``remcofl/AsymDSD``) as our 3D-ViT.

The released files (``AsymDSD-S_ShapeNet.ckpt``, ``AsymSD-S-CLS_ShapeNet.ckpt``, ``AsymSD-S-MPM_ShapeNet.ckpt``,
``AsymDSD-B_Mixture_B.ckpt``) are PyTorch Lightning checkpoints: a dict with ``state_dict`` (the whole
LightningModule: student, teacher, heads, predictor, centering buffers), ``epoch``, ``global_step``, Lightning's
bookkeeping, the model's own ``scheduler`` and ``validation_epoch``, and ``hyper_parameters`` (the jsonargparse
model config, ``asymdsd/callbacks/save_model_hparams.py``; its class references arrive as inert placeholders, see
:func:`pointdistill.training.checkpoint.read_checkpoint`, and only plain ints in it are read). The teacher encoder
sits under ``teacher.point_encoder.``; its module tree (``asymdsd/models/point_encoder.py``,
``layers/tokenization.py``, ``layers/transformer.py``) maps one to one onto :class:`PointViT` by :data:`KEY_MAP`:

==============================================================  ===========================
reference key (after the prefix)                                 ours
==============================================================  ===========================
``cls_token``                                                    ``cls_token``
``patch_embedding.position_embedding.position_embedding.{0,2}``  ``pos_embed.{0,2}``
``patch_embedding.point_embedding.block_1.{0,1,3}`` (S)          ``patch_embed.local.{0,1,3}``
``patch_embedding.point_embedding.block_2.{0,1,3}`` (S)          ``patch_embed.fuse.{0,1,3}``
``patch_embedding.point_embedding.blocks.0.mlp.{0,1,4,5,8}`` (B) ``patch_embed.local.{0,1,3,4,6}``
``patch_embedding.point_embedding.blocks.1.mlp.{0,1,4}`` (B)     ``patch_embed.fuse.{0,1,3}``
``encoder.stack.i.self_attn.norm``                               ``blocks.i.norm1``
``encoder.stack.i.self_attn.attn.in_proj_weight`` (q, k, v rows) ``blocks.i.attn.qkv.weight``
``encoder.stack.i.self_attn.attn.out_proj``                      ``blocks.i.attn.proj``
``encoder.stack.i.ffn.norm``                                     ``blocks.i.norm2``
``encoder.stack.i.ffn.mlp.linear_{1,2}``                         ``blocks.i.mlp.fc{1,2}``
``encoder.norm``                                                 ``norm``
==============================================================  ===========================

(the B embedding's ``nn.Dropout`` layers take indices 3 and 7 there). No tensor is transformed: the reference's
``nn.MultiheadAttention`` stacks q, k, v as our fused qkv does, and the ``asymdsd`` patch embedding concatenates
[point, pooled] as the reference does. The architecture is read off the tensors: width from ``encoder.norm``,
depth from the block count, MLP ratio from ``linear_1``, RMSNorm when the final norm has no bias, biases when
``out_proj`` has one; the head count is not in any shape, so it comes from ``hyper_parameters.encoder_config
.num_heads`` when that is an int, else width / 64 (AsymDSD-S 384/6, B 768/12 and L 1024/16 all use 64-wide heads).
The MPM-only release has no ``cls_token`` (the reference creates it only for a CLS objective): it loads as our ViT
with ``cls_token=False``, whose global feature is the mean of its final tokens.

Patches: the reference draws the first FPS centre at random (pytorch3d ``sample_farthest_points(...,
random_start_point=True)``) and takes the 32 nearest points per centre (``knn_points``); ours starts FPS at point 0
and takes the same k nearest points, so the tokens come from the same kind of patches but not the same draw.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from pointdistill.errors import CheckpointError
from pointdistill.models.config import EncoderConfig
from pointdistill.models.patch_embed import WIDE_FROM

PREFIX = "teacher.point_encoder."
"""Where the released checkpoints keep the teacher encoder inside ``state_dict``."""

HEAD_DIM = 64
"""Width per attention head of every AsymDSD size; used when the checkpoint's hyper-parameters do not say."""

_EMBED = r"patch_embedding\.point_embedding\."
_WIDE_LOCAL = {"0": "0", "1": "1", "4": "3", "5": "4", "8": "6"}
_WIDE_FUSE = {"0": "0", "1": "1", "4": "3"}

KEY_MAP: tuple[tuple[str, str], ...] = (
    (r"cls_token", r"cls_token"),
    (r"patch_embedding\.position_embedding\.position_embedding\.([02])\.(weight|bias)", r"pos_embed.\1.\2"),
    (_EMBED + r"block_1\.([013])\.(weight|bias)", r"patch_embed.local.\1.\2"),
    (_EMBED + r"block_2\.([013])\.(weight|bias)", r"patch_embed.fuse.\1.\2"),
    (r"encoder\.stack\.(\d+)\.self_attn\.norm\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (r"encoder\.stack\.(\d+)\.self_attn\.attn\.in_proj_(weight|bias)", r"blocks.\1.attn.qkv.\2"),
    (r"encoder\.stack\.(\d+)\.self_attn\.attn\.out_proj\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"encoder\.stack\.(\d+)\.ffn\.norm\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"encoder\.stack\.(\d+)\.ffn\.mlp\.linear_([12])\.(weight|bias)", r"blocks.\1.mlp.fc\2.\3"),
    (r"encoder\.norm\.(weight|bias)", r"norm.\1"),
)
"""(reference key pattern, our key template) for every key but the wide embedding's, whose indices shift."""

_WIDE_KEY = re.compile(_EMBED + r"blocks\.([01])\.mlp\.(\d+)\.(weight|bias)")


def is_asymdsd_checkpoint(data: Any) -> bool:
    """Whether ``data`` (a loaded checkpoint) is a Lightning checkpoint holding an AsymDSD teacher encoder."""
    state = data.get("state_dict") if isinstance(data, dict) else None
    return isinstance(state, Mapping) and any(isinstance(k, str) and k.startswith(PREFIX) for k in state)


def teacher_state(data: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The teacher encoder's tensors, keyed without :data:`PREFIX`."""
    return {k[len(PREFIX) :]: v for k, v in data["state_dict"].items() if k.startswith(PREFIX)}


def map_key(key: str) -> str | None:
    """Our key for a reference key (without the prefix), or None when it has no counterpart."""
    for pattern, template in KEY_MAP:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, template, key)
    wide = _WIDE_KEY.fullmatch(key)
    if wide:
        stage, index, kind = wide.groups()
        table = _WIDE_LOCAL if stage == "0" else _WIDE_FUSE
        if index in table:
            return f"patch_embed.{'local' if stage == '0' else 'fuse'}.{table[index]}.{kind}"
    return None


def map_state(state: Mapping[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """Rename every teacher-encoder key; CheckpointError names the first key that maps to nothing."""
    mapped = {}
    for key, value in state.items():
        ours = map_key(key)
        if ours is None:
            raise CheckpointError(f"{origin}: AsymDSD checkpoint key {PREFIX}{key} has no counterpart in this encoder")
        mapped[ours] = value
    return mapped


def _tensor(state: Mapping[str, torch.Tensor], key: str, origin: str) -> torch.Tensor:
    value = state.get(key)
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{origin}: AsymDSD checkpoint lacks the tensor {PREFIX}{key}")
    return value


def _num_heads(hyper_parameters: Any, width: int) -> int:
    """``hyper_parameters['encoder_config']['num_heads']`` when it is a usable int, else width / :data:`HEAD_DIM`."""
    config = hyper_parameters.get("encoder_config") if isinstance(hyper_parameters, dict) else None
    heads = config.get("num_heads") if isinstance(config, dict) else None
    if isinstance(heads, int) and heads > 0 and width % heads == 0:
        return heads
    return max(1, width // HEAD_DIM)


def encoder_config(data: dict[str, Any], origin: str) -> EncoderConfig:
    """The ``encoder`` section that builds the teacher encoder of AsymDSD checkpoint ``data``, from its shapes."""
    state = teacher_state(data)
    width = _tensor(state, "encoder.norm.weight", origin).shape[0]
    depth = len({int(m.group(1)) for k in state if (m := re.match(r"encoder\.stack\.(\d+)\.", k))})
    hidden = _tensor(state, "encoder.stack.0.ffn.mlp.linear_1.weight", origin).shape[0]
    _check_embedding(state, width, origin)
    return EncoderConfig(
        name="vit",
        preset="b" if width >= WIDE_FROM else "s",
        embed_dim=width,
        depth=depth,
        num_heads=_num_heads(data.get("hyper_parameters"), width),
        mlp_ratio=hidden / width,
        drop_path=0.0,
        group_size=32,
        points_per_group=16,
        patch_embed="asymdsd",
        block_norm="layer" if "encoder.norm.bias" in state else "rms",
        bias="encoder.stack.0.self_attn.attn.out_proj.bias" in state,
        cls_token="cls_token" in state,
    )


def _check_embedding(state: Mapping[str, torch.Tensor], width: int, origin: str) -> None:
    """The patch embedding must have the layout our ``asymdsd`` embedding builds for this width."""
    if width >= WIDE_FROM:
        expected = {"0.mlp.0.weight": (256, 3), "0.mlp.8.weight": (1024, 512), "1.mlp.0.weight": (2048, 2048)}
        stage = "patch_embedding.point_embedding.blocks."
    else:
        expected = {"1.0.weight": (128, 3), "1.3.weight": (256, 128), "2.0.weight": (512, 512)}
        stage = "patch_embedding.point_embedding.block_"
    for suffix, shape in expected.items():
        found = tuple(_tensor(state, stage + suffix, origin).shape)
        if found != shape:
            raise CheckpointError(
                f"{origin}: AsymDSD checkpoint tensor {PREFIX}{stage}{suffix} has shape {list(found)}, but the "
                f"asymdsd patch embedding of width {width} has {list(shape)}"
            )
