"""The scene encoder: a serialised point transformer (Point Transformer V3 / Sonata encoder) in pure PyTorch.

``SceneEncoder(coord, feat, offset)`` runs: stem (Linear -> LayerNorm -> GELU, optional mask token) -> stage 0
blocks -> [grid pooling -> stage s blocks] ... and returns a :class:`ScenePyramid` of every stage's output.

A block is pre-norm: ``x = x + CPE(x)``; ``x = x + DropPath(Attn(LN(x)))``; ``x = x + DropPath(MLP(LN(x)))`` with
CPE = submanifold 3x3x3 conv -> Linear -> LayerNorm (``position="rope"`` drops the CPE and rotates queries and keys
by the grid position instead). Block i of a stage attends in serialisation order ``orders[i % 4]`` of its level; in
training the four orders are shuffled at every serialisation (after the stem and after every pooling) for each
scene on its own (one draw per scene, keyed like stochastic depth below), in eval they are not, so evaluation is
deterministic (Pointcept shuffles once per batch, and in eval too).

Stochastic depth rises linearly from 0 to ``drop_path`` over all blocks of all stages and drops a residual branch
for a whole *scene* (one draw per scene, from :func:`~pointdistill.models.stochastic.sample_keys` when a method
sets keys). Pointcept's timm DropPath on [N, C] features drops single points instead; per scene is stochastic
depth proper and keeps a scene's draw independent of its batch. The same holds for the order shuffles, so with keys
a scene is encoded in training exactly as it would be alone or in any other batch (a data-parallel or accumulated
step equals one large batch).

Nothing crosses scenes: grid cells are per scene, curve codes and patches are per scene, neighbour keys and pooling
cells carry the scene index, so a batch of scenes computes (in eval) what each scene computes alone.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from pointdistill.models.blocks import Mlp, init_token, init_weights
from pointdistill.models.scene.attention import PatchAttention, PatchLayout, patch_layout, rope_angles
from pointdistill.models.scene.pooling import GridPooling
from pointdistill.models.scene.pyramid import ScenePyramid
from pointdistill.models.scene.serialization import ORDERS
from pointdistill.models.scene.sparse_conv import NeighbourTable, SubMConv3d, neighbour_table
from pointdistill.models.scene.structure import (
    SceneLevel,
    check_offset,
    grid_from_coord,
    offset_to_batch,
)
from pointdistill.models.stochastic import per_sample_uniform

POSITIONS = ("cpe", "rope")


class SceneDropPath(nn.Module):
    """Stochastic depth per scene of a concatenated batch: each scene's branch is kept with probability 1 - p and
    rescaled by 1 / (1 - p) (training only)."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor, level: SceneLevel) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        draw = per_sample_uniform(level.num_scenes)
        if draw is None:
            draw = torch.rand(level.num_scenes, device=x.device)
        keep = (draw.to(x.device) >= self.drop_prob).to(x.dtype) / (1.0 - self.drop_prob)
        return x * keep[level.batch].unsqueeze(1)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


