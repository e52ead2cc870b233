"""What the scene encoder returns: per-level features, coordinates, offsets and parent links, and the up-cast.

The up-cast is how Sonata and DOS read a multi-scale point feature without a decoder: a coarser level's features are
copied onto each of its children (via ``parents``) and concatenated there, repeatedly. From stride 16 down to
stride 4 that gives 192 + 384 + 512 = 1088 channels with Sonata's widths (the DOS / Sonata loss level); all the way
down to the input resolution 48 + 96 + 192 + 384 + 512 = 1232 (the linear-probe features).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ScenePyramid:
    """Level l = output of encoder stage l (0 = stem resolution, N points). ``parents[l]`` [N_l] indexes level l+1
    (one fewer entry than levels)."""

    feats: list[torch.Tensor]
    coords: list[torch.Tensor]
    offsets: list[torch.Tensor]
    parents: list[torch.Tensor]

    @property
    def num_levels(self) -> int:
        return len(self.feats)

    def upcast(self, levels: int | None = None, to: int = 0) -> torch.Tensor:
        """Concatenate coarser features onto every point of level ``to``: starting from level ``to + levels``
        (``levels=None``: the coarsest), repeatedly gather the parent's (already concatenated) features onto its
        children and concatenate them after the children's own. [N_to, C_to + ... + C_start]."""
        coarsest = self.num_levels - 1
        if not 0 <= to <= coarsest:
            raise ValueError(f"upcast: level to={to} does not exist ({self.num_levels} levels)")
        start = coarsest if levels is None else to + levels
        if levels is not None and (levels < 0 or start > coarsest):
            raise ValueError(f"upcast: levels={levels} from level {to} goes past the coarsest level {coarsest}")
        feat = self.feats[start]
        for level in range(start - 1, to - 1, -1):
            feat = torch.cat([self.feats[level], feat[self.parents[level]]], dim=1)
        return feat
