"""Attention, cross-attention, stochastic depth and pre-norm blocks."""

from __future__ import annotations

import pytest
import torch

from pointdistill.models.blocks import Attention, Block, CrossAttention, CrossAttentionBlock, DropPath


def _explicit_attention(attn: Attention, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(QK^T/sqrt(d)) V, then the output projection, written out by hand."""
    _, _, v = attn._qkv(x)
    out = attn.attention_probs(x, mask) @ v
    return attn.proj(out.transpose(1, 2).reshape(x.shape))


def test_attention_matches_explicit_softmax() -> None:
    torch.manual_seed(0)
    attn = Attention(32, 4)
    x = torch.randn(2, 7, 32)
    torch.testing.assert_close(attn(x), _explicit_attention(attn, x), atol=1e-5, rtol=1e-5)


def test_attention_mask_blocks_keys_per_sample() -> None:
    torch.manual_seed(0)
    attn = Attention(16, 2)
    x = torch.randn(2, 5, 16)
    mask = torch.ones(2, 5, 5, dtype=torch.bool)
    mask[0, :, 4] = False
    out = attn(x, mask)
    torch.testing.assert_close(out, _explicit_attention(attn, x, mask), atol=1e-5, rtol=1e-5)
    changed = x.clone()
    changed[0, 4] += 10.0
    again = attn(changed, mask)
    torch.testing.assert_close(again[0, :4], out[0, :4], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(attn(changed)[0, :4], attn(x)[0, :4])
    probs = attn.attention_probs(x, mask)
    assert torch.all(probs[0, :, :, 4] == 0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 2, 5))


def test_float_mask_equals_bool_mask() -> None:
    torch.manual_seed(0)
    attn = Attention(16, 2)
    x = torch.randn(1, 6, 16)
    allowed = torch.rand(6, 6) > 0.3
    allowed.fill_diagonal_(True)
    additive = torch.zeros(6, 6).masked_fill(~allowed, float("-inf"))
    torch.testing.assert_close(attn(x, allowed), attn(x, additive), atol=1e-5, rtol=1e-5)


def test_cross_attention_uses_memory_for_keys_and_values() -> None:
    torch.manual_seed(0)
    cross = CrossAttention(16, 2, memory_dim=24)
    queries, memory = torch.randn(2, 3, 16), torch.randn(2, 9, 24)
    out = cross(queries, memory)
    assert out.shape == (2, 3, 16)
    probs = cross.attention_probs(queries, memory)
    assert probs.shape == (2, 2, 3, 9)
    assert not torch.allclose(cross(queries, memory + 1.0), out)


def test_cross_attention_block_queries_never_see_each_other() -> None:
    torch.manual_seed(0)
    block = CrossAttentionBlock(16, 2).eval()
    queries, memory = torch.randn(1, 4, 16), torch.randn(1, 6, 16)
    out = block(queries, memory)
    perturbed = queries.clone()
    perturbed[0, 1:] += 5.0
    torch.testing.assert_close(block(perturbed, memory)[0, 0], out[0, 0])
    alone = block(queries[:, :1], memory)
    torch.testing.assert_close(alone[0, 0], out[0, 0], atol=1e-6, rtol=1e-5)


def test_drop_path_drops_whole_samples_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    drop = DropPath(0.25)
    x = torch.ones(4000, 3, 2)
    y = drop(x)
    per_sample = y.flatten(1)
    assert torch.all((per_sample == 0).all(1) | (per_sample == 1 / 0.75).all(1))
    assert abs(y.mean().item() - 1.0) < 0.05
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(ValueError):
        DropPath(1.0)


def test_block_is_residual_and_exposes_its_attention() -> None:
    torch.manual_seed(0)
    block = Block(24, 3, drop_path=0.5).eval()
    x = torch.randn(2, 5, 24)
    out = block(x)
    expected = x + block.attn(block.norm1(x))
    expected = expected + block.mlp(block.norm2(expected))
    torch.testing.assert_close(out, expected)
    assert block.attention_probs(x).shape == (2, 3, 5, 5)


def test_attention_rejects_indivisible_width() -> None:
    with pytest.raises(ValueError, match="divisible"):
        Attention(10, 3)


def test_cross_attention_block_in_asymdsd_form_has_rms_norms_and_no_bias() -> None:
    block = CrossAttentionBlock(16, 2, norm="rms", bias=False, norm_memory=False)
    assert isinstance(block.norm_query, torch.nn.RMSNorm) and isinstance(block.norm2, torch.nn.RMSNorm)
    assert isinstance(block.norm_memory, torch.nn.Identity)
    assert not any("bias" in name for name, _ in block.named_parameters())
    out = block(torch.randn(2, 3, 16), torch.randn(2, 5, 16))
    assert out.shape == (2, 3, 16)
