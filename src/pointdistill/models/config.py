"""Config section ``encoder``: which backbone and its size. ``None`` means "take the preset's value".

``preset`` only applies to ``vit`` (tiny, s, b); the point-wise encoders (dgcnn, pointnet, pct) have one size each.
``norm`` picks the normalisation of every point-wise MLP (the ViT's patch embedding and the whole of DGCNN, PointNet
and PCT): ``layer`` (default) is batch-independent, so a B=1 batch, an EMA teacher (LayerNorm has no running
buffers to average) and DDP without SyncBatchNorm all behave exactly like a single large batch; ``batch`` is the
papers' BatchNorm, with statistics over every point of every cloud in the batch.
``hidden_norm`` passes the ViT's intermediate block outputs (``return_hidden``) through its final norm, as
Point-MAE's segmentation head does.

AsymDSD's encoder is the ViT with three options (``encoder.patch_embed=asymdsd encoder.block_norm=rms
encoder.bias=false``): ``block_norm`` is the norm of the transformer blocks and the final norm (``layer`` or
``rms``; ``rms`` also sets the norms of the ``asymdsd`` patch embedding, while ``norm`` keeps governing the other
embeddings); ``bias=false`` drops the bias of every linear layer of the blocks (qkv, projection, MLP) and of the
patch embedding (the ``asymdsd`` layout keeps the biases its reference keeps, see ``models/patch_embed.py``); the
position MLP always keeps its biases, as in the reference.

``drop_path`` is the ViT's stochastic depth: by default it rises linearly from 0 on the first block to
``drop_path`` on the last (timm's and Point-MAE's rule); ``drop_path_uniform=true`` gives every block ``drop_path``,
as the AsymDSD reference does for its B model (``uniform_drop_path: true``). ``cls_token=false`` builds the ViT
without a CLS token (AsymDSD's MPM-only model; the global feature is then the mean of the final tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

from pointdistill.config import register_section


@dataclass
class EncoderConfig:
    name: str = "vit"
    preset: str = "tiny"
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float = 4.0
    drop_path: float = 0.1
    drop_path_uniform: bool = False
    group_size: int = 32
    points_per_group: int = 16
    patch_embed: str | None = None
    k: int = 20
    out_dim: int = 1024
    norm: str = "layer"
    hidden_norm: bool = True
    block_norm: str = "layer"
    bias: bool = True
    cls_token: bool = True


register_section("encoder", EncoderConfig)
