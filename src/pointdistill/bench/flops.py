"""FLOPs of real work, counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions, attention).

What is counted is the dense arithmetic a matmul peak can be compared with: element-wise work, normalisation,
softmax, FPS, k-NN and the optimiser are not. PyTorch counts the CUDA attention kernels only; the fused CPU kernel
does the same two products forward and four backward, so it is registered here with the same formulas.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import (
    FlopCounterMode,
    flop_registry,
    register_flop_formula,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

from pointdistill.models.base import PointEncoder

_CPU_SDPA = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_CPU_SDPA_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward

if _CPU_SDPA not in flop_registry:

    @register_flop_formula(_CPU_SDPA)
    def _cpu_sdpa_flop(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, out_shape: Any = None,
                       **kwargs: Any) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)


if _CPU_SDPA_BACKWARD not in flop_registry:

    @register_flop_formula(_CPU_SDPA_BACKWARD)
    def _cpu_sdpa_backward_flop(grad_out_shape: Any, query_shape: Any, key_shape: Any, value_shape: Any, *args: Any,
                                out_shape: Any = None, **kwargs: Any) -> int:
        return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def flop_counter() -> FlopCounterMode:
    """A silent counter; ``with flop_counter() as counter: ...`` then ``counter.get_total_flops()``."""
    return FlopCounterMode(display=False)


def encoder_forward_flops(model: PointEncoder, points: torch.Tensor) -> tuple[int, int]:
    """Forward FLOPs of ``model`` on ``points`` and those spent inside a ``patch_embed`` sub-module (0 for encoders
    without one)."""
    with torch.no_grad(), flop_counter() as counter:
        model(points)
    per_module = counter.get_flop_counts()
    embed = sum(sum(per_module[name].values()) for name in per_module if name.endswith(".patch_embed"))
    return counter.get_total_flops(), embed