class ConditionalPosition(nn.Module):
    """CPE: submanifold 3x3x3 convolution -> Linear -> LayerNorm (its output is added to the block's input)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = SubMConv3d(dim, dim)
        self.linear = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, table: NeighbourTable) -> torch.Tensor:
        return self.norm(self.linear(self.conv(x, table)))


class SceneBlock(nn.Module):
    """One pre-norm serialised-attention block (module docstring); ``order_index`` picks the level's order."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        *,
        patch_size: int,
        order_index: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        position: str = "cpe",
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        if position not in POSITIONS:
            raise ValueError(f"unknown position encoding {position!r}; choose from {list(POSITIONS)}")
        self.patch_size = patch_size
        self.order_index = order_index
        self.position = position
        self.cpe = ConditionalPosition(dim) if position == "cpe" else None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = PatchAttention(dim, num_heads, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = SceneDropPath(drop_path)

    def layout(self, level: SceneLevel) -> PatchLayout:
        """This block's patches on ``level`` (cached per level, order slot and patch size)."""
        slot = self.order_index % len(level.orders)
        return level.cached(
            ("patches", slot, self.patch_size),
            lambda: patch_layout(level.sequence(slot), level.counts, self.patch_size),
        )

    def forward(self, x: torch.Tensor, level: SceneLevel) -> torch.Tensor:
        rope = None
        if self.cpe is not None:
            table = level.cached("neighbours", lambda: neighbour_table(level.grid, level.batch))
            x = x + self.cpe(x, table)
        else:
            head_dim = self.attn.head_dim
            rope = level.cached(("rope", head_dim), lambda: rope_angles(level.grid, head_dim))
        x = x + self.drop_path(self.attn(self.norm1(x), self.layout(level), rope), level)
        return x + self.drop_path(self.mlp(self.norm2(x)), level)


class Stem(nn.Module):
    """Linear(in -> C0) -> LayerNorm -> GELU, then a learned mask token on the points a boolean mask flags."""

    def __init__(self, in_channels: int, out_channels: int, *, mask_token: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(in_channels, out_channels)
        self.norm = nn.LayerNorm(out_channels)
        self.act = nn.GELU()
        self.mask_token = nn.Parameter(torch.zeros(1, out_channels)) if mask_token else None

    def forward(self, feat: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.act(self.norm(self.linear(feat)))
        if mask is None:
            return x
        if self.mask_token is None:
            raise ValueError("a mask was given but the encoder has no mask token (build it with mask_token=True)")
        return torch.where(mask.unsqueeze(1), self.mask_token.to(x.dtype), x)


class SceneEncoder(nn.Module):
    """Serialised point transformer over batches of concatenated scenes; returns a :class:`ScenePyramid`.

    ``in_channels`` is the per-point input feature width (6 by default: colour + normal; Sonata feeds 9, with the
    coordinate in front: pass ``in_channels=9`` and concatenate it). ``widths``/``depths``/``heads`` are per stage;
    stage s > 0 starts with a stride-2 grid pooling from ``widths[s - 1]``.
    """

    def __init__(
        self,
        in_channels: int = 6,
        widths: Sequence[int] = (32, 64, 128, 256),
        depths: Sequence[int] = (1, 1, 2, 1),
        heads: Sequence[int] = (2, 4, 8, 16),
        *,
        patch_size: int = 128,
        grid_size: float = 0.05,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        position: str = "cpe",
        shuffle_orders: bool = True,
        mask_token: bool = False,
        orders: Sequence[str] = ORDERS,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        if not len(widths) == len(depths) == len(heads) >= 1:
            raise ValueError(f"widths, depths and heads need one entry per stage, got {widths}, {depths}, {heads}")
        if grid_size <= 0:
            raise ValueError(f"grid_size must be positive, got {grid_size}")
        unknown = [name for name in orders if name not in ORDERS]
        if unknown or not orders:
            raise ValueError(f"orders must be a non-empty selection of {list(ORDERS)}, got {list(orders)}")
        self.in_channels = in_channels
        self.widths = tuple(widths)
        self.depths = tuple(depths)
        self.grid_size = grid_size
        self.orders = tuple(orders)
        self.shuffle_orders = shuffle_orders
        self.stem = Stem(in_channels, widths[0], mask_token=mask_token)
        total = sum(depths)
        rates = [drop_path * i / max(1, total - 1) for i in range(total)]  # linear over all blocks
        self.pools = nn.ModuleList(GridPooling(widths[s - 1], widths[s]) for s in range(1, len(widths)))
        self.stages = nn.ModuleList()
        first = 0
        for width, depth, num_heads in zip(widths, depths, heads):
            self.stages.append(
                nn.ModuleList(
                    SceneBlock(
                        width,
                        num_heads,
                        patch_size=patch_size,
                        order_index=i,
                        mlp_ratio=mlp_ratio,
                        drop_path=rates[first + i],
                        position=position,
                        qkv_bias=qkv_bias,
                    )
                    for i in range(depth)
                )
            )
            first += depth
        self.apply(init_weights)
        if self.stem.mask_token is not None:
            init_token(self.stem.mask_token)

    @property
    def feature_dim(self) -> int:
        """Channels of the full up-cast (the linear-probe feature): the sum of the widths."""
        return sum(self.widths)

    def order_choice(self, num_scenes: int, device: torch.device) -> torch.Tensor | None:
        """Each scene's shuffle of the orders for one serialisation, [num_scenes, len(orders)] (None: the fixed
        sequence, in eval or without ``shuffle_orders``). Drawn per scene from its key under
        :func:`~pointdistill.models.stochastic.sample_keys`, else from torch's generator."""
        if not (self.training and self.shuffle_orders):
            return None
        keyed = [per_sample_uniform(num_scenes) for _ in self.orders]
        if keyed[0] is None:
            draws = torch.rand(num_scenes, len(self.orders), device=device)
        else:
            draws = torch.stack(keyed, dim=1).to(device)
        return torch.argsort(draws, dim=1)

    def forward(
        self,
        coord: torch.Tensor,
        feat: torch.Tensor,
        offset: torch.Tensor,
        grid_coord: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> ScenePyramid:
        """Encode concatenated scenes: ``coord`` [N, 3], ``feat`` [N, in_channels], ``offset`` [B] cumulative ends,
        optional ``grid_coord`` [N, 3] (default: per-scene floor((coord - min) / grid_size)) and ``mask`` [N] bool
        (points that get the mask token)."""
        points = coord.shape[0]
        if coord.dim() != 2 or coord.shape[1] != 3:
            raise ValueError(f"coord must be [N, 3], got {list(coord.shape)}")
        if feat.shape != (points, self.in_channels):
            raise ValueError(f"feat must be [{points}, {self.in_channels}], got {list(feat.shape)}")
        check_offset(offset, points)
        offset = offset.long()
        batch = offset_to_batch(offset)
        if grid_coord is None:
            grid_coord = grid_from_coord(coord.detach(), batch, offset.shape[0], self.grid_size)
        elif grid_coord.shape != (points, 3):
            raise ValueError(f"grid_coord must be [{points}, 3], got {list(grid_coord.shape)}")
        if mask is not None and mask.shape != (points,):
            raise ValueError(f"mask must be [{points}] bool, got {list(mask.shape)}")
        level = SceneLevel(coord, grid_coord.long(), batch, offset, self.orders,
                           self.order_choice(offset.shape[0], coord.device))
        x = self.stem(feat, None if mask is None else mask.bool())
        feats, coords, offsets, parents = [], [], [], []
        for stage, blocks in enumerate(self.stages):
            if stage:
                x, level, parent = self.pools[stage - 1](x, level)
                level.orders, level.choice = self.orders, self.order_choice(level.num_scenes, x.device)
                parents.append(parent)
            for block in blocks:
                x = block(x, level)
            feats.append(x)
            coords.append(level.coord)
            offsets.append(level.offset)
        return ScenePyramid(feats, coords, offsets, parents)
