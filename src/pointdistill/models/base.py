"""The one interface every encoder implements, so methods and evaluation never special-case a backbone.

An encoder maps a batch of clouds ``points`` [B, N, 3] to an :class:`EncoderOutput`:

- ``tokens``  [B, T, D]  the final per-patch (3D-ViT, PCT) or per-point (PointNet, DGCNN) features, CLS excluded;
- ``centers`` [B, T, 3]  where each token sits (patch centre, or the point itself), for upsampling and plots;
- ``cls``     [B, D] or None  the transformer's CLS token after the final norm;
- ``global_feature`` [B, F]  the vector a projection head consumes during pretraining;
- ``hidden``  list of [B, T, D] intermediate block outputs, only when ``return_hidden`` asks for them.

``feature_dim`` is ``F`` and ``token_dim`` is ``D``. :func:`pooled_features` builds the downstream feature
(concat of CLS, max- and mean-pooled tokens by default) used by every frozen-feature protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn


@dataclass
class EncoderOutput:
    tokens: torch.Tensor
    centers: torch.Tensor
    global_feature: torch.Tensor
    cls: torch.Tensor | None = None
    hidden: list[torch.Tensor] = field(default_factory=list)


class PointEncoder(nn.Module):
    """Base class: subclasses set ``token_dim`` and ``feature_dim`` and implement ``forward``."""

    token_dim: int
    feature_dim: int

    def forward(
        self,
        points: torch.Tensor,
        *,
        num_groups: int | None = None,
        return_hidden: Sequence[int] | None = None,
    ) -> EncoderOutput:
        raise NotImplementedError


POOLINGS = ("cls", "max", "mean")


def pooled_features(output: EncoderOutput, pooling: Sequence[str] = POOLINGS) -> torch.Tensor:
    """Concatenate the requested poolings of the final tokens; ``cls`` is skipped for encoders without one."""
    parts = []
    for name in pooling:
        if name == "cls":
            if output.cls is not None:
                parts.append(output.cls)
        elif name == "max":
            parts.append(output.tokens.amax(dim=1))
        elif name == "mean":
            parts.append(output.tokens.mean(dim=1))
        elif name == "global":
            parts.append(output.global_feature)
        else:
            raise ValueError(f"unknown pooling {name!r}; choose from cls, max, mean, global")
    return torch.cat(parts, dim=-1)
