"""FLOP counting: CPU attention counts like the CUDA kernels (two products forward), and encoder FLOPs split out the
patch embedding."""

from __future__ import annotations

import torch

from pointdistill.bench.flops import encoder_forward_flops, flop_counter
from pointdistill.models import EncoderConfig, build_encoder


def test_cpu_attention_counts_its_two_products() -> None:
    batch, heads, tokens, width = 2, 3, 16, 8
    q = torch.randn(batch, heads, tokens, width)
    with flop_counter() as counter:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert counter.get_total_flops() == 2 * (2 * batch * heads * tokens * tokens * width)


def test_cpu_attention_backward_is_counted() -> None:
    q = torch.randn(1, 2, 16, 8, requires_grad=True)
    with flop_counter() as counter:
        torch.nn.functional.scaled_dot_product_attention(q, q, q).sum().backward()
    forward = 2 * (2 * 2 * 16 * 16 * 8)
    assert counter.get_total_flops() > 2 * forward


def test_encoder_flops_include_the_patch_embedding() -> None:
    model = build_encoder(EncoderConfig(name="vit", preset="tiny", depth=1)).eval()
    total, embed = encoder_forward_flops(model, torch.randn(1, 1024, 3))
    assert 0 < embed < total
