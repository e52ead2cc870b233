"""BatchNorm over the global batch of all processes, on any device (``nn.SyncBatchNorm`` accepts only GPUs).

Under data parallelism each process sees ``1 / world_size`` of the batch; a plain BatchNorm would normalise by the
statistics of that shard, so 2 processes of 4 shapes would not train like 1 process of 8 (DINO converts its heads
to SyncBatchNorm for this reason). Here the per-channel sum and count, then the sum of squared deviations, are
all-reduced with autograd-aware collectives (two small all-reduces per layer: the two-pass variance is as accurate
as the single-process one), so forward and backward equal a BatchNorm over the concatenated global batch. Outside a
process group, and in eval mode, it is exactly ``nn.BatchNorm``.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose backward sums the gradients over processes too (each process's output feeds every
    process's loss)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


class GlobalBatchNorm(_BatchNorm):
    """Drop-in for ``BatchNorm1d/2d/3d`` (and subclasses) whose training statistics span every process."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        synced = self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not synced:
            return super().forward(input)
        self._check_input_dim(input)
        x = input.movedim(1, -1).reshape(-1, input.shape[1]).float()  # [samples, C]
        local = torch.cat([x.sum(0), x.new_tensor([x.shape[0]])])
        totals = _AllReduceSum.apply(local)
        count = totals[-1]
        mean = totals[:-1] / count
        squares = _AllReduceSum.apply(((x - mean) ** 2).sum(0))
        var = squares / count
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var.detach() * count / (count - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            y = y * self.weight + self.bias
        shape = input.movedim(1, -1).shape
        return y.to(input.dtype).reshape(shape).movedim(-1, 1)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm of ``module`` (in place where nested) by a :class:`GlobalBatchNorm` holding the same
    parameters and buffers, and its subclass's ``forward`` reshaping wrapped around it; returns the module."""
    if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
        converted = _global_variant(type(module))(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        converted.load_state_dict(module.state_dict())
        converted.train(module.training)
        converted.requires_grad_(any(p.requires_grad for p in module.parameters()) if module.affine else False)
        return converted
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child))
    return module


_VARIANTS: dict[type, type] = {}


def _global_variant(cls: type) -> type:
    """``cls`` with :class:`GlobalBatchNorm` statistics: subclasses that reshape their input around
    ``super().forward`` (e.g. a channel-last BatchNorm) keep doing so, now over the global batch."""
    if cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
        return GlobalBatchNorm
    if cls not in _VARIANTS:
        _VARIANTS[cls] = type(f"Global{cls.__name__}", (cls, GlobalBatchNorm), {"__module__": __name__})
    return _VARIANTS[cls]
