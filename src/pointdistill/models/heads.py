"""DINO-style projection head: MLP, L2 normalisation, then cosine similarity to K learnable prototypes.

The prototypes are a weight-normalised linear layer without bias. With ``norm_last_layer`` the per-prototype
magnitude is frozen at 1, so every logit is a cosine in [-1, 1]; temperatures then set the sharpness alone, which is
what keeps DINO-style training stable. The prototypes' gradients are cancelled during the first epochs
(:meth:`ProjectionHead.cancel_last_layer_gradients`) because moving them before the backbone has learnt anything
lets the targets collapse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class ProjectionHead(nn.Module):
    """``in_dim -> hidden_dim (x nlayers-1) -> bottleneck_dim``, L2-normalise, weight-normed linear to ``out_dim``.

    ``use_bn`` puts a BatchNorm after each hidden linear layer (DINO's option for convolutional backbones). It
    removes the component all samples share: a randomly initialised encoder maps different shapes to features with
    cosine similarity ~0.99, which DINO centering then cancels, leaving near-uniform targets for many steps; with
    BatchNorm the head sees the differences between shapes from the first step, which short runs need.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        nlayers: int = 3,
        norm_last_layer: bool = True,
        use_bn: bool = False,
    ) -> None:
        super().__init__()
        if nlayers < 1:
            raise ValueError(f"nlayers must be >= 1, got {nlayers}")
        widths = [in_dim] + [hidden_dim] * (nlayers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < nlayers - 1:
                if use_bn:
                    layers.append(FlatBatchNorm(b))
                layers.append(nn.GELU())
        self.mlp = nn.Sequential(*layers)
        self.mlp.apply(_init_linear)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        magnitude = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            magnitude.fill_(1.0)
        magnitude.requires_grad_(not norm_last_layer)
        self.out_dim = out_dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The L2-normalised bottleneck embedding (what KoLeo regularises)."""
        return F.normalize(self.mlp(x), dim=-1, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Prototype logits [..., out_dim] of features [..., in_dim]."""
        return self.last_layer(self.embed(x))

    @property
    def prototypes(self) -> torch.Tensor:
        """The effective prototype matrix [out_dim, bottleneck_dim] (rows have norm = the magnitude, 1 if frozen)."""
        return self.last_layer.weight

    def cancel_last_layer_gradients(self) -> None:
        """Drop the prototypes' gradients so the optimiser skips them (also their weight decay) this step."""
        for parameter in self.last_layer.parameters():
            parameter.grad = None


class FlatBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the last dimension of a tensor of any rank (the head is applied to [..., C])."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def _init_linear(module: nn.Module) -> None:
    """Truncated-normal(0.02) weights and zero biases, as DINO initialises its head."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
