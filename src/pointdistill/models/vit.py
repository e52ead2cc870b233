"""3D-ViT encoder of the Point-MAE lineage, with a split API for students that encode only some patches.

``forward(points)`` = ``patchify`` -> ``embed`` -> ``encode``:

- ``patchify``: G centres by FPS, the k = ``group_size`` nearest points of each, centred (:func:`ops.group_patches`).
  G defaults to N // ``points_per_group`` (1024 -> 64, 2048 -> 128, 256 -> 16 with the default 16).
- ``embed``: mini-PointNet tokens [B, G, D] and position embeddings [B, G, D] (MLP 3 -> 128 -> D on the centre).
- ``encode``: prepend a learned CLS token (position zero), then for every block ``x = block(x + pos)`` (the
  position is re-added before each block, as in Point-MAE and AsymDSD), then the final norm.

``block_norm`` (``layer`` or ``rms``) and ``bias`` make it AsymDSD's encoder (``asymdsd/models/point_encoder.py``,
``asymdsd/layers/transformer.py``): RMSNorm in the blocks, the final norm and the ``asymdsd`` patch embedding, no
bias in the blocks' linears. The position MLP keeps its biases either way. Linears are initialised truncated
normal (std 0.02) with zero biases, the CLS token likewise (:func:`blocks.init_token`, also for a method's mask token).

A masked student (AsymDSD) calls ``embed`` once, keeps the visible tokens with ``ops.gather_points(tokens, idx)``
(and the same for ``pos`` and the centres) and passes only those to ``encode``; attention cost then scales with the
visible count. ``encode`` on all tokens equals ``forward``.

``return_hidden`` lists block indices (negative counts from the end); ``hidden[i]`` is that block's output for the
patch tokens (CLS dropped), passed through the final norm when ``hidden_norm`` (Point-MAE's segmentation features),
raw otherwise. With ``hidden_norm`` the last block's hidden state equals ``tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from pointdistill.models.base import EncoderOutput, PointEncoder
from pointdistill.models.blocks import Block, init_token, init_weights
from pointdistill.models.common import make_norm, resolve_hidden
from pointdistill.models.patch_embed import build_patch_embed
from pointdistill.ops import Patches, group_patches


@dataclass(frozen=True)
class ViTPreset:
    embed_dim: int
    depth: int
    num_heads: int
    patch_embed: str


VIT_PRESETS = {
    "tiny": ViTPreset(embed_dim=192, depth=6, num_heads=3, patch_embed="light"),
    "s": ViTPreset(embed_dim=384, depth=12, num_heads=6, patch_embed="standard"),
    "b": ViTPreset(embed_dim=768, depth=12, num_heads=12, patch_embed="standard"),
}


class PointViT(PointEncoder):
    """Patch transformer; ``token_dim`` = ``feature_dim`` = D and ``global_feature`` is the normalised CLS token.

    ``cls_token=False`` builds it without a CLS token, as AsymDSD's MPM-only model (the reference creates the token
    only when the training mode has a CLS objective): the blocks see the patch tokens alone, ``cls`` is None and
    ``global_feature`` is the mean of the final tokens (the reference's default pooling for downstream features).
    """

    def __init__(
        self,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        *,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        drop_path_uniform: bool = False,
        group_size: int = 32,
        points_per_group: int = 16,
        patch_embed: str = "standard",
        norm: str = "layer",
        hidden_norm: bool = True,
        qkv_bias: bool = False,
        block_norm: str = "layer",
        bias: bool = True,
        cls_token: bool = True,
    ) -> None:
        super().__init__()
        self.token_dim = self.feature_dim = embed_dim
        self.group_size = group_size
        self.points_per_group = points_per_group
        self.hidden_norm = hidden_norm
        embed_norm = "rms" if patch_embed == "asymdsd" and block_norm == "rms" else norm
        self.patch_embed = build_patch_embed(patch_embed, embed_dim, embed_norm, bias=bias)
        self.pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, embed_dim))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim)) if cls_token else None
        rates = [drop_path if drop_path_uniform else drop_path * i / max(1, depth - 1) for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                drop_path=rate,
                norm=block_norm,
                bias=bias,
            )
            for rate in rates
        )
        self.norm = make_norm(block_norm, embed_dim)
        self.apply(init_weights)
        if self.cls_token is not None:
            init_token(self.cls_token)

    def default_num_groups(self, num_points: int) -> int:
        return max(1, num_points // self.points_per_group)

    def patchify(self, points: torch.Tensor, num_groups: int | None = None) -> Patches:
        """FPS + k-NN patches of ``points`` [B, N, 3]."""
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be [B, N, 3], got {list(points.shape)}")
        groups = self.default_num_groups(points.shape[1]) if num_groups is None else num_groups
        if groups < 1:
            raise ValueError(f"num_groups must be >= 1, got {groups}")
        return group_patches(points, groups, self.group_size)

    def embed(self, patches: Patches) -> tuple[torch.Tensor, torch.Tensor]:
        """Patch tokens [B, G, D] and their position embeddings [B, G, D]."""
        return self.patch_embed(patches.neighborhoods), self.pos_embed(patches.centers)

    def _prepend_cls(self, tokens: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Put the CLS token (at position zero) in front of the patch tokens; unchanged without a CLS token."""
        if self.cls_token is None:
            return tokens, pos
        batch = tokens.shape[0]
        x = torch.cat([self.cls_token.expand(batch, -1, -1).to(tokens.dtype), tokens], dim=1)
        return x, torch.cat([pos.new_zeros(batch, 1, pos.shape[-1]), pos], dim=1)

    def encode(
        self,
        tokens: torch.Tensor,
        pos: torch.Tensor,
        centers: torch.Tensor,
        *,
        return_hidden: Sequence[int] | None = None,
    ) -> EncoderOutput:
        """Run CLS + any subset of patch tokens [B, T, D] (with their ``pos`` and ``centers``) through the blocks."""
        wanted = resolve_hidden(return_hidden, len(self.blocks), "PointViT")
        x, pos = self._prepend_cls(tokens, pos)
        first = 0 if self.cls_token is None else 1
        states = {}
        for index, block in enumerate(self.blocks):
            x = block(x + pos)
            if index in wanted:
                states[index] = (self.norm(x) if self.hidden_norm else x)[:, first:]
        x = self.norm(x)
        cls = x[:, 0] if first else None
        patch_tokens = x[:, first:]
        return EncoderOutput(
            tokens=patch_tokens,
            centers=centers,
            global_feature=patch_tokens.mean(dim=1) if cls is None else cls,
            cls=cls,
            hidden=[states[i] for i in wanted],
        )

    def forward(
        self,
        points: torch.Tensor,
        *,
        num_groups: int | None = None,
        return_hidden: Sequence[int] | None = None,
    ) -> EncoderOutput:
        patches = self.patchify(points, num_groups)
        tokens, pos = self.embed(patches)
        return self.encode(tokens, pos, patches.centers, return_hidden=return_hidden)

    @torch.no_grad()
    def cls_attention(
        self, points: torch.Tensor, *, num_groups: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """How much the CLS query of the last block attends to each patch: ([B, heads, G], centres [B, G, 3]).

        The CLS-to-CLS weight is dropped, so rows sum to at most 1.
        """
        if self.cls_token is None:
            raise ValueError("cls_attention needs a CLS token; this ViT was built with cls_token=False")
        patches = self.patchify(points, num_groups)
        tokens, pos = self.embed(patches)
        x, pos = self._prepend_cls(tokens, pos)
        for block in self.blocks[:-1]:
            x = block(x + pos)
        probs = self.blocks[-1].attention_probs(x + pos)
        return probs[:, :, 0, 1:], patches.centers
